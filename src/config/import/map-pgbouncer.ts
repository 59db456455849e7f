// pgbouncer.ini → pgtide keys. pgtide took PgBouncer's key names, so most settings carry over
// by name; the few that do not are explained in the output.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TOP_LEVEL_FIELDS, readEnvField, type Field } from '../fields.js';
import { dropSetting, setKey, where, type ImportContext } from './context.js';
import { hbaFileProblems } from '../hba-file.js';
import { pgbouncerDivergences } from './pgbouncer-hba.js';
import { describeImportedHba } from './imported-hba.js';
import { parseConnectionString, type IniEntry } from './ini.js';
import { ImportError } from './source.js';
import { tomlKey, type TomlValue } from './toml-draft.js';
import { ADMIN_SOCKET_DIR_PREFIX, defaultConfig } from '../defaults.js';
import { pgbouncerValueText, RENAMED } from '../pgbouncer-names.js';

/** Handled by the listening step, which merges them with HAProxy's binds. */
export const LISTEN_KEYS: readonly string[] = ['listen_addr', 'listen_port'];

/** What the seed's server side allowed each backend: Pgpool-II's num_init_children × max_pool. */
export interface ServerCap {
  connections: number;
  explanation: string;
}

/** A [databases] entry that names a real server (not the Pgpool-II hop). */
export interface DatabaseServer {
  host: string;
  port: number;
  entry: IniEntry;
}

const AUTH_TYPES: Record<string, string> = {
  md5: 'md5',
  plain: 'plain',
  trust: 'trust',
  'scram-sha-256': 'scram-sha-256',
  any: 'trust',
  cert: 'cert',
};

/** Every auth_type PgBouncer 1.18 starts with. */
const PGBOUNCER_AUTH_TYPES: readonly string[] = ['any', 'trust', 'plain', 'md5', 'cert', 'hba', 'pam', 'scram-sha-256'];

/** Settings without a pgtide key, and how their intent is met now. Keys not listed here and
 *  not pgtide keys are reported as not imported. */
const INERT: Record<string, { reason: string; warn: boolean }> = {
  logfile: {
    reason: 'pgtide logs to standard output; let the service manager or container runtime keep the file.',
    warn: false,
  },
  pidfile: { reason: 'pgtide runs in the foreground under its service manager, which tracks its pid.', warn: false },
  user: { reason: 'run pgtide as this Unix user in its service definition.', warn: false },
  syslog: { reason: 'pgtide logs to standard output; route it to syslog with the service manager.', warn: false },
  ignore_startup_parameters: {
    reason: 'pgtide passes startup parameters such as extra_float_digits through to the server.',
    warn: false,
  },
};

const DATABASE_PARAMS: Record<string, string> = {
  dbname: 'dbname',
  user: 'user',
  password: 'password',
  pool_size: 'pool_size',
  min_pool_size: 'min_pool_size',
  reserve_pool: 'reserve_pool_size',
  reserve_pool_size: 'reserve_pool_size',
  max_db_connections: 'max_db_connections',
  pool_mode: 'pool_mode',
};
const USER_PARAMS: readonly string[] = ['pool_mode', 'pool_size', 'max_user_connections'];
const NUMERIC_PARAMS: readonly string[] = [
  'pool_size',
  'min_pool_size',
  'reserve_pool_size',
  'max_db_connections',
  'max_user_connections',
];

/** Maps the [pgbouncer], [databases] and [users] sections. `pgpoolPort` identifies entries
 *  that point at the Pgpool-II hop; their servers are not returned. */
