// The console's SET of a setting, as PgBouncer's: `SET name = value`, `SET name TO value`, the
// value bare or single-quoted ('' for a quote). The words come from splitStatements, which
// keeps a quoted string, quotes included, in one word, and leaves `name=value` unsplit.
import { TOP_LEVEL_FIELDS, type ScalarKey } from '../config/fields.js';
import type { RefusalReason } from '../config/runtime-setting.js';

export interface Assignment {
  /** The setting's name, lower-cased (PostgreSQL's names ignore case too). */
  name: string;
  /** The value as text, unquoted. */
  value: string;
}

/** The SQLSTATE each refusal of a SET answers with, PostgreSQL's for the same refusal of its own SET. */
export const REFUSAL_CODE: Record<RefusalReason, string> = {
  unknown: '42704', // undefined_object: "unrecognized configuration parameter"
  'start-only': '55P02', // cant_change_runtime_param: "cannot be changed without restarting the server"
  invalid: '22023', // invalid_parameter_value
};

/** The name and value of SET's words (after SET itself); null when they are not `name = value`. */
export function parseAssignment(words: readonly string[]): Assignment | null {
  const tokens = words.flatMap(assignmentTokens);
  const [name, operator, value, ...rest] = tokens;
  if (name === undefined || value === undefined || rest.length > 0) return null;
  if (operator !== '=' && operator?.toLowerCase() !== 'to') return null;
  if (name === '=' || name.startsWith("'")) return null;
  const text = value.startsWith("'") ? unquote(value) : value === '=' ? null : value;
  return text === null ? null : { name: name.toLowerCase(), value: text };
}

/** A word cut at each '=' before its first quote: `a=5` is a, =, 5; `a='x y'` is a, =, 'x y'. */
function assignmentTokens(word: string): string[] {
  const quote = word.indexOf("'");
  const bare = quote === -1 ? word : word.slice(0, quote);
  const tokens = bare.split(/(=)/).filter((token) => token !== '');
  if (quote !== -1) tokens.push(word.slice(quote));
  return tokens;
}

/** A whole single-quoted string's text; null when the word is more than one. */
function unquote(word: string): string | null {
  const match = /^'((?:[^']|'')*)'$/.exec(word);
  return match === null ? null : match[1]!.replaceAll("''", "'");
}

/** What the log may say of a value set: never a password. */
export function loggedValue(key: ScalarKey, value: string): string {
  return TOP_LEVEL_FIELDS[key].kind === 'secret' ? '********' : value;
}
