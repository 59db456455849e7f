// Tier 1 of the classifier: decides one statement from its tokens. Writes are
// decided on the first keyword (a bulk INSERT is only scanned for its end);
// candidate reads are scanned in full for anything that could make them write.
// Where only the real grammar can tell (a call to a function the policy does
// not know to be read-only), the statement's candidate calls are handed on.

import type { Isolation, Route, SessionState, SettingChange, StatementKind } from './classification.js';
import { isBuiltinRead, isBuiltinWriter, sessionStateOfCall } from './functions.js';
import { type Lexer, Tok } from './lexer.js';

/** Deeper nesting (EXPLAIN EXPLAIN ..., PREPARE ... AS EXPLAIN ...) is not valid SQL anyway. */
const MAX_NESTING = 8;

/**
 * Words that precede '(' without being a function call. Only reserved and
 * column-name keywords: the grammar forbids them as function names, so this
 * can never hide a call (unreserved ones like OVER, CUBE or LIKE can name a
 * user's function and are left to the parser).
 */
const NOT_A_CALL = new Set([
  'all', 'and', 'any', 'array', 'as', 'between', 'case', 'cast', 'coalesce', 'default',
  'distinct', 'else', 'except', 'exists', 'from', 'greatest', 'group', 'grouping', 'having',
  'in', 'intersect', 'lateral', 'least', 'limit', 'not', 'nullif', 'offset', 'on', 'only',
  'or', 'order', 'returning', 'row', 'select', 'some', 'table', 'then', 'to', 'treat',
  'union', 'using', 'values', 'when', 'where', 'window', 'with',
  // type names taking modifiers, as in CAST(x AS varchar(10)) or x::numeric(10, 2)
  'bit', 'char', 'character', 'dec', 'decimal', 'float', 'interval', 'nchar', 'numeric',
  'time', 'timestamp', 'varchar',
]);

/** Mutable per-statement result of tier 1; reused to keep the hot path allocation-free. */
export class Draft {
  kind: StatementKind = 'other';
  route: Route = 'write';
  readOnly: boolean | undefined;
  isolation: Isolation | undefined;
  chain: boolean | undefined;
  name: string | undefined;
  all: boolean | undefined;
  discard: 'all' | 'plans' | 'sequences' | 'temp' | undefined;
  set: SettingChange | undefined;
  sessionState: SessionState | undefined;
  copyOut: boolean | undefined;
  pgtideRoute: 'primary' | 'standby' | 'auto' | undefined;
  /** Calls whose write-ness depends on the function policy, as the lexer read them. */
  calls: string[] | undefined;
  /** A call the lexer cannot name reliably (quoted or 3-part name): the parser must look. */
  uncertainCalls = false;
  /** Runs code the classifier cannot see into (see Classification.opaque). */
  opaque = false;
  /** Why the statement cannot be trusted; it will be routed as a write. */
  invalid: string | undefined;

  reset(): void {
    this.kind = 'other';
    this.route = 'write';
    this.readOnly = this.isolation = this.chain = this.name = this.all = undefined;
    this.discard = this.set = this.sessionState = this.copyOut = this.pgtideRoute = undefined;
    this.calls = undefined;
    this.uncertainCalls = false;
    this.opaque = false;
    this.invalid = undefined;
  }
}

function isEnd(lx: Lexer, tok: Tok, base: number): boolean {
  return tok === Tok.Semicolon || tok === Tok.End || tok === Tok.Error || (tok === Tok.RParen && lx.depth < base);
}

function skipToEnd(lx: Lexer, tok: Tok, base: number): Tok {
  while (!isEnd(lx, tok, base)) tok = lx.next();
  return tok;
}

/** Name of the last identifier before the statement end (cursor, savepoint, channel). */
function lastName(lx: Lexer, tok: Tok, base: number, d: Draft): Tok {
  while (!isEnd(lx, tok, base)) {
    if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
    tok = lx.next();
  }
  return tok;
}

function isOp(lx: Lexer, tok: Tok, byte: number): boolean {
  return tok === Tok.Op && lx.buf[lx.tokStart] === byte;
}