export function mapPgBouncer(
  ctx: ImportContext,
  entries: readonly IniEntry[],
  pgpoolPort: number | undefined,
  cap: ServerCap | undefined,
): DatabaseServer[] {
  const servers: DatabaseServer[] = [];
  const replaced = replacedEntries(entries);
  for (const entry of entries) {
    const later = replaced.get(entry);
    if (later !== undefined) {
      ctx.draft.comment(`${where(entry)} ${entry.key}: set again at ${where(later)}, which applies (as in PgBouncer).`);
      if (later.value !== entry.value)
        ctx.warnings.push(
          `${where(entry)}: ${entry.key} = ${entry.value} is set again at ${where(later)} (${later.value}); the later value applies, as in PgBouncer`,
        );
    } else if (entry.section === 'pgbouncer') mapSetting(ctx, entry);
    else if (entry.section === 'databases') servers.push(...mapDatabase(ctx, entry, pgpoolPort, cap));
    else if (entry.section === 'users') mapUser(ctx, entry, cap);
    else dropSetting(ctx, entry, `[${entry.section}] ${entry.key}`, 'section not known to pgtide.', true);
  }
  mapPoolSizes(ctx, entries, cap);
  mapHbaAuth(ctx, entries);
  if (lastSetting(entries, 'unix_socket_dir') === undefined)
    ctx.draft.comment(
      "pgbouncer.ini sets no unix_socket_dir: PgBouncer's default /tmp took local clients too; pgtide opens a unix socket for clients only where unix_socket_dir names one.",
    );
  if (
    !entries.some(
      (entry) => entry.section === 'pgbouncer' && (entry.key === 'admin_users' || entry.key === 'stats_users'),
    )
  ) {
    // PgBouncer's operator used the console as `pgbouncer` over its unix socket (peer
    // authentication): pgtide's admin socket is that way in.
    ctx.warnings.push(
      `pgbouncer.ini lists no admin_users or stats_users: the admin console (database pgbouncer or pgtide) is reached as the OS user running pgtide, without a password, on the admin socket: psql -h ${ADMIN_SOCKET_DIR_PREFIX}$(id -u) -p ${firstListenPort(ctx)} -U pgbouncer pgbouncer (admin_socket_dir; pgtide check prints it). Over TCP nobody may use the console until admin_users or stats_users names someone`,
    );
  }
  return servers;
}

/** The [pgbouncer] line that sets `key`, the last one where several do (see replacedEntries). */
function lastSetting(entries: readonly IniEntry[], key: string): IniEntry | undefined {
  return entries.findLast((entry) => entry.section === 'pgbouncer' && entry.key === key);
}

/** Each entry a later one of the same section and key replaces (PgBouncer applies every line
 *  in order, %include'd ones too, so the last wins), with that later entry. */
function replacedEntries(entries: readonly IniEntry[]): Map<IniEntry, IniEntry> {
  const last = new Map<string, IniEntry>();
  for (const entry of entries) last.set(`${entry.section}\0${entry.key}`, entry);
  const replaced = new Map<IniEntry, IniEntry>();
  for (const entry of entries) {
    const winner = last.get(`${entry.section}\0${entry.key}`)!;
    if (winner !== entry) replaced.set(entry, winner);
  }
  return replaced;
}

/** The port the admin socket is named after: the first of listen_port (a number or "first-last"). */
function firstListenPort(ctx: ImportContext): number {
  const ports = ctx.draft.valueOf('listen_port');
  const first = Array.isArray(ports) ? ports[0] : undefined;
  if (typeof first === 'number') return first;
  if (typeof first === 'string') return Number.parseInt(first, 10);
  return defaultConfig().listen_port[0]!;
}

/** --users wins; a path that does not exist here is worth a warning before `pgtide check`
 *  meets it (the seed's files name the container's /etc/pgbouncer/users.txt). */
function mapAuthFile(ctx: ImportContext, entry: IniEntry): void {
  if (ctx.usersFile !== undefined) {
    const path = resolve(ctx.usersFile);
    ctx.draft.comment(`${where(entry)} auth_file = ${entry.value}: replaced by --users ${ctx.usersFile}.`);
    setKey(ctx, 'auth_file', path, { file: ctx.usersFile, line: 0 }, `--users; pgbouncer.ini named ${entry.value}.`);
    return;
  }
  if (!existsSync(entry.value)) {
    ctx.warnings.push(
      `${where(entry)}: auth_file ${entry.value} does not exist on this machine; give the user list with --users FILE (or fix auth_file before starting)`,
    );
  }
  setKey(ctx, 'auth_file', entry.value, entry);
}

function mapSetting(ctx: ImportContext, entry: IniEntry): void {
  const { key, value } = entry;
  if (LISTEN_KEYS.includes(key)) return;
  if (key === 'auth_type') return mapAuthType(ctx, entry);
  if (key === 'auth_file') return mapAuthFile(ctx, entry);
  if (key === 'auth_hba_file') return; // see mapHbaAuth
  if (key === 'unix_socket_dir' && value !== '' && !existsSync(value))
    ctx.warnings.push(
      `${where(entry)}: unix_socket_dir ${value} does not exist on this machine: pgtide, as PgBouncer, then listens on TCP alone (logged)`,
    );
  if (key === 'verbose') {
    if (Number(value) > 0) setKey(ctx, 'log_level', 'debug', entry, `PgBouncer's verbose = ${value}.`);
    return;
  }
  if (key === 'default_pool_size' || key === 'reserve_pool_size' || key === 'max_db_connections') return; // mapPoolSizes
  const inert = INERT[key] ?? (key.startsWith('syslog') ? INERT['syslog'] : undefined);
  if (inert !== undefined) return dropSetting(ctx, entry, `${key} = ${value}`, inert.reason, inert.warn);
  const renamed = RENAMED[key];
  const field = fieldOf(renamed?.key ?? key);
  if (field === undefined) return dropSetting(ctx, entry, key, 'no pgtide equivalent.', true);
  const read = readSetting(ctx, entry, field);
  if (read !== undefined) setKey(ctx, renamed?.key ?? key, read as TomlValue, entry, renamed?.note);
}

