// pgpool.conf → pgtide keys. pgtide kept Pgpool-II's names and units for routing and cluster
// monitoring; settings about Pgpool-II's process model are explained instead.
import { dropSetting, setKey, where, type ImportContext } from './context.js';
import type { ServerCap } from './map-pgbouncer.js';
import {
  gucBoolean,
  gucInteger,
  gucList,
  gucNumber,
  gucSeconds,
  type GucEntry,
  type PgpoolBackend,
  type PgpoolConf,
} from './pgpool-conf.js';
import type { TomlValue } from './toml-draft.js';

type Rule = (ctx: ImportContext, entry: GucEntry, conf: PgpoolConf) => void;

/** Pgpool-II's defaults for the settings the listening and sizing steps read. */
export const PGPOOL_DEFAULT_PORT = 9999;
const DEFAULT_NUM_INIT_CHILDREN = 32;
const DEFAULT_MAX_POOL = 4;

/** Settings read by other steps (listening, authentication). */
export const PGPOOL_HANDLED_ELSEWHERE: readonly string[] = [
  'listen_addresses',
  'port',
  'enable_pool_hba',
  'pool_passwd',
];

const seconds =
  (key: string, bareUnit: 'ms' | 's' = 's'): Rule =>
  (ctx, entry) =>
    setKey(ctx, key, gucSeconds(entry, bareUnit), entry);
const integer =
  (key: string): Rule =>
  (ctx, entry) =>
    setKey(ctx, key, gucInteger(entry), entry);
const flag =
  (key: string): Rule =>
  (ctx, entry) =>
    setKey(ctx, key, gucBoolean(entry), entry);
const text =
  (key: string): Rule =>
  (ctx, entry) =>
    setKey(ctx, key, entry.value, entry);
const list =
  (key: string): Rule =>
  (ctx, entry) =>
    setKey(ctx, key, gucList(entry), entry, entry.name === key ? undefined : `Pgpool-II's older name: ${entry.name}.`);
const inert =
  (reason: string, warn = false): Rule =>
  (ctx, entry) =>
    dropSetting(ctx, entry, `${entry.name} = ${entry.value}`, reason, warn);
const onlyWhen =
  (expected: boolean, reason: string, otherwise: string): Rule =>
  (ctx, entry) =>
    dropSetting(
      ctx,
      entry,
      `${entry.name} = ${entry.value}`,
      gucBoolean(entry) === expected ? reason : otherwise,
      gucBoolean(entry) !== expected,
    );

const OWN_ROTATION = 'pgtide rotates its log file at 64 MiB and keeps 4 old files.';
const PROCESS_MODEL =
  'pgtide is one process that serves every client from its pools; there are no per-client children to size.';

