// SHOW DATABASES, USERS, CONFIG, PEERS, PEER_POOLS, STATE, DNS_HOSTS, DNS_ZONES, VERSION, HELP
// and the session settings a driver asks about.
import type { Pgtide } from '../server.js';
import { defaultConfig } from '../config/defaults.js';
import { TOP_LEVEL_FIELDS, type ScalarKey } from '../config/fields.js';
import { isStartOnly } from '../config/start-only.js';
import { SPLIT_CAPS, SPLIT_SIZES } from '../config/worker-share.js';
import { PGTIDE_VERSION } from '../version.js';
import { MAX_FORWARDS_PER_PEER, forwardTargets } from '../config/peering.js';
import { CONSOLE_PARAMS } from '../proxy/session/console.js';
import type { SessionSetting } from './commands.js';
import { poolGroups } from './snapshot.js';
import type { Cell, Table } from './table.js';

/** The console's own database names. */
export const ADMIN_DATABASES = ['pgtide', 'pgbouncer'];
/** The console answers one statement at a time: PgBouncer shows its console pool so. */
export const CONSOLE_POOL_MODE = 'statement';

export const DATABASE_COLUMNS = [
  'name',
  'host',
  'port#',
  'database',
  'force_user',
  'pool_size#',
  'min_pool_size#',
  'reserve_pool_size#',
  'server_lifetime#',
  'pool_mode',
  'load_balance_hosts',
  'max_connections#',
  'current_connections#',
  'max_client_connections#',
  'current_client_connections#',
  'paused#',
  'disabled#',
  // PgBouncer's name for reserve_pool_size before 1.23, which pgbouncer_exporter still maps.
  'reserve_pool#',
];

export const USER_COLUMNS = [
  'name',
  'pool_size#',
  'reserve_pool_size#',
  'pool_mode',
  'max_user_connections#',
  'current_connections#',
  'max_user_client_connections#',
  'current_client_connections#',
];

export function showDatabases(pgtide: Pgtide): Table {
  const ctx = pgtide.context;
  const cfg = ctx.config;
  const primary = ctx.router.writeBackend();
  const clientsOf = new Map<string, number>();
  for (const c of ctx.clients) clientsOf.set(c.database, (clientsOf.get(c.database) ?? 0) + 1);
  const rows: Cell[][] = databaseNames(pgtide).map((name) => {
    const db = cfg.databases[name] ?? cfg.databases['*'];
    const settings = ctx.pools.settingsFor(name, '');
    return [
      name,
      primary?.host ?? null,
      primary?.port ?? null,
      db?.dbname || name,
      db?.user ?? null,
      settings.size,
      settings.minSize,
      settings.reserveSize,
      cfg.server_lifetime,
      // PgBouncer's: the database's own mode, NULL where the global one applies (an exporter's label).
      db?.pool_mode ?? null,
      null,
      db?.max_db_connections ?? cfg.max_db_connections,
      ctx.pools.connectionsOf(name),
      0,
      clientsOf.get(name) ?? 0,
      // A PAUSE of every database shows in SHOW STATE, not here: PgBouncer's column is PAUSE db's.
      pgtide.databasesPausedByName.has(name) ? 1 : 0,
      pgtide.isDisabled(name) ? 1 : 0,
      settings.reserveSize,
    ];
  });
  for (const name of ADMIN_DATABASES) {
    rows.push([
      name,
      null,
      null,
      name,
      null,
      0,
      0,
      0,
      0,
      CONSOLE_POOL_MODE,
      null,
      0,
      0,
      0,
      clientsOf.get(name) ?? 0,
      0,
      0,
      0,
    ]);
  }
  return { columns: DATABASE_COLUMNS, rows };
}

/**
 * SHOW DATABASES' rows above the console's: the configured databases, those with a pool, and
 * those PAUSE, KILL or DISABLE named before any client came (an operator checks they hold).
 */
export function databaseNames(pgtide: Pgtide): string[] {
  // Console clients form a group of their own database; the console rows come below, once.
  const names = new Set(
    [
      ...Object.keys(pgtide.config.databases),
      ...poolGroups(pgtide).map((g) => g.database),
      ...pgtide.databasesPausedByName,
      ...pgtide.disabledDatabaseNames,
    ].filter((n) => n !== '*' && !ADMIN_DATABASES.includes(n)),
  );
  return [...names].sort();
}

