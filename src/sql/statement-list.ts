// Where SQL text reads pg_prepared_statements. Through pgtide a server's list holds the shared
// copies of every client of the pool under pgtide's names, not the client's own statements;
// clients read the list to learn what they prepared (psycopg's and pgx's tests, hasql, PHP code
// that checks for a name before pg_prepare), so pgtide puts the client's own list in its place.
import { Lexer, Tok } from './lexer.js';

const VIEW = 'pg_prepared_statements';

/** A reference to the view, as a relation, that pgtide replaces. */
export interface StatementListReference {
  /** The bytes to replace: the view's name, with its `pg_catalog.` qualifier when written. */
  readonly start: number;
  readonly end: number;
  /** An alias follows: the replacement must not bring its own. */
  readonly aliased: boolean;
  /** The reference is the relation of a TABLE command, whose keyword the bytes begin with:
   *  TABLE takes only a name, so the replacement is a whole SELECT. */
  readonly table: boolean;
}

/**
 * Words that may follow a relation in FROM without being its alias: PostgreSQL's reserved
 * keywords and those that may name only a function or type, which the grammar never takes as a
 * bare alias.
 */
const NOT_AN_ALIAS = new Set([
  'all',
  'analyse',
  'analyze',
  'and',
  'any',
  'array',
  'asc',
  'asymmetric',
  'authorization',
  'binary',
  'both',
  'case',
  'cast',
  'check',
  'collate',
  'collation',
  'column',
  'concurrently',
  'constraint',
  'create',
  'cross',
  'current_catalog',
  'current_date',
  'current_role',
  'current_schema',
  'current_time',
  'current_timestamp',
  'current_user',
  'default',
  'deferrable',
  'desc',
  'distinct',
  'do',
  'else',
  'end',
  'except',
  'false',
  'fetch',
  'for',
  'foreign',
  'freeze',
  'from',
  'full',
  'grant',
  'group',
  'having',
  'ilike',
  'in',
  'initially',
  'inner',
  'intersect',
  'into',
  'is',
  'isnull',
  'join',
  'lateral',
  'leading',
  'left',
  'like',
  'limit',
  'localtime',
  'localtimestamp',
  'natural',
  'not',
  'notnull',
  'null',
  'offset',
  'on',
  'only',
  'or',
  'order',
  'outer',
  'overlaps',
  'placing',
  'primary',
  'references',
  'returning',
  'right',
  'select',
  'session_user',
  'similar',
  'some',
  'symmetric',
  'system_user',
  'table',
  'tablesample',
  'then',
  'to',
  'trailing',
  'true',
  'union',
  'unique',
  'user',
  'using',
  'variadic',
  'verbose',
  'when',
  'where',
  'window',
  'with',
]);

/** Cheap test first: only texts holding "_statements" in any case are lexed. */
export function mayReadStatementList(buf: Buffer, start: number, end: number): boolean {
  for (let i = buf.indexOf(0x5f, start); i >= 0 && i + 11 <= end; i = buf.indexOf(0x5f, i + 1)) {
    if ((buf.readUInt32BE(i + 1) | 0x20202020) >>> 0 === STAT && (buf.readUInt32BE(i + 5) | 0x20202020) >>> 0 === EMEN)
      return true;
  }
  return false;
}

const STAT = 0x73746174,
  EMEN = 0x656d656e;

/** Whether the lexer's current token names the view (a word in any case, or the quoted name). */
export function namesStatementList(lx: Lexer, tok: Tok): boolean {
  if (tok === Tok.Word) return lx.tokEnd - lx.tokStart === VIEW.length && lx.is(VIEW);
  // The length first: ORMs quote every name, and name() makes a string.
  return tok === Tok.QuotedIdent && lx.tokEnd - lx.tokStart === VIEW.length + 2 && lx.name() === VIEW;
}

/**
 * The view's references as a relation in `buf[start, end)`, in order; null when there are none.
 * A name followed by `.` qualifies a column, by `(` calls a function: neither is the view. One
 * qualified by another schema than pg_catalog is another relation. A statement that keeps its
 * text (CREATE VIEW, CREATE FUNCTION, ALTER ...) keeps the view: the client's list of the moment
 * would be kept with it, for every session.
 */
export function findStatementLists(buf: Buffer, start: number, end: number): StatementListReference[] | null {
  if (!mayReadStatementList(buf, start, end)) return null;
  const lx = new Lexer();
  lx.reset(buf, start, end);
  let found: StatementListReference[] | null = null;
  // The three tokens before the current one, latest first: enough for `TABLE pg_catalog . name`.
  const kinds = [Tok.End, Tok.End, Tok.End];
  const starts = [-1, -1, -1];
  const words = [Word.Other, Word.Other, Word.Other];
  let atStatementStart = true;
  let keepsText = false;
  let tok = lx.next();
  while (tok !== Tok.End && tok !== Tok.Error) {
    if (tok === Tok.Semicolon && lx.depth === 0) {
      atStatementStart = true;
      tok = lx.next();
      continue;
    }
    if (atStatementStart) {
      atStatementStart = false;
      keepsText = tok === Tok.Word && (lx.is('create') || lx.is('alter'));
    }
    if (keepsText) {
      tok = lx.next();
      continue;
    }
    if (namesStatementList(lx, tok)) {
      const qualified = kinds[0] === Tok.Dot;
      const before = qualified ? 2 : 0;
      const refEnd = lx.tokEnd;
      let refStart = qualified ? starts[1]! : lx.tokStart;
      const table = words[before] === Word.Table;
      if (table) refStart = starts[before]!;
      tok = lx.next();
      if ((!qualified || words[1] === Word.Catalog) && tok !== Tok.Dot && tok !== Tok.LParen) {
        (found ??= []).push({ start: refStart, end: refEnd, aliased: !table && isAlias(lx, tok), table });
      }
      kinds[0] = kinds[1] = kinds[2] = Tok.End;
      words[0] = words[1] = words[2] = Word.Other;
      continue;
    }
    for (let i = 2; i > 0; i--) {
      kinds[i] = kinds[i - 1]!;
      starts[i] = starts[i - 1]!;
      words[i] = words[i - 1]!;
    }
    kinds[0] = tok;
    starts[0] = lx.tokStart;
    words[0] = wordOf(lx, tok);
    tok = lx.next();
  }
  // A backslash before a closing quote: with standard_conforming_strings = off the server reads
  // the text otherwise (a name found here may be inside a string): it goes as it is.
  return lx.backslashQuote ? null : found;
}

const enum Word {
  Other,
  Catalog,
  Table,
}

function wordOf(lx: Lexer, tok: Tok): Word {
  if (tok === Tok.Word) return lx.is('pg_catalog') ? Word.Catalog : lx.is('table') ? Word.Table : Word.Other;
  return tok === Tok.QuotedIdent && lx.name() === 'pg_catalog' ? Word.Catalog : Word.Other;
}

/** The token after a relation is its alias: AS, a quoted name, or a word the grammar takes as one. */
function isAlias(lx: Lexer, tok: Tok): boolean {
  return tok === Tok.QuotedIdent || (tok === Tok.Word && !NOT_AN_ALIAS.has(lx.name()));
}