/**
 * A [pgbouncer] value as pgtide reads it (PgBouncer's enums ignore case). One PgBouncer refuses
 * to start on too ("ten", "1h", "statementx", "transaction ; old") is an ImportError: dropped,
 * pgtide's default would run instead of the operator's setting, also at a reload. One PgBouncer
 * takes and pgtide cannot (outside pgtide's range: a pool size of 0, PgBouncer's own 2 GB
 * max_packet_size; a hexadecimal number) is a warning, and not imported: undefined.
 */
function readSetting(ctx: ImportContext, entry: IniEntry, field: Field): unknown {
  const text = pgbouncerValueText(field, entry.value);
  const read = readEnvField(field, text);
  if (read.ok) return read.value;
  if (refusedByPgBouncer(field, text)) throw new ImportError(entry.file, entry.line, `${entry.key}: ${read.message}`);
  ctx.warnings.push(`${where(entry)}: ${entry.key} is not imported: ${read.message}`);
  return undefined;
}

const PGBOUNCER_BOOLEANS: readonly string[] = ['on', 'off', 'true', 'false', 'yes', 'no'];

/** Whether PgBouncer refuses `text` for such a setting: its numbers are C's (0x10 is one), and
 *  several of pgtide's booleans are its integers (log_connections = 2). */
