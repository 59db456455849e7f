import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readAuthFile } from './config/auth-file.js';
import { readHbaFile } from './config/hba-file.js';
import type { HbaRules } from './auth/hba.js';
import { printCheck, warnAtStart } from './check.js';
import { loadImportedConfig, type ImportedConfig } from './config/import/load-imported.js';
import { ImportError } from './config/import/source.js';
import type { StateDirOptions } from './config/import/state-dir.js';
import { importSeedStack, type SeedFiles } from './config/import/to-toml.js';
import { DEFAULT_CONFIG_PATHS, findDefaultConfig } from './config/default-path.js';
import { loadConfig, ConfigError } from './config/load.js';
import { EXIT_CONFIG } from './config/problems.js';
import { SUPERVISOR_LOG_FILE_ENV } from './config/env.js';
import type { Config } from './config/types.js';
import { Pgtide, type StopMode } from './server.js';
import { clientTlsContext, serverTlsOptions } from './proxy/tls.js';
import { PGTIDE_VERSION } from './version.js';
import { runSupervised } from './supervisor.js';
import { SIGNAL_COMMANDS } from './admin/signal-commands.js';
import { runPrimary } from './workers/primary.js';
import { configFromPrimary, ownNameSaltKey, ownWorkerSlot, PrimaryLink, workerShare } from './workers/worker.js';

const HELP = `pgtide: PostgreSQL connection pooler and read/write-splitting load balancer

Usage:
  pgtide start [-c|--config pgtide.toml]
                                        run the pooler; without --config it reads ./pgtide.toml,
                                        else /etc/pgtide/pgtide.toml (--no-config: neither; the
                                        defaults and PGTIDE_<KEY> variables alone); exit 78: the
                                        configuration was refused
  pgtide start --pgbouncer pgbouncer.ini [SEED FILES]
                                        run it straight from the seed's PgBouncer (and Pgpool-II) files
  pgtide start --supervise [--log-file PATH [--log-max-bytes N] [--log-keep N]] [...]
                                        run it under a supervisor that restarts it if it crashes
                                        (not after a 78); --log-file also appends all output to
                                        PATH, rotated before N bytes (64 MiB), N files kept (4)
  pgtide import --pgbouncer pgbouncer.ini [SEED FILES] [-o pgtide.toml]
                                        write a commented pgtide.toml from the seed's files
                                        (to standard output without -o; warnings to standard error)
  pgtide check [--config pgtide.toml | --pgbouncer pgbouncer.ini [SEED FILES]]
                                        (the same default files as start)
                                        validate the configuration and compare the most server
                                        connections pgtide can open with each backend's max_connections
                                        (exit 1: invalid or over budget; 2: a backend could not be checked)
  pgtide help, pgtide --help            this text
  pgtide --version, -V                  the version of pgtide

Seed files: [--users users.txt] [--pgpool pgpool.conf] [--pool-hba pool_hba.conf]
            [--pool-passwd pool_passwd] [--haproxy haproxy.cfg] [--supervisor supervisor.conf]
            [--state-dir DIR]  state_dir of the result (the seed has none); by default
                               /var/lib/pgtide when that directory exists (the image's)

Environment:
  INSTANCE_NAME        names this instance in logs (default pool1)
  PGTIDE_<KEY>         overrides a top-level config key, e.g. PGTIDE_LISTEN_PORT=5427,5428

Signals: SIGHUP reloads the configuration, SIGTERM drains (shutdown_timeout), SIGINT stops now,
SIGUSR1 pauses every database and SIGUSR2 resumes them (the console's PAUSE and RESUME).
Configuration reference: docs/configuration.md`;

async function main(argv: string[]): Promise<number> {
  // The supervisor (the seed's supervisord role) owns --supervise and its --log-* options.
  if (argv[0] === 'start' && argv.includes('--supervise')) return runSupervised(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'no-config': { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
      ...SEED_OPTIONS,
    },
  });
  const command = positionals[0];
  if (values.version) {
    console.log(`pgtide ${PGTIDE_VERSION}`);
    return 0;
  }
  if (values.help || !command) {
    console.log(HELP);
    return command || values.help ? 0 : 1;
  }
  switch (command) {
    case 'start':
      return start(configSource(values));
    case 'import':
      return importCommand(values);
    case 'check':
      return check(configSource(values));
    case 'help':
      console.log(HELP);
      return 0;
    default:
      console.error(`pgtide: unknown command "${command}"\n\n${HELP}`);
      return 1;
  }
}

