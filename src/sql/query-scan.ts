// Tier 1 of the classifier for queries (SELECT, VALUES, TABLE, WITH): scanned to their end for
// what can make them write (locking clauses, INTO, data-modifying CTEs) and for the functions
// they call, which the function policy decides or hands on to the parser.

import { withSessionState, type StatementKind } from './classification.js';
import {
  backendSignalOfCall,
  isBuiltinRead,
  isBuiltinWriter,
  readsSequenceState,
  writesNoRows,
  sessionStateOfCall,
} from './functions.js';
import { CATALOG_FUNCTIONS } from './catalog-functions.js';
import { type Lexer, Tok } from './lexer.js';
import { type Draft, isEnd, isTempSchema } from './statement-draft.js';
import { namesStatementList } from './statement-list.js';

/**
 * Words that precede '(' without being a function call. Only reserved and
 * column-name keywords: the grammar forbids them as function names, so this
 * can never hide a call (unreserved ones like OVER, CUBE or LIKE can name a
 * user's function and are left to the parser).
 */
const NOT_A_CALL = new Set([
  'all',
  'and',
  'any',
  'array',
  'as',
  'between',
  'case',
  'cast',
  'coalesce',
  'default',
  'distinct',
  'else',
  'except',
  'exists',
  'from',
  'greatest',
  'group',
  'grouping',
  'having',
  'in',
  'intersect',
  'lateral',
  'least',
  'limit',
  'not',
  'nullif',
  'offset',
  'on',
  'only',
  'or',
  'order',
  'returning',
  'row',
  'select',
  'some',
  'table',
  'then',
  'to',
  'treat',
  'union',
  'using',
  'values',
  'when',
  'where',
  'window',
  'with',
  // type names taking modifiers, as in CAST(x AS varchar(10)) or x::numeric(10, 2)
  'bit',
  'char',
  'character',
  'dec',
  'decimal',
  'float',
  'interval',
  'nchar',
  'numeric',
  'time',
  'timestamp',
  'varchar',
]);

/** The words scanQuery reacts to. */
const enum Kw {
  None,
  As,
  Delete,
  For,
  Global,
  Insert,
  Into,
  Key,
  Local,
  Merge,
  No,
  Recursive,
  Share,
  Temp,
  Update,
  With,
}

/** Classifies the current Word by its first byte first: most words are none of these. */
function queryKeyword(lx: Lexer): Kw {
  const len = lx.tokEnd - lx.tokStart;
  if (len < 2 || len > 9) return Kw.None;
  switch (lx.buf[lx.tokStart]! | 0x20) {
    case 0x61:
      return lx.is('as') ? Kw.As : Kw.None;
    case 0x64:
      return lx.is('delete') ? Kw.Delete : Kw.None;
    case 0x66:
      return lx.is('for') ? Kw.For : Kw.None;
    case 0x67:
      return lx.is('global') ? Kw.Global : Kw.None;
    case 0x69:
      return lx.is('into') ? Kw.Into : lx.is('insert') ? Kw.Insert : Kw.None;
    case 0x6b:
      return lx.is('key') ? Kw.Key : Kw.None;
    case 0x6c:
      return lx.is('local') ? Kw.Local : Kw.None;
    case 0x6d:
      return lx.is('merge') ? Kw.Merge : Kw.None;
    case 0x6e:
      return lx.is('no') ? Kw.No : Kw.None;
    case 0x72:
      return lx.is('recursive') ? Kw.Recursive : Kw.None;
    case 0x73:
      return lx.is('share') ? Kw.Share : Kw.None;
    case 0x74:
      return lx.is('temp') || lx.is('temporary') ? Kw.Temp : Kw.None;
    case 0x75:
      return lx.is('update') ? Kw.Update : Kw.None;
    case 0x77:
      return lx.is('with') ? Kw.With : Kw.None;
    default:
      return Kw.None;
  }
}

/**
 * Scans a query (SELECT / VALUES / TABLE / WITH ...) to its end for what can
 * make it a write: locking clauses, INTO, data-modifying CTEs and calls.
 */
