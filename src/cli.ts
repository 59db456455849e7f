#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from './config/load.js';
import { Pgtide } from './server.js';
import { runSupervised } from './supervisor.js';

const HELP = `pgtide: PostgreSQL connection pooler and read/write-splitting load balancer

Usage:
  pgtide start [--config pgtide.toml]   run the pooler
  pgtide start --supervise [--log-file PATH] [...]
                                        run it under a supervisor that restarts it if it crashes
  pgtide demo [--port 6432]             local primary + standby (embedded PostgreSQL) with pgtide in front
  pgtide --help                         this text

Environment:
  INSTANCE_NAME        names this instance in logs (default pool1)
  PGTIDE_<KEY>         overrides a top-level config key, e.g. PGTIDE_LISTEN_PORT=5427,5428

Signals: SIGHUP reloads the configuration, SIGTERM drains (shutdown_timeout), SIGINT stops now.
Configuration reference: docs/configuration.md`;

async function main(argv: string[]): Promise<number> {
  // The supervisor (the seed's supervisord role) owns --supervise and its --log-* options.
  if (argv[0] === 'start' && argv.includes('--supervise')) return runSupervised(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(HELP);
    return command || values.help ? 0 : 1;
  }
  switch (command) {
    case 'start':
      return start(values.config);
    case 'demo':
      return demo(Number(values.port ?? 6432));
    default:
      console.error(`pgtide: unknown command "${command}"\n\n${HELP}`);
      return 1;
  }
}

function readConfig(path: string | undefined) {
  return loadConfig(path, process.env);
}

async function start(configPath: string | undefined): Promise<number> {
  const pgtide = new Pgtide(readConfig(configPath), {
    reloadConfig: () => readConfig(configPath),
    onShutdown: () => process.exit(0),
  });
  await pgtide.start();
  process.on('SIGHUP', () => {
    try {
      pgtide.reload(readConfig(configPath));
    } catch (err) {
      pgtide.log.error({ err: describe(err) }, 'reload failed; keeping the running configuration');
    }
  });
  const stop = (graceful: boolean) => () => {
    pgtide.log.info({ graceful }, 'stopping');
    void pgtide.stop(graceful).then(() => {
      pgtide.log.flush?.();
      setTimeout(() => process.exit(0), 50);
    });
  };
  process.once('SIGTERM', stop(true));
  process.once('SIGINT', stop(false));
  return new Promise<number>(() => {});
}

async function demo(port: number): Promise<number> {
  const { runDemo } = await import('./demo.js');
  const stop = await runDemo(port);
  const onSignal = () => {
    console.log('\nstopping...');
    void stop().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return new Promise<number>(() => {});
}

function describe(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`pgtide: ${describe(err)}`);
    process.exit(1);
  },
);