/** Skips a parenthesised list whose '(' is the current token; returns the token after ')'. */
function skipParens(lx: Lexer, d: Draft): Tok {
  const outside = lx.depth - 1;
  let tok = lx.next();
  while (!(tok === Tok.RParen && lx.depth === outside)) {
    if (tok === Tok.Semicolon || tok === Tok.End || tok === Tok.Error) {
      d.invalid ??= 'unbalanced parentheses';
      return tok;
    }
    tok = lx.next();
  }
  return lx.next();
}

/**
 * Classifies the statement whose first token is `tok` into `d` and returns
 * the token that ended it (';', End, Error, or the ')' closing `base`).
 */
export function analyzeStatement(lx: Lexer, d: Draft, tok: Tok, base: number, level = 0): Tok {
  if (level > MAX_NESTING) {
    d.invalid = 'statement nested too deeply';
    return skipToEnd(lx, tok, base);
  }
  if (tok === Tok.LParen) return scanQuery(lx, d, tok, base, 'select');
  if (tok !== Tok.Word) return skipToEnd(lx, tok, base);
  switch (lx.name()) {
    case 'select': case 'values': case 'table': case 'with':
      return scanQuery(lx, d, lx.next(), base, 'select');
    case 'insert': case 'update': case 'delete': case 'merge':
      return write(lx, d, 'dml', base);
    case 'create':
      return create(lx, d, base);
    case 'alter': case 'drop': case 'truncate': case 'grant': case 'revoke': case 'comment':
    case 'security': case 'import': case 'reassign':
      return write(lx, d, 'ddl', base);
    case 'vacuum': case 'analyze': case 'analyse': case 'cluster': case 'reindex': case 'refresh':
    case 'checkpoint': case 'lock':
      return write(lx, d, 'utility', base);
    case 'call': case 'do':
      d.opaque = true;
      return write(lx, d, 'utility', base);
    case 'load':
      d.sessionState = 'load';
      return write(lx, d, 'utility', base);
    case 'notify':
      return write(lx, d, 'notify', base);
    case 'listen': case 'unlisten':
      return listen(lx, d, base);
    case 'copy':
      return copy(lx, d, base, level);
    case 'explain':
      return explain(lx, d, base, level);
    case 'begin':
      d.kind = 'begin';
      return transactionModes(lx, d, lx.next(), base);
    case 'start':
      tok = lx.next();
      if (!lx.is('transaction')) return write(lx, d, 'other', base, tok);
      d.kind = 'begin';
      return transactionModes(lx, d, lx.next(), base);
    case 'commit': case 'end':
      return endTransaction(lx, d, base, 'commit');
    case 'rollback': case 'abort':
      return endTransaction(lx, d, base, 'rollback');
    case 'savepoint': case 'release':
      d.kind = 'savepoint';
      d.route = 'read';
      return lastName(lx, lx.next(), base, d);
    case 'prepare':
      return prepare(lx, d, base, level);
    case 'execute':
      // Which server the prepared statement needs is known only to whoever
      // tracked its PREPARE (see `name`); on its own it must go to the primary.
      tok = lx.next();
      if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
      return write(lx, d, 'execute', base, tok);
    case 'deallocate':
      return deallocate(lx, d, base);
    case 'declare':
      return declare(lx, d, base, level);
    case 'fetch': case 'move': case 'close': {
      const close = lx.is('close');
      d.kind = 'cursor';
      d.route = 'read';
      tok = lx.next();
      if (close && lx.is('all')) {
        d.all = true;
        return skipToEnd(lx, tok, base);
      }
      return lastName(lx, tok, base, d);
    }
    case 'show':
      d.kind = 'show';
      d.route = 'read';
      tok = lx.next();
      if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
      return skipToEnd(lx, tok, base);
    case 'set':
      return set(lx, d, base);
    case 'reset':
      return reset(lx, d, base);
    case 'discard':
      return discard(lx, d, base);
    default:
      return write(lx, d, 'other', base);
  }
}