function refusedByPgBouncer(field: Field, text: string): boolean {
  const word = text.trim().toLowerCase();
  // C's strtod takes inf, nan and hexadecimal fractions too (server_lifetime = inf starts PgBouncer).
  const number = /^[+-]?(0x[0-9a-f.]+(p[+-]?\d+)?|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$/.test(word);
  switch (field.kind) {
    case 'integer':
    case 'number':
      return !number;
    case 'boolean':
      return !number && !PGBOUNCER_BOOLEANS.includes(word);
    case 'enum':
      return true;
    default:
      return false;
  }
}

function fieldOf(key: string): Field | undefined {
  return Object.hasOwn(TOP_LEVEL_FIELDS, key) ? (TOP_LEVEL_FIELDS as Record<string, Field>)[key] : undefined;
}

function mapAuthType(ctx: ImportContext, entry: IniEntry): void {
  const mapped = AUTH_TYPES[entry.value.toLowerCase()];
  if (entry.value.toLowerCase() === 'hba') return; // see mapHbaAuth
  // A method PgBouncer does not know stops it (also at a reload, which keeps the running one):
  // not a warning and pgtide's default, which would refuse md5 passwords that logged in before.
  if (mapped === undefined && !PGBOUNCER_AUTH_TYPES.includes(entry.value.toLowerCase()))
    throw new ImportError(
      entry.file,
      entry.line,
      `auth_type: PgBouncer 1.18 knows no method ${JSON.stringify(entry.value)}`,
    );
  if (mapped === undefined) {
    ctx.warnings.push(
      `${where(entry)}: auth_type = ${entry.value} has no pgtide equivalent; pgtide's default (scram-sha-256) applies`,
    );
    ctx.draft.comment(`${where(entry)} auth_type = ${entry.value}: not supported; the default scram-sha-256 applies.`);
    return;
  }
  if (entry.value.toLowerCase() === 'any') {
    // Stricter on purpose: without PgBouncer's forced server user, an unlisted name (postgres)
    // would log in to the servers as itself. Said aloud, since it locks out who got in before.
    ctx.warnings.push(
      `${where(entry)}: auth_type = any let PgBouncer admit any user name, and every one into the console as an admin; pgtide's trust admits only the users of auth_file (or auth_query), and only admin_users and stats_users into the console: list them there, or use the admin socket`,
    );
    return setKey(ctx, 'auth_type', mapped, entry, 'PgBouncer\'s "any": trust for the users auth_file lists.');
  }
  setKey(ctx, 'auth_type', mapped, entry);
}

/**
 * auth_type = hba: PgBouncer's auth_hba_file chose each client's method, as pgtide's hba_file
 * does (the same pg_hba.conf format, read as it is). Without that file, md5: the method that
 * lets the auth_file's md5 and plain-text passwords log in, where pgtide's default would refuse
 * the md5 ones. With another auth_type PgBouncer never read the file.
 */
function mapHbaAuth(ctx: ImportContext, entries: readonly IniEntry[]): void {
  const authType = lastSetting(entries, 'auth_type');
  const hbaFile = lastSetting(entries, 'auth_hba_file');
  const byHba = authType?.value.toLowerCase() === 'hba';
  if (!byHba) {
    if (hbaFile !== undefined)
      dropSetting(
        ctx,
        hbaFile,
        `auth_hba_file = ${hbaFile.value}`,
        'PgBouncer reads it only with auth_type = hba.',
        false,
      );
    return;
  }
  if (hbaFile === undefined || hbaFile.value === '') {
    ctx.warnings.push(
      `${where(authType!)}: auth_type = hba names no auth_hba_file, with which PgBouncer rejects every login; pgtide uses auth_type = "md5", which the auth_file's md5 and plain-text passwords log in with`,
    );
    setKey(ctx, 'auth_type', 'md5', authType!, 'auth_type = hba without auth_hba_file.');
    return;
  }
  const parsed = hbaFileProblems(hbaFile.value);
  if (!Array.isArray(parsed)) {
    // Read as it is, the file must mean what it meant to PgBouncer (see pgbouncer-hba.ts).
    const divergences = pgbouncerDivergences(hbaFile.value, parsed);
    if (divergences.length > 0)
      throw new ImportError(
        hbaFile.value,
        divergences[0]!.line,
        `pgtide would apply what PgBouncer 1.18 did not: ${divergences.map((d) => `line ${d.line}: PgBouncer ${d.why}`).join('; ')}. Rewrite ${divergences.length === 1 ? 'that line' : 'those lines'} (0.0.0.0/0 and ::/0 for all, a network address with its host bits clear, names instead of +groups), or remove ${divergences.length === 1 ? 'it' : 'them'}`,
      );
  } else if (!parsed.every((problem) => problem.line === 0))
    // A line pgtide cannot honour (peer, ident, a host name): neither dropped nor kept silently.
    throw new ImportError(
      hbaFile.value,
      parsed[0]!.line,
      `pgtide cannot honour ${parsed.map((problem) => `line ${problem.line} (${problem.message})`).join('; ')}: rewrite the file, or set auth_type = md5 to log every client in by password`,
    );
  ctx.draft.comment(`${where(authType!)} auth_type = hba: hba_file chooses each client's method.`);
  setKey(
    ctx,
    'hba_file',
    hbaFile.value,
    hbaFile,
    "auth_type = hba: PgBouncer's auth_hba_file, read as it is; its first matching line chooses each client's method.",
  );
  describeImportedHba(ctx, hbaFile.value, parsed);
}

/** PgBouncer sized its pools for the Pgpool-II hop; pgtide's pools go straight to each backend,
 *  where the seed never opened more than num_init_children × max_pool connections. */
function mapPoolSizes(ctx: ImportContext, entries: readonly IniEntry[], cap: ServerCap | undefined): void {
  const read = (key: 'default_pool_size' | 'reserve_pool_size'): { entry?: IniEntry; value: number } => {
    const entry = lastSetting(entries, key);
    const fallback = defaultConfig()[key];
    if (entry === undefined) return { value: fallback };
    const value = readSetting(ctx, entry, fieldOf(key)!) as number | undefined;
    return value === undefined ? { value: fallback } : { entry, value };
  };
  const size = read('default_pool_size');
  const reserve = read('reserve_pool_size');
  const limit = cap?.connections ?? Infinity;
  const usedSize = Math.min(size.value, limit);
  const usedReserve = Math.max(0, Math.min(reserve.value, limit - usedSize));
  for (const [key, wanted, used, entry] of [
    ['default_pool_size', size.value, usedSize, size.entry],
    ['reserve_pool_size', reserve.value, usedReserve, reserve.entry],
  ] as const) {
    if (used === wanted) {
      if (entry !== undefined) setKey(ctx, key, used, entry);
      continue;
    }
    const at = entry ?? { file: 'pgpool.conf', line: 0 };
    const from = entry === undefined ? `pgtide's default ${wanted}` : `${wanted} in pgbouncer.ini`;
    ctx.warnings.push(
      `${where(at)}: ${key} lowered from ${from} to ${used}: each backend got at most ${cap!.explanation}`,
    );
    setKey(ctx, key, used, at, `${key} was ${from}; lowered because each backend got at most ${cap!.explanation}.`);
  }
  // The pool sizes cap each (database, user) pool; Pgpool-II's cap held across all of them. The
  // nearest pgtide key holds across users: with one database (the seed's clients), the same cap.
  const entry = lastSetting(entries, 'max_db_connections');
  const own =
    entry === undefined ? undefined : (readSetting(ctx, entry, fieldOf('max_db_connections')!) as number | undefined);
  if (own !== undefined && (cap === undefined || (own > 0 && own <= limit)))
    return setKey(ctx, 'max_db_connections', own, entry!);
  if (cap === undefined) return;
  if (own !== undefined)
    ctx.warnings.push(
      `${where(entry!)}: max_db_connections = ${own === 0 ? '0 (no limit)' : own} replaced by ${limit}: each backend got at most ${cap.explanation}`,
    );
  const at = own === undefined ? { file: 'pgpool.conf', line: 0 } : entry!;
  setKey(
    ctx,
    'max_db_connections',
    limit,
    at,
    `each backend got at most ${cap.explanation}, across users and databases; pgtide holds it per database across users.`,
  );
}

function mapDatabase(
  ctx: ImportContext,
  entry: IniEntry,
  pgpoolPort: number | undefined,
  cap: ServerCap | undefined,
): DatabaseServer[] {
  const params = parseConnectionString(entry.value, entry.file, entry.line);
  const host = params.get('host');
  const port = Number(params.get('port') ?? 5432);
  const label = `[databases] ${entry.key}`;
  const servers: DatabaseServer[] = [];
  if (pgpoolPort !== undefined && port === pgpoolPort) {
    ctx.draft.comment(
      `${where(entry)} ${label} = host=${host ?? ''} port=${port}: PgBouncer handed every connection to Pgpool-II here.`,
      'pgtide pools and routes in one process, so it connects to the [[backends]] below directly.',
    );
  } else if (host !== undefined) {
    servers.push({ host, port, entry });
  }
  const table: [string, TomlValue][] = [];
  for (const [param, value] of params) {
    if (param === 'host' || param === 'port') continue;
    const key = DATABASE_PARAMS[param];
    if (key === undefined) {
      ctx.warnings.push(`${where(entry)}: ${label}: ${param} is not imported: no pgtide equivalent`);
      continue;
    }
    pushParam(ctx, table, key, value, `${where(entry)}: ${label}`, cap);
  }
  // Every entry gets its table, empty or not: once pgtide has one, it refuses the databases it
  // does not list (as PgBouncer does), so a `*` or a name left without one would be refused.
  ctx.draft.table(`[databases.${tomlKey(entry.key)}]`, table, `${where(entry)} ${label}`);
  return servers;
}

function mapUser(ctx: ImportContext, entry: IniEntry, cap: ServerCap | undefined): void {
  const params = parseConnectionString(entry.value, entry.file, entry.line);
  const table: [string, TomlValue][] = [];
  for (const [param, value] of params) {
    if (!USER_PARAMS.includes(param)) {
      ctx.warnings.push(`${where(entry)}: [users] ${entry.key}: ${param} is not imported: no pgtide equivalent`);
      continue;
    }
    pushParam(ctx, table, param, value, `${where(entry)}: [users] ${entry.key}`, cap);
  }
  if (table.length > 0) ctx.draft.table(`[users.${tomlKey(entry.key)}]`, table, `${where(entry)} [users] ${entry.key}`);
}

/** A per-database or per-user setting; its server connections held under Pgpool-II's cap as
 *  the global ones are (see mapPoolSizes), since it overrides them. */
function pushParam(
  ctx: ImportContext,
  table: [string, TomlValue][],
  key: string,
  value: string,
  label: string,
  cap: ServerCap | undefined,
): void {
  if (!NUMERIC_PARAMS.includes(key)) {
    table.push([key, value]);
  } else if (/^\d{1,9}$/.test(value)) {
    const wanted = Number(value);
    // 0 is no limit for a cap, and nothing for the sizes, which the cap does not concern then.
    const over = cap !== undefined && (wanted > cap.connections || (wanted === 0 && key.startsWith('max_')));
    if (over)
      ctx.warnings.push(
        `${label}: ${key} = ${value}${wanted === 0 ? ' (no limit)' : ''} replaced by ${cap.connections}: each backend got at most ${cap.explanation}`,
      );
    table.push([key, over ? cap.connections : wanted]);
  } else {
    ctx.warnings.push(`${label}: ${key} is not imported: ${JSON.stringify(value)} is not a whole number`);
  }
}
