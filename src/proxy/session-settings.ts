import { parseOptions } from '../protocol/startup.js';
import type { Classification } from '../sql/index.js';
import type { LruCache } from '../sql/lru.js';
import { identifier, literal } from '../sql/quote.js';

/** Settings by lower-cased name, as SQL values would set them. Never changed once made: shared freely. */
export type Settings = ReadonlyMap<string, string>;

export const NO_SETTINGS: Settings = new Map();

/** Startup settings with their key (see settingsKey), shared by the sessions that have them. */
export interface SharedSettings {
  settings: Settings;
  key: string;
}

/** Startup packet entries that are not run-time settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);

/**
 * Every setting the session's own SET / set_config(..., false) / startup packet made: the
 * values a server connection must have before it runs this session's next transaction.
 * Read from the server after each transaction that changed settings, so rolled-back, LOCAL
 * and failed changes are never kept. pg_settings does not show `role`, which SET ROLE
 * changes: it is asked for by name. Custom settings (`app.tenant`) are not in pg_settings
 * either: asked for by name ($1, see customNames). One set, then reset (or set by SET LOCAL
 * or set_config(…, true), or in a rolled-back transaction) reads '' in the session from then
 * on, not NULL, and SHOW finds it: the client's other servers get it as '' too. A local
 * setting's name is followed from its first use (see newPlaceholder). Text read as hex of its
 * UTF-8 bytes: exact whatever the session's client_encoding. Schema-qualified: a client's
 * search_path cannot reach it. A superuser-only setting the session user may not set itself
 * (a SECURITY DEFINER function's set_config made it) is left out: the client's other servers
 * would refuse it (42501). `mayTell` is how a server tells that (has_parameter_privilege is
 * PostgreSQL 15's).
 */
// transaction_*: the current transaction's (pgtide's own BEGIN), not the session's.
function sessionSettings(mayTell: string): string {
  return `SELECT ${utf8Hex('name')}, ${utf8Hex('setting')} FROM (
  SELECT name, setting FROM pg_catalog.pg_settings WHERE source OPERATOR(pg_catalog.=) 'session'
    AND name OPERATOR(pg_catalog.!~) '^transaction_' AND (context OPERATOR(pg_catalog.<>) 'superuser' OR ${mayTell})
  UNION ALL SELECT 'role', pg_catalog.current_setting('role') WHERE pg_catalog.current_setting('role') OPERATOR(pg_catalog.<>) 'none'
  UNION ALL SELECT n, pg_catalog.current_setting(n, true) FROM pg_catalog.unnest($1::pg_catalog.text[]) AS n) AS s (name, setting)`;
}

export const SESSION_SETTINGS = sessionSettings(`pg_catalog.has_parameter_privilege(name, 'SET')`);
/** Before PostgreSQL 15 only superusers set such settings. */
export const SESSION_SETTINGS_BEFORE_15 = sessionSettings(
  `pg_catalog.current_setting('is_superuser') OPERATOR(pg_catalog.=) 'on'`,
);

/**
 * The names of every setting a session can change ($1 of SETTINGS_PRINT): read once per
 * server connection, since pg_settings costs the server about a millisecond to build.
 */
export const SETTABLE_NAMES = `SELECT pg_catalog.array_append(pg_catalog.array_agg(name), 'role')::pg_catalog.text
  FROM pg_catalog.pg_settings WHERE context OPERATOR(pg_catalog.=) ANY ('{user,superuser}') AND name OPERATOR(pg_catalog.!~) '^transaction_'`;

/**
 * A digest of the values of the settings named in $1 (SETTABLE_NAMES') and $2 (the custom
 * ones): after code pgtide cannot see into, the same digest as before tells that no setting
 * changed without reading pg_settings again (see readBackSettings). Each value goes with its
 * length, so that no two lists of values read alike.
 */
export const SETTINGS_PRINT = `SELECT pg_catalog.sha256(pg_catalog.textsend(pg_catalog.string_agg(COALESCE(
    pg_catalog.length(v)::pg_catalog.text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) v, '-'), ',')))
  FROM (SELECT pg_catalog.current_setting(n, true)
    FROM pg_catalog.unnest($1::pg_catalog.text[] OPERATOR(pg_catalog.||) $2::pg_catalog.text[]) AS n) AS c (v)`;

/**
 * The values of the settings named in $1 (a session's plain SETs since its last read-back), as
 * SESSION_SETTINGS' rows: reading them costs a fraction of a pg_settings scan.
 */
export const NAMED_SETTINGS = `SELECT ${utf8Hex('n')}, ${utf8Hex('pg_catalog.current_setting(n, true)')}
  FROM pg_catalog.unnest($1::pg_catalog.text[]) AS n`;

