// PgBouncer's INI dialect (libusual's cfparser): `[section]`, `key = value` where the value
// runs to the end of the line, comments only on whole lines starting with `;` or `#`, and
// `%include path`. Unlike generic INI parsers, `a = b ; c` keeps `b ; c` as the value.
import { dirname, resolve } from 'node:path';
import { ImportError, readSource, splitLines } from './source.js';

export interface IniEntry {
  /** Lower-cased section name, e.g. `pgbouncer`, `databases`. */
  section: string;
  /** Lower-cased, except in `[databases]` and `[users]`, where the key is a name. */
  key: string;
  value: string;
  file: string;
  line: number;
}

export type ReadText = (path: string) => string;

/** PgBouncer's own limit on nested %include. */
export const MAX_INCLUDE_DEPTH = 10;

/** Sections whose keys are database or user names, which are case-sensitive. */
const NAME_SECTIONS = new Set(['databases', 'users', 'peers']);

/** Parses `text` (the contents of `file`) and every file it includes, in reading order. */
export function parseIni(text: string, file: string, readText: ReadText = readSource): IniEntry[] {
  const state: ParseState = { section: undefined, entries: [], readText, stack: [resolve(file)] };
  parseInto(text, file, state);
  return state.entries;
}

export function loadIni(path: string, readText: ReadText = readSource): IniEntry[] {
  return parseIni(readText(path), path, readText);
}

interface ParseState {
  /** The current section carries across %include, in both directions, as in PgBouncer. */
  section: string | undefined;
  entries: IniEntry[];
  readText: ReadText;
  /** Resolved paths of the files being read, outermost first, to catch include cycles. */
  stack: string[];
}

function parseInto(text: string, file: string, state: ParseState): void {
  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed[0] === ';' || trimmed[0] === '#') return;
    if (trimmed[0] === '[') {
      state.section = readSection(trimmed, file, line);
    } else if (trimmed.startsWith('%include')) {
      include(trimmed, file, line, state);
    } else {
      state.entries.push(readEntry(trimmed, file, line, state.section));
    }
  });
}

function readSection(trimmed: string, file: string, line: number): string {
  if (!trimmed.endsWith(']')) throw new ImportError(file, line, 'section header must end with "]"');
  const name = trimmed.slice(1, -1).trim();
  if (name === '') throw new ImportError(file, line, 'empty section name');
  return name.toLowerCase();
}

function readEntry(trimmed: string, file: string, line: number, section: string | undefined): IniEntry {
  const equals = trimmed.indexOf('=');
  if (equals < 0) throw new ImportError(file, line, 'expected "key = value"');
  const key = trimmed.slice(0, equals).trim();
  if (key === '') throw new ImportError(file, line, 'missing key before "="');
  if (/\s/.test(key)) throw new ImportError(file, line, `key ${JSON.stringify(key)} contains white space`);
  if (section === undefined) throw new ImportError(file, line, `key ${JSON.stringify(key)} is outside any [section]`);
  return {
    section,
    key: NAME_SECTIONS.has(section) ? key : key.toLowerCase(),
    value: trimmed.slice(equals + 1).trim(),
    file,
    line,
  };
}

function include(trimmed: string, file: string, line: number, state: ParseState): void {
  const match = /^%include\s+(\S.*)$/.exec(trimmed);
  if (!match) throw new ImportError(file, line, 'expected "%include <path>"');
  if (state.stack.length > MAX_INCLUDE_DEPTH) {
    throw new ImportError(file, line, `%include nested deeper than ${MAX_INCLUDE_DEPTH} files`);
  }
  // Relative to the including file, so a config tree can be moved as a whole.
  const target = resolve(dirname(file), match[1]!);
  if (state.stack.includes(target))
    throw new ImportError(file, line, `%include cycle: ${target} is already being read`);
  let text: string;
  try {
    text = state.readText(target);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ImportError(file, line, `cannot %include ${target}: ${reason}`);
  }
  state.stack.push(target);
  parseInto(text, target, state);
  state.stack.pop();
}

/** PgBouncer's connection string in `[databases]`: `host=x port=5432 dbname='my db'`, where a
 *  single-quoted value may hold spaces and `''` stands for one quote. Later keys win. */
export function parseConnectionString(text: string, file: string, line: number): Map<string, string> {
  const params = new Map<string, string>();
  let at = 0;
  const skipSpace = (): void => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  for (;;) {
    skipSpace();
    if (at >= text.length) return params;
    const keyStart = at;
    while (at < text.length && /[A-Za-z0-9_]/.test(text[at]!)) at++;
    const key = text.slice(keyStart, at).toLowerCase();
    if (key === '')
      throw new ImportError(
        file,
        line,
        `unexpected ${JSON.stringify(text[at])} in connection string at column ${at + 1}`,
      );
    skipSpace();
    if (text[at] !== '=')
      throw new ImportError(file, line, `expected "=" after ${JSON.stringify(key)} in connection string`);
    at++;
    skipSpace();
    const value = text[at] === "'" ? readQuotedValue() : readBareValue();
    params.set(key, value);
  }

  function readQuotedValue(): string {
    let value = '';
    at++;
    for (;;) {
      const quote = text.indexOf("'", at);
      if (quote < 0) throw new ImportError(file, line, 'unterminated quoted value in connection string');
      value += text.slice(at, quote);
      at = quote + 1;
      if (text[at] !== "'") return value;
      value += "'";
      at++;
    }
  }

  function readBareValue(): string {
    const start = at;
    while (at < text.length && !/\s/.test(text[at]!)) at++;
    return text.slice(start, at);
  }
}