const RULES: Record<string, Rule> = {
  num_init_children: inert(
    `${PROCESS_MODEL} Its cap on server connections per backend is kept through default_pool_size + reserve_pool_size per pool and max_db_connections per database (see above).`,
  ),
  max_pool: inert(
    `${PROCESS_MODEL} pgtide keeps one pool per (database, user, backend), so there is no cache of pairs per child to size.`,
  ),
  connection_cache: onlyWhen(
    true,
    'pgtide always keeps server connections in its pools between clients.',
    'pgtide always pools server connections; it cannot turn that off.',
  ),
  child_life_time: (ctx, entry) =>
    setKey(
      ctx,
      'server_lifetime',
      gucSeconds(entry, 's'),
      entry,
      `child_life_time: Pgpool-II recycled an idle child (and its server connections) after this long; pgtide recycles each server connection this long after it opened, once it is idle.`,
    ),
  // Not server_max_uses, which counts transactions: Pgpool-II's clients were sessions (in the
  // seed, PgBouncer's long-lived server connections), and 1000 transactions per connection cost
  // PostgreSQL a new login about every 1000 transactions (helper o1: 31 in 24,220).
  child_max_connections: (ctx, entry) =>
    ctx.draft.comment(
      `${where(entry)} child_max_connections = ${entry.value}: Pgpool-II restarted a child after this many client sessions, not transactions; server_lifetime (child_life_time) recycles pgtide's server connections, so server_max_uses stays 0 (never).`,
    ),
  connection_life_time: seconds('server_idle_timeout'),
  client_idle_limit: seconds('client_idle_timeout'),
  authentication_timeout: seconds('client_login_timeout'),
  connect_timeout: seconds('server_connect_timeout', 'ms'),
  reset_query_list: mapResetQueryList,

  replication_mode: onlyWhen(
    false,
    'pgtide relies on PostgreSQL streaming replication; it never copies writes itself.',
    'pgtide cannot replicate writes to every node; use PostgreSQL streaming replication.',
  ),
  master_slave_mode: onlyWhen(
    true,
    'pgtide always sends writes to the primary and balances reads over the standbys.',
    'without master/slave mode Pgpool-II did not split reads and writes; set load_balance_mode = false to send everything to the primary.',
  ),
  master_slave_sub_mode: (ctx, entry) =>
    dropSetting(
      ctx,
      entry,
      `${entry.name} = ${entry.value}`,
      entry.value === 'stream'
        ? 'pgtide supports streaming replication, discovering roles with pg_is_in_recovery().'
        : 'pgtide supports only streaming replication.',
      entry.value !== 'stream',
    ),
  backend_clustering_mode: (ctx, entry) =>
    dropSetting(
      ctx,
      entry,
      `${entry.name} = ${entry.value}`,
      entry.value === 'streaming_replication'
        ? 'pgtide supports streaming replication, discovering roles with pg_is_in_recovery().'
        : 'pgtide supports only streaming replication.',
      entry.value !== 'streaming_replication',
    ),
  parallel_mode: onlyWhen(
    false,
    'pgtide does not split queries across nodes.',
    'pgtide cannot run parallel queries across nodes.',
  ),
  load_balance_mode: flag('load_balance_mode'),
  database_redirect_preference_list: text('database_redirect_preference_list'),
  app_name_redirect_preference_list: text('app_name_redirect_preference_list'),
  user_redirect_preference_list: text('user_redirect_preference_list'),
  black_function_list: list('write_function_list'),
  write_function_list: list('write_function_list'),
  white_function_list: list('read_only_function_list'),
  read_only_function_list: list('read_only_function_list'),

  sr_check_period: seconds('sr_check_period'),
  sr_check_user: text('sr_check_user'),
  sr_check_password: mapSrCheckPassword,
  sr_check_database: text('sr_check_database'),
  delay_threshold: integer('delay_threshold'),
  delay_threshold_by_time: (ctx, entry) =>
    setKey(ctx, 'delay_threshold_by_time', gucSeconds(entry, 'ms') * 1000, entry),
  prefer_lower_delay_standby: flag('prefer_lower_delay_standby'),

  health_check_period: seconds('health_check_period'),
  health_check_timeout: seconds('health_check_timeout'),
  health_check_max_retries: integer('health_check_max_retries'),
  health_check_user: healthCheckLogin,
  health_check_password: healthCheckLogin,
  health_check_database: healthCheckLogin,
  health_check_retry_delay: inert(
    "pgtide checks a failing backend again after 1 s (or health_check_period when shorter), and counts the primary's failures toward health_check_max_retries at most once a second; a standby's count as they come (its refused logins each start a check), so a standby that refuses logins leaves the read rotation at once.",
  ),

  log_connections: flag('log_connections'),
  log_disconnections: flag('log_disconnections'),
  log_hostname: inert('pgtide logs client addresses, never resolved host names (no DNS lookup per connection).'),
  // pgtide logs each client statement once (log_statements), not once per node it reaches.
  log_statement: flag('log_statements'),
  log_per_node_statement: flag('log_statements'),
  debug_level: (ctx, entry) => {
    if (gucInteger(entry) > 0) setKey(ctx, 'log_level', 'debug', entry, 'Pgpool-II debug_level > 0.');
    else
      dropSetting(
        ctx,
        entry,
        `${entry.name} = ${entry.value}`,
        'no debug output; pgtide\'s log_level stays "info".',
        false,
      );
  },
  log_min_messages: mapLogMinMessages,
  pid_file_name: inert('pgtide runs in the foreground under its service manager, which tracks its pid.'),
  logdir: inert(
    "Pgpool-II's node status file has no equivalent: pgtide learns roles from the servers and keeps only the newest timeline it saw, in state_dir.",
  ),
  log_destination: inert(
    'pgtide logs to standard output, and also to a file when log_dir is set; syslog is not supported.',
  ),
  logging_collector: inert('pgtide writes its own log file when log_dir is set (see log_directory).'),
  log_directory: logDirectory,
  log_filename: inert(`pgtide names its file pgtide-<instance_name>.log. ${OWN_ROTATION}`),
  log_rotation_age: inert(OWN_ROTATION),
  log_rotation_size: inert(OWN_ROTATION),
  log_truncate_on_rotation: inert(OWN_ROTATION),
  log_file_mode: inert('pgtide creates its log file with the permissions its umask gives.'),
};