function write(lx: Lexer, d: Draft, kind: StatementKind, base: number, tok = lx.next()): Tok {
  d.kind = kind;
  d.route = 'write';
  return skipToEnd(lx, tok, base);
}

function create(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'ddl';
  d.route = 'write';
  let tok = lx.next();
  if (lx.is('or')) {
    tok = lx.next();
    if (lx.is('replace')) tok = lx.next();
  }
  if (lx.is('local') || lx.is('global')) tok = lx.next();
  if (lx.is('temp') || lx.is('temporary')) d.sessionState = 'temp_table';
  // A SQL-standard function body (BEGIN ATOMIC ... END) contains ';'. Count
  // BEGIN/CASE against END the way psql does to find the real end.
  let blockDepth = 0;
  for (;;) {
    if (tok === Tok.Word) {
      if (lx.is('begin') || lx.is('case')) blockDepth++;
      else if (lx.is('end') && blockDepth > 0) blockDepth--;
    } else if (tok === Tok.Semicolon && blockDepth > 0) {
      tok = lx.next();
      continue;
    }
    if (isEnd(lx, tok, base)) return tok;
    tok = lx.next();
  }
}

/** The words scanQuery reacts to. */
const enum Kw { None, As, Delete, For, Global, Insert, Into, Key, Local, Merge, No, Recursive, Share, Temp, Update, With }

/** Classifies the current Word by its first byte first: most words are none of these. */
function queryKeyword(lx: Lexer): Kw {
  const len = lx.tokEnd - lx.tokStart;
  if (len < 2 || len > 9) return Kw.None;
  switch (lx.buf[lx.tokStart]! | 0x20) {
    case 0x61: return lx.is('as') ? Kw.As : Kw.None;
    case 0x64: return lx.is('delete') ? Kw.Delete : Kw.None;
    case 0x66: return lx.is('for') ? Kw.For : Kw.None;
    case 0x67: return lx.is('global') ? Kw.Global : Kw.None;
    case 0x69: return lx.is('into') ? Kw.Into : lx.is('insert') ? Kw.Insert : Kw.None;
    case 0x6b: return lx.is('key') ? Kw.Key : Kw.None;
    case 0x6c: return lx.is('local') ? Kw.Local : Kw.None;
    case 0x6d: return lx.is('merge') ? Kw.Merge : Kw.None;
    case 0x6e: return lx.is('no') ? Kw.No : Kw.None;
    case 0x72: return lx.is('recursive') ? Kw.Recursive : Kw.None;
    case 0x73: return lx.is('share') ? Kw.Share : Kw.None;
    case 0x74: return lx.is('temp') || lx.is('temporary') ? Kw.Temp : Kw.None;
    case 0x75: return lx.is('update') ? Kw.Update : Kw.None;
    case 0x77: return lx.is('with') ? Kw.With : Kw.None;
    default: return Kw.None;
  }
}

/**
 * Scans a query (SELECT / VALUES / TABLE / WITH ...) to its end for what can
 * make it a write: locking clauses, INTO, data-modifying CTEs and calls.
 */
