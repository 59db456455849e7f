// SHOW POOLS, STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS, LISTS and BACKENDS: PgBouncer's columns, summed over the
// per-backend pools of each (database, user); SHOW BACKENDS is the per-backend view. Each but
// BACKENDS is built in two steps, what this process counts (a report, see merge.ts) and the
// table, so that with `workers = N` the table shows the reports of every worker merged.
import type { Pgtide } from '../server.js';
import type { PoolCounters } from '../pool/pool.js';
import { forwardTargets } from '../config/peering.js';
import type { DatabaseStats, ListCounts, PoolRow, Totals } from './merge.js';
import { statsAverages, sumTotals } from './merge.js';
import { ADMIN_DATABASES, CONSOLE_POOL_MODE, databaseNames, userNames } from './show-settings.js';
import { backendStatuses, poolGroups, sum } from './snapshot.js';
import type { Cell, Table } from './table.js';

export function poolRows(pgtide: Pgtide, now = Date.now()): PoolRow[] {
  return poolGroups(pgtide).map((g): PoolRow => {
    // Clients waiting for a primary to be known (or for RESUME) are in no pool's queue.
    let maxWaitMs = 0;
    let waiting = 0;
    for (const p of g.pools) maxWaitMs = Math.max(maxWaitMs, p.maxWaitMs(now));
    for (const c of g.clients) {
      if (!c.isWaiting) continue;
      waiting++;
      maxWaitMs = Math.max(maxWaitMs, now - c.waitingSince);
    }
    return {
      database: g.database,
      user: g.user,
      clActive: g.clients.length - waiting,
      clWaiting: waiting,
      svActive: sum(g.pools, (p) => p.activeCount),
      svIdle: sum(g.pools, (p) => p.idleCount),
      svLogin: sum(g.pools, (p) => p.connectingCount),
      maxWaitMs,
      mode: ADMIN_DATABASES.includes(g.database)
        ? CONSOLE_POOL_MODE
        : (g.pools[0]?.settings.mode ?? pgtide.context.pools.modeFor(g.database, g.user)),
      clPinned: g.clients.filter((c) => c.pinned).length,
      pins: sum(g.pools, (p) => p.stats.pins),
    };
  });
}

export function poolsTable(rows: readonly PoolRow[]): Table {
  return {
    columns: [
      'database',
      'user',
      'cl_active#',
      'cl_waiting#',
      'cl_active_cancel_req#',
      'cl_waiting_cancel_req#',
      'sv_active#',
      'sv_active_cancel#',
      'sv_being_canceled#',
      'sv_idle#',
      'sv_used#',
      'sv_tested#',
      'sv_login#',
      'maxwait#',
      'maxwait_us#',
      'pool_mode',
      'load_balance_hosts',
      // pgtide's own, after PgBouncer's: clients pinned to their server now, and pins since start.
      'cl_pinned#',
      'pin_count#8',
    ],
    rows: rows.map((r): Cell[] => [
      r.database,
      r.user,
      r.clActive,
      r.clWaiting,
      0,
      0,
      r.svActive,
      0,
      0,
      r.svIdle,
      0,
      0,
      r.svLogin,
      Math.floor(r.maxWaitMs / 1000),
      (r.maxWaitMs % 1000) * 1000,
      r.mode,
      null,
      r.clPinned,
      r.pins,
    ]),
  };
}

function totals(pools: PoolCounters[]): Totals {
  return {
    assignments: sum(pools, (p) => p.lentTotal),
    xacts: sum(pools, (p) => p.stats.xacts),
    queries: sum(pools, (p) => p.stats.queries),
    received: sum(pools, (p) => p.stats.bytesReceived),
    sent: sum(pools, (p) => p.stats.bytesSent),
    xactTimeUs: sum(pools, (p) => p.stats.xactTimeUs),
    queryTimeUs: sum(pools, (p) => p.stats.queryTimeUs),
    waitTimeUs: sum(pools, (p) => p.waitTimeTotalMs * 1000),
    clientParses: sum(pools, (p) => p.stats.clientParses),
    serverParses: sum(pools, (p) => p.stats.serverParses),
    binds: sum(pools, (p) => p.stats.binds),
  };
}

/** Pools by database, those dropped by pool_idle_timeout included: PgBouncer's statistics are
 *  per database, across users, and never go down. */
