// The poolers under test, each a separate process (so that its CPU time can be read from
// /proc), configured alike: transaction pooling, 20 server connections per backend, SCRAM for
// clients.
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OsUser } from '../test/support/server-user.js';
import type { PgNode, Topology } from '../test/support/topology.js';
import { startService, type Service } from './processes.js';
import { integerSetting } from './settings.js';

/** Server connections per pool, for every pooler alike; BENCH_POOL_SIZE for a run that should not be bound by it. */
export const POOL_SIZE = integerSetting(process.env, 'BENCH_POOL_SIZE', 20, 1);
const MAX_CLIENT_CONN = 1000;
/** Both poolers take the same client authentication, so neither saves work the other does. */
export const AUTH_TYPE = 'scram-sha-256';

export interface PoolerSetup {
  topology: Topology;
  /** A scratch directory for configuration files and logs. */
  dir: string;
  /** PgBouncer-format user list, read by both poolers. */
  authFile: string;
  port: number;
}

export interface WeightedBackend {
  node: PgNode;
  role: 'primary' | 'standby';
  /** Share of load-balanced reads; 0: none. */
  weight: number;
}

export interface PgtideOptions {
  /** Names the configuration and log files, so that several pgtide processes can share `dir`. */
  name: string;
  backends: WeightedBackend[];
  /** Where to write a V8 CPU profile of pgtide on exit; undefined: no profile. */
  cpuProfileDir: string | undefined;
  /** The Node.js binary that runs pgtide; the bench's own when undefined. */
  node?: string;
  /** The pgtide build (a `dist` directory) to run; the bench's own when undefined. */
  dist?: string;
  /** pgtide's `consistency`; undefined: its default. */
  consistency?: 'eventual' | 'read_your_writes';
  /** More Node.js options for pgtide's process. */
  nodeArgs?: string[];
  /** Undefined: MAX_CLIENT_CONN. */
  maxClientConn?: number;
  /** pgtide's `workers`; undefined: its default (one process). */
  workers?: number;
  /** Ports pgtide also listens on, besides setup.port. */
  extraPorts?: number[];
  /** Undefined: AUTH_TYPE. */
  authType?: 'trust' | typeof AUTH_TYPE;
  /** Undefined: POOL_SIZE. */
  poolSize?: number;
}

/** Where PgBouncer sends its server connections: the primary, or the next hop of a chain. */
export interface PgbouncerOptions {
  /** Names the configuration and log files, so that several PgBouncers can share `dir`. */
  name: string;
  server: { host: string; port: number };
  /** Undefined: MAX_CLIENT_CONN. */
  maxClientConn?: number;
  /** Undefined: 127.0.0.1. `*` with soReuseport: several PgBouncers on one port, on every address. */
  listenAddr?: string;
  /** PgBouncer's so_reuseport (1.12+): several processes share the port, the kernel spreads the clients. */
  soReuseport?: boolean;
  /** Undefined: POOL_SIZE. */
  poolSize?: number;
}