/** Text read as hex of its UTF-8 bytes: exact whatever the session's client_encoding. */
function utf8Hex(column: string): string {
  return `pg_catalog.encode(pg_catalog.convert_to(${column}, 'UTF8'), 'hex')`;
}

/** `names` as the text of a text[] value. */
function textArray(names: Iterable<string>): string {
  let text = '';
  for (const name of names) text += `${text === '' ? '' : ','}"${name.replaceAll(/["\\]/g, '\\$&')}"`;
  return `{${text}}`;
}

/** The session's own default isolation (serializable is refused on a standby) must not apply to pgtide's queries. */
function inOwnTransaction(sql: string): string {
  return `BEGIN ISOLATION LEVEL READ COMMITTED; ${sql}; COMMIT`;
}

/**
 * A client's session settings in transaction and statement pooling: what its startup packet
 * asked for, then what its own statements set. Any server connection running its next
 * transaction first gets exactly these (see diffSql).
 */
export class SessionSettings {
  /** The startup settings and their key, shared by the sessions that have them. */
  private readonly shared: SharedSettings;
  /** The settings now and their key: the shared startup ones until a read-back learns others
   *  (a pair rather than two fields: every idle client has a SessionSettings). */
  private current: SharedSettings;
  /** Custom (dotted) setting names the session used: read back by name. Made with the first. */
  private customNames: Set<string> | null = null;
  /** A set_config whose name pgtide could not read: what the server holds is unknown. */
  private unknownChange = false;
  /** A statement pgtide read may have changed settings (see follow). */
  private seenChange = false;
  /** The names of the plain SETs since the last read-back, while every change was one (see
   *  plainSetName; null: none yet, BY_NAME_NOT: another change, TO_STARTUP: see followQuery). */
  private namedSets: readonly string[] | null = null;

  /** Throws on a malformed `options` value (the caller answers like PostgreSQL, 08P01 / 22023).
   *  `shared`: startup settings other sessions have, by the startup parameters they came from
   *  (see packetKey), reused when equal (most clients of a pool send the same ones), so that
   *  each idle client holds no copy of its own and a login reads them with one lookup. */
  constructor(startupParams: ReadonlyMap<string, string>, shared: LruCache<SharedSettings>) {
    const packet = packetKey(startupParams);
    let known = shared.get(packet);
    if (!known) {
      const settings = startupSettings(startupParams);
      known = { settings, key: settingsKey(settings) };
      // The keys spell every name and value the map holds.
      shared.set(packet, known, (packet.length + known.key.length) * 2);
    }
    this.shared = known;
    this.current = known;
    for (const name of known.settings.keys()) if (name.includes('.')) this.addCustomName(name);
  }

  get startup(): Settings {
    return this.shared.settings;
  }

  get values(): Settings {
    return this.current.settings;
  }

  /** Compared with the key of what a server has, so a link costs one string comparison. */
  get key(): string {
    return this.current.key;
  }

  /** A statement that may change settings (see changesSettings): note the names to read back. */
  follow(c: Classification): void {
    this.seenChange = true;
    if (c.statements) {
      // The others (a SELECT beside a SET) leave the settings as they are.
      for (const s of c.statements) if (changesSettings(s) || this.newPlaceholder(s)) this.follow(s);
      return;
    }
    this.followSetName(c);
    if (c.set) {
      if (c.set.name.includes('.')) this.addCustomName(c.set.name);
    } else if (c.sessionState === 'set_config' || c.localSets !== undefined) {
      // A set_config whose name is not written out (a lock the same statement took may have
      // taken the place of set_config as its session state).
      this.unknownChange = true;
    }
    if (c.otherSets) for (const name of c.otherSets) this.followName(name);
  }

  /**
   * A SET LOCAL or set_config(…, true) of a custom setting the session has not used before:
   * the placeholder it creates outlasts the transaction (it reads '' from then on, where another
   * server has none), so its transaction is read back once, and the name followed from then on.
   */
  newPlaceholder(c: Classification): boolean {
    if (c.statements) {
      for (const s of c.statements) if (this.newPlaceholder(s)) return true;
      return false;
    }
    if (c.kind === 'pgtide') return false;
    if (this.isNewCustomName(c.set?.name)) return true;
    if (c.otherSets) for (const name of c.otherSets) if (this.isNewCustomName(name)) return true;
    return false;
  }

  private isNewCustomName(name: string | null | undefined): boolean {
    return name?.includes('.') === true && !this.customNames?.has(name);
  }

  private followSetName(c: Classification): void {
    const named = this.namedSets;
    if (named === BY_NAME_NOT) return;
    const name = plainSetName(c);
    if (name === null || named === TO_STARTUP) this.namedSets = BY_NAME_NOT;
    else if (named === null) this.namedSets = [name];
    else if (!named.includes(name)) this.namedSets = [...named, name];
  }