/** The seed's files, as options named after them. */
const SEED_OPTIONS = {
  pgbouncer: { type: 'string' },
  users: { type: 'string' },
  pgpool: { type: 'string' },
  'pool-hba': { type: 'string' },
  'pool-passwd': { type: 'string' },
  haproxy: { type: 'string' },
  supervisor: { type: 'string' },
} as const;

type SeedValues = { [K in keyof typeof SEED_OPTIONS]?: string } & { 'state-dir'?: string };

/** Reads the configuration, again on every SIGHUP, from wherever the command line says. */
type ConfigSource = () => ImportedConfig & { origin: string };

class UsageError extends Error {}

function seedFiles(values: SeedValues): SeedFiles | undefined {
  const files: SeedFiles = {};
  if (values.pgbouncer !== undefined) files.pgbouncer = values.pgbouncer;
  if (values.users !== undefined) files.users = values.users;
  if (values.pgpool !== undefined) files.pgpool = values.pgpool;
  if (values['pool-hba'] !== undefined) files.poolHba = values['pool-hba'];
  if (values['pool-passwd'] !== undefined) files.poolPasswd = values['pool-passwd'];
  if (values.haproxy !== undefined) files.haproxy = values.haproxy;
  if (values.supervisor !== undefined) files.supervisor = values.supervisor;
  if (Object.keys(files).length === 0) return undefined;
  // The other files only add to what PgBouncer's or Pgpool-II's settings describe.
  if (files.pgbouncer === undefined && files.pgpool === undefined)
    throw new UsageError('the seed files need --pgbouncer (or --pgpool)');
  return files;
}

function configSource(values: SeedValues & { config?: string; 'no-config'?: boolean }): ConfigSource {
  const files = seedFiles(values);
  if (files === undefined) {
    if (values['state-dir'] !== undefined)
      throw new UsageError('--state-dir goes with the seed files (--pgbouncer …); in a pgtide.toml, set state_dir');
    if (values['no-config'] && values.config !== undefined)
      throw new UsageError('--config and --no-config exclude each other');
    const path = values['no-config'] ? undefined : (values.config ?? findDefaultConfig());
    return () => ({
      config: loadDefaultable(path, values['no-config'] === true),
      warnings: [],
      origin: path ?? 'defaults and PGTIDE_<KEY> variables',
    });
  }
  if (values.config !== undefined || values['no-config'])
    throw new UsageError('--config (or --no-config) and the seed files (--pgbouncer …) exclude each other');
  return () => ({
    ...loadImportedConfig(files, process.env, stateDirOption(values)),
    origin: files.pgbouncer ?? files.pgpool ?? 'imported configuration',
  });
}

function stateDirOption(values: SeedValues): StateDirOptions {
  return values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] };
}

/** Without a file the defaults stand; a problem then says where pgtide looked for one, or
 *  that it was told not to (`noConfig`). */
function loadDefaultable(path: string | undefined, noConfig: boolean): Config {
  try {
    return loadConfig(path, process.env);
  } catch (err) {
    if (path !== undefined || !(err instanceof ConfigError)) throw err;
    const why = noConfig ? '--no-config' : `no --config given, and none of ${DEFAULT_CONFIG_PATHS.join(', ')} exists`;
    throw new ConfigError(err.problems, `defaults and PGTIDE_<KEY> variables (${why})`);
  }
}

function importCommand(values: SeedValues & { output?: string }): number {
  const files = seedFiles(values);
  if (files === undefined) throw new UsageError('import needs --pgbouncer pgbouncer.ini (or --pgpool pgpool.conf)');
  const { toml, warnings } = importSeedStack(files, stateDirOption(values));
  for (const warning of warnings) console.error(`warning: ${warning}`);
  if (values.output === undefined) process.stdout.write(toml);
  else writeFileSync(values.output, toml);
  return 0;
}