function scanQuery(lx: Lexer, d: Draft, tok: Tok, base: number, kind: StatementKind): Tok {
  d.kind = kind;
  d.route = 'read';
  let prev = Tok.End, prev2 = Tok.End;
  let wordStart = -1, wordEnd = -1, qualStart = -1, qualEnd = -1;
  let wordIsNameOrType = false, wordQualified = false, wordQualUnknown = false, prevIntroducesName = false;
  let afterFor = false, afterInto = false;
  while (!isEnd(lx, tok, base)) {
    if (tok === Tok.Word) {
      const kw = queryKeyword(lx);
      if (afterFor && (kw === Kw.Update || kw === Kw.Share || kw === Kw.No || kw === Kw.Key)) {
        d.route = 'write'; // FOR UPDATE / SHARE / NO KEY UPDATE / KEY SHARE
      } else if (kw === Kw.Into) {
        d.route = 'write'; // SELECT INTO creates a table
      } else if (kw === Kw.Insert || kw === Kw.Update || kw === Kw.Delete || kw === Kw.Merge) {
        d.route = 'write'; // a data-modifying CTE, or WITH ... INSERT
        d.kind = 'dml';
      } else if (afterInto && (kw === Kw.Temp || kw === Kw.Local || kw === Kw.Global)) {
        d.sessionState ??= 'temp_table';
      }
      afterFor = kw === Kw.For || (afterFor && (kw === Kw.No || kw === Kw.Key));
      afterInto = kw === Kw.Into;
      // x::numeric(10, 2), CAST(x AS varchar(9)), AS alias(a, b), WITH [RECURSIVE] cte(a) AS,
      // and after ')': f(x) alias(a, b), count(*) OVER (...), FILTER (...). A call
      // never directly follows ')' in valid SQL.
      wordIsNameOrType = prev === Tok.DoubleColon || prev === Tok.RParen || (prev === Tok.Word && prevIntroducesName);
      const qualifies = prev === Tok.Dot && prev2 === Tok.Word;
      // "schema".f(...), (expr).f(...) or a.b.c(...): only the parser can name the function.
      wordQualUnknown = prev === Tok.Dot && (!qualifies || wordQualified);
      if (qualifies) {
        qualStart = wordStart;
        qualEnd = wordEnd;
      }
      wordQualified = qualifies;
      wordStart = lx.tokStart;
      wordEnd = lx.tokEnd;
      prevIntroducesName = kw === Kw.As || kw === Kw.With || kw === Kw.Recursive;
    } else {
      afterFor = afterInto = false;
      if (tok === Tok.LParen && prev === Tok.Word && wordQualUnknown) {
        d.uncertainCalls = true;
        d.opaque = true;
      } else if (tok === Tok.LParen && prev === Tok.Word && !wordIsNameOrType) {
        const bare = lx.text(wordStart, wordEnd).toLowerCase();
        const name = wordQualified ? `${lx.text(qualStart, qualEnd).toLowerCase()}.${bare}` : bare;
        if (wordQualified || !NOT_A_CALL.has(name)) {
          const after = call(lx, d, name);
          if (after !== undefined) {
            prev = prev2 = Tok.End;
            tok = after;
            continue;
          }
        }
      } else if (tok === Tok.LParen && prev === Tok.QuotedIdent) {
        d.uncertainCalls = true;
        d.opaque = true;
      }
    }
    prev2 = prev;
    prev = tok;
    tok = lx.next();
  }
  return tok;
}

/** Named like PostgreSQL's own functions: qualified by pg_catalog, or pg_-prefixed (catalog and
 *  statistics functions, which many tools' queries call, and which set nothing). */
function isCatalogName(name: string): boolean {
  return name.startsWith('pg_catalog.') || (name.startsWith('pg_') && !name.includes('.'));
}

/**
 * Records a call to `name` (the current token is its '('). Returns the token
 * to continue from when it consumed the arguments (set_config), else undefined.
 */
function call(lx: Lexer, d: Draft, name: string): Tok | undefined {
  if (isBuiltinRead(name)) return undefined;
  if (!isBuiltinWriter(name)) {
    (d.calls ??= []).push(name);
    if (!isCatalogName(name)) d.opaque = true;
    return undefined;
  }
  d.route = 'write';
  const state = sessionStateOfCall(name);
  if (state === undefined) return undefined;
  d.sessionState ??= state;
  return state === 'set_config' ? setConfigArgs(lx, d) : undefined;
}

/** set_config('name', value, is_local) → d.set: the name when it is a literal (value null and
 *  local false unless they are literals too, e.g. a parameter), so the setting can be followed. */
