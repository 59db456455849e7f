// pgpool.conf: PostgreSQL's GUC file syntax (`name = value` or `name value`, `#` comments
// outside quotes, single-quoted strings with `''` and backslash escapes), with the per-node
// `backend_*N` settings grouped by node id.
import { ImportError, splitLines } from './source.js';

export interface GucEntry {
  /** Lower-cased, as PostgreSQL and Pgpool-II compare names. */
  name: string;
  /** The value with quotes removed and escapes resolved. */
  value: string;
  quoted: boolean;
  file: string;
  line: number;
}

export const BACKEND_FIELDS = ['hostname', 'port', 'weight', 'flag', 'data_directory', 'application_name'] as const;
export type BackendField = (typeof BACKEND_FIELDS)[number];

/** One Pgpool-II node: the `backend_<field>N` settings sharing one N. */
export interface PgpoolBackend {
  id: number;
  fields: Partial<Record<BackendField, GucEntry>>;
}

export interface PgpoolConf {
  /** Every setting but the backend_*N ones; a name set twice keeps the later line. */
  settings: Map<string, GucEntry>;
  /** Ordered by node id. */
  backends: PgpoolBackend[];
}

/** Pgpool-II's MAX_NUM_BACKENDS. */
export const MAX_BACKENDS = 128;

const BACKEND_NAME = new RegExp(`^backend_(${BACKEND_FIELDS.join('|')})(\\d+)$`);

export function parsePgpoolConf(text: string, file: string): PgpoolConf {
  const settings = new Map<string, GucEntry>();
  const nodes = new Map<number, PgpoolBackend>();
  for (const entry of parseGuc(text, file)) {
    const match = BACKEND_NAME.exec(entry.name);
    if (!match) {
      settings.set(entry.name, entry);
      continue;
    }
    const id = Number(match[2]);
    if (String(id) !== match[2] || id >= MAX_BACKENDS) {
      throw new ImportError(
        file,
        entry.line,
        `${entry.name}: node id must be 0 to ${MAX_BACKENDS - 1} without leading zeros`,
      );
    }
    const node = nodes.get(id) ?? { id, fields: {} };
    node.fields[match[1] as BackendField] = entry;
    nodes.set(id, node);
  }
  return { settings, backends: [...nodes.values()].sort((a, b) => a.id - b.id) };
}

/** Every `name = value` line of a GUC-syntax file, in order. */
export function parseGuc(text: string, file: string): GucEntry[] {
  const entries: GucEntry[] = [];
  splitLines(text).forEach((raw, index) => {
    const entry = parseGucLine(raw, file, index + 1);
    if (entry !== undefined) entries.push(entry);
  });
  return entries;
}

function parseGucLine(raw: string, file: string, line: number): GucEntry | undefined {
  let at = skipSpace(raw, 0);
  if (at >= raw.length || raw[at] === '#') return undefined;
  const name = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(raw.slice(at))?.[0];
  if (name === undefined)
    throw new ImportError(file, line, `expected a parameter name, got ${JSON.stringify(raw.trim())}`);
  at = skipSpace(raw, at + name.length);
  if (raw[at] === '=') at = skipSpace(raw, at + 1);
  if (at >= raw.length || raw[at] === '#') throw new ImportError(file, line, `${name}: missing value`);
  const quoted = raw[at] === "'";
  const read = quoted ? readQuoted(raw, at, file, line, name) : readUnquoted(raw, at);
  at = skipSpace(raw, read.end);
  if (at < raw.length && raw[at] !== '#') {
    throw new ImportError(
      file,
      line,
      `${name}: unexpected ${JSON.stringify(raw.slice(at))} after the value (quote a value that contains spaces)`,
    );
  }
  return { name: name.toLowerCase(), value: read.value, quoted, file, line };
}

function skipSpace(raw: string, at: number): number {
  while (at < raw.length && (raw[at] === ' ' || raw[at] === '\t' || raw[at] === '\r' || raw[at] === '\f')) at++;
  return at;
}

function readUnquoted(raw: string, at: number): { value: string; end: number } {
  let end = at;
  while (end < raw.length && !/[\s#'=]/.test(raw[end]!)) end++;
  return { value: raw.slice(at, end), end };
}

const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** A single-quoted GUC string as PostgreSQL's GUC_scanstr reads it. */
function readQuoted(
  raw: string,
  start: number,
  file: string,
  line: number,
  name: string,
): { value: string; end: number } {
  let value = '';
  let at = start + 1;
  while (at < raw.length) {
    const char = raw[at];
    if (char === "'") {
      if (raw[at + 1] !== "'") return { value, end: at + 1 };
      value += "'";
      at += 2;
    } else if (char === '\\' && at + 1 < raw.length) {
      const octal = /^[0-7]{1,3}/.exec(raw.slice(at + 1, at + 4))?.[0];
      if (octal !== undefined) {
        value += String.fromCharCode(parseInt(octal, 8));
        at += 1 + octal.length;
      } else {
        const next = raw[at + 1]!;
        value += SIMPLE_ESCAPES[next] ?? next;
        at += 2;
      }
    } else {
      value += char;
      at++;
    }
  }
  throw new ImportError(file, line, `${name}: unterminated quoted string`);
}

// Typed readers. Each names the file, line and parameter when the value does not fit.

export function gucBoolean(entry: GucEntry): boolean {
  const word = entry.value.trim().toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(word)) return true;
  if (['off', 'false', 'no', '0'].includes(word)) return false;
  throw invalid(entry, 'must be on or off');
}

export function gucNumber(entry: GucEntry, min = -Infinity, max = Infinity): number {
  const text = entry.value.trim();
  const number = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(number >= min && number <= max)) throw invalid(entry, `must be a number from ${min} to ${max}`);
  return number;
}

export function gucInteger(entry: GucEntry, min = 0, max = 2 ** 31 - 1): number {
  const number = gucNumber(entry, min, max);
  if (!Number.isInteger(number)) throw invalid(entry, 'must be an integer');
  return number;
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in seconds. A bare number is in `bareUnit` (Pgpool-II's unit for the parameter);
 *  a number with a PostgreSQL time unit (`500ms`, `10s`, `5min`, `1h`, `1d`) is converted. */
export function gucSeconds(entry: GucEntry, bareUnit: 'ms' | 's' | 'min'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/.exec(entry.value);
  const unit = match?.[2] === '' ? bareUnit : match?.[2];
  const factor = unit === undefined ? undefined : TIME_UNITS_MS[unit];
  if (match === null || factor === undefined) {
    throw invalid(entry, 'must be a duration such as 10, 500ms, 10s, 5min, 1h or 1d');
  }
  return (Number(match[1]) * factor) / 1000;
}

/** Pgpool-II's comma-separated lists (function lists, reset_query_list uses `;`). */
export function gucList(entry: GucEntry, separator = ','): string[] {
  return entry.value
    .split(separator)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function invalid(entry: GucEntry, why: string): ImportError {
  return new ImportError(entry.file, entry.line, `${entry.name} = ${JSON.stringify(entry.value)}: ${why}`);
}