export async function startPgtide(setup: PoolerSetup, opts: PgtideOptions): Promise<Service> {
  const configFile = join(setup.dir, `${opts.name}.toml`);
  await writeFile(
    configFile,
    [
      `listen_addr = ["127.0.0.1"]`,
      `listen_port = [${[setup.port, ...(opts.extraPorts ?? [])].join(', ')}]`,
      `auth_type = ${tomlString(opts.authType ?? AUTH_TYPE)}`,
      `auth_file = ${tomlString(setup.authFile)}`,
      `pool_mode = "transaction"`,
      `default_pool_size = ${opts.poolSize ?? POOL_SIZE}`,
      `max_client_conn = ${opts.maxClientConn ?? MAX_CLIENT_CONN}`,
      `server_tls_sslmode = "disable"`,
      `log_level = "warn"`,
      `log_connections = false`,
      `log_disconnections = false`,
      ...(opts.consistency ? [`consistency = "${opts.consistency}"`] : []),
      ...(opts.workers ? [`workers = ${opts.workers}`] : []),
      ...opts.backends.flatMap(backendTable),
      '',
    ].join('\n'),
  );
  const profile = opts.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfileDir}`] : [];
  return startService({
    name: opts.name,
    command: opts.node ?? process.execPath,
    args: [
      ...profile,
      ...(opts.nodeArgs ?? []),
      join(opts.dist ?? distRoot(), 'src', 'cli.js'),
      'start',
      '--config',
      configFile,
    ],
    port: setup.port,
    postgres: true,
    logFile: join(setup.dir, `${opts.name}.log`),
    // SIGINT stops at once and still lets Node write the CPU profile.
    stopSignal: 'SIGINT',
  });
}

/** PgBouncer refuses to run as root: under root it runs as `serverUser`. */
export async function startPgbouncer(
  setup: PoolerSetup,
  opts: PgbouncerOptions,
  serverUser: OsUser | null,
): Promise<Service> {
  const { topology: t } = setup;
  const iniFile = join(setup.dir, `${opts.name}.ini`);
  const logFile = join(setup.dir, `${opts.name}.log`);
  await writeFile(
    iniFile,
    [
      '[databases]',
      `${t.database} = host=${opts.server.host} port=${opts.server.port} dbname=${t.database}`,
      '[pgbouncer]',
      `listen_addr = ${opts.listenAddr ?? '127.0.0.1'}`,
      `listen_port = ${setup.port}`,
      ...(opts.soReuseport ? ['so_reuseport = 1'] : []),
      'unix_socket_dir =',
      `auth_type = ${AUTH_TYPE}`,
      `auth_file = ${setup.authFile}`,
      'pool_mode = transaction',
      `default_pool_size = ${opts.poolSize ?? POOL_SIZE}`,
      `max_client_conn = ${opts.maxClientConn ?? MAX_CLIENT_CONN}`,
      // pgbench (libpq) sends it in every startup packet.
      'ignore_startup_parameters = extra_float_digits',
      'server_tls_sslmode = disable',
      'log_connections = 0',
      'log_disconnections = 0',
      'log_stats = 0',
      // Written from stdout/stderr by startService; a logfile here would duplicate every line.
      '',
    ].join('\n'),
  );
  if (serverUser) {
    for (const path of [setup.dir, iniFile, setup.authFile]) await chown(path, serverUser.uid, serverUser.gid);
  }
  return startService({
    name: opts.name,
    command: 'pgbouncer',
    args: [iniFile],
    port: setup.port,
    logFile,
    // SIGTERM is PgBouncer's immediate shutdown (SIGINT waits for clients).
    stopSignal: 'SIGTERM',
    ...(serverUser ? { uid: serverUser.uid, gid: serverUser.gid } : {}),
  });
}

/** The Node.js floor (bench/node-forward.ts) listening on setup.port, forwarding to `upstream`. */
export async function startNodeForward(setup: PoolerSetup, upstream: { host: string; port: number }): Promise<Service> {
  return startService({
    name: 'node-forward',
    command: process.execPath,
    args: [join(distRoot(), 'bench', 'node-forward.js'), String(setup.port), upstream.host, String(upstream.port)],
    port: setup.port,
    logFile: join(setup.dir, 'node-forward.log'),
    stopSignal: 'SIGTERM',
  });
}

/**
 * The Node.js floor per connection (bench/node-connect-floor.ts) on setup.port, its queries
 * answered by a second process of the same script on `answerPort` (not measured). Returns the
 * floor, then the answering process.
 */
export async function startConnectFloor(
  setup: PoolerSetup,
  answerPort: number,
  password: string,
  iterations: number,
): Promise<[Service, Service]> {
  const script = join(distRoot(), 'bench', 'node-connect-floor.js');
  const answer = await startService({
    name: 'connect-floor-answer',
    command: process.execPath,
    args: [script, '--answer', String(answerPort)],
    port: answerPort,
    logFile: join(setup.dir, 'connect-floor-answer.log'),
    stopSignal: 'SIGTERM',
  });
  try {
    const floor = await startService({
      name: 'connect-floor',
      command: process.execPath,
      args: [script, String(setup.port), password, String(iterations), String(answerPort)],
      port: setup.port,
      logFile: join(setup.dir, 'connect-floor.log'),
      stopSignal: 'SIGTERM',
    });
    return [floor, answer];
  } catch (err) {
    await answer.stop();
    throw err;
  }
}

/**
 * The Node.js floor of a transaction pooler (bench/node-connect-floor.ts with PostgreSQL as its
 * upstream, on 127.0.0.1 at serverPort) on setup.port: POOL_SIZE server connections logged in as
 * `user`, each transaction's bytes forwarded on a free one, with nothing else of a pooler's.
 * `sockets`: bytes moved as pgtide moves them (shared reads, direct writes) or by the streams.
 */
export async function startPoolFloor(
  setup: PoolerSetup,
  serverPort: number,
  login: { user: string; password: string; database: string },
  iterations: number,
  sockets: 'direct' | 'streams',
): Promise<Service> {
  return startService({
    name: 'pool-floor',
    env: { ...process.env, FLOOR_SOCKETS: sockets },
    command: process.execPath,
    args: [
      join(distRoot(), 'bench', 'node-connect-floor.js'),
      String(setup.port),
      login.password,
      String(iterations),
      String(serverPort),
      login.user,
      login.database,
    ],
    port: setup.port,
    logFile: join(setup.dir, 'pool-floor.log'),
    stopSignal: 'SIGTERM',
  });
}

function backendTable({ node, role, weight }: WeightedBackend): string[] {
  return [
    '',
    '[[backends]]',
    `name = ${tomlString(node.name)}`,
    `host = ${tomlString(node.host)}`,
    `port = ${node.port}`,
    `role = "${role}"`,
    `weight = ${weight}`,
  ];
}

/** A TOML basic string: JSON's escapes are valid TOML for the paths and hosts written here. */
function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** dist/, from this compiled file at dist/bench/poolers.js. */
function distRoot(): string {
  return new URL('..', import.meta.url).pathname;
}
