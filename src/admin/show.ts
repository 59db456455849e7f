// Every SHOW item, and which of them show the whole instance with `workers = N`. Such an item is
// a report (what this process counts; what another worker's console asks of it) and the table
// of every worker's report merged (merge.ts). The others (STATE, VERSION, HELP …) are one
// process's view, the same in every worker.
import type { Pgtide } from '../server.js';
import type { ShowItem } from './commands.js';
import { concatRows, mergeLists, mergeNamedRows, mergePools, mergeStats } from './merge.js';
import { CONNECTION_COLUMNS, showClients, showServers } from './show-connections.js';
import {
  databaseStats,
  listCounts,
  listsTable,
  poolRows,
  poolsTable,
  backendRows,
  backendsTable,
  BACKEND_COUNTS,
  BACKEND_COLUMNS,
  statsAveragesTable,
  statsTable,
  statsTotalsTable,
  totalsTable,
} from './show-pools.js';
import {
  CONFIG_COLUMNS,
  DATABASE_COLUMNS,
  PEER_COLUMNS,
  PEER_POOL_COLUMNS,
  USER_COLUMNS,
  showConfig,
  showDatabases,
  showDnsHosts,
  showDnsZones,
  showHelp,
  showPeerPools,
  showPeers,
  showState,
  showUsers,
  showVersion,
} from './show-settings.js';
import type { Cell, Table } from './table.js';

interface Merged<Report> {
  report: (pgtide: Pgtide) => Report;
  /** The instance's table from every worker's report, this process's first. */
  table: (reports: Report[]) => Table;
}

const merged = <Report>(item: Merged<Report>) => item as Merged<unknown>;

/** Rows of one table, each worker's rows named by their first cell merged (mergeNamedRows). */
function namedRows(
  columns: readonly string[],
  show: (pgtide: Pgtide) => Table,
  summed: readonly string[],
): Merged<unknown> {
  return merged<Cell[][]>({
    report: (pgtide) => show(pgtide).rows,
    table: (reports) => ({ columns, rows: mergeNamedRows(columns, reports, summed) }),
  });
}

function rowsOf(show: (pgtide: Pgtide) => Table): Merged<unknown> {
  return merged<Cell[][]>({
    report: (pgtide) => show(pgtide).rows,
    table: (reports) => ({ columns: CONNECTION_COLUMNS, rows: concatRows(reports) }),
  });
}

type MergedItem =
  | 'pools'
  | 'stats'
  | 'stats_totals'
  | 'stats_averages'
  | 'lists'
  | 'clients'
  | 'servers'
  | 'databases'
  | 'users'
  | 'backends'
  | 'peers'
  | 'peer_pools'
  | 'totals'
  | 'config';

const MERGED: Record<MergedItem, Merged<unknown>> = {
  pools: merged({ report: (p) => poolRows(p), table: (reports) => poolsTable(mergePools(reports)) }),
  stats: merged({ report: (p) => databaseStats(p), table: (reports) => statsTable(mergeStats(reports)) }),
  stats_totals: merged({ report: (p) => databaseStats(p), table: (reports) => statsTotalsTable(mergeStats(reports)) }),
  stats_averages: merged({
    report: (p) => databaseStats(p),
    table: (reports) => statsAveragesTable(mergeStats(reports)),
  }),
  lists: merged({ report: listCounts, table: (reports) => listsTable(mergeLists(reports)) }),
  backends: merged<Cell[][]>({
    report: backendRows,
    table: (reports) => backendsTable(mergeNamedRows(BACKEND_COLUMNS, reports, BACKEND_COUNTS)),
  }),
  clients: rowsOf((p) => showClients(p)),
  servers: rowsOf(showServers),
  databases: namedRows(DATABASE_COLUMNS, showDatabases, [
    'pool_size#',
    'min_pool_size#',
    'reserve_pool_size#',
    'max_connections#',
    'current_connections#',
    'current_client_connections#',
    'reserve_pool#',
  ]),
  users: namedRows(USER_COLUMNS, showUsers, [
    'pool_size#',
    'max_user_connections#',
    'current_connections#',
    'current_client_connections#',
  ]),
  // Each worker forwards the cancels it receives, with its own bound on those open at once.
  peers: namedRows(PEER_COLUMNS, showPeers, [
    'pool_size#',
    'cancels_in_flight#',
    'cancels_confirmed#8',
    'cancels_failed#8',
    'cancels_dropped#8',
  ]),
  peer_pools: namedRows(PEER_POOL_COLUMNS, showPeerPools, PEER_POOL_COLUMNS.slice(1)),
  totals: merged({ report: (p) => databaseStats(p), table: (reports) => totalsTable(mergeStats(reports)) }),
  // The limits a worker runs its share of add up to the instance's, as in SHOW DATABASES.
  config: namedRows(CONFIG_COLUMNS, showConfig, ['value']),
};

const LOCAL: Record<Exclude<ShowItem, MergedItem>, (pgtide: Pgtide) => Table> = {
  // PAUSE reaches every worker: each one's state is the instance's.
  state: showState,
  dns_hosts: showDnsHosts,
  dns_zones: showDnsZones,
  version: showVersion,
  help: showHelp,
};

function mergedItem(item: ShowItem): Merged<unknown> | undefined {
  return item in MERGED ? MERGED[item as MergedItem] : undefined;
}

/** Shows the whole instance when the other workers' reports are merged in. */
export function isMerged(item: ShowItem): boolean {
  return mergedItem(item) !== undefined;
}

/** What this process reports of `item` to another worker's console (null: not a merged item). */
export function reportOf(item: ShowItem, pgtide: Pgtide): unknown {
  return mergedItem(item)?.report(pgtide) ?? null;
}

/** The table of `item` from this process and the other workers' reports (none: this process alone). */
export function showTable(item: ShowItem, pgtide: Pgtide, others: unknown[] = []): Table {
  const shown = mergedItem(item);
  if (shown === undefined) return LOCAL[item as Exclude<ShowItem, MergedItem>](pgtide);
  return shown.table([shown.report(pgtide), ...others]);
}
