// `pgtide check` and its sizing test at `pgtide start`: the most max_connections slots pgtide
// can take on each backend (config/budget.ts) against what the backend lets a non-superuser
// have, asked of the backend itself with pgtide's check login.
import fs from 'node:fs';
import { CheckConnection } from './cluster/check-connection.js';
import { checkLogin } from './cluster/check-login.js';
import {
  clientCapacity,
  judgeBudget,
  openFilesNeeded,
  serverBudget,
  type BackendLimits,
  type ServerBudget,
} from './config/budget.js';
import type { BackendConfig, Config } from './config/types.js';
import { serverTlsOptions } from './proxy/tls.js';
import { openFilesLimit } from './open-files.js';
import { adminConsoleCommand, socketPath } from './config/socket-path.js';
import { directoryProblem } from './proxy/admin-socket.js';
import type { Pgtide } from './server.js';
import { parseSecret } from './auth/secret.js';

/** Exit statuses of `pgtide check`, apart from 1 for an invalid configuration. */
export const CHECK_OVER_BUDGET = 1;
export const CHECK_UNREACHABLE = 2;

/** Prints the report; returns the exit status: 0 all backends fit, CHECK_OVER_BUDGET when one
 *  may be asked for more than it has, else CHECK_UNREACHABLE when one could not be checked. */
export async function printCheck(
  config: Config,
  users: ReadonlyMap<string, string>,
  print: (line: string) => void,
): Promise<number> {
  print(describeAdminSocket(config));
  if (config.unix_socket_dir !== '')
    print(describeUnixSocket(config.unix_socket_dir, socketPath(config.unix_socket_dir, config)));
  const unreachable = md5OnlyUsers(config, users);
  if (unreachable.length > 0) print(`warning: ${MD5_UNDER_SCRAM}: ${unreachable.join(', ')}`);
  const budget = serverBudget(config, users.keys());
  print(`server connections per backend: ${describeBudget(budget)}`);
  for (const line of explainBudget(budget)) print(`  ${line}`);
  print(
    'available per backend: max_connections - superuser_reserved_connections - reserved_connections (PostgreSQL 16+)',
  );

  const rows: string[][] = [
    ['backend', 'max_connections', 'superuser_reserved', 'reserved', 'available', 'needed', 'verdict'],
  ];
  let over = 0;
  let unchecked = 0;
  for (const backend of config.backends) {
    try {
      const limits = await readBackendLimits(config, users, backend);
      const verdict = judgeBudget(budget, limits);
      if (verdict.over) over++;
      rows.push([
        backend.name,
        String(limits.max_connections),
        String(limits.superuser_reserved_connections),
        String(limits.reserved_connections),
        String(verdict.available),
        String(budget.total),
        verdict.over ? 'OVER BUDGET' : 'ok',
      ]);
    } catch (err) {
      unchecked++;
      rows.push([backend.name, '?', '?', '?', '?', String(budget.total), `NOT CHECKED: ${(err as Error).message}`]);
    }
  }
  print(formatTable(rows));
  const files = openFilesLimit();
  const needed = openFilesNeeded(config, budget);
  if (files !== undefined && files < needed) {
    print(
      `warning: the open-files limit (ulimit -n) is ${files}, below the ${needed} pgtide may need: it admits at most ${clientCapacity(config, budget, files)} clients (docs/tuning.md)`,
    );
  }
  if (over > 0) {
    print(
      `verdict: FAIL: ${over} backend(s) may be asked for more connections than they have available; lower default_pool_size / reserve_pool_size, set max_db_connections / max_user_connections, or raise max_connections`,
    );
    return CHECK_OVER_BUDGET;
  }
  if (unchecked > 0) {
    print(
      `verdict: UNKNOWN: ${unchecked} of ${config.backends.length} backend(s) could not be checked (see NOT CHECKED above); the sizing is not known to fit`,
    );
    return CHECK_UNREACHABLE;
  }
  print('verdict: ok');
  return 0;
}

/** The sizing test and the users no login can reach, as warnings at start: a running pooler is
 *  never blocked by them. `config` is the instance's, not a worker's share of it. */
export async function warnAtStart(pgtide: Pgtide, config: Config): Promise<void> {
  const { users } = pgtide.context;
  const unreachable = md5OnlyUsers(config, users);
  if (unreachable.length > 0) pgtide.log.warn({ users: unreachable, auth_file: config.auth_file }, MD5_UNDER_SCRAM);
  const budget = serverBudget(config, users.keys());
  const files = openFilesLimit();
  const needed = openFilesNeeded(config, budget);
  if (files !== undefined && files < needed) {
    pgtide.log.warn(
      { open_files_limit: files, needed, clients_admitted: clientCapacity(config, budget, files) },
      'the open-files limit (ulimit -n) is below max_client_conn + server connections + 32 per peer + 100: fewer clients are admitted, so that server connections keep their descriptors; raise it (docs/tuning.md)',
    );
  }
  for (const backend of config.backends) {
    const limits = await readBackendLimits(config, users, backend).catch(() => undefined);
    if (limits === undefined) continue; // the monitor reports unreachable backends
    const verdict = judgeBudget(budget, limits);
    if (verdict.over) {
      pgtide.log.warn(
        { backend: backend.name, server_connections: budget.total, available: verdict.available, ...limits },
        'pgtide may open more server connections than this backend accepts; lower the pool sizes or raise max_connections (pgtide check)',
      );
    }
  }
}