/** Pgpool-II writes to log_directory only with logging_collector on (off by default). */
function logDirectory(ctx: ImportContext, entry: GucEntry, conf: PgpoolConf): void {
  const collector = conf.settings.get('logging_collector');
  if (collector !== undefined && gucBoolean(collector)) setKey(ctx, 'log_dir', entry.value, entry);
  else
    dropSetting(
      ctx,
      entry,
      `${entry.name} = ${entry.value}`,
      'Pgpool-II wrote no file there (logging_collector is off); set log_dir for pgtide to write one.',
      false,
    );
}

/** Maps every setting and the backends. Returns nothing: everything lands in ctx. */
export function mapPgpool(ctx: ImportContext, conf: PgpoolConf): void {
  for (const entry of conf.settings.values()) {
    if (PGPOOL_HANDLED_ELSEWHERE.includes(entry.name)) continue;
    const rule = RULES[entry.name];
    if (rule !== undefined) rule(ctx, entry, conf);
    else dropSetting(ctx, entry, entry.name, 'no pgtide equivalent.', true);
  }
  for (const backend of conf.backends) mapBackend(ctx, backend);
}

/** Pgpool-II opened at most num_init_children × max_pool connections to each backend. */
export function pgpoolServerCap(conf: PgpoolConf): ServerCap {
  const children = conf.settings.get('num_init_children');
  const maxPool = conf.settings.get('max_pool');
  const childCount = children === undefined ? DEFAULT_NUM_INIT_CHILDREN : gucInteger(children, 1);
  const pairs = maxPool === undefined ? DEFAULT_MAX_POOL : gucInteger(maxPool, 1);
  return {
    connections: childCount * pairs,
    explanation: `num_init_children × max_pool = ${childCount} × ${pairs} = ${childCount * pairs} server connections from Pgpool-II`,
  };
}

export function pgpoolPort(conf: PgpoolConf): number {
  const port = conf.settings.get('port');
  return port === undefined ? PGPOOL_DEFAULT_PORT : gucInteger(port, 1, 65535);
}

