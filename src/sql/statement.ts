// Tier 1 of the classifier: decides one statement from its tokens. Writes are
// decided on the first keyword (a bulk INSERT is only scanned for its end);
// candidate reads are scanned in full for anything that could make them write.
// Where only the real grammar can tell (a call to a function the policy does
// not know to be read-only), the statement's candidate calls are handed on.
// Queries, transaction control and settings have modules of their own; the statements that
// nest another (COPY (query), EXPLAIN, PREPARE ... AS, DECLARE ... FOR) stay here with the dispatch.

import type { Route } from './classification.js';
import { type Lexer, Tok } from './lexer.js';
import { scanQuery } from './query-scan.js';
import { discard, reset, set } from './set-statement.js';
import { type Draft, isEnd, isOp, isTempSchema, lastName, skipParens, skipToEnd, write } from './statement-draft.js';
import { endTransaction, transactionModes } from './transaction-statement.js';

/**
 * Settings that say whether the session can write. Through pgtide it can (writes go to the
 * primary), and pgtide reports in_hot_standby off, so a standby's answer would be false: pgJDBC
 * with targetServerType=primary asks `SHOW transaction_read_only` at every connection and
 * refuses one that says on.
 */
const TOLD_BY_PRIMARY = new Set(['transaction_read_only', 'in_hot_standby']);

