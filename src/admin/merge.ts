// What each worker of `workers = N` reports for a console SHOW, and how the reports of all
// workers make the instance's answer. Pure: a report is plain data, as it crosses the IPC
// channel (JSON); the tables are built from the merged reports (show-*.ts), or are the reports
// (SHOW CLIENTS, SERVERS, DATABASES, USERS).
import type { Cell } from './table.js';

/** One (database, user) of SHOW POOLS. */
export interface PoolRow {
  database: string;
  user: string;
  clActive: number;
  clWaiting: number;
  svActive: number;
  svIdle: number;
  svLogin: number;
  maxWaitMs: number;
  mode: string;
  clPinned: number;
  pins: number;
}

/** Running totals of one database, as SHOW STATS and STATS_TOTALS show them. */
export interface Totals {
  assignments: number;
  xacts: number;
  queries: number;
  received: number;
  sent: number;
  xactTimeUs: number;
  queryTimeUs: number;
  waitTimeUs: number;
  clientParses: number;
  serverParses: number;
  binds: number;
}

/** One database of SHOW STATS: its totals, and the same per second of the reporter's uptime. */
export interface DatabaseStats {
  database: string;
  totals: Totals;
  perSecond: Totals;
}

/** SHOW LISTS: the pools a worker has, by (database, user), and its connection counts. */
export interface ListCounts {
  pools: { database: string; user: string }[];
  /** SHOW DATABASES' and SHOW USERS' rows, by name: their counts are SHOW LISTS' rows of that name. */
  databases: string[];
  users: string[];
  /** The [[peers]] this instance forwards cancels to: the same in every worker. */
  peers: number;
  usedClients: number;
  loginClients: number;
  usedServers: number;
}

/**
 * a and b field by field: numbers summed (or the larger kept, for the fields named in
 * `larger`), anything else taken from a.
 */
function added<T extends object>(a: T, b: T, larger: readonly (keyof T)[] = []): T {
  const out = { ...a };
  for (const key of Object.keys(a) as (keyof T)[]) {
    const x = a[key];
    const y = b[key];
    if (typeof x === 'number' && typeof y === 'number')
      out[key] = (larger.includes(key) ? Math.max(x, y) : x + y) as T[keyof T];
  }
  return out;
}

/** Rows of every report, those with the same key combined, in the order keys first appear. */
function mergeByKey<T>(reports: readonly T[][], keyOf: (row: T) => string, combine: (a: T, b: T) => T): T[] {
  if (reports.length === 1) return reports[0]!;
  const merged = new Map<string, T>();
  for (const rows of reports) {
    for (const row of rows) {
      const key = keyOf(row);
      const seen = merged.get(key);
      merged.set(key, seen === undefined ? row : combine(seen, row));
    }
  }
  return [...merged.values()];
}

const poolKey = (row: { database: string; user: string }) => `${row.database}\0${row.user}`;

function byDatabaseAndUser(a: { database: string; user: string }, b: { database: string; user: string }): number {
  return a.database.localeCompare(b.database) || a.user.localeCompare(b.user);
}

/** The longest wait of any worker; every count summed. */
export function mergePools(reports: readonly PoolRow[][]): PoolRow[] {
  return mergeByKey(reports, poolKey, (a, b) => added(a, b, ['maxWaitMs'])).sort(byDatabaseAndUser);
}

/**
 * Totals summed, and rates too (each worker's count over its own uptime: a worker restarted
 * lately counts from its restart). Averages per transaction, query or wait are taken from the
 * summed totals (statsAverages), so each worker weighs by its own count.
 */
export function mergeStats(reports: readonly DatabaseStats[][]): DatabaseStats[] {
  return mergeByKey(
    reports,
    (row) => row.database,
    (a, b) => ({ database: a.database, totals: added(a.totals, b.totals), perSecond: added(a.perSecond, b.perSecond) }),
  ).sort((a, b) => a.database.localeCompare(b.database));
}

/** Totals of a database that counted nothing yet. */
export const NO_TOTALS: Readonly<Totals> = {
  assignments: 0,
  xacts: 0,
  queries: 0,
  received: 0,
  sent: 0,
  xactTimeUs: 0,
  queryTimeUs: 0,
  waitTimeUs: 0,
  clientParses: 0,
  serverParses: 0,
  binds: 0,
};

/** Totals added up (SHOW TOTALS: every database's). */
export function sumTotals(list: readonly Totals[]): Totals {
  return list.reduce((sum, t) => added(sum, t), NO_TOTALS);
}

/**
 * Average time per transaction, per query and per server assignment, in microseconds: the wait
 * for a server averaged over every assignment, those with no wait included, as PgBouncer 1.23
 * averages it (dashboards compare the two).
 */
export function statsAverages(t: Totals): [xactUs: number, queryUs: number, waitUs: number] {
  return [
    t.xacts ? t.xactTimeUs / t.xacts : 0,
    t.queries ? t.queryTimeUs / t.queries : 0,
    t.assignments ? t.waitTimeUs / t.assignments : 0,
  ];
}

/**
 * SHOW DATABASES, USERS, PEERS and CONFIG, rows named by their first cell: the numbers of the
 * `summed` columns added up over the workers (each has its share of every limit, and its own
 * connections), the other cells taken from the first report that names the row.
 */
export function mergeNamedRows(
  columns: readonly string[],
  reports: readonly Cell[][][],
  summed: readonly string[],
): Cell[][] {
  const indexes = new Set(summed.map((name) => columns.indexOf(name)));
  return mergeByKey(
    reports,
    (row) => String(row[0]),
    (a, b) =>
      a.map((cell, i) => {
        const other = b[i];
        return indexes.has(i) && typeof cell === 'number' && typeof other === 'number' ? cell + other : cell;
      }),
  );
}

/** A pool that two workers have is one pool of the instance. */
export function mergeLists(reports: readonly ListCounts[]): ListCounts {
  const [first, ...rest] = reports;
  if (first === undefined)
    return { pools: [], databases: [], users: [], peers: 0, usedClients: 0, loginClients: 0, usedServers: 0 };
  let counts = first;
  for (const report of rest) counts = added(counts, report, ['peers']);
  return {
    ...counts,
    databases: union(reports.map((r) => r.databases)),
    users: union(reports.map((r) => r.users)),
    pools: mergeByKey(
      reports.map((r) => r.pools),
      poolKey,
      (a) => a,
    ),
  };
}

/** SHOW CLIENTS and SERVERS: every worker's rows, one after the other. */
export function concatRows(reports: readonly Cell[][][]): Cell[][] {
  return reports.length === 1 ? reports[0]! : reports.flat();
}

/** Every name of the lists, once, sorted. */
function union(lists: readonly string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}