function mapBackend(ctx: ImportContext, backend: PgpoolBackend): void {
  const {
    hostname,
    port,
    weight,
    flag: flags,
    data_directory: dataDirectory,
    application_name: applicationName,
  } = backend.fields;
  const label = `backend ${backend.id}`;
  if (hostname === undefined) {
    const at = Object.values(backend.fields)[0]!;
    ctx.warnings.push(`${where(at)}: ${label} has no backend_hostname${backend.id}; it is not imported`);
    return;
  }
  const alwaysPrimary = flags !== undefined && /\bALWAYS_(PRIMARY|MASTER)\b/.test(flags.value);
  // Pgpool-II's node 0 is the master in the seed; the role stays a hint, checked at run time.
  const role = backend.id === 0 || alwaysPrimary ? 'primary' : 'standby';
  const entries: [string, TomlValue][] = [
    ['host', hostname.value],
    ['port', port === undefined ? 5432 : gucInteger(port, 1, 65535)],
    ['weight', weight === undefined ? 1 : gucNumber(weight, 0, 1_000_000)],
    ['role', role],
  ];
  const comments = [
    `${label}: ${[hostname, port, weight, flags]
      .filter((e) => e !== undefined)
      .map(where)
      .join(', ')}`,
  ];
  if (flags !== undefined) {
    comments.push(
      `backend_flag${backend.id} = '${flags.value}': pgtide never promotes a standby; it takes a failed node out of the rotation and finds the primary again with pg_is_in_recovery().`,
    );
    if (/\bALLOW_TO_FAILOVER\b/.test(flags.value) && !/DISALLOW/.test(flags.value)) {
      ctx.warnings.push(
        `${where(flags)}: ALLOW_TO_FAILOVER: pgtide does not run failover commands; promote standbys outside pgtide`,
      );
    }
  }
  if (dataDirectory !== undefined)
    comments.push(
      `backend_data_directory${backend.id}: used only by Pgpool-II's failover and online recovery scripts; not needed.`,
    );
  if (applicationName !== undefined)
    comments.push(
      `backend_application_name${backend.id}: pgtide measures lag from WAL positions, not from pg_stat_replication names.`,
    );
  ctx.draft.table('[[backends]]', entries, ...comments);
}

/** Pgpool-II sends each statement of the list on its own; pgtide sends one query, and only
 *  to an idle connection, so ABORT is never needed and DISCARD ALL covers the RESET/CLOSE/
 *  DEALLOCATE family (and cannot be combined with others in one multi-statement query). */
function mapResetQueryList(ctx: ImportContext, entry: GucEntry): void {
  const statements = gucList(entry, ';');
  const kept = statements.filter((statement) => !/^(ABORT|ROLLBACK)$/i.test(statement));
  const reset = kept.some((statement) => /^DISCARD\s+ALL$/i.test(statement)) ? 'DISCARD ALL' : kept.join('; ');
  setKey(
    ctx,
    'server_reset_query',
    reset,
    entry,
    `reset_query_list = '${entry.value}': pgtide returns a server connection to its pool only when it is idle (no open transaction), so ABORT is not needed. It runs after each client session (session mode), or after each transaction with server_reset_query_always.`,
  );
}

function mapSrCheckPassword(ctx: ImportContext, entry: GucEntry): void {
  if (entry.value.startsWith('AES')) {
    ctx.warnings.push(
      `${where(entry)}: sr_check_password is AES-encrypted and cannot be decrypted without Pgpool-II's key file; set sr_check_password by hand (empty uses auth_file)`,
    );
    ctx.draft.comment(
      `${where(entry)} sr_check_password: AES-encrypted, not imported; pgtide reads the password from auth_file.`,
    );
    return;
  }
  setKey(ctx, 'sr_check_password', entry.value.startsWith('TEXT') ? entry.value.slice(4) : entry.value, entry);
}

function healthCheckLogin(ctx: ImportContext, entry: GucEntry, conf: PgpoolConf): void {
  const checked = conf.settings.get('health_check_period');
  const active = checked !== undefined && gucSeconds(checked, 's') > 0;
  const shown = entry.name === 'health_check_password' ? '(password)' : `${entry.name} = ${entry.value}`;
  dropSetting(
    ctx,
    entry,
    shown,
    'pgtide probes with the sr_check_* login.',
    active && entry.name === 'health_check_user' && entry.value !== conf.settings.get('sr_check_user')?.value,
  );
}

const LOG_LEVELS: Record<string, string> = {
  debug: 'debug',
  info: 'info',
  notice: 'info',
  log: 'info',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

function mapLogMinMessages(ctx: ImportContext, entry: GucEntry): void {
  const level = LOG_LEVELS[entry.value.toLowerCase().replace(/^debug[1-5]$/, 'debug')];
  if (level === undefined) return dropSetting(ctx, entry, `${entry.name} = ${entry.value}`, 'unknown level.', true);
  setKey(ctx, 'log_level', level, entry);
}
