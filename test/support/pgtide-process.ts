// Runs pgtide as its own process (the CLI, as operators run it), for tests that measure the
// process itself: memory, signals, exit codes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { untilAnswering } from './answering.js';
import { watch } from './child-output.js';
import { freePorts } from './free-ports.js';
import type { BackendConfig } from '../../src/config/types.js';
import { scramLogin, type Topology } from './topology.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface PgtideProcess {
  child: ChildProcess;
  port: number;
  /** Resident set size of the pgtide process, in bytes. */
  rss(): number;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A logged-in client of the test database (or of `database`, e.g. the console's). */
export async function connectTo(
  t: Topology,
  p: PgtideProcess,
  database = t.database,
  extra: Partial<pg.ClientConfig> = {},
): Promise<pg.Client> {
  const c = new pg.Client({ ...scramLogin(t, { host: '127.0.0.1', port: p.port }), database, ...extra });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Start `pgtide start --config <dir>/pgtide.toml` with the given extra TOML lines; with
 *  `openFiles`, under that limit of file descriptors (ulimit -n); on `port` when the test must
 *  know it beforehand (from freePorts), on a free one otherwise. */
export async function spawnPgtide(
  t: Topology,
  dir: string,
  authFile: string,
  extraToml: string[] = [],
  openFiles?: number,
  givenPort?: number,
): Promise<PgtideProcess> {
  const port = givenPort ?? (await freePorts(1))[0]!;
  const child = spawnCli(writeConfig(t, dir, authFile, port, extraToml), openFiles);
  const { output, exited } = watch(child);
  await untilAnswering(port, 15_000, () => (child.exitCode === null ? null : `pgtide exited: ${output()}`));
  return {
    child,
    port: port,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    output,
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** `pgtide start --config <file>`, for tests that watch a start fail; with `openFiles`, under
 *  that limit of file descriptors (ulimit -n). */
export function spawnCli(configFile: string, openFiles?: number): ChildProcess {
  // pgtide rejects unknown PGTIDE_ variables, and the test runner sets one of its own.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_')));
  const argv = [CLI, 'start', '--config', configFile];
  if (openFiles === undefined) return spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  return spawn('/bin/sh', ['-c', `ulimit -n ${openFiles} && exec "$0" "$@"`, process.execPath, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
}

const PRIMARY_ROLE = 'role = "primary"';

/** Writes <dir>/pgtide.toml: one listen port, the extra TOML lines, and the topology's primary
 *  unless those lines name a primary themselves (see backendsToml). */
export function writeConfig(
  t: Topology,
  dir: string,
  authFile: string,
  port: number,
  extraToml: string[] = [],
): string {
  const configFile = join(dir, 'pgtide.toml');
  writeFileSync(
    configFile,
    [
      `listen_addr = "127.0.0.1"`,
      `listen_port = ${port}`,
      `auth_file = "${authFile}"`,
      `server_tls_sslmode = "disable"`,
      ...(extraToml.some((l) => l.startsWith('log_level')) ? [] : ['log_level = "warn"']),
      ...extraToml,
      '',
      ...(extraToml.includes(PRIMARY_ROLE) ? [] : backendsToml([{ ...t.primary, role: 'primary' }])),
    ].join('\n'),
  );
  return configFile;
}

/** TOML for `backends`, last among writeConfig's extra lines. */
export function backendsToml(
  backends: (Pick<BackendConfig, 'host' | 'port' | 'role'> & { weight?: number })[],
): string[] {
  return backends.flatMap((b) => [
    '[[backends]]',
    `host = "${b.host}"`,
    `port = ${b.port}`,
    `role = "${b.role}"`,
    ...(b.weight === undefined ? [] : [`weight = ${b.weight}`]),
    '',
  ]);
}
