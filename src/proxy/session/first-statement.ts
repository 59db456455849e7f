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
): LocalAnswer {
  if (data.length < 6 || data[0] !== FrontendMessage.Query || data.readUInt32BE(1) + 1 !== data.length)
    return LocalAnswer.None;
  if (kind === 'begin' && readOnly !== false && !deferredBegin) return LocalAnswer.Begin;
  if (deferredBegin && kind === 'commit') return LocalAnswer.Commit;
  if (deferredBegin && kind === 'rollback') return LocalAnswer.Rollback;
  return LocalAnswer.None;
}

/** The text of the one Query in `data` (a chunk localAnswer answered as a BEGIN). */
function queryText(data: Buffer): string {
  return data.toString('utf8', 5, data.length - 1);
}

/** What the client gets for an answered chunk, as a server would have answered it. */
function localReply(answer: LocalAnswer.Begin | LocalAnswer.Commit | LocalAnswer.Rollback): Buffer[] {
  if (answer === LocalAnswer.Begin) return [encode.commandComplete('BEGIN'), encode.readyForQuery('T')];
  return [encode.commandComplete(answer === LocalAnswer.Commit ? 'COMMIT' : 'ROLLBACK'), encode.readyForQuery('I')];
}

/** What answerLocally uses of the session. */
export type FirstStatementSession = Pick<
  ClientSession,
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
  const answer = localAnswer(data, s.chunkKind, s.chunkReadOnly, s.pendingBegin);
  if (answer === LocalAnswer.None) return false;
  s.pendingBegin = answer === LocalAnswer.Begin ? queryText(data) : null;
  // The Query just scanned is answered here: it is no sync point for any server.
  s.queuedSyncs = 0;
  const out = s.socket;
  out.cork();
  for (const m of localReply(answer)) out.write(m);
  out.uncork();
  return true;
}
