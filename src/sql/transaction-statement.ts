// Tier 1 of the classifier for transaction control: the modes of BEGIN, START TRANSACTION and
// SET TRANSACTION (which decide whether a standby may run it), and COMMIT / ROLLBACK.

import { Lexer, Tok } from './lexer.js';
import { type Draft, isEnd, lastName, skipToEnd } from './statement-draft.js';

export function transactionModes(lx: Lexer, d: Draft, tok: Tok, base: number): Tok {
  let prevRead = false;
  // A BEGIN's words, to check against what PostgreSQL takes (see BEGIN_MODES).
  let words = d.kind === 'begin' ? '' : null;
  while (!isEnd(lx, tok, base)) {
    if (words !== null) words = tok === Tok.Word ? `${words} ${lx.name()}` : tok === Tok.Comma ? `${words},` : null;
    if (prevRead && lx.is('only')) d.readOnly = true;
    else if (prevRead && lx.is('write')) d.readOnly = false;
    else if (prevRead && lx.is('committed')) d.isolation = 'read committed';
    else if (prevRead && lx.is('uncommitted')) d.isolation = 'read uncommitted';
    else if (lx.is('serializable')) d.isolation = 'serializable';
    else if (lx.is('repeatable')) d.isolation = 'repeatable read';
    prevRead = lx.is('read');
    tok = lx.next();
  }
  // pgtide may answer a BEGIN itself and replay it later (see first-statement.ts): one that
  // PostgreSQL refuses goes to a server, to be refused now (42601), not at its replay.
  if (d.kind === 'begin' && (words === null || !BEGIN_MODES.test(words)))
    d.invalid = 'a BEGIN with words PostgreSQL does not take';
  routeTransactionModes(d);
  return tok;
}

/** BEGIN [WORK | TRANSACTION] and START TRANSACTION's modes, commas between them optional. */
const MODE =
  '(isolation level (serializable|repeatable read|read committed|read uncommitted)|read only|read write|deferrable|not deferrable)';
const BEGIN_MODES = new RegExp(`^( (work|transaction))?( ${MODE}(,? ${MODE})*)?$`);

/** Only a READ ONLY transaction may start on a standby, and standbys refuse SERIALIZABLE
 *  ("cannot use serializable mode in a hot standby"). A SET TRANSACTION that starts a
 *  transaction's statements (after a BEGIN pgtide deferred) says so of it too. */
export function routeTransactionModes(d: Draft): void {
  const standbyCapable = d.readOnly === true && d.isolation !== 'serializable';
  const refusedOnStandby = d.readOnly === false || d.isolation === 'serializable';
  const setsTransaction = d.kind === 'set_transaction' && d.sessionState === undefined;
  d.route = (d.kind === 'begin' && !standbyCapable) || (setsTransaction && refusedOnStandby) ? 'write' : 'read';
}

export function endTransaction(lx: Lexer, d: Draft, base: number, kind: 'commit' | 'rollback'): Tok {
  d.kind = kind;
  d.route = 'read';
  let tok = lx.next();
  if (lx.is('prepared')) {
    d.kind = 'two_phase';
    d.route = 'write';
    return skipToEnd(lx, tok, base);
  }
  let and = false,
    no = false;
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

/**
 * Whether PostgreSQL still takes the text `buf[start, end)` in a failed transaction block: its
 * first statement is COMMIT, ROLLBACK, ROLLBACK TO SAVEPOINT, PREPARE TRANSACTION or a synonym,
 * or it holds no statement at all. Anything else there fails with 25P02 and, in a simple Query,
 * takes the rest with it.
 */
export function runsInFailedBlock(buf: Buffer, start: number, end: number): boolean {
  return failedBlockTakes(buf, start, end) !== FailedBlock.Refused;
}

/**
 * Whether a portal of the text `buf[start, end)` may end a failed transaction block: it holds
 * a statement that runs there (see runsInFailedBlock). One of no statement runs as an empty
 * query and leaves the block failed.
 */
export function endsFailedBlockText(buf: Buffer, start: number, end: number): boolean {
  return failedBlockTakes(buf, start, end) === FailedBlock.Ends;
}

const enum FailedBlock {
  Empty,
  Ends,
  Refused,
}

/** One lexer for every call: failedBlockTakes runs at each unnamed Parse of a client with named
 *  statements, and calls nothing that could use it meanwhile. */
const lx = new Lexer();
const NO_BYTES = Buffer.alloc(0);

function failedBlockTakes(buf: Buffer, start: number, end: number): FailedBlock {
  lx.reset(buf, start, end);
  const takes = firstStatementTakes();
  // The client's bytes are not kept alive until the next call.
  lx.reset(NO_BYTES, 0, 0);
  return takes;
}

function firstStatementTakes(): FailedBlock {
  lx.readLeadingHint();
  let tok = lx.next();
  while (tok === Tok.Semicolon) tok = lx.next();
  if (tok === Tok.End) return FailedBlock.Empty;
  if (tok !== Tok.Word) return FailedBlock.Refused;
  if (lx.is('end') || lx.is('abort')) return FailedBlock.Ends;
  if (lx.is('prepare')) return lx.next() === Tok.Word && lx.is('transaction') ? FailedBlock.Ends : FailedBlock.Refused;
  if (!lx.is('commit') && !lx.is('rollback')) return FailedBlock.Refused;
  // COMMIT PREPARED and ROLLBACK PREPARED act on another transaction: refused like the rest.
  return lx.next() === Tok.Word && lx.is('prepared') ? FailedBlock.Refused : FailedBlock.Ends;
}