  private followName(name: string | null): void {
    if (name === null) this.unknownChange = true;
    else if (name.includes('.')) this.addCustomName(name);
  }

  private addCustomName(name: string): void {
    (this.customNames ??= new Set()).add(name);
  }

  /**
   * A simple Query that began the client's transaction (`c`, all of its statements) ran: when it
   * reset the whole session and changed nothing after (DISCARD ALL; Npgsql's reset of a
   * connection that keeps prepared statements, SET SESSION AUTHORIZATION DEFAULT then RESET ALL;
   * RESET ALL where no role is set), the settings are known to be the startup ones: nothing
   * needs reading back but its custom settings (see readBack). Not in a transaction block, which may roll it back:
   * its own transaction commits unless it fails, and an error makes the full read (refused).
   */
  followQuery(c: Classification): void {
    let reset = false;
    let noRole = !this.current.settings.has('role');
    for (const one of c.statements ?? [c]) {
      const kind = one.kind;
      if (kind === 'begin' || kind === 'commit' || kind === 'rollback' || kind === 'savepoint' || kind === 'two_phase')
        return;
      if (kind === 'discard' && one.discard === 'all') reset = noRole = true;
      else if (kind === 'reset' && one.all === true) reset = noRole;
      else if (!changesSettings(one) && !this.newPlaceholder(one)) continue;
      else if (one.set?.name === 'session_authorization' && one.set.value === null && !one.set.local) noRole = true;
      else reset = noRole = false;
    }
    if (reset) this.namedSets = TO_STARTUP;
  }

  /** The server refused something after a plain SET: perhaps the SET itself, whose setting the
   *  session may not set at all (a read by name would take the value it kept for the client's),
   *  or the DISCARD ALL (inside a transaction block), which then changed nothing. */
  refused(): void {
    if (this.namedSets !== null) this.namedSets = BY_NAME_NOT;
  }

  /** Code pgtide cannot see into ran: it may have set custom settings, which cannot be listed. */
  followUnseen(): void {
    this.unknownChange = true;
  }

  /** What the session changed since this was last asked, and forgets it: `unknown` when some
   *  change cannot be read back by name, `seen` when a statement pgtide read may have set
   *  something, `named` (a text[] literal) when every change was a plain SET of these names,
   *  `toStartup` when the last reset the whole session (see followQuery). */
  takeChanges(): SettingChanges {
    const named = this.namedSets;
    const byName = named !== null && named !== BY_NAME_NOT && named !== TO_STARTUP && !this.unknownChange;
    const changes = {
      unknown: this.unknownChange,
      seen: this.seenChange,
      named: byName ? textArray(named) : null,
      toStartup: named === TO_STARTUP && !this.unknownChange,
    };
    this.unknownChange = false;
    this.seenChange = false;
    this.namedSets = null;
    return changes;
  }

  /** The custom setting names the session used, as $1 of SESSION_SETTINGS. */
  get customNameList(): string {
    return this.customNames === null ? '{}' : textArray(this.customNames);
  }

  /** What plain SETs left, read from the server (NAMED_SETTINGS rows): the other settings stay. */
  learnNamed(rows: readonly (readonly (string | null)[])[]): void {
    const values = new Map(this.current.settings);
    for (const [name, setting] of rows) {
      if (!name) continue;
      if (setting === null || setting === undefined) values.delete(fromHex(name));
      else values.set(fromHex(name), fromHex(setting));
    }
    this.current = { settings: values, key: settingsKey(values) };
  }

  /**
   * What the session's statements left, read from the server (SESSION_SETTINGS_QUERY rows).
   * A startup setting missing there (or a custom one at '', its placeholder's reset value on
   * the server, which took it by SET) was RESET: PostgreSQL restores the startup value, so
   * does pgtide. Returns those names, which the server must get again.
   */
  learn(rows: readonly (readonly (string | null)[])[]): { found: Settings; restored: string[] } {
    const values = new Map<string, string>();
    for (const [name, setting] of rows) {
      if (name && setting !== null && setting !== undefined) values.set(fromHex(name).toLowerCase(), fromHex(setting));
    }
    const found = new Map(values);
    const restored: string[] = [];
    for (const [name, value] of this.startup) {
      const now = values.get(name);
      if (now === undefined || (now === '' && value !== '' && name.includes('.'))) {
        values.set(name, value);
        restored.push(name);
      }
    }
    this.current = { settings: values, key: settingsKey(values) };
    return { found, restored };
  }
}

