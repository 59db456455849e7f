// transaction_routing = first_statement: a plain BEGIN is answered by pgtide and run later on
// the server the transaction's next statement chooses; the COMMIT or ROLLBACK of a transaction
// that stayed empty is answered too. So is a BEGIN READ ONLY, or any BEGIN of a session whose
// transactions are read-only (default_transaction_read_only), in either transaction_routing: a
// standby would run it, then refuse the SET TRANSACTION ISOLATION LEVEL SERIALIZABLE or READ
// WRITE that may come next (Rails sets the level so), which the primary runs. Only a chunk that
// runs exactly that one statement is handled this way: a simple Query, or the extended protocol's
// batch of one statement's run, as drivers that prepare every statement send it (psycopg's
// prepare=True, pgx's statement cache, pgJDBC, node-postgres' named queries; see oneRun).
import * as encode from '../../protocol/encode.js';
import { FrontendMessage } from '../../protocol/types.js';
import { PORTAL } from '../../protocol/frontend.js';
import type { ClientSession } from '../client-session.js';
import { statementText } from '../statement-registry.js';

export const enum LocalAnswer {
  /** Not answered here: the chunk goes to a server. */
  None,
  /** A BEGIN, deferred to the server of the next statement. */
  Begin,
  /** The end of a deferred BEGIN's empty transaction. */
  Commit,
  Rollback,
  /** COMMIT or ROLLBACK AND CHAIN of it: a new empty transaction, as the deferred BEGIN made it. */
  CommitChain,
  RollbackChain,
}

/**
 * What pgtide answers itself for a client chunk that runs one statement (see oneRun),
 * classified as `kind` (read-only: `readOnly`, see ClientSession.chunkReadOnly), while
 * `deferredBegin` (null: none) waits for its transaction's first statement. A BEGIN READ WRITE
 * or SERIALIZABLE runs on the primary: it is not deferred.
 */
export function localAnswer(
  kind: string | null,
  readOnly: boolean | undefined,
  deferredBegin: string | null,
  chains = false,
): LocalAnswer {
  if (kind === 'begin' && readOnly !== false && !deferredBegin) return LocalAnswer.Begin;
  if (deferredBegin && kind === 'commit') return chains ? LocalAnswer.CommitChain : LocalAnswer.Commit;
  if (deferredBegin && kind === 'rollback') return chains ? LocalAnswer.RollbackChain : LocalAnswer.Rollback;
  return LocalAnswer.None;
}

/** The one statement a chunk runs (see oneRun). */
export interface OneRun {
  /** Its text, from the Query or the Parse; null: a Bind of a statement prepared earlier. */
  text: string | null;
  /** The statement the batch binds ('': the unnamed one); null: a simple Query. */
  statement: string | null;
  /** The batch's Parse body after the name (text, parameter types); null: no Parse. */
  parse: Buffer | null;
  /** The batch describes its portal. */
  describes: boolean;
}

/**
 * The statement the chunk `data` runs, when it is all the chunk does and the chunk ends with its
 * ReadyForQuery: one simple Query, or [Parse] Bind [Describe portal] Execute Sync of the unnamed
 * portal, without parameters (a BEGIN, COMMIT or ROLLBACK takes none). Else null.
 */
export function oneRun(data: Buffer): OneRun | null {
  if (data.length < 6) return null;
  if (data[0] === FrontendMessage.Query) {
    if (data.readUInt32BE(1) + 1 !== data.length) return null;
    return { text: data.toString('utf8', 5, data.length - 1), statement: null, parse: null, describes: false };
  }
  const parseStart = data[0] === FrontendMessage.Parse ? 0 : -1;
  const bindStart = parseStart < 0 ? 0 : messageEnd(data, 0);
  if (data[bindStart] !== FrontendMessage.Bind) return null;
  let at = messageEnd(data, bindStart);
  const describes = data[at] === FrontendMessage.Describe;
  // Of the unnamed portal: 'P', then an empty name.
  if (describes) at = data[at + 5] === PORTAL && data[at + 6] === 0 ? messageEnd(data, at) : -1;
  if (data[at] !== FrontendMessage.Execute || data[at + 5] !== 0) return null;
  at = messageEnd(data, at);
  if (data[at] !== FrontendMessage.Sync || messageEnd(data, at) !== data.length) return null;
  const bind = boundStatement(data, bindStart);
  if (bind === null) return null;
  if (parseStart < 0) return { text: null, statement: bind, parse: null, describes };
  const nameEnd = data.indexOf(0, parseStart + 5);
  const textEnd = data.indexOf(0, nameEnd + 1);
  if (textEnd < 0 || textEnd >= bindStart || data.toString('utf8', parseStart + 5, nameEnd) !== bind) return null;
  return {
    text: data.toString('utf8', nameEnd + 1, textEnd),
    statement: bind,
    parse: data.subarray(nameEnd + 1, bindStart),
    describes,
  };
}

