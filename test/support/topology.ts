// A real PostgreSQL topology for integration tests: one primary and streaming standbys made
// from a cold copy of the primary (the embedded binaries ship no pg_basebackup).
import { readFileSync } from 'node:fs';
import { appendFile, chown, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePorts } from './free-ports.js';
import { waitFor } from './wait.js';
import { locateBinDir } from './pg-binaries.js';
import { resolveServerUser, runAsServerUser, type OsUser, type ServerContext } from './server-user.js';
import { OWNER_PID_FILE, reapStaleTopologies, TOPOLOGY_DIR_PREFIX, TOPOLOGY_FILE } from './stale-topologies.js';

export interface PgNode {
  name: 'primary' | 'standby1' | 'standby2' | string;
  host: string;
  port: number;
  dataDir: string;
  socketDir: string;
  logFile: string;
}

export interface Topology {
  binDir: string;
  /** OS user the servers run as (null = the current user). */
  runAs: string | null;
  primary: PgNode;
  standbys: PgNode[];
  /** Password auth over TCP; over the unix socket it is trusted (see sqlOn). */
  superuser: { user: string; password: string };
  /** Its password is stored as SCRAM-SHA-256 on the server. */
  scramUser: { user: string; password: string };
  /** Its password is stored as md5 on the server. */
  md5User: { user: string; password: string };
  /** Owned by scramUser; both test users may create objects in its public schema. */
  database: string;
  /** Same grants as `database`; 'challenge' is the seed's database name. */
  extraDatabases: string[];
  baseDir: string;
}

export interface TopologyOptions {
  standbys?: number;
  maxConnections?: number;
}

const SUPERUSER = 'postgres';
const TEST_DATABASE = 'pgtide_test';
const PG_CTL_TIMEOUT_SECONDS = '60';
const READY_TIMEOUT_MS = 30_000;

/** The SCRAM test user's login to the test database at `target` (a node, or a pooler). */
export function scramLogin(
  t: Topology,
  target: { host: string; port: number },
): { host: string; port: number; user: string; password: string; database: string } {
  return {
    host: target.host,
    port: target.port,
    user: t.scramUser.user,
    password: t.scramUser.password,
    database: t.database,
  };
}

/** The file, inside the base dir, that holds the topology as JSON. */
export function topologyFile(t: Topology): string {
  return join(t.baseDir, TOPOLOGY_FILE);
}

export async function startTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const standbyCount = opts.standbys ?? 2;
  const serverUser = await resolveServerUser();
  const binDir = await locateBinDir(serverUser);
  await reapStaleTopologies(stopTopology);

  const baseDir = await mkdtemp(join(tmpdir(), TOPOLOGY_DIR_PREFIX));
  await writeFile(join(baseDir, OWNER_PID_FILE), String(process.pid));
  const [primaryPort, ...standbyPorts] = await freePorts(1 + standbyCount);
  const t: Topology = {
    binDir,
    runAs: serverUser?.name ?? null,
    primary: nodeLayout(baseDir, 'primary', primaryPort!),
    standbys: standbyPorts.map((port, i) => nodeLayout(baseDir, `standby${i + 1}`, port)),
    superuser: { user: SUPERUSER, password: 'pgtide-super-pw' },
    scramUser: { user: 'pgtide_scram', password: 'pgtide-scram-pw' },
    md5User: { user: 'pgtide_md5', password: 'pgtide-md5-pw' },
    database: TEST_DATABASE,
    extraDatabases: ['challenge'],
    baseDir,
  };
  // Written before any server starts, so that a later run can stop what a crashed one left.
  await writeFile(topologyFile(t), JSON.stringify(t, null, 2));

  try {
    await giveTo(serverUser, baseDir);
    for (const node of [t.primary, ...t.standbys]) await prepareNodeDirs(serverUser, node);
    await initPrimary(t, serverUser, opts.maxConnections ?? 300);
    await startNode(t, t.primary);
    await createTestRolesAndDatabases(t);
    // A cold copy is only consistent from a cleanly stopped primary.
    await stopNode(t, t.primary, 'fast');
    await Promise.all(t.standbys.map((s) => cloneStandby(t, s, serverUser)));
    await Promise.all([t.primary, ...t.standbys].map((n) => startNode(t, n)));
    await waitUntil(`${t.standbys.length} standbys streaming from the primary`, async () => {
      const [row] = await sqlOn<{ n: number }>(
        t.primary,
        "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'",
        [],
        'postgres',
      );
      return row!.n >= t.standbys.length;
    });
    return t;
  } catch (err) {
    await stopTopology(t);
    throw err;
  }
}