/** The settings a startup packet asks for, by lower-cased name; throws on a malformed `options`. */
function startupSettings(startupParams: ReadonlyMap<string, string>): Settings {
  const startup = new Map<string, string>();
  // PostgreSQL applies `options` first and the packet's own parameters after: those win (lib/pq
  // sends client_encoding=UTF8 whatever `-c client_encoding=…` its user adds to options).
  const options = startupParams.get('options');
  if (options) {
    const parsed = parseOptions(options);
    if (!(parsed instanceof Map)) throw parsed;
    for (const [name, value] of parsed) startup.set(name.toLowerCase(), value);
  }
  for (const [name, value] of startupParams) {
    if (!NOT_SETTINGS.has(name) && !name.startsWith('_pq_.')) startup.set(name.toLowerCase(), value);
  }
  return startup;
}

/**
 * The startup parameters that make the settings, as given (a name or value holds no NUL): a
 * cheaper key than settingsKey's, which sorts. Clients of one driver send the same parameters
 * in the same order; the same settings given in another order are another entry, with the
 * same settingsKey.
 */
function packetKey(startupParams: ReadonlyMap<string, string>): string {
  let key = '';
  for (const [name, value] of startupParams) {
    if (name !== 'user' && name !== 'database') key += `${name}\0${value}\0`;
  }
  return key;
}

function fromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('utf8');
}

export function settingsKey(settings: Settings): string {
  if (settings.size === 0) return '';
  return JSON.stringify([...settings].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/**
 * One simple query turning a server connection's settings `from` into `to`: RESET of what
 * `to` lacks, set_config of what differs, after `first` if given. Null when nothing differs
 * and nothing is given.
 */
export function diffSql(from: Settings, to: Settings, first?: string): string | null {
  const statements: string[] = first === undefined ? [] : [first];
  for (const name of from.keys()) if (!to.has(name)) statements.push(`RESET ${identifier(name)}`);
  const sets: string[] = [];
  for (const [name, value] of to) {
    if (from.get(name) !== value) sets.push(`pg_catalog.set_config(${literal(name)}, ${literal(value)}, false)`);
  }
  if (sets.length > 0) statements.push(`SELECT ${sets.join(', ')}`);
  return statements.length > 0 ? inOwnTransaction(statements.join('; ')) : null;
}

export interface SettingChanges {
  unknown: boolean;
  seen: boolean;
  named: string | null;
  toStartup: boolean;
}

const BY_NAME_NOT: readonly string[] = Object.freeze([]);
const TO_STARTUP: readonly string[] = Object.freeze([]);

/** SET ROLE and SET SESSION AUTHORIZATION change who the session is, which the full read
 *  follows; SET SEED sets no value one can read; the old names PostgreSQL still takes for
 *  others (sort_mem is work_mem) would be kept as settings of their own. */
const NOT_BY_NAME: ReadonlySet<string> = new Set([
  'role',
  'session_authorization',
  'seed',
  'sort_mem',
  'vacuum_mem',
  'ssl_ecdh_curve',
]);

/**
 * The setting a plain session-wide SET to a value changes (null for anything else: SET LOCAL,
 * RESET, SET … TO DEFAULT, set_config, a transaction's own settings). After such SETs alone,
 * reading their values by name tells all the session's settings: the others did not change.
 */
function plainSetName(c: Classification): string | null {
  const set = c.set;
  if (c.kind !== 'set' || set === undefined || set.local || set.value === null) return null;
  if (c.sessionState !== undefined || c.otherSets !== undefined || c.localSets !== undefined) return null;
  if (NOT_BY_NAME.has(set.name) || set.name.startsWith('transaction_')) return null;
  return set.name;
}

/** The settings where a statement's names resolve by (see statementScope). */
const SCOPE_SETTINGS: ReadonlySet<string> = new Set(['search_path', 'role', 'session_authorization']);

/**
 * Whether a statement may change where names resolve, for its transaction (SET LOCAL) or its
 * session: a statement prepared after it is not shared until the transaction is over and what
 * it left is read back (see ClientSession.scopeMoved).
 */
export function movesScope(c: Classification): boolean {
  if (c.statements) return c.statements.some(movesScope);
  if (c.otherSets?.some((name) => name === null || SCOPE_SETTINGS.has(name))) return true;
  if (c.set) return SCOPE_SETTINGS.has(c.set.name);
  return (
    c.sessionState === 'set_config' ||
    c.localSets !== undefined ||
    (c.kind === 'reset' && c.all === true) ||
    (c.kind === 'discard' && c.discard === 'all')
  );
}

/** Whether a statement may change session settings (then they are read back afterwards). */
export function changesSettings(c: Classification): boolean {
  if (c.statements) return c.statements.some(changesSettings);
  if (c.kind === 'pgtide') return false;
  // One statement may hold several set_config calls: all of them must be local.
  if (c.localSets !== undefined) return !c.localSets;
  if (c.sessionState === 'set_config' || c.sessionState === 'transaction_characteristics') return true;
  if (c.set) return !c.set.local;
  return c.kind === 'reset' || (c.kind === 'discard' && c.discard === 'all');
}