/** SHOW USERS' rows: the auth_file's users, the configured ones, and those with a pool. */
export function userNames(pgtide: Pgtide): string[] {
  const ctx = pgtide.context;
  const names = new Set([
    ...ctx.users.keys(),
    ...Object.keys(ctx.config.users),
    ...poolGroups(pgtide).map((g) => g.user),
  ]);
  return [...names].sort();
}

export function showUsers(pgtide: Pgtide): Table {
  const ctx = pgtide.context;
  const cfg = ctx.config;
  const clientsOf = new Map<string, number>();
  for (const c of ctx.clients) clientsOf.set(c.user, (clientsOf.get(c.user) ?? 0) + 1);
  const rows = userNames(pgtide).map((name): Cell[] => {
    const u = cfg.users[name];
    return [
      name,
      u?.pool_size ?? null,
      null,
      u?.pool_mode ?? null,
      u?.max_user_connections ?? cfg.max_user_connections,
      ctx.pools.connectionsOfUser(name),
      0,
      clientsOf.get(name) ?? 0,
    ];
  });
  return { columns: USER_COLUMNS, rows };
}

/** A setting as PgBouncer's SHOW CONFIG writes it: a list comma-separated, a boolean 1 or 0. */
function settingText(value: unknown): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return Array.isArray(value) ? value.join(',') : String(value);
}

export const CONFIG_COLUMNS = ['key', 'value', 'default', 'changeable'];

/** With `workers = N`, each worker runs a share of these (config/worker-share.ts). */
const SPLIT: ReadonlySet<string> = new Set([...SPLIT_SIZES, ...SPLIT_CAPS]);

/** A split limit's value is this worker's share, as a number: the console adds up the workers' shares (show.ts). */
export function showConfig(pgtide: Pgtide): Table {
  const cfg = pgtide.config;
  const defaults = defaultConfig();
  const rows = (Object.keys(TOP_LEVEL_FIELDS) as ScalarKey[]).sort().map((key): Cell[] => {
    const secret = TOP_LEVEL_FIELDS[key].kind === 'secret';
    // A password never leaves the process, not even to an admin.
    const show = (v: unknown) => (secret && v !== '' ? '********' : settingText(v));
    const value = SPLIT.has(key) ? (cfg[key] as number) : show(cfg[key]);
    return [key, value, show(defaults[key]), isStartOnly(key) ? 'no' : 'yes'];
  });
  return { columns: CONFIG_COLUMNS, rows };
}

export const PEER_COLUMNS = [
  'peer_id#',
  'host',
  'port#',
  'pool_size#',
  'cancels_in_flight#',
  'cancels_confirmed#8',
  'cancels_failed#8',
  'cancels_dropped#8',
];

/** PgBouncer's SHOW PEERS (its pool_size: the cancels that may be open towards the peer at
 *  once), then what became of the cancels this process forwarded to each peer. The entry of
 *  this instance's own peer_id is left out: nothing is forwarded to it. */
export function showPeers(pgtide: Pgtide): Table {
  const counts = pgtide.context.peerCancels.counts;
  const rows = forwardTargets(pgtide.config).map((peer): Cell[] => {
    const c = counts.get(peer.id);
    return [
      peer.id,
      peer.host,
      peer.port,
      MAX_FORWARDS_PER_PEER,
      c?.inFlight ?? 0,
      c?.confirmed ?? 0,
      c?.failed ?? 0,
      c?.dropped ?? 0,
    ];
  });
  return { columns: PEER_COLUMNS, rows };
}

export const PEER_POOL_COLUMNS = [
  'peer_id#',
  'cl_active_cancel_req#',
  'cl_waiting_cancel_req#',
  'sv_active_cancel#',
  'sv_login#',
];

/** PgBouncer's SHOW PEER_POOLS: a cancel forwarded to a peer is open on a connection of its own
 *  until the peer closes it (the client's connection is closed at once, as PostgreSQL does). */
export function showPeerPools(pgtide: Pgtide): Table {
  const counts = pgtide.context.peerCancels.counts;
  const rows = forwardTargets(pgtide.config).map((peer): Cell[] => [
    peer.id,
    0,
    0,
    counts.get(peer.id)?.inFlight ?? 0,
    0,
  ]);
  return { columns: PEER_POOL_COLUMNS, rows };
}