function setConfigArgs(lx: Lexer, d: Draft): Tok {
  let tok = lx.next();
  const name = lx.plainStringValue();
  if (name === undefined || (tok = lx.next()) !== Tok.Comma) return tok;
  const first = d.set === undefined;
  if (first) d.set = { name: name.toLowerCase(), value: null, local: false };
  tok = lx.next();
  const value = lx.plainStringValue();
  if (value === undefined || (tok = lx.next()) !== Tok.Comma) return tok;
  tok = lx.next();
  const local = lx.is('true') ? true : lx.is('false') ? false : undefined;
  if (local === undefined || (tok = lx.next()) !== Tok.RParen) return tok;
  if (first) d.set = { name: name.toLowerCase(), value: `'${value.replaceAll("'", "''")}'`, local };
  return lx.next();
}

function listen(lx: Lexer, d: Draft, base: number): Tok {
  const unlisten = lx.is('unlisten');
  d.kind = 'listen';
  d.route = 'write'; // a standby cannot LISTEN: "cannot execute LISTEN during recovery"
  d.sessionState = unlisten ? 'unlisten' : 'listen';
  const tok = lx.next();
  if (unlisten && isOp(lx, tok, 0x2a)) d.all = true;
  else if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
  return skipToEnd(lx, tok, base);
}

function copy(lx: Lexer, d: Draft, base: number, level: number): Tok {
  let tok = lx.next();
  let route: Route = 'read';
  if (tok === Tok.LParen) {
    // COPY (query) TO ...: the query may itself write (INSERT ... RETURNING).
    const inner = lx.depth;
    tok = analyzeStatement(lx, d, lx.next(), inner, level + 1);
    if (tok !== Tok.RParen) return skipToEnd(lx, tok, base);
    route = d.route;
    tok = lx.next();
  }
  d.kind = 'copy';
  d.route = 'write';
  const depth = lx.depth;
  while (!isEnd(lx, tok, base)) {
    if (lx.depth === depth && lx.is('from')) break;
    if (lx.depth === depth && lx.is('to')) {
      tok = lx.next();
      // COPY TO a server file or program writes on that server: the primary.
      if (lx.is('stdout')) {
        d.copyOut = true;
        d.route = route;
      }
      break;
    }
    tok = lx.next();
  }
  return skipToEnd(lx, tok, base);
}

function explain(lx: Lexer, d: Draft, base: number, level: number): Tok {
  let tok = lx.next();
  if (tok === Tok.LParen) {
    tok = skipParens(lx, d);
  } else {
    while (lx.is('analyze') || lx.is('analyse') || lx.is('verbose')) tok = lx.next();
  }
  // Without ANALYZE the statement is only planned, but routing it like the
  // statement itself is the conservative choice and costs nothing.
  tok = analyzeStatement(lx, d, tok, base, level + 1);
  d.kind = 'explain';
  return tok;
}

function transactionModes(lx: Lexer, d: Draft, tok: Tok, base: number): Tok {
  let prevRead = false;
  while (!isEnd(lx, tok, base)) {
    if (prevRead && lx.is('only')) d.readOnly = true;
    else if (prevRead && lx.is('write')) d.readOnly = false;
    else if (prevRead && lx.is('committed')) d.isolation = 'read committed';
    else if (prevRead && lx.is('uncommitted')) d.isolation = 'read uncommitted';
    else if (lx.is('serializable')) d.isolation = 'serializable';
    else if (lx.is('repeatable')) d.isolation = 'repeatable read';
    prevRead = lx.is('read');
    tok = lx.next();
  }
  // Only a READ ONLY transaction may start on a standby, and standbys refuse
  // SERIALIZABLE ("cannot use serializable mode in a hot standby").
  const standbyCapable = d.readOnly === true && d.isolation !== 'serializable';
  d.route = d.kind !== 'begin' || standbyCapable ? 'read' : 'write';
  return tok;
}

function endTransaction(lx: Lexer, d: Draft, base: number, kind: 'commit' | 'rollback'): Tok {
  d.kind = kind;
  d.route = 'read';
  let tok = lx.next();
  if (lx.is('prepared')) {
    d.kind = 'two_phase';
    d.route = 'write';
    return skipToEnd(lx, tok, base);
  }
  let and = false, no = false;
  while (!isEnd(lx, tok, base)) {
    if (kind === 'rollback' && lx.is('to')) {
      d.kind = 'savepoint';
      return lastName(lx, lx.next(), base, d);
    }
    if (and && lx.is('chain')) d.chain = !no;
    if (lx.is('and')) and = true;
    if (and && lx.is('no')) no = true;
    tok = lx.next();
  }
  return tok;
}

