// `npm start`: a local primary + standby from the embedded PostgreSQL binaries (a development
// dependency) and pgtide in front, for a first look. This is a development script, not part of
// the pooler: the image and `npm install -g` ship without it and without its dependencies.
//   node dist/dev/demo.js [--port 6432]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultConfig } from '../src/config/defaults.js';
import type { Config } from '../src/config/types.js';
import { Pgtide } from '../src/server.js';
import { startTopology, stopTopology } from '../test/support/topology.js';
import { writeAuthFile } from '../test/support/pgtide.js';

async function runDemo(port: number, httpPort: number): Promise<() => Promise<void>> {
  console.log('starting a local PostgreSQL primary and standby (embedded binaries)...');
  const t = await startTopology({ standbys: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-demo-'));
  let pgtide: Pgtide | undefined;
  const stop = async () => {
    await pgtide?.stop();
    await stopTopology(t);
    // The folder holds the users' plain-text passwords: it never outlives the demo.
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const config: Config = {
      ...defaultConfig(),
      listen_addr: ['127.0.0.1'],
      listen_port: [port],
      auth_file: writeAuthFile(t, dir),
      admin_users: [t.scramUser.user],
      admin_http_listen: `127.0.0.1:${httpPort}`,
      state_dir: dir,
      server_tls_sslmode: 'disable',
      log_connections: false,
      log_disconnections: false,
      log_level: 'warn',
      backends: [
        { name: 'primary', host: t.primary.host, port: t.primary.port, weight: 0, role: 'primary' },
        ...t.standbys.map((s) => ({ name: s.name, host: s.host, port: s.port, weight: 1, role: 'standby' as const })),
      ],
    };
    pgtide = new Pgtide(config);
    await pgtide.start();
  } catch (error) {
    await stop();
    throw error;
  }
  const psql = (dbname: string) =>
    `PGPASSWORD='${t.scramUser.password}' psql "host=127.0.0.1 port=${port} user=${t.scramUser.user} dbname=${dbname}"`;
  console.log(`
pgtide is listening on 127.0.0.1:${port} in front of
  primary  ${t.primary.host}:${t.primary.port}   (weight 0: writes only)
${t.standbys.map((s) => `  ${s.name} ${s.host}:${s.port}   (weight 1: every read)`).join('\n')}

Connect:
  ${psql(t.database)}
Admin console (SHOW POOLS, SHOW BACKENDS, SHOW STATS, ...):
  ${psql('pgbouncer')}
Metrics and health:
  curl http://127.0.0.1:${httpPort}/metrics    curl http://127.0.0.1:${httpPort}/healthz

Press Ctrl-C to stop everything.`);
  return stop;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', short: 'p' }, 'http-port': { type: 'string' } } });
  const port = Number(values.port ?? 6432);
  const stop = await runDemo(port, Number(values['http-port'] ?? port + 2695));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    void stop().then(
      () => process.exit(0),
      (error) => {
        console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  // SIGHUP is what a closed terminal sends: the servers and the password folder go with it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

main().catch((error) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
