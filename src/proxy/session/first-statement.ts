// transaction_routing = first_statement: a plain BEGIN is answered by pgtide and run later on
// the server the transaction's next statement chooses; the COMMIT or ROLLBACK of a transaction
// that stayed empty is answered too. So is a BEGIN READ ONLY, or any BEGIN of a session whose
// transactions are read-only (default_transaction_read_only), in either transaction_routing: a
// standby would run it, then refuse the SET TRANSACTION ISOLATION LEVEL SERIALIZABLE or READ
// WRITE that may come next (Rails sets the level so), which the primary runs. Only a chunk that
// is exactly one simple Query is handled this way.
import * as encode from '../../protocol/encode.js';
import { FrontendMessage } from '../../protocol/types.js';
import type { ClientSession } from '../client-session.js';

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
 * What pgtide answers itself for the client chunk `data`, classified as `kind` (read-only:
 * `readOnly`, see ClientSession.chunkReadOnly), while `deferredBegin` (null: none) waits for its
 * transaction's first statement. A BEGIN READ WRITE or SERIALIZABLE runs on the primary: it is
 * not deferred.
 */
export function localAnswer(
  data: Buffer,
  kind: string | null,
  readOnly: boolean | undefined,
  deferredBegin: string | null,
  chains = false,
): LocalAnswer {
  if (data.length < 6 || data[0] !== FrontendMessage.Query || data.readUInt32BE(1) + 1 !== data.length)
    return LocalAnswer.None;
  if (kind === 'begin' && readOnly !== false && !deferredBegin) return LocalAnswer.Begin;
  if (deferredBegin && kind === 'commit') return chains ? LocalAnswer.CommitChain : LocalAnswer.Commit;
  if (deferredBegin && kind === 'rollback') return chains ? LocalAnswer.RollbackChain : LocalAnswer.Rollback;
  return LocalAnswer.None;
}

/** The text of the one Query in `data` (a chunk localAnswer answered as a BEGIN). */
function queryText(data: Buffer): string {
  return data.toString('utf8', 5, data.length - 1);
}

/** What the client gets for an answered chunk, as a server would have answered it. */
function localReply(answer: Exclude<LocalAnswer, LocalAnswer.None>): Buffer[] {
  if (answer === LocalAnswer.Begin) return [encode.commandComplete('BEGIN'), encode.readyForQuery('T')];
  const commits = answer === LocalAnswer.Commit || answer === LocalAnswer.CommitChain;
  const chains = answer === LocalAnswer.CommitChain || answer === LocalAnswer.RollbackChain;
  return [encode.commandComplete(commits ? 'COMMIT' : 'ROLLBACK'), encode.readyForQuery(chains ? 'T' : 'I')];
}

/** What answerLocally uses of the session. */
export type FirstStatementSession = Pick<
  ClientSession,
  | 'chunkChains'
  | 'chunkKind'
  | 'chunkReadOnly'
  | 'firstStatementRouting'
  | 'pendingBegin'
  | 'queuedSyncs'
  | 'readOnlySession'
  | 'socket'
>;

/** A BEGIN (or the end of its empty transaction) pgtide answers itself: with transaction_routing
 *  = first_statement, or a BEGIN that may run on a standby (see above). */
export function answerLocally(s: FirstStatementSession, data: Buffer): boolean {
  if (!s.firstStatementRouting && !s.readOnlySession && s.chunkReadOnly !== true && s.pendingBegin === null)
    return false;
  const answer = localAnswer(data, s.chunkKind, s.chunkReadOnly, s.pendingBegin, s.chunkChains);
  if (answer === LocalAnswer.None) return false;
  // A chained transaction is begun as the one it follows: the deferred BEGIN stays.
  if (answer === LocalAnswer.Begin) s.pendingBegin = queryText(data);
  else if (answer === LocalAnswer.Commit || answer === LocalAnswer.Rollback) s.pendingBegin = null;
  // The Query just scanned is answered here: it is no sync point for any server.
  s.queuedSyncs = 0;
  const out = s.socket;
  out.cork();
  for (const m of localReply(answer)) out.write(m);
  out.uncork();
  return true;
}
