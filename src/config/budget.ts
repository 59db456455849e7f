// The sizing check: the most server connections pgtide can open to one backend, against what
// the backend accepts (max_connections - superuser_reserved_connections). Pure arithmetic over
// the configuration, so `pgtide check` and `pgtide start` agree and tests can use tables.
//
// pgtide opens pools lazily, one per (database, user, backend), so the budget counts every pool
// the configuration allows to exist:
// - databases: each named [databases] entry; the wildcard `*` (or an empty table, which passes
//   any name through) counts as ONE more database, since pgtide cannot know how many names
//   clients will ask for. List the databases by name for an exact budget.
// - users: those of auth_file plus the [users] table; with none known (auth_type = "trust"
//   without auth_file) any name can log in, and one user is assumed.
// Every backend may hold every pool (writes go to the primary, reads to any node), so the
// budget is the same for each backend.
//
// With `workers = N` the pool sizes and caps are split among the workers so that their shares
// add up to the configured values (config/worker-share.ts): the pooled figure holds for the
// whole instance. Only the check connection is per worker: each runs its own cluster monitor.
//
// Only what takes one of PostgreSQL's max_connections slots counts. A CancelRequest does not:
// the postmaster serves it on a connection of its own that ends before the process would join
// the PGPROC array (where the 53300 limit is enforced), so cancels need no slot even with every
// slot taken (measured in test/integration/cli-check.test.ts). Pgpool-II's advice to double
// the connections for cancels is about its own num_init_children, which a cancel occupies.
import { MAX_FORWARDS_PER_PEER, forwardTargets } from './peering.js';
import type { Config } from './types.js';
import { workerConfig } from './worker-share.js';

/** Per worker process: one check connection per backend (the cluster monitor). */
const CHECK_CONNECTIONS = 1;
/** File descriptors pgtide needs besides clients and servers: listeners, logs, the runtime. */
const SPARE_FILES = 100;

export interface ServerBudget {
  /** (database, user) pools that can exist on each backend. */
  pools: number;
  /** Most pooled server connections per backend: pool_size + reserve_pool_size per pool,
   *  capped by max_db_connections and max_user_connections. */
  pooled: number;
  /** The most of `pooled` one worker process holds (all of it with one worker). */
  pooledPerWorker: number;
  /** The cluster monitor's connection for health, role and lag checks. */
  check: number;
  workers: number;
  /** pooled + check × workers: the most max_connections slots pgtide takes on one backend. */
  total: number;
  /** The assumptions the count rests on, to print next to it. */
  assumptions: string[];
}

export interface BackendLimits {
  max_connections: number;
  superuser_reserved_connections: number;
  /** PostgreSQL 16+: slots kept for roles with pg_use_reserved_connections (0 before 16). */
  reserved_connections: number;
}

export interface BudgetVerdict {
  /** Slots pgtide's (non-superuser) logins may take:
   *  max_connections - superuser_reserved_connections - reserved_connections. */
  available: number;
  over: boolean;
}

/** The budget of one backend; `users` are the names of auth_file. */
export function serverBudget(config: Config, users: Iterable<string>): ServerBudget {
  const workers = config.workers;
  const assumptions: string[] = [];
  const databases = Object.keys(config.databases).filter((name) => name !== '*');
  if (config.databases['*'] !== undefined || databases.length === 0) {
    databases.push('*');
    assumptions.push('any database name is accepted ([databases] has "*" or is empty): counted as one database');
  }
  const userNames = [...new Set([...users, ...Object.keys(config.users)])];
  if (userNames.length === 0) {
    userNames.push('');
    assumptions.push('no users are known (auth_file and [users] are empty): counted as one user');
  }

  const pooled = pooledConnections(config, databases, userNames);
  return {
    pools: databases.length * userNames.length,
    pooled,
    // Worker 0 takes every remainder of the split, so its share is the largest.
    pooledPerWorker: workers === 1 ? pooled : pooledConnections(workerConfig(config, 0), databases, userNames),
    check: CHECK_CONNECTIONS,
    workers,
    total: pooled + CHECK_CONNECTIONS * workers,
    assumptions,
  };
}

function pooledConnections(config: Config, databases: readonly string[], userNames: readonly string[]): number {
  const size = (database: string, user: string): number => {
    const db = config.databases[database];
    const poolSize = config.users[user]?.pool_size ?? db?.pool_size ?? config.default_pool_size;
    return poolSize + (db?.reserve_pool_size ?? config.reserve_pool_size);
  };
  const perDatabase = databases.map((database) => {
    const sum = userNames.reduce((total, user) => total + size(database, user), 0);
    return capped(sum, config.databases[database]?.max_db_connections ?? config.max_db_connections);
  });
  const perUser = userNames.map((user) => {
    const sum = databases.reduce((total, database) => total + size(database, user), 0);
    return capped(sum, config.users[user]?.max_user_connections ?? config.max_user_connections);
  });
  // Exact when only one kind of cap is set; with both it is an upper bound, which is the safe
  // side for a check that must not promise too little.
  return Math.min(sumOf(perDatabase), sumOf(perUser));
}

export function judgeBudget(budget: ServerBudget, limits: BackendLimits): BudgetVerdict {
  const available = limits.max_connections - limits.superuser_reserved_connections - limits.reserved_connections;
  return { available, over: budget.total > available };
}

/** Open files one pgtide process may need (the limit is per process): its clients, and
 *  nonClientFiles. A worker holds at most worker 0's share (it takes every remainder). */
export function openFilesNeeded(config: Config, budget: ServerBudget): number {
  return largestClientShare(config) + nonClientFiles(config, budget);
}

function largestClientShare(config: Config): number {
  return workerConfig(config, 0).max_client_conn;
}

/** One process's server connections to every backend, the cancel requests it may be
 *  forwarding to its peers at once, and some to spare. */
function nonClientFiles(config: Config, budget: ServerBudget): number {
  return (
    (budget.pooledPerWorker + budget.check) * config.backends.length +
    MAX_FORWARDS_PER_PEER * forwardTargets(config).length +
    SPARE_FILES
  );
}

/** Descriptors a pooler holds whatever its load: the runtime's own, listeners, logs. */
const RUNTIME_FILES = 32;

/**
 * The most clients one pgtide process admits under an open-files limit, so that the server
 * connections the budget may open still find a descriptor: a client admitted and then left
 * without a server gets nothing but an error. Its share of max_client_conn when the limit
 * holds everything (openFilesNeeded); when it cannot, the larger of what clients may have
 * after nonClientFiles, and half of what the runtime leaves.
 */
export function clientCapacity(config: Config, budget: ServerBudget, openFiles: number | undefined): number {
  const clients = largestClientShare(config);
  if (openFiles === undefined || !Number.isFinite(openFiles)) return clients;
  const afterServers = openFiles - nonClientFiles(config, budget);
  const half = Math.floor((openFiles - RUNTIME_FILES) / 2);
  return Math.max(1, Math.min(clients, Math.max(afterServers, half)));
}

/** The soft "Max open files" limit from /proc/<pid>/limits; Infinity when unlimited,
 *  undefined when the line is missing or malformed. */
export function parseOpenFilesLimit(procLimits: string): number | undefined {
  const match = /^Max open files\s+(\S+)/m.exec(procLimits);
  if (match === null) return undefined;
  if (match[1] === 'unlimited') return Infinity;
  return /^\d+$/.test(match[1]!) ? Number(match[1]) : undefined;
}

function capped(value: number, cap: number): number {
  return cap > 0 ? Math.min(value, cap) : value;
}

function sumOf(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