/** Stops every node at once (immediate: nothing in a test cluster needs a checkpoint). */
export async function stopTopology(t: Topology): Promise<void> {
  await Promise.all([t.primary, ...t.standbys].map((node) => stopNode(t, node, 'immediate').catch(() => undefined)));
  await rm(t.baseDir, { recursive: true, force: true });
}

/** The topology started by test/run.ts for this test process. */
export function currentTopology(): Topology {
  const file = process.env['PGTIDE_TEST_TOPOLOGY'];
  if (!file) {
    throw new Error(
      'No PostgreSQL test topology: PGTIDE_TEST_TOPOLOGY is unset. Run the tests with `npm test` ' +
        'or `node dist/test/run.js [test files]`, which start the servers first.',
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Topology;
}

export async function stopNode(t: ServerContext, node: PgNode, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  await pgCtl(t, node, ['stop', '-m', mode]);
}

/** Starts the node and returns once it accepts connections (a standby: once consistent). */
export async function startNode(t: ServerContext, node: PgNode): Promise<void> {
  await pgCtl(t, node, ['start', '-l', node.logFile]);
}

/** Promotes a standby and returns once it has left recovery. */
export async function promoteNode(t: ServerContext, node: PgNode): Promise<void> {
  await pgCtl(t, node, ['promote']);
  await waitUntil(`${node.name} out of recovery`, async () => {
    const [row] = await sqlOn<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r', [], 'postgres');
    return row!.r === false;
  });
}

/**
 * A switchover's last step: `node`, a former primary stopped by the caller, restarted as a
 * streaming standby of `primary` (the promoted standby), as the `postgres` OS user like every
 * node. Returns once it streams from `primary` on its timeline and has replayed what `primary`
 * had written when it started, and says how:
 * - 'kept': its own data directory, with standby.signal and primary_conninfo. That works after
 *   a clean stop (fast or smart): the old primary's walsender waits at shutdown until the standby
 *   has its shutdown checkpoint, so the promotion forks after the end of its WAL;
 * - 'rebuilt': `fresh`, or the kept directory did not follow the new timeline within 5 s (an
 *   immediate stop, a standby that lagged): the directory is made again from an online copy of
 *   `primary` (pg_backup_start, a file copy, pg_backup_stop's backup_label), what pg_basebackup
 *   does. The embedded binaries ship neither pg_basebackup nor pg_rewind, and pg_rewind would
 *   need wal_log_hints and full_page_writes, which the harness turns off.
 */
export async function rejoinAsStandby(
  t: Topology,
  node: PgNode,
  primary: PgNode,
  opts: { fresh?: boolean } = {},
): Promise<'kept' | 'rebuilt'> {
  const serverUser = t.runAs ? await resolveServerUser() : null;
  if (!opts.fresh) {
    await followPrimary(serverUser, node, primary);
    try {
      await startNode(t, node);
      await streamsFrom(node, primary, 5_000);
      return 'kept';
    } catch {
      await stopNode(t, node, 'immediate').catch(() => undefined);
    }
  }
  await copyOnline(t, serverUser, primary, node);
  await followPrimary(serverUser, node, primary);
  await startNode(t, node);
  await streamsFrom(node, primary, READY_TIMEOUT_MS);
  return 'rebuilt';
}

/** standby.signal, and settings that point `node` at `primary` (auto.conf is read last). */
async function followPrimary(user: OsUser | null, node: PgNode, primary: PgNode): Promise<void> {
  const signal = join(node.dataDir, 'standby.signal');
  await writeFile(signal, '');
  await giveTo(user, signal);
  await appendFile(
    join(node.dataDir, 'postgresql.auto.conf'),
    gucLines({
      port: node.port,
      unix_socket_directories: node.socketDir,
      primary_conninfo: `host=${primary.socketDir} port=${primary.port} user=${SUPERUSER} application_name=${node.name}`,
    }),
  );
}

async function streamsFrom(node: PgNode, primary: PgNode, timeoutMs: number): Promise<void> {
  const [p] = await sqlOn<{ tli: number; lsn: string }>(
    primary,
    "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli, pg_current_wal_lsn()::text AS lsn",
  );
  await waitFor(
    `${node.name} streaming from ${primary.name} on timeline ${p!.tli}`,
    async () => {
      const [r] = await sqlOn<{ ok: boolean }>(
        node,
        `SELECT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming' AND received_tli = $1)
            AND pg_last_wal_replay_lsn() >= $2::pg_lsn AS ok`,
        [p!.tli, p!.lsn],
      ).catch(() => [{ ok: false }]);
      return r!.ok;
    },
    timeoutMs,
  );
}

/** `to`'s data directory made again as a base backup of the running `from`. */
async function copyOnline(t: Topology, user: OsUser | null, from: PgNode, to: PgNode): Promise<void> {
  const client = new pg.Client({ host: from.socketDir, port: from.port, user: SUPERUSER, database: 'postgres' });
  await client.connect();
  try {
    await client.query("SELECT pg_backup_start('rejoinAsStandby', true)");
    await rm(to.dataDir, { recursive: true, force: true });
    // What pg_basebackup leaves out: WAL (streamed from `from` instead), and run-time files.
    const skipped = new Set([
      'postmaster.pid',
      'postmaster.opts',
      'standby.signal',
      'pg_wal',
      'pg_replslot',
      'pg_stat_tmp',
    ]);
    await copyTree(from.dataDir, to.dataDir, (name) => skipped.has(name) || name === 'pgsql_tmp');
    for (const dir of ['pg_wal/archive_status', 'pg_replslot', 'pg_stat_tmp']) {
      await mkdir(join(to.dataDir, dir), { recursive: true, mode: 0o700 });
    }
    const [end] = (await client.query('SELECT labelfile FROM pg_backup_stop(false)')).rows;
    await writeFile(join(to.dataDir, 'backup_label'), end.labelfile);
  } finally {
    await client.end();
  }
  if (user)
    await runAsServerUser({ ...t, runAs: null }, '/bin/chown', ['-R', `${user.uid}:${user.gid}`, to.dataDir], '/');
}

/** A recursive copy of a running server's files: one that vanishes meanwhile is skipped. */
async function copyTree(from: string, to: string, skip: (name: string) => boolean): Promise<void> {
  await mkdir(to, { mode: 0o700 });
  for (const entry of await readdir(from, { withFileTypes: true }).catch(() => [])) {
    if (skip(entry.name)) continue;
    const [src, dst] = [join(from, entry.name), join(to, entry.name)];
    if (entry.isDirectory()) await copyTree(src, dst, skip);
    else
      await copyFile(src, dst).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
  }
}

/**
 * Runs SQL as the superuser on `node` (default database: the test database) and returns the
 * rows. It connects over the node's unix socket, where pg_hba trusts local users, so it needs
 * no Topology.
 */
// biome-ignore lint/suspicious/noExplicitAny: rows are untyped unless the caller names them, as in pg
export async function sqlOn<Row = any>(
  node: PgNode,
  sql: string,
  params: unknown[] = [],
  db: string = TEST_DATABASE,
): Promise<Row[]> {
  const client = new pg.Client({
    host: node.socketDir,
    port: node.port,
    user: SUPERUSER,
    database: db,
    connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

/** How many sessions on `node` run `query` now (pg_stat_activity's active ones). */
export async function runningNow(node: PgNode, query: string): Promise<number> {
  const [row] = await sqlOn(
    node,
    'SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE query = $1 AND state = $2',
    [query, 'active'],
  );
  return row.n;
}

/** Until every standby has replayed what the primary wrote so far. */
export async function standbysCaughtUp(t: Topology = currentTopology()): Promise<void> {
  const [row] = await sqlOn<{ lsn: string }>(t.primary, 'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn');
  for (const standby of t.standbys) {
    await waitFor(`${standby.name} replays ${row!.lsn}`, async () => {
      const [r] = await sqlOn<{ done: boolean }>(
        standby,
        'SELECT pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
        [row!.lsn],
      );
      return r!.done;
    });
  }
}

function nodeLayout(baseDir: string, name: string, port: number): PgNode {
  const dir = join(baseDir, name);
  return {
    name,
    host: '127.0.0.1',
    port,
    dataDir: join(dir, 'data'),
    socketDir: join(dir, 'socket'),
    logFile: join(dir, 'postgres.log'),
  };
}

function pgCtl(t: ServerContext, node: PgNode, args: string[]): Promise<string> {
  return runAsServerUser(
    t,
    'pg_ctl',
    ['-D', node.dataDir, '-w', '-t', PG_CTL_TIMEOUT_SECONDS, ...args],
    dirname(node.dataDir),
  );
}

async function giveTo(user: OsUser | null, path: string): Promise<void> {
  if (user) await chown(path, user.uid, user.gid);
}

async function prepareNodeDirs(user: OsUser | null, node: PgNode): Promise<void> {
  const nodeDir = dirname(node.dataDir);
  await mkdir(node.socketDir, { recursive: true });
  await giveTo(user, nodeDir);
  await giveTo(user, node.socketDir);
}

async function initPrimary(t: Topology, user: OsUser | null, maxConnections: number): Promise<void> {
  const node = t.primary;
  const nodeDir = dirname(node.dataDir);
  const pwfile = join(nodeDir, 'superuser.pw');
  await writeFile(pwfile, t.superuser.password, { mode: 0o600 });
  await giveTo(user, pwfile);
  await runAsServerUser(
    t,
    'initdb',
    [
      '-D',
      node.dataDir,
      '-U',
      SUPERUSER,
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
      // 1 MB WAL segments instead of 16 MB: the standbys' cold copies shrink by about 30 MB.
      '--wal-segsize=1',
    ],
    nodeDir,
  );
  await rm(pwfile);
  // Method md5 (not scram-sha-256) on TCP: the server then runs SCRAM for SCRAM-stored
  // secrets and MD5 for md5-stored ones, so both test users can log in. scram-sha-256 would
  // reject every md5-stored password.
  await writeFile(
    join(node.dataDir, 'pg_hba.conf'),
    [
      'local all         all              trust',
      'local replication all              trust',
      'host  all         all 127.0.0.1/32 md5',
      'host  replication all 127.0.0.1/32 md5',
      '',
    ].join('\n'),
  );
  await appendFile(
    join(node.dataDir, 'postgresql.conf'),
    gucLines({
      listen_addresses: '127.0.0.1',
      port: node.port,
      unix_socket_directories: node.socketDir,
      max_connections: maxConnections,
      wal_level: 'replica',
      max_wal_senders: 10,
      // Standbys may be stopped by tests for a while; keep enough WAL for them to catch up.
      wal_keep_size: '256MB',
      hot_standby: 'on',
      fsync: 'off',
      full_page_writes: 'off',
    }),
  );
}

async function createTestRolesAndDatabases(t: Topology): Promise<void> {
  const { scramUser, md5User } = t;
  // One statement per call: CREATE DATABASE refuses to run inside the implicit transaction of
  // a multi-statement query.
  const statements = [
    "SET password_encryption = 'scram-sha-256'",
    `CREATE ROLE ${scramUser.user} LOGIN PASSWORD ${sqlLiteral(scramUser.password)}`,
    "SET password_encryption = 'md5'",
    `CREATE ROLE ${md5User.user} LOGIN PASSWORD ${sqlLiteral(md5User.password)}`,
    // Lets the pooler's health checks read replication state as a test user.
    `GRANT pg_monitor TO ${scramUser.user}, ${md5User.user}`,
  ];
  const client = new pg.Client({
    host: t.primary.socketDir,
    port: t.primary.port,
    user: SUPERUSER,
    database: 'postgres',
  });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
    for (const db of [t.database, ...t.extraDatabases]) {
      await client.query(`CREATE DATABASE ${db} OWNER ${scramUser.user}`);
      await client.query(`GRANT ALL ON DATABASE ${db} TO ${md5User.user}`);
    }
  } finally {
    await client.end();
  }
  for (const db of [t.database, ...t.extraDatabases]) {
    await sqlOn(t.primary, `GRANT ALL ON SCHEMA public TO ${md5User.user}`, [], db);
  }
}

async function cloneStandby(t: Topology, standby: PgNode, user: OsUser | null): Promise<void> {
  // cp -a as the server user keeps the 0700 modes and the server user's ownership.
  await runAsServerUser(t, '/bin/cp', ['-a', t.primary.dataDir, standby.dataDir], t.baseDir);
  // Its settings override the primary's copied ones (postgresql.auto.conf is read last).
  await followPrimary(user, standby, t.primary);
}

function gucLines(settings: Record<string, string | number>): string {
  return (
    '\n' +
    Object.entries(settings)
      .map(([name, value]) => `${name} = ${typeof value === 'number' ? value : sqlLiteral(value)}`)
      .join('\n') +
    '\n'
  );
}

function sqlLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err; // not up yet: keep polling until the deadline
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for ${what}${cause}`);
}