/** Deeper nesting (EXPLAIN EXPLAIN ..., PREPARE ... AS EXPLAIN ...) is not valid SQL anyway. */
const MAX_NESTING = 8;

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
    case 'select':
    case 'values':
    case 'table':
    case 'with':
      return scanQuery(lx, d, lx.next(), base, 'select');
    case 'insert':
    case 'update':
    case 'delete':
    case 'merge':
      return write(lx, d, 'dml', base);
    case 'create':
      return create(lx, d, base);
    case 'alter':
    case 'drop':
      return alterOrDrop(lx, d, base);
    case 'import':
      return write(lx, d, 'ddl', base);
    // Change no type a statement's parse infers (see pool/schema-generation.ts).
    case 'truncate':
    case 'grant':
    case 'revoke':
    case 'comment':
    case 'security':
    case 'reassign':
    case 'vacuum':
    case 'analyze':
    case 'analyse':
    case 'cluster':
    case 'reindex':
    case 'refresh':
    case 'checkpoint':
    case 'lock':
      return write(lx, d, 'utility', base);
    case 'call':
    case 'do':
      d.opaque = true;
      return write(lx, d, 'utility', base);
    case 'load':
      d.sessionState = 'load';
      return write(lx, d, 'utility', base);
    case 'notify':
      return write(lx, d, 'notify', base);
    case 'listen':
    case 'unlisten':
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
    case 'commit':
    case 'end':
      return endTransaction(lx, d, base, 'commit');
    case 'rollback':
    case 'abort':
      return endTransaction(lx, d, base, 'rollback');
    case 'savepoint':
    case 'release':
      d.kind = 'savepoint';
      d.route = 'read';
      return lastName(lx, lx.next(), base, d);
    case 'prepare':
      return prepare(lx, d, base, level);
    case 'execute':
      return execute(lx, d, base);
    case 'deallocate':
      return deallocate(lx, d, base);
    case 'declare':
      return declare(lx, d, base, level);
    case 'fetch':
    case 'move':
    case 'close': {
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
      tok = lx.next();
      if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
      d.route = d.name !== undefined && TOLD_BY_PRIMARY.has(d.name) ? 'write' : 'read';
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

/**
 * DROP DATABASE name, and ALTER DATABASE name RENAME TO / SET TABLESPACE: PostgreSQL refuses
 * them (55006) while any session is connected to that database (see Classification.freesDatabase).
 */
function alterOrDrop(lx: Lexer, d: Draft, base: number): Tok {
  const drop = lx.is('drop');
  let tok = lx.next();
  if (tok === Tok.Word && namesFunctions(lx)) d.changesFunctions = true;
  if (!lx.is('database')) return write(lx, d, 'ddl', base, tok);
  tok = lx.next();
  if (drop && lx.is('if')) {
    tok = lx.next();
    if (lx.is('exists')) tok = lx.next();
  }
  if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return write(lx, d, 'ddl', base, tok);
  const name = lx.name();
  tok = lx.next();
  if (drop || lx.is('rename') || (lx.is('set') && lx.next() === Tok.Word && lx.is('tablespace')))
    d.freesDatabase = name;
  return write(lx, d, 'ddl', base, lx.tok);
}

function create(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'ddl';
  d.route = 'write';
  let tok = lx.next();
  if (lx.is('database')) return createDatabase(lx, d, base);
  if (lx.is('or')) {
    tok = lx.next();
    if (lx.is('replace')) tok = lx.next();
  }
  if (lx.is('local') || lx.is('global')) tok = lx.next();
  if (lx.is('temp') || lx.is('temporary')) d.sessionState = 'temp_table';
  else if (tok === Tok.Word && namesFunctions(lx)) d.changesFunctions = true;
  // A SQL-standard function body (BEGIN ATOMIC ... END) contains ';'. Count
  // BEGIN/CASE against END the way psql does to find the real end.
  let blockDepth = 0;
  let tempSchema = false;
  for (;;) {
    // A name in the session's temporary schema (`CREATE FUNCTION pg_temp.f`, `CREATE TABLE
    // pg_temp.t` without TEMP) makes session state as TEMP does; a mere reference to one pins
    // needlessly, until the probe after the transaction finds nothing there.
    if (tok === Tok.Dot && tempSchema) d.sessionState = 'temp_table';
    tempSchema = (tok === Tok.Word || tok === Tok.QuotedIdent) && isTempSchema(lx.name());
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

/** What CREATE, ALTER or DROP may change functions by (a schema's DROP … CASCADE drops its functions). */
function namesFunctions(lx: Lexer): boolean {
  return (
    lx.is('function') ||
    lx.is('procedure') ||
    lx.is('aggregate') ||
    lx.is('routine') ||
    lx.is('extension') ||
    lx.is('schema')
  );
}

/** CREATE DATABASE name … TEMPLATE [=] source: refused (55006) while a session is connected to source. */
function createDatabase(lx: Lexer, d: Draft, base: number): Tok {
  let tok = lx.next();
  while (!isEnd(lx, tok, base)) {
    if (lx.is('template')) {
      tok = lx.next();
      if (isOp(lx, tok, 0x3d)) tok = lx.next();
      if (tok === Tok.Word || tok === Tok.QuotedIdent) d.freesDatabase = lx.name();
      if (tok === Tok.String) d.freesDatabase = lx.plainStringValue();
    }
    tok = lx.next();
  }
  return tok;
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

/**
 * `EXECUTE name [(arguments)]`. Which server the prepared statement needs is known only to
 * whoever tracked its PREPARE (see `name`); on its own it must go to the primary. Its arguments
 * are evaluated where it runs: only when they call nothing (no function, no subquery) may the
 * statement's own route be the EXECUTE's.
 */
function execute(lx: Lexer, d: Draft, base: number): Tok {
  let tok = lx.next();
  if (tok === Tok.Word || tok === Tok.QuotedIdent) {
    d.name = lx.name();
    tok = lx.next();
  }
  let constant = d.name !== undefined;
  let afterName = false;
  while (!isEnd(lx, tok, base)) {
    if (tok === Tok.LParen ? afterName : lx.is('select') || lx.is('with') || lx.is('values') || lx.is('table'))
      constant = false;
    afterName = tok === Tok.Word || tok === Tok.QuotedIdent;
    tok = lx.next();
  }
  d.kind = 'execute';
  d.route = 'write';
  if (constant) d.constantArguments = true;
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
  let hold = false,
    prevWith = false;
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
