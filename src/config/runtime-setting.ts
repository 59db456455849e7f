// One setting changed while pgtide runs (the console's SET): which keys may change so, and the
// configuration with the new value, checked as a file is. The running value lasts until the
// next reload, which reads the file again, as PgBouncer's SET does.
import { isScalarKey } from './document.js';
import { readEnvField, TOP_LEVEL_FIELDS, type ScalarKey } from './fields.js';
import { pgbouncerValueText, pgtideKeyOf } from './pgbouncer-names.js';
import { toProblems, type ConfigError, type Problem } from './problems.js';
import { isStartOnly } from './start-only.js';
import { closest } from './suggest.js';
import type { Config } from './types.js';
import { configIssues } from './validate.js';

/** Why a setting cannot be changed: no such key, one used only at start, or a value refused. */
export type RefusalReason = 'unknown' | 'start-only' | 'invalid';

export class SettingRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The tables of the file: a name in them is a whole table, which one value cannot replace. */
const TABLES: readonly string[] = ['backends', 'databases', 'users', 'peers'];

/** The pgtide key `name` (pgtide's or PgBouncer's spelling) sets; refused when none may change now. */
export function runtimeKey(name: string): ScalarKey {
  const key = pgtideKeyOf(name);
  if (TABLES.includes(key))
    throw new SettingRefused('unknown', `${key} is a table of the configuration file, not a setting`, RELOAD_HINT);
  if (!isScalarKey(key)) {
    const guess = closest(key, Object.keys(TOP_LEVEL_FIELDS));
    throw new SettingRefused(
      'unknown',
      `unknown setting: ${name}`,
      guess === undefined ? 'SHOW CONFIG lists the settings.' : `Did you mean ${guess}?`,
    );
  }
  // A reload keeps these too (start-only.ts): SHOW CONFIG would show a value nothing runs with.
  if (isStartOnly(key))
    throw new SettingRefused(
      'start-only',
      `${key} cannot be changed while pgtide runs: it is used once, at start (its sockets, TLS contexts, logger or worker processes)`,
      'Edit the configuration file and restart pgtide; SHOW CONFIG says which settings can change (changeable).',
    );
  return key;
}

const RELOAD_HINT = 'Edit the configuration file, then RELOAD.';

/** `text` as `key`'s value (PgBouncer's spellings taken: on/off, 1/0, any case for a mode). */
export function settingValue(key: ScalarKey, text: string): unknown {
  const field = TOP_LEVEL_FIELDS[key];
  const read = readEnvField(field, pgbouncerValueText(field, text));
  if (!read.ok) throw new SettingRefused('invalid', `${key} ${read.message}`);
  return read.value;
}

/**
 * `config` with `key` set from `text`, checked as a whole as a file is (a pool size below the
 * number of workers, a redirect list naming no backend …): a SettingRefused leaves nothing changed.
 */
export function withSetting(config: Config, key: ScalarKey, text: string): Config {
  const next = { ...config, [key]: settingValue(key, text) };
  const issues = configIssues(next);
  if (issues.length > 0) throw invalidConfig(toProblems(issues));
  return next;
}

/** A ConfigError of the files a setting names (auth_file, hba_file) as a refusal of the value. */
export function refusedFiles(err: ConfigError): SettingRefused {
  return invalidConfig(err.problems);
}

function invalidConfig(problems: readonly Problem[]): SettingRefused {
  return new SettingRefused('invalid', problems.map((p) => `${p.key}: ${p.message}`).join('; '));
}