function prepare(lx: Lexer, d: Draft, base: number, level: number): Tok {
  let tok = lx.next();
  if (lx.is('transaction')) {
    tok = lx.next();
    if (tok === Tok.String) return write(lx, d, 'two_phase', base, tok);
    d.name = 'transaction';
  } else if (tok === Tok.Word || tok === Tok.QuotedIdent) {
    d.name = lx.name();
    tok = lx.next();
  } else {
    return write(lx, d, 'other', base, tok);
  }
  if (tok === Tok.LParen) tok = skipParens(lx, d);
  if (!lx.is('as')) return write(lx, d, 'other', base, tok);
  const name = d.name;
  // The route is the inner statement's: what EXECUTE of it will need.
  tok = analyzeStatement(lx, d, lx.next(), base, level + 1);
  d.kind = 'prepare';
  d.name = name;
  d.sessionState = 'sql_prepare';
  return tok;
}

function deallocate(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'deallocate';
  d.route = 'read';
  let tok = lx.next();
  if (lx.is('prepare')) tok = lx.next();
  if (lx.is('all')) d.all = true;
  else if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
  return skipToEnd(lx, tok, base);
}

function declare(lx: Lexer, d: Draft, base: number, level: number): Tok {
  let tok = lx.next();
  if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return write(lx, d, 'other', base, tok);
  const name = lx.name();
  let hold = false, prevWith = false;
  tok = lx.next();
  while (!isEnd(lx, tok, base) && !lx.is('for')) {
    if (prevWith && lx.is('hold')) hold = true;
    prevWith = lx.is('with');
    tok = lx.next();
  }
  if (!lx.is('for')) return write(lx, d, 'other', base, tok);
  tok = analyzeStatement(lx, d, lx.next(), base, level + 1);
  d.kind = 'cursor';
  d.name = name;
  if (hold) d.sessionState = 'hold_cursor';
  return tok;
}

/** The value tokens up to the statement end, as SQL text; null for a lone word of `nullWords`. */
function settingValue(lx: Lexer, tok: Tok, base: number, nullWords: readonly string[]): { value: string | null | undefined; tok: Tok } {
  if (isEnd(lx, tok, base)) return { value: undefined, tok };
  const start = lx.tokStart;
  const nullWord = nullWords.some((w) => lx.is(w));
  let end = lx.tokEnd, count = 0;
  while (!isEnd(lx, tok, base)) {
    end = lx.tokEnd;
    count++;
    tok = lx.next();
  }
  return { value: nullWord && count === 1 ? null : lx.text(start, end), tok };
}

interface SpecialSetting {
  readonly words: readonly string[];
  readonly name: string;
  /** Values meaning "back to the default" (TIME ZONE LOCAL, ROLE NONE are SQL spellings of it). */
  readonly nullWords: readonly string[];
}

const SPECIAL_SETTINGS: readonly SpecialSetting[] = [
  { words: ['time', 'zone'], name: 'timezone', nullWords: ['default', 'local'] },
  { words: ['names'], name: 'client_encoding', nullWords: ['default'] },
  { words: ['schema'], name: 'search_path', nullWords: [] },
  { words: ['role'], name: 'role', nullWords: ['none'] },
  { words: ['session', 'authorization'], name: 'session_authorization', nullWords: ['default'] },
  { words: ['xml', 'option'], name: 'xmloption', nullWords: ['default'] },
];

const GENERIC_NULL_WORDS = ['default'];

type LexerState = readonly [pos: number, tok: Tok, start: number, end: number, depth: number];

function saveLexer(lx: Lexer): LexerState {
  return [lx.pos, lx.tok, lx.tokStart, lx.tokEnd, lx.depth];
}

function restoreLexer(lx: Lexer, s: LexerState): void {
  [lx.pos, lx.tok, lx.tokStart, lx.tokEnd, lx.depth] = s;
}