/** PgBouncer's SHOW STATE: `paused` is a PAUSE of every database; pgtide is never suspended. */
export function showState(pgtide: Pgtide): Table {
  const paused = pgtide.isPausedEverywhere;
  const yesNo = (b: boolean) => (b ? 'yes' : 'no');
  return {
    columns: ['key', 'value'],
    rows: [
      ['active', yesNo(!paused)],
      ['paused', yesNo(paused)],
      ['suspended', 'no'],
    ],
  };
}

/** pgtide resolves backend names with the system's resolver at each connection, and caches none. */
export function showDnsHosts(): Table {
  return { columns: ['hostname', 'ttl#8', 'addrs'], rows: [] };
}

export function showDnsZones(): Table {
  return { columns: ['zonename', 'serial#8', 'count#'], rows: [] };
}

/** Settings a server would report that a console login does not. */
const OTHER_SESSION_SETTINGS: Record<string, string> = {
  default_transaction_isolation: 'read committed',
  extra_float_digits: '1',
  // The console's times (connect_time …) are in UTC.
  timezone: 'UTC',
};

/** What SHOW of a session setting answers: what the console's login reported, if it did. */
export function sessionSettingValue(name: SessionSetting): string {
  for (const [reported, value] of CONSOLE_PARAMS) if (reported.toLowerCase() === name) return value;
  return OTHER_SESSION_SETTINGS[name] ?? '';
}

export function showVersion(): Table {
  return { columns: ['version'], rows: [[`pgtide ${PGTIDE_VERSION}`]] };
}

const HELP: [string, string][] = [
  ['SHOW POOLS', 'clients and servers per (database, user), summed over backends'],
  ['SHOW CLIENTS', 'one row per client connection'],
  ['SHOW SERVERS', 'one row per server connection'],
  ['SHOW STATS', 'traffic totals and averages per database'],
  ['SHOW STATS_TOTALS', 'traffic totals per database'],
  ['SHOW STATS_AVERAGES', 'traffic per second, and time per transaction, query and wait, per database'],
  ['SHOW DATABASES', 'databases and their pool settings'],
  ['SHOW USERS', 'users and their pool settings'],
  ['SHOW CONFIG', 'every setting, its default and whether RELOAD can change it'],
  ['SHOW LISTS', 'counts of internal lists'],
  ['SHOW VERSION', 'pgtide version'],
  ['SHOW BACKENDS', 'PostgreSQL servers: role, health, lag, share of reads and transactions'],
  ['SHOW PEERS', 'the other pgtide instances ([[peers]]) and the cancel requests forwarded to them'],
  ['SHOW PEER_POOLS', 'cancel requests open towards each peer'],
  ['SHOW TOTALS', 'SHOW STATS summed over the databases, one row per counter'],
  ['SHOW STATE', 'whether every database is paused (PAUSE without a name)'],
  ['SHOW DNS_HOSTS', 'empty: pgtide keeps no DNS cache'],
  ['SHOW DNS_ZONES', 'empty: pgtide keeps no DNS cache'],
  ['SHOW HELP', 'this list'],
  ['SHOW/SET client_encoding …', 'session settings drivers ask for: a fixed answer; SET is ignored'],
  ['SET key = value', 'admin: change a setting RELOAD can change, until the next RELOAD or SIGHUP'],
  ['PAUSE [db]', 'admin: let running transactions finish, hold new ones, close server connections'],
  ['RESUME [db]', 'admin: end PAUSE or KILL'],
  ['RECONNECT [db]', 'admin: close server connections as soon as they are released'],
  ['WAIT_CLOSE [db]', 'admin: answer once the server connections RECONNECT marked (close_needed) are closed'],
  ['KILL [db]', 'admin: drop every client and server connection of db (of every db), then hold it as PAUSE does'],
  ['KILL_CLIENT id', 'admin: drop one client (id from SHOW CLIENTS)'],
  ['DISABLE db', 'admin: refuse new clients of db'],
  ['ENABLE db', 'admin: end DISABLE'],
  ['RELOAD', 'admin: read the configuration file again'],
  ['SHUTDOWN', 'admin: stop pgtide now'],
];

export function showHelp(): Table {
  return { columns: ['command', 'description'], rows: HELP };
}