export function scanQuery(lx: Lexer, d: Draft, tok: Tok, base: number, kind: StatementKind): Tok {
  d.kind = kind;
  d.route = 'read';
  let prev = Tok.End,
    prev2 = Tok.End;
  let wordStart = -1,
    wordEnd = -1,
    qualStart = -1,
    qualEnd = -1;
  let wordIsNameOrType = false,
    wordQualified = false,
    wordQualUnknown = false,
    prevIntroducesName = false;
  let afterFor = false,
    afterInto = false,
    intoTempSchema = false;
  while (!isEnd(lx, tok, base)) {
    // SELECT … INTO [TABLE] pg_temp.t makes a temporary table, as INTO TEMP does.
    if (tok === Tok.Dot && intoTempSchema) d.sessionState = withSessionState(d.sessionState, 'temp_table');
    intoTempSchema = afterInto && (tok === Tok.Word || tok === Tok.QuotedIdent) && isTempSchema(lx.name());
    if (tok === Tok.Word || tok === Tok.QuotedIdent) {
      if (readsPrimaryOnlyView(lx, tok)) d.route = 'write';
      else if (namesStatementList(lx, tok)) d.readsStatementList = true;
    }
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
        d.sessionState = withSessionState(d.sessionState, 'temp_table');
      }
      afterFor = kw === Kw.For || (afterFor && (kw === Kw.No || kw === Kw.Key));
      afterInto = kw === Kw.Into || (afterInto && lx.is('table'));
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

/**
 * A catalog view that a standby always answers empty: pg_prepared_xacts (prepared transactions
 * are not shown during recovery), so psycopg's and JDBC's tpc_recover / XAResource.recover, and
 * any transaction manager's recovery, found no in-doubt transaction through pgtide and left their
 * locks held for ever. Its function, pg_prepared_xact(), is volatile, so a direct call already goes
 * to the primary; the view hides the call from the classifier.
 */
function readsPrimaryOnlyView(lx: Lexer, tok: Tok): boolean {
  if (tok === Tok.Word) return lx.tokEnd - lx.tokStart === 17 && lx.is('pg_prepared_xacts');
  // The length first: ORMs quote every name, and name() makes a string.
  return lx.tokEnd - lx.tokStart === 19 && lx.name() === 'pg_prepared_xacts';
}

/** Named like PostgreSQL's own functions: qualified by pg_catalog, pg_-prefixed (catalog and
 *  statistics functions, which many tools' queries call, and which set nothing), or one of its
 *  functions by name (inet_server_port, to_tsvector: see catalog-functions.ts). */
export function isCatalogName(name: string): boolean {
  if (name.startsWith('pg_catalog.')) return true;
  return !name.includes('.') && (name.startsWith('pg_') || CATALOG_FUNCTIONS.has(name));
}

/**
 * Records a call to `name` (the current token is its '('). Returns the token
 * to continue from when it consumed the arguments (set_config), else undefined.
 */
function call(lx: Lexer, d: Draft, name: string): Tok | undefined {
  if (isBuiltinRead(name) && !d.shadowed.has(name)) return undefined;
  if (!isBuiltinWriter(name)) {
    (d.calls ??= []).push(name);
    if (!isCatalogName(name) || d.shadowed.has(name)) (d.userCalls ??= []).push(name);
    const signal = backendSignalOfCall(name);
    return signal === undefined ? undefined : signalArgs(lx, d, signal === 'terminate');
  }
  const state = sessionStateOfCall(name);
  if (state === 'set_config') {
    d.sessionState ??= state;
    return setConfigArgs(lx, d);
  }
  // Routed to the primary once the rest of the statement is read (see Classifier.finish).
  if (writesNoRows(name) && !d.shadowed.has(name)) d.stateCalls = true;
  else d.route = 'write';
  if (readsSequenceState(name)) d.readsSequences = true;
  if (state !== undefined) d.sessionState = withSessionState(d.sessionState, state);
  return undefined;
}

/**
 * pg_terminate_backend(pid [, timeout]) or pg_cancel_backend(pid) → d.signals, when the pid is
 * an integer constant (quoted or not) or a parameter, with at most a one-word cast
 * (`$1::int`). Any other argument (a column, an expression) is left to PostgreSQL alone.
 */
function signalArgs(lx: Lexer, d: Draft, terminate: boolean): Tok {
  let tok = lx.next();
  let pid = 0;
  let param = 0;
  if (tok === Tok.Number) pid = pidOf(lx.text(lx.tokStart, lx.tokEnd));
  else if (tok === Tok.String) pid = pidOf(lx.plainStringValue() ?? '');
  else if (tok === Tok.Param) param = pidOf(lx.text(lx.tokStart + 1, lx.tokEnd));
  else return tok;
  tok = lx.next();
  if (tok === Tok.DoubleColon) {
    if (lx.next() !== Tok.Word) return lx.tok;
    tok = lx.next();
  }
  if ((tok === Tok.RParen || tok === Tok.Comma) && pid + param > 0) (d.signals ??= []).push({ terminate, pid, param });
  return tok;
}

/** A positive 32-bit integer written in decimal digits alone, else 0. */
function pidOf(digits: string): number {
  if (!/^[0-9]{1,10}$/.test(digits)) return 0;
  const n = Number(digits);
  return n <= 0x7fffffff ? n : 0;
}

/** set_config('name', value, is_local) → d.set: the name when it is a literal (value null and
 *  local false unless they are literals too; a parameter value keeps the literal is_local), so
 *  the setting can be followed; null when it is not. The names of later calls go to
 *  d.otherSets. d.localSets: whether every call so far names its setting (not a transaction_*
 *  one, which a standby may refuse), passes a literal or a parameter (nothing that could itself
 *  set or call anything) and is_local as the literal true. Only such calls leave the statement's
 *  route as it was: they change nothing a standby could not, and nothing past the transaction. */
function setConfigArgs(lx: Lexer, d: Draft): Tok {
  const first = d.set === undefined;
  const othersLocal = d.localSets ?? true;
  const route = d.route;
  d.localSets = false;
  d.route = 'write';
  let tok = lx.next();
  const name = lx.plainStringValue()?.toLowerCase() ?? null;
  if (first) d.set = null;
  else (d.otherSets ??= []).push(name);
  if (name === null || (tok = lx.next()) !== Tok.Comma) return tok;
  if (first) d.set = { name, value: null, local: false };
  tok = lx.next();
  const value = lx.plainStringValue();
  if (value === undefined && tok !== Tok.Param) return tok;
  if ((tok = lx.next()) === Tok.DoubleColon && value === undefined) {
    if (lx.next() !== Tok.Word) return lx.tok;
    tok = lx.next();
  }
  if (tok !== Tok.Comma) return tok;
  tok = lx.next();
  const local = lx.is('true') ? true : lx.is('false') ? false : undefined;
  if (local === undefined || (tok = lx.next()) !== Tok.RParen) return tok;
  if (first) d.set = { name, value: value === undefined ? null : `'${value.replaceAll("'", "''")}'`, local };
  d.localSets = othersLocal && local && !name.startsWith('transaction_');
  if (d.localSets) d.route = route;
  return lx.next();
}
