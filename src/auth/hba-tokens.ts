// pg_hba.conf's lexical layer, as PostgreSQL reads it: fields split at white space, each
// field a comma list of tokens; double quotes group text (`""` inside them is one `"`) and
// make a keyword (`all`) a plain name; `#` outside quotes ends the line; a backslash at the end
// of a line joins the next one. `@file` tokens are expanded by the caller (hba.ts), which owns
// file reading.

export interface HbaToken {
  text: string;
  /** Any part was quoted: the token is a name, never a keyword. */
  quoted: boolean;
}

export interface HbaLineFields {
  /** 1-based number of the line's first physical line. */
  line: number;
  /** The raw text (continuations joined), for messages. */
  text: string;
  fields: HbaToken[][];
}

/** PostgreSQL's MAX_TOKEN: longer tokens are refused rather than truncated. */
export const MAX_TOKEN_LENGTH = 10240;

export class HbaSyntaxError extends Error {}

/** Every non-empty line of the file; a line with a bad token carries its error instead of fields. */
export function tokenizeHba(text: string): (HbaLineFields | { line: number; text: string; error: string })[] {
  const out: (HbaLineFields | { line: number; text: string; error: string })[] = [];
  const physical = text.replace(/^\uFEFF/, '').split('\n');
  for (let index = 0; index < physical.length; index++) {
    const first = index + 1;
    let joined = stripCr(physical[index]!);
    // The backslash must be the very last character (PostgreSQL 16's continuation rule).
    while (joined.endsWith('\\') && index + 1 < physical.length) {
      joined = joined.slice(0, -1) + stripCr(physical[++index]!);
    }
    try {
      const fields = splitFields(joined);
      if (fields.length > 0) out.push({ line: first, text: joined.trim(), fields });
    } catch (err) {
      if (!(err instanceof HbaSyntaxError)) throw err;
      out.push({ line: first, text: joined.trim(), error: err.message });
    }
  }
  return out;
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

const isBlank = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v';

/** One line's fields. A field is the tokens up to an unquoted blank not just after a comma. */
export function splitFields(line: string): HbaToken[][] {
  const fields: HbaToken[][] = [];
  const cursor = { at: 0 };
  for (;;) {
    const field: HbaToken[] = [];
    let more: boolean;
    do {
      const next = nextToken(line, cursor);
      if (next === null) break;
      field.push(next.token);
      more = next.comma;
    } while (more);
    if (field.length === 0) return fields;
    fields.push(field);
  }
}

function nextToken(line: string, cursor: { at: number }): { token: HbaToken; comma: boolean } | null {
  let at = cursor.at;
  // White space and stray commas before a token are skipped, as PostgreSQL does.
  while (at < line.length && (isBlank(line[at]) || line[at] === ',')) at++;
  let text = '';
  let inQuote = false;
  let sawQuote = false;
  let wasQuote = false;
  let comma = false;
  let started = false;
  while (at < line.length) {
    const c = line[at];
    if (!inQuote && isBlank(c)) break;
    at++;
    if (c === '#' && !inQuote) {
      at = line.length;
      break;
    }
    if (c === ',' && !inQuote) {
      comma = true;
      break;
    }
    started = true;
    if (c !== '"' || wasQuote) text += c;
    // Inside quotes, "" stands for one literal quote.
    wasQuote = inQuote && c === '"' ? !wasQuote : false;
    if (c === '"') {
      inQuote = !inQuote;
      sawQuote = true;
    }
    if (text.length > MAX_TOKEN_LENGTH) throw new HbaSyntaxError(`token longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  cursor.at = at;
  if (inQuote) throw new HbaSyntaxError('unterminated double quote');
  if (!started) return null;
  return { token: { text, quoted: sawQuote }, comma };
}
