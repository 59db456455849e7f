import { parseOptions } from '../protocol/startup.js';
import type { Classification } from '../sql/index.js';
import { identifier, literal } from '../sql/quote.js';

/** Settings by lower-cased name, as SQL values would set them. Never changed once made: shared freely. */
export type Settings = ReadonlyMap<string, string>;

export const NO_SETTINGS: Settings = new Map();

/** Startup packet entries that are not run-time settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);

/**
 * Every setting the session's own SET / set_config(..., false) / startup packet made: the
 * values a server connection must have before it runs this session's next transaction.
 * Read from the server after each transaction that changed settings, so rolled-back, LOCAL
 * and failed changes are never kept. pg_settings does not show `role`, which SET ROLE
 * changes: it is asked for by name. Schema-qualified: a client's search_path cannot reach it.
 */
export const SESSION_SETTINGS_QUERY = `SELECT name, setting FROM pg_catalog.pg_settings WHERE source OPERATOR(pg_catalog.=) 'session'
  UNION ALL SELECT 'role', pg_catalog.current_setting('role') WHERE pg_catalog.current_setting('role') OPERATOR(pg_catalog.<>) 'none'`;

/**
 * A client's session settings in transaction and statement pooling: what its startup packet
 * asked for, then what its own statements set. Any server connection running its next
 * transaction first gets exactly these (see diffSql).
 */
export class SessionSettings {
  readonly startup: Settings;
  values: Settings;
  /** Compared with the key of what a server has, so a link costs one string comparison. */
  key: string;

  /** Throws on a malformed `options` value (the caller answers like PostgreSQL, 08P01 / 22023). */
  constructor(startupParams: ReadonlyMap<string, string>) {
    const startup = new Map<string, string>();
    for (const [name, value] of startupParams) {
      if (!NOT_SETTINGS.has(name) && !name.startsWith('_pq_.')) startup.set(name.toLowerCase(), value);
    }
    const options = startupParams.get('options');
    if (options) {
      const parsed = parseOptions(options);
      if (!(parsed instanceof Map)) throw new Error(parsed.error);
      for (const [name, value] of parsed) startup.set(name.toLowerCase(), value);
    }
    this.startup = startup;
    this.values = startup;
    this.key = settingsKey(startup);
  }

  /**
   * What the session's statements left, read from the server (SESSION_SETTINGS_QUERY rows).
   * A startup setting missing there was RESET: PostgreSQL restores the startup value, so
   * does pgtide. Returns those names, which the server must get again.
   */
  learn(rows: readonly (readonly (string | null)[])[]): { found: Settings; restored: string[] } {
    const values = new Map<string, string>();
    for (const [name, setting] of rows) if (name && setting !== null) values.set(name.toLowerCase(), setting!);
    const found = new Map(values);
    const restored: string[] = [];
    for (const [name, value] of this.startup) {
      if (!values.has(name)) {
        values.set(name, value);
        restored.push(name);
      }
    }
    this.values = values;
    this.key = settingsKey(values);
    return { found, restored };
  }
}

export function settingsKey(settings: Settings): string {
  if (settings.size === 0) return '';
  return JSON.stringify([...settings].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/**
 * One simple query turning a server connection's settings `from` into `to`: RESET of what
 * `to` lacks, set_config of what differs. Null when nothing differs.
 */
export function diffSql(from: Settings, to: Settings): string | null {
  const statements: string[] = [];
  for (const name of from.keys()) if (!to.has(name)) statements.push(`RESET ${identifier(name)}`);
  const sets: string[] = [];
  for (const [name, value] of to) {
    if (from.get(name) !== value) sets.push(`pg_catalog.set_config(${literal(name)}, ${literal(value)}, false)`);
  }
  if (sets.length > 0) statements.push(`SELECT ${sets.join(', ')}`);
  return statements.length > 0 ? statements.join('; ') : null;
}

/** Whether a statement may change session settings (then they are read back afterwards). */
export function changesSettings(c: Classification): boolean {
  if (c.statements) return c.statements.some(changesSettings);
  if (c.kind === 'pgtide') return false;
  if (c.set) return !c.set.local;
  if (c.kind === 'reset' || (c.kind === 'discard' && c.discard === 'all')) return true;
  return c.sessionState === 'set_config' || c.sessionState === 'transaction_characteristics';
}