function poolsByDatabase(pgtide: Pgtide): Map<string, PoolCounters[]> {
  const byDb = new Map<string, PoolCounters[]>();
  for (const pool of pgtide.context.pools.counted()) {
    const list = byDb.get(pool.key.database);
    if (list) list.push(pool);
    else byDb.set(pool.key.database, [pool]);
  }
  return new Map([...byDb].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Totals, and per second since this process started (PgBouncer averages over its last
 * stats_period; pgtide has no such period, and rates over any window are better taken from
 * /metrics).
 */
export function databaseStats(pgtide: Pgtide, now = Date.now()): DatabaseStats[] {
  const seconds = Math.max(1, (now - pgtide.startedAt) / 1000);
  return [...poolsByDatabase(pgtide)].map(([database, pools]) => {
    const t = totals(pools);
    const perSecond = { ...t };
    for (const key of Object.keys(perSecond) as (keyof Totals)[]) perSecond[key] /= seconds;
    return { database, totals: t, perSecond };
  });
}

/** The columns of SHOW STATS_TOTALS and STATS_AVERAGES (PgBouncer's names and order). */
const STATS_COLUMNS = [
  'database',
  'server_assignment_count#n',
  'xact_count#n',
  'query_count#n',
  'bytes_received#n',
  'bytes_sent#n',
  'xact_time#n',
  'query_time#n',
  'wait_time#n',
  'client_parse_count#n',
  'server_parse_count#n',
  'bind_count#n',
];

export function statsTotalsTable(stats: readonly DatabaseStats[]): Table {
  return {
    columns: STATS_COLUMNS,
    rows: stats.map(({ database, totals: t }): Cell[] => [
      database,
      t.assignments,
      t.xacts,
      t.queries,
      t.received,
      t.sent,
      t.xactTimeUs,
      t.queryTimeUs,
      t.waitTimeUs,
      t.clientParses,
      t.serverParses,
      t.binds,
    ]),
  };
}

/** Counts and bytes per second, times per transaction, query or wait, in microseconds. */
export function statsAveragesTable(stats: readonly DatabaseStats[]): Table {
  return {
    columns: STATS_COLUMNS,
    rows: stats.map(({ database, totals: t, perSecond: r }): Cell[] => [
      database,
      r.assignments,
      r.xacts,
      r.queries,
      r.received,
      r.sent,
      ...statsAverages(t),
      r.clientParses,
      r.serverParses,
      r.binds,
    ]),
  };
}

/** SHOW STATS: the totals, then the averages, in one row (PgBouncer's total_ and avg_ columns). */
export function statsTable(stats: readonly DatabaseStats[]): Table {
  const totals = statsTotalsTable(stats);
  const averages = statsAveragesTable(stats);
  // PgBouncer's names for the columns of SHOW STATS differ from the other two tables' in places.
  return {
    columns: [
      'database',
      'total_server_assignment_count#n',
      'total_xact_count#n',
      'total_query_count#n',
      'total_received#n',
      'total_sent#n',
      'total_xact_time#n',
      'total_query_time#n',
      'total_wait_time#n',
      'total_client_parse_count#n',
      'total_server_parse_count#n',
      'total_bind_count#n',
      'avg_server_assignment_count#n',
      'avg_xact_count#n',
      'avg_query_count#n',
      'avg_recv#n',
      'avg_sent#n',
      'avg_xact_time#n',
      'avg_query_time#n',
      'avg_wait_time#n',
      'avg_client_parse_count#n',
      'avg_server_parse_count#n',
      'avg_bind_count#n',
    ],
    rows: totals.rows.map((row, i) => [...row, ...averages.rows[i]!.slice(1)]),
  };
}

/** SHOW TOTALS' names for the columns of SHOW STATS_TOTALS and STATS_AVERAGES, in their order. */
const TOTALS_NAMES = [
  'server_assignment_count',
  'xact_count',
  'query_count',
  'client_bytes',
  'server_bytes',
  'xact_time',
  'query_time',
  'wait_time',
  'ps_client_parse_count',
  'ps_server_parse_count',
  'ps_bind_count',
];

/** SHOW TOTALS: every database's statistics added up, a row per total_ and per avg_ counter. */
export function totalsTable(stats: readonly DatabaseStats[]): Table {
  const all: DatabaseStats = {
    database: '',
    totals: sumTotals(stats.map((s) => s.totals)),
    perSecond: sumTotals(stats.map((s) => s.perSecond)),
  };
  const totals = statsTotalsTable([all]).rows[0]!.slice(1);
  const averages = statsAveragesTable([all]).rows[0]!.slice(1);
  return {
    columns: ['name', 'value#n'],
    rows: [
      ...TOTALS_NAMES.map((name, i): Cell[] => [`total_${name}`, totals[i] ?? 0]),
      ...TOTALS_NAMES.map((name, i): Cell[] => [`avg_${name}`, averages[i] ?? 0]),
    ],
  };
}

export function listCounts(pgtide: Pgtide): ListCounts {
  const ctx = pgtide.context;
  const loggedIn = [...ctx.clients].filter((c) => !c.isLoggingIn).length;
  return {
    pools: poolGroups(pgtide).map((g) => ({ database: g.database, user: g.user })),
    databases: [...databaseNames(pgtide), ...ADMIN_DATABASES],
    users: userNames(pgtide),
    peers: forwardTargets(pgtide.config).length,
    usedClients: loggedIn,
    loginClients: ctx.clients.size - loggedIn,
    usedServers: sum(ctx.pools.all(), (p) => p.servers.size),
  };
}

export function listsTable(counts: ListCounts): Table {
  const rows: [string, number][] = [
    ['databases', counts.databases.length],
    ['users', counts.users.length],
    ['peers', counts.peers],
    ['pools', counts.pools.length],
    // PgBouncer's peer pools are one per peer, as SHOW PEER_POOLS' rows are.
    ['peer_pools', counts.peers],
    ['free_clients', 0],
    ['used_clients', counts.usedClients],
    ['login_clients', counts.loginClients],
    ['free_servers', 0],
    ['used_servers', counts.usedServers],
    ['dns_names', 0],
    ['dns_zones', 0],
    ['dns_queries', 0],
    ['dns_pending', 0],
  ];
  return { columns: ['list', 'items#'], rows };
}

/** pgtide's own: one row per PostgreSQL server, like Pgpool-II's SHOW pool_nodes. */
export const BACKEND_COLUMNS = [
  'node_id#',
  'name',
  'host',
  'port#',
  'role',
  'status',
  'readable',
  'weight',
  'lb_share',
  'lag_bytes#8',
  'lag_ms#8',
  'servers#',
  'sv_active#',
  'server_assignment_count#8',
  'assignment_share',
];
/** What each worker counts of its own; the rest is the same in every worker (the monitor's view). */
export const BACKEND_COUNTS = ['servers#', 'sv_active#', 'server_assignment_count#8'];
const ASSIGNED = BACKEND_COLUMNS.indexOf('server_assignment_count#8');

/** One row per backend; assignment_share is left for backendsTable, which may see other workers' counts. */
export function backendRows(pgtide: Pgtide): Cell[][] {
  const statuses = backendStatuses(pgtide);
  const pools = [...pgtide.context.pools.all()];
  const counted = [...pgtide.context.pools.counted()];
  const lentBy = (name: string) =>
    sum(
      counted.filter((p) => p.key.backend === name),
      (p) => p.lentTotal,
    );
  const readWeight = sum(
    statuses.filter((s) => s.readable),
    (s) => s.config.weight,
  );
  return statuses.map((s): Cell[] => {
    const mine = pools.filter((p) => p.key.backend === s.config.name);
    return [
      s.index,
      s.config.name,
      s.config.host,
      s.config.port,
      s.role,
      s.healthy ? 'up' : 'down',
      s.readable ? 'yes' : 'no',
      String(s.config.weight),
      share(s.readable ? s.config.weight : 0, readWeight),
      s.lagBytes,
      s.lagMs,
      sum(mine, (p) => p.servers.size),
      sum(mine, (p) => p.activeCount),
      lentBy(s.config.name),
      '',
    ];
  });
}

/** SHOW BACKENDS from rows whose counts may be several workers' sums. */
export function backendsTable(rows: Cell[][]): Table {
  const lentAll = sum(rows, (row) => row[ASSIGNED] as number);
  return {
    columns: BACKEND_COLUMNS,
    rows: rows.map((row) => [...row.slice(0, -1), share(row[ASSIGNED] as number, lentAll)]),
  };
}

function share(part: number, whole: number): string {
  return whole > 0 ? (part / whole).toFixed(3) : '0.000';
}