const MD5_UNDER_SCRAM =
  'auth_type = "scram-sha-256" cannot log in a user whose auth_file entry is an md5 hash (as PostgreSQL and PgBouncer): give their password or SCRAM secret, or set auth_type = "md5"';

/** Users of auth_file whom auth_type = scram-sha-256 never logs in: only an md5 hash is kept for
 *  them, and SCRAM needs the password or a SCRAM secret. With hba_file, its lines choose. */
export function md5OnlyUsers(config: Config, users: ReadonlyMap<string, string>): string[] {
  if (config.auth_type !== 'scram-sha-256' || config.hba_file !== '') return [];
  const names: string[] = [];
  for (const [user, stored] of users) if (parseSecret(stored).kind === 'md5') names.push(user);
  return names;
}

/** Where the operator finds the console without a password, as the user running this check. */
function describeAdminSocket(config: Config): string {
  const command = adminConsoleCommand(config);
  if (command === null)
    return 'admin console: no admin socket (admin_socket_dir is empty); only admin_users / stats_users reach it';
  const dir = config.admin_socket_dir;
  let state: string;
  try {
    const problem = directoryProblem(dir);
    state = problem === null ? 'ready' : `warning: admin_socket_dir ${dir} ${problem}; pgtide will not start`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    state = code === 'ENOENT' ? 'made at start' : `warning: cannot look at it: ${code ?? (err as Error).message}`;
  }
  return `admin console: ${command} (admin_socket_dir ${dir}: ${state}; for the OS user running pgtide, no password)`;
}

/** The clients' unix socket: its directory must take pgtide's socket file; one that does not
 *  exist (a pgbouncer.ini's /var/run/postgresql, often missing where pgtide runs) leaves TCP alone. */
function describeUnixSocket(dir: string, file: string): string {
  let state = 'ready';
  try {
    if (!fs.statSync(dir).isDirectory())
      state = `warning: unix_socket_dir ${dir} is not a directory; pgtide will not start`;
    else fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    state =
      code === 'ENOENT'
        ? `warning: unix_socket_dir ${dir} does not exist; pgtide listens on TCP alone (as PgBouncer)`
        : `warning: unix_socket_dir ${dir} ${code === 'EACCES' ? 'is not writable here' : code}; pgtide will not start`;
  }
  return `unix socket: ${file} (${state})`;
}

function describeBudget(b: ServerBudget): string {
  const pooled = `${b.pooled} pooled (${b.pools} pool${b.pools === 1 ? '' : 's'})`;
  return b.workers === 1
    ? `${pooled} + ${b.check} check = ${b.total}`
    : `${pooled} + ${b.check} check × ${b.workers} workers = ${b.total}`;
}

/** How the figure above was reached, in the words of the configuration. */
function explainBudget(b: ServerBudget): string[] {
  return [
    'pooled: for each (database, user) pool, pool_size + reserve_pool_size, capped by max_db_connections / max_user_connections',
    ...b.assumptions.map((assumption) => `assuming ${assumption}`),
    ...(b.workers === 1
      ? []
      : [
          `workers: the pooled connections are split among the ${b.workers} workers (their shares add up to the configured sizes); each worker has its own check connection`,
        ]),
    "check: the cluster monitor's one connection (health, role and lag checks)",
    'cancel requests are not counted: PostgreSQL answers each on a connection that never takes a max_connections slot',
  ];
}

/** Asks the backend with pgtide's check login; every answer is checked, being a server's. */
async function readBackendLimits(
  config: Config,
  users: ReadonlyMap<string, string>,
  backend: BackendConfig,
): Promise<BackendLimits> {
  const connection = new CheckConnection(() => checkLogin(config, users, backend, serverTlsOptions(config)));
  const timeoutMs = (config.health_check_timeout || config.server_connect_timeout) * 1000;
  try {
    // reserved_connections is PostgreSQL 16's; missing_ok gives NULL (0) before.
    const rows = await connection.query(
      "SELECT pg_catalog.current_setting('max_connections'), pg_catalog.current_setting('superuser_reserved_connections'), " +
        "coalesce(pg_catalog.current_setting('reserved_connections', true), '0')",
      timeoutMs,
    );
    const [maxConnections, superuserReserved, reserved] = (rows[0] ?? []).map((cell) =>
      cell !== null && /^\d{1,9}$/.test(cell) ? Number(cell) : undefined,
    );
    if (maxConnections === undefined || superuserReserved === undefined || reserved === undefined)
      throw new Error('unexpected answer to the max_connections query');
    return {
      max_connections: maxConnections,
      superuser_reserved_connections: superuserReserved,
      reserved_connections: reserved,
    };
  } finally {
    connection.close('limits read');
  }
}

function formatTable(rows: readonly string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
