// smol-toml reports no positions for values, so problems are tied to lines by a light scan of
// the text for table headers and `key =` lines. It is a hint for humans: a construct it does
// not follow (a key inside a multi-line inline value) only costs the line number.
import { renderPath, type Path } from './problems.js';

/** Returns a lookup from a path to the line that defines it, or failing that, the line that
 *  defines its nearest enclosing table or key. Lines count from 1. */
export function keyLines(text: string): (path: Path) => number | undefined {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  const remember = (path: Path, line: number): void => {
    for (let n = 1; n <= path.length; n++) {
      const key = renderPath(path.slice(0, n));
      if (!lines.has(key)) lines.set(key, line);
    }
  };

  let table: Path = [];
  let openString: string | undefined;
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const lineNo = index + 1;
    if (openString !== undefined) {
      if (rawLine.includes(openString)) openString = undefined;
      return;
    }
    const line = rawLine.trimStart();
    if (line.startsWith('[[')) {
      const key = readKey(line, 2);
      if (key === undefined || !line.startsWith(']]', key.end)) return;
      const arrayKey = renderPath(key.segments);
      const position = arrayCounts.get(arrayKey) ?? 0;
      arrayCounts.set(arrayKey, position + 1);
      table = [...key.segments, position];
      remember(table, lineNo);
    } else if (line.startsWith('[')) {
      const key = readKey(line, 1);
      if (key === undefined || line[key.end] !== ']') return;
      table = key.segments;
      remember(table, lineNo);
    } else {
      const key = readKey(line, 0);
      if (key === undefined || line[key.end] !== '=') return;
      remember([...table, ...key.segments], lineNo);
      openString = multiLineStringOpened(line.slice(key.end + 1));
    }
  });

  return (path) => {
    for (let n = path.length; n > 0; n--) {
      const line = lines.get(renderPath(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return undefined;
  };
}

/** A dotted TOML key starting at `start`, and the position after it and any blanks. */
function readKey(line: string, start: number): { segments: string[]; end: number } | undefined {
  const segments: string[] = [];
  let i = skipBlanks(line, start);
  for (;;) {
    const quote = line[i];
    if (quote === '"' || quote === "'") {
      const close = findClosingQuote(line, i + 1, quote);
      if (close < 0) return undefined;
      segments.push(unquote(line.slice(i, close + 1), quote));
      i = close + 1;
    } else {
      const bare = /^[A-Za-z0-9_-]+/.exec(line.slice(i));
      if (!bare) return undefined;
      segments.push(bare[0]);
      i += bare[0].length;
    }
    i = skipBlanks(line, i);
    if (line[i] !== '.') return { segments, end: i };
    i = skipBlanks(line, i + 1);
  }
}

function findClosingQuote(line: string, from: number, quote: string): number {
  for (let i = from; i < line.length; i++) {
    if (quote === '"' && line[i] === '\\') i++;
    else if (line[i] === quote) return i;
  }
  return -1;
}

function unquote(quoted: string, quote: string): string {
  if (quote === "'") return quoted.slice(1, -1);
  try {
    return JSON.parse(quoted) as string;
  } catch {
    // TOML escapes JSON lacks (\e, \xHH, \UXXXXXXXX): the raw text is close enough to locate.
    return quoted.slice(1, -1);
  }
}

function skipBlanks(line: string, i: number): number {
  while (line[i] === ' ' || line[i] === '\t') i++;
  return i;
}

/** The delimiter of a multi-line string that a value opens and does not close on its line. */
function multiLineStringOpened(value: string): string | undefined {
  const opening = /"""|'''/.exec(value);
  if (opening === null) return undefined;
  return value.includes(opening[0], opening.index + 3) ? undefined : opening[0];
}