/** Where the message at `at` of `data` ends, if it ends within it; else -1. */
function messageEnd(data: Buffer, at: number): number {
  if (at < 0 || at + 5 > data.length) return -1;
  const end = at + 1 + data.readUInt32BE(at + 1);
  return end >= at + 5 && end <= data.length ? end : -1;
}

/** The statement the Bind at `at` binds to the unnamed portal with no parameter, else null. */
function boundStatement(data: Buffer, at: number): string | null {
  const end = at + 1 + data.readUInt32BE(at + 1);
  if (data[at + 5] !== 0) return null;
  const nameEnd = data.indexOf(0, at + 6);
  if (nameEnd < 0 || nameEnd + 3 > end) return null;
  const formatsEnd = nameEnd + 3 + 2 * data.readUInt16BE(nameEnd + 1);
  if (formatsEnd + 2 > end || data.readUInt16BE(formatsEnd) !== 0) return null;
  return data.toString('utf8', at + 6, nameEnd);
}

/** What the client gets for an answered chunk, as a server would have answered it. */
function localReply(answer: Exclude<LocalAnswer, LocalAnswer.None>, run: OneRun): Buffer[] {
  const replies: Buffer[] = [];
  if (run.parse !== null) replies.push(encode.parseComplete());
  if (run.statement !== null) replies.push(encode.bindComplete());
  if (run.describes) replies.push(encode.noData());
  if (answer === LocalAnswer.Begin) replies.push(encode.commandComplete('BEGIN'), encode.readyForQuery('T'));
  else {
    const commits = answer === LocalAnswer.Commit || answer === LocalAnswer.CommitChain;
    const chains = answer === LocalAnswer.CommitChain || answer === LocalAnswer.RollbackChain;
    replies.push(encode.commandComplete(commits ? 'COMMIT' : 'ROLLBACK'), encode.readyForQuery(chains ? 'T' : 'I'));
  }
  return replies;
}

/**
 * The text of the statement `run` runs, its Parse (if any) taken into the client's named
 * statements, as if a server had parsed it: the statement is prepared on a server at the
 * client's next Bind of it (see session/parse-answer.ts). Null when a server must answer: a
 * name the client holds already (42P05), or a statement it never prepared (26000), or an
 * unnamed one bound from an earlier batch, whose text pgtide does not keep.
 */
function takeRun(s: FirstStatementSession, run: OneRun): string | null {
  const name = run.statement;
  // A simple Query, or the unnamed statement: the text is the chunk's own, if any.
  if (name === null || name === '') return run.text;
  const statements = s.statements;
  if (run.parse === null) {
    const statement = statements?.named(name);
    return statement === undefined ? null : statementText(statement);
  }
  if (statements === null || s.pool === null || statements.has(name) || statements.ownText(name, run.parse)) {
    return null;
  }
  statements.parsedWithoutServer(name, s.ctx.statements.intern(run.parse, statements.scope()), s.pool.stats);
  return run.text;
}

/** What answerLocally uses of the session. */
export type FirstStatementSession = Pick<
  ClientSession,
  | 'chunkChains'
  | 'chunkKind'
  | 'chunkReadOnly'
  | 'ctx'
  | 'firstStatementRouting'
  | 'pendingBegin'
  | 'pool'
  | 'queuedSyncs'
  | 'readOnlySession'
  | 'socket'
  | 'statements'
>;

/** A BEGIN (or the end of its empty transaction) pgtide answers itself: with transaction_routing
 *  = first_statement, or a BEGIN that may run on a standby (see above). */
export function answerLocally(s: FirstStatementSession, data: Buffer): boolean {
  if (!s.firstStatementRouting && !s.readOnlySession && s.chunkReadOnly !== true && s.pendingBegin === null)
    return false;
  const answer = localAnswer(s.chunkKind, s.chunkReadOnly, s.pendingBegin, s.chunkChains);
  if (answer === LocalAnswer.None) return false;
  const run = oneRun(data);
  if (run === null) return false;
  const text = takeRun(s, run);
  if (text === null) return false;
  // A chained transaction is begun as the one it follows: the deferred BEGIN stays.
  if (answer === LocalAnswer.Begin) s.pendingBegin = text;
  else if (answer === LocalAnswer.Commit || answer === LocalAnswer.Rollback) s.pendingBegin = null;
  // The Query or Sync just scanned is answered here: it is no sync point for any server.
  s.queuedSyncs = 0;
  const out = s.socket;
  out.cork();
  for (const m of localReply(answer, run)) out.write(m);
  out.uncork();
  return true;
}