async function start(source: ConfigSource): Promise<number> {
  const slot = ownWorkerSlot();
  let loaded: ImportedConfig & { origin: string };
  try {
    loaded = slot === undefined ? source() : await configFromPrimary();
  } catch (err) {
    return refusedConfiguration(err);
  }
  const { config, warnings, origin } = loaded;
  if (slot === undefined && config.workers > 1) return runPrimary(loaded);
  // A worker runs its share of the limits, rereading the file at each reload like one process.
  const share = slot === undefined ? undefined : (whole: Config) => workerShare(whole, slot);
  const primary = slot === undefined ? undefined : new PrimaryLink(slot);
  // The import's warnings reach the log at start and, those new since the last read, at each
  // reload (a value the importer dropped after an edit changes behaviour just as much); with
  // workers, from the first one only.
  const logsImport = (slot?.id ?? 0) === 0;
  let knownWarnings = new Set<string>();
  const logWarnings = (found: readonly string[]) => {
    if (logsImport)
      for (const warning of found)
        if (!knownWarnings.has(warning)) pgtide.log.warn({ import: warning }, 'imported setting changes behaviour');
    knownWarnings = new Set(found);
  };
  const reread = (): Config => {
    const again = source();
    logWarnings(again.warnings);
    return again.config;
  };
  let pgtide: Pgtide;
  try {
    pgtide = new Pgtide(config, {
      workerShare: share,
      workerId: slot?.id,
      nameSaltKey: slot === undefined ? undefined : ownNameSaltKey(),
      relayCancel: primary?.relayCancel,
      relaySignal: primary?.relaySignal,
      relayFence: primary?.relayFence,
      shareAdminCommand: primary?.shareAdminCommand,
      askOtherWorkers: primary?.askOtherWorkers,
      reloadConfig: () => reread(),
      onFileReloaded:
        primary && ((instance) => primary.reportConfig({ config: instance, warnings: [...knownWarnings], origin })),
      onShutdown: endPooler,
      supervisorLogFile: process.env[SUPERVISOR_LOG_FILE_ENV],
    });
  } catch (err) {
    // A file the configuration names (auth_file, hba_file) that cannot be read or is invalid.
    return refusedConfiguration(err);
  }
  // Why the process died belongs in the log file too, not only on stderr. Node still prints
  // the error and exits; the log transport writes its last lines on 'exit'.
  process.on('uncaughtExceptionMonitor', (err) =>
    pgtide.log.fatal({ err: describe(err), stack: err.stack }, 'uncaught exception; exiting'),
  );
  logWarnings(warnings);
  pgtide.log.info({ config: origin }, 'configuration read');
  // The signals are taken before the listeners open: one that came while the start still ran
  // (the cluster monitor's first round can take seconds) would end the process by its default
  // action, a SIGHUP too. What it asks is done once the start is over.
  let started = false;
  let reloadAsked = false;
  let stopping = false;
  let stopWhenStarted = null as (() => void) | null;
  const reload = () => {
    try {
      pgtide.reloadFromFile();
    } catch (err) {
      pgtide.log.error({ err: describe(err) }, 'reload failed; keeping the running configuration');
    }
  };
  process.on('SIGHUP', () => {
    if (started) reload();
    else reloadAsked = true;
  });
  // PgBouncer's PAUSE and RESUME; the last one asked during the start is done after it.
  let signalAsked: NodeJS.Signals | null = null;
  for (const signal of SIGNAL_COMMANDS.keys()) {
    process.on(signal, () => {
      if (started) pgtide.runSignalCommand(signal);
      else signalAsked = signal;
    });
  }
  const stop = (mode: StopMode) => () => {
    if (stopping) {
      // SIGINT during SIGTERM's drain stops now, as docs/operations.md says: the drain ends.
      if (mode === 'now' && started) void pgtide.stop('now');
      return;
    }
    stopping = true;
    pgtide.log.info({ mode }, 'stopping');
    const end = () =>
      void pgtide.stop(mode).then(() => {
        pgtide.log.flush?.();
        endPooler();
      });
    if (started) end();
    else stopWhenStarted = end;
  };
  process.once('SIGTERM', stop('drain'));
  process.once('SIGINT', stop('now'));
  try {
    await pgtide.start();
  } catch (err) {
    // Most often the pooler of an earlier supervisor, still draining (watchSupervisor below);
    // a supervisor starts this one again with a growing delay.
    const hint =
      (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? 'another process listens on that address; a pgtide whose supervisor died drains and exits within shutdown_timeout'
        : undefined;
    pgtide.log.fatal({ err: describe(err), hint }, 'could not start');
    throw err;
  }
  started = true;
  primary?.serve(pgtide);
  // The budget is the instance's: one worker says it, not every worker the same.
  if ((slot?.id ?? 0) === 0)
    warnAtStart(pgtide, config).catch((err: unknown) =>
      pgtide.log.warn({ err: describe(err) }, 'could not check the server connection budget'),
    );
  if (stopWhenStarted) stopWhenStarted();
  else {
    if (reloadAsked) reload();
    if (signalAsked !== null) pgtide.runSignalCommand(signalAsked);
  }
  watchSupervisor(pgtide, stop('handover'), slot === undefined ? 'supervisor' : 'primary');
  return new Promise<number>(() => {});
}

/**
 * Started by `--supervise` (or as a worker by the primary of `workers = N`), the pooler holds
 * its parent's IPC channel, which the kernel closes however the parent died. An orphaned pooler
 * would keep the listen port, and a new supervisor's pooler would fail on EADDRINUSE (or, as a
 * worker, share the port with the new workers) for as long as it lives: drain and exit instead.
 */
function watchSupervisor(pgtide: Pgtide, drain: () => void, parent: 'supervisor' | 'primary'): void {
  if (process.channel === undefined) return;
  // The channel must not keep the process alive on its own; the listeners do that.
  process.channel.unref();
  process.once('disconnect', () => {
    pgtide.log.warn({ ppid: process.ppid }, `the ${parent} is gone; draining and exiting`);
    drain();
  });
}

async function check(source: ConfigSource): Promise<number> {
  let loaded: ImportedConfig & { origin: string };
  let users: Map<string, string>;
  let hba: HbaRules | null;
  try {
    loaded = source();
    users = readAuthFile(loaded.config, loaded.origin);
    hba = readHbaFile(loaded.config, loaded.origin);
    // The files TLS names are read once at start; a check that passed them would not hold.
    clientTlsContext(loaded.config);
    serverTlsOptions(loaded.config);
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof ImportError)) throw err;
    console.error(err.message);
    return 1;
  }
  const { config, warnings, origin } = loaded;
  for (const warning of warnings) console.error(`warning: ${warning}`);
  console.log(`configuration: valid (${origin})`);
  if (hba !== null) {
    console.log(`hba_file: ${hba.rules.length} rules, every line honoured (${config.hba_file})`);
    // PostgreSQL's warning for the same line when ssl = off: legal, but it can never match.
    for (const rule of hba.rules) {
      if (rule.type === 'hostssl' && config.client_tls_sslmode === 'disable')
        console.log(
          `warning: ${rule.file}:${rule.line}: hostssl record cannot match because client_tls_sslmode is "disable"`,
        );
    }
  }
  return printCheck(config, users, (line) => console.log(line));
}

/** A configuration `start` cannot run with: its problems, and the status a supervisor does not restart. */
function refusedConfiguration(err: unknown): number {
  if (!(err instanceof ConfigError || err instanceof ImportError)) throw err;
  console.error(`pgtide: ${err.message}`);
  return EXIT_CONFIG;
}

function describe(err: unknown): string {
  if (err instanceof ConfigError || err instanceof ImportError || err instanceof UsageError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * A command that is done ends with its event loop rather than with process.exit(): Node.js 24
 * can deadlock in process.exit() when a V8 background compile waits for a garbage collection
 * the exiting main thread never runs (nodejs/node#54918; a `pgtide check` hung so in the
 * suite). The timer, which keeps nothing alive, ends a loop something still holds.
 */
function finish(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}

/** A stopped pooler ends as a command does; a parent's IPC channel would hold its loop. Closing
 *  it is this process's doing, not a sign that the parent is gone (watchSupervisor). */
function endPooler(): void {
  process.removeAllListeners('disconnect');
  if (process.connected) process.disconnect();
  finish(0);
}

// `pgtide check | head -1`: a reader that has seen enough is no error of pgtide's (as for cat).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(finish, (err) => {
  console.error(`pgtide: ${describe(err)}`);
  finish(1);
});