/** Matches one of SPECIAL_SETTINGS at the current token, consuming its words. */
function specialSetting(lx: Lexer): SpecialSetting | undefined {
  for (const special of SPECIAL_SETTINGS) {
    const [first, second] = special.words;
    if (!lx.is(first!)) continue;
    if (second === undefined) { lx.next(); return special; }
    const save = saveLexer(lx);
    lx.next();
    if (lx.is(second)) { lx.next(); return special; }
    restoreLexer(lx, save);
  }
  return undefined;
}

/**
 * The setting named at the current token: special SQL spellings (TIME ZONE,
 * NAMES, ...) or a possibly qualified name. Leaves the lexer on the token after it.
 */
function setting(lx: Lexer): { name: string; nullWords: readonly string[] } | undefined {
  const special = specialSetting(lx);
  if (special) return special;
  let tok = lx.tok;
  if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return undefined;
  let name = lx.name();
  tok = lx.next();
  while (tok === Tok.Dot) {
    tok = lx.next();
    if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return undefined;
    name += `.${lx.name()}`;
    tok = lx.next();
  }
  return { name: name.toLowerCase(), nullWords: GENERIC_NULL_WORDS };
}

function set(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'set';
  d.route = 'read';
  let tok = lx.next();
  let local = false;
  if (lx.is('local')) {
    local = true;
    tok = lx.next();
  } else if (lx.is('session')) {
    const save = saveLexer(lx);
    tok = lx.next();
    if (lx.is('characteristics')) {
      d.kind = 'set_transaction';
      d.sessionState = 'transaction_characteristics';
      return transactionModes(lx, d, lx.next(), base);
    }
    if (lx.is('authorization')) {
      restoreLexer(lx, save);
      tok = lx.tok;
    }
  }
  if (lx.is('transaction')) {
    d.kind = 'set_transaction';
    return transactionModes(lx, d, lx.next(), base);
  }
  if (lx.is('constraints')) return skipToEnd(lx, tok, base); // transaction-scoped, nothing to track
  const named = setting(lx);
  if (named === undefined) return write(lx, d, 'other', base, lx.tok);
  tok = lx.tok;
  if (isOp(lx, tok, 0x3d) || lx.is('to')) tok = lx.next();
  const { value, tok: end } = settingValue(lx, tok, base, named.nullWords);
  if (value === undefined) return write(lx, d, 'other', base, end);
  d.set = { name: named.name, value, local };
  if (named.name.startsWith('pgtide.')) pgtideSetting(d, named.name, value);
  return end;
}

/** `SET pgtide.route = primary|standby|auto`: pgtide's own session command. */
function pgtideSetting(d: Draft, name: string, value: string | null): void {
  d.kind = 'pgtide';
  const unquoted = value === null ? 'auto' : value.replace(/^'(.*)'$/s, '$1').toLowerCase();
  if (name === 'pgtide.route' && (unquoted === 'primary' || unquoted === 'standby' || unquoted === 'auto')) {
    d.pgtideRoute = unquoted;
  }
}

function reset(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'reset';
  d.route = 'read';
  lx.next();
  if (lx.is('all')) {
    d.all = true;
    return skipToEnd(lx, lx.next(), base);
  }
  const named = setting(lx);
  if (named === undefined) return write(lx, d, 'other', base, lx.tok);
  d.set = { name: named.name, value: null, local: false };
  if (named.name.startsWith('pgtide.')) pgtideSetting(d, named.name, null);
  return skipToEnd(lx, lx.tok, base);
}

function discard(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'discard';
  d.route = 'read';
  const tok = lx.next();
  if (lx.is('all')) { d.discard = 'all'; d.all = true; }
  else if (lx.is('plans')) d.discard = 'plans';
  else if (lx.is('sequences')) d.discard = 'sequences';
  else if (lx.is('temp') || lx.is('temporary')) d.discard = 'temp';
  else return write(lx, d, 'other', base, tok);
  return skipToEnd(lx, lx.next(), base);
}
