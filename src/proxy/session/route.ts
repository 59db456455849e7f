// Which pool a client's transaction runs in: writes (and what is not known to be a read) on the
// primary, reads on a backend the router draws, as the session's own choices (SET pgtide.route,
// read-only or serializable sessions, read-your-writes) allow; and, for a client waiting on a
// backend that can no longer serve it (a failover), the same choice afresh.
import type { ReadContext } from '../router.js';
import type { ServerWaiter } from '../../pool/linked-server.js';
import type { ClientSession } from '../client-session.js';
import { checkReplay, needsSetUp, mustCheckReplay, startOn, waitFor, type HandoffSession } from './handoff.js';
import { isStrayCopyEnd, isIdleFlush } from './classify.js';
import { answerLocally, type FirstStatementSession } from './first-statement.js';
import { answerParses, type ParseAnswerSession } from './parse-answer.js';
import { Wait, poolOf } from './state.js';
import { eventNow } from '../../event-clock.js';

/** What of the session these functions use. */
export type RouteSession = Pick<
  ClientSession,
  | 'backend'
  | 'consistency'
  | 'consistencyFallback'
  | 'ctx'
  | 'database'
  | 'lastWriteServer'
  | 'link'
  | 'mode'
  | 'pendingBegin'
  | 'pool'
  | 'readLink'
  | 'retryRoute'
  | 'retrying'
  | 'routeOverride'
  | 'routeRead'
  | 'routeWrite'
  | 'serializableSession'
  | 'timeoutCancelSent'
  | 'waitingSince'
  | 'writeLsnPending'
  | 'wroteInLink'
> &
  HandoffSession &
  ReadContext &
  ServerWaiter;

/**
 * The first bytes of a transaction, no server linked: answered by pgtide itself (first_statement's
 * BEGIN, Parses servers are known to accept, a stray end of COPY) and false, or routed (see route) and true.
 */
export function routeFirstBytes(s: RouteSession & FirstStatementSession & ParseAnswerSession, data: Buffer): boolean {
  if (s.mode === 'transaction' && answerLocally(s, data)) return false;
  if (s.statements !== null && answerParses(s, data)) return false;
  if (isStrayCopyEnd(data) || isIdleFlush(data)) return false;
  route(s);
  return true;
}

/**
 * Pick the pool of the transaction that starts with the bytes just scanned, and link an
 * idle server of it when there is one. Writes (and anything not known to be a read) go to
 * the primary; reads to a backend the router draws.
 */
export function route(s: RouteSession): void {
  if (s.mode !== 'session') {
    const ctx = s.ctx;
    // PAUSE: new transactions wait (as when no primary is known) until RESUME.
    if (ctx.admin.isPaused(s.database)) {
      s.pool = null;
      return;
    }
    let read = s.routeRead && !s.routeWrite && !s.retrying;
    // SET pgtide.route: the session's own choice wins over the classifier.
    if (s.routeOverride === 'primary') read = false;
    else if (s.routeOverride === 'standby' && !s.retrying) read = true;
    if (read && (s.consistency === 'primary_only' || s.consistencyFallback || s.serializableSession)) read = false;
    // Read-your-writes: a read waits for the position of the write just committed, and so
    // does a currval or lastval for the write's server, busy reading that position.
    if ((read || s.sequenceRead) && s.writeLsnPending) {
      s.pool = null;
      return;
    }
    const backend = read ? ctx.router.readBackend(s) : ctx.router.writeBackend();
    // No primary known (failover in progress): wait for one instead of failing or writing to a standby.
    const pool = backend ? poolOf(s, backend) : null;
    // Where clients read sequences, a write waits for that server as well: it holds the values
    // the client's nextval calls left, which a write on another server would part from its next
    // currval (see lacksSequences).
    if (!read && s.writeLsnPending && pool?.sequenceReaders) {
      s.pool = null;
      return;
    }
    s.wroteInLink = !read;
    s.readLink = read && backend !== ctx.router.writeBackend();
    s.backend = backend;
    s.pool = pool;
  } else {
    // Session pooling keeps the whole session on the primary: the one known now, not the one of
    // the login (after a failover that pool is an abandoned primary's, which may never give a
    // server). None known: the session waits for one, as a write does.
    const primary = s.ctx.router.writeBackend();
    s.backend = primary;
    s.pool = primary ? poolOf(s, primary) : null;
  }
  const pool = s.pool;
  if (!pool) return;
  if (s.sequenceRead) pool.sequenceReaders = true;
  const unknownOf = s.leftUnknown ? s : null;
  const server = pool.takeIdle(s.lastWriteServer, s.cancelPid, unknownOf);
  if (!server) return;
  // No server of its own was idle: the one it left was reset for another client, or is busy.
  if (unknownOf !== null && server.unknownOwner !== s) s.leftUnknown = false;
  s.timeoutCancelSent = false;
  // A deferred BEGIN is replayed on the server first (see startOn).
  if (mustCheckReplay(s) || s.pendingBegin !== null || needsSetUp(s, server)) {
    waitFor(s, Wait.SetUp);
    s.waitingSince = eventNow();
    return mustCheckReplay(s) ? checkReplay(s, server) : startOn(s, server);
  }
  s.link(server);
}

/** Waiting on a backend that can no longer serve the transaction (a standby out of the
 * rotation, a primary that is one no more). */
export function waitsOnStaleBackend(s: RouteSession): boolean {
  const backend = s.backend;
  if (!backend) return false;
  const router = s.ctx.router;
  return s.readLink ? !router.isReadable(backend) : backend !== router.writeBackend();
}

export function rerouteWaiting(s: RouteSession): void {
  s.pool!.cancelWait(s);
  // A server being readied for the client goes back to its pool (see startOn, checkReplay).
  waitFor(s, Wait.Pool);
  s.pool = null;
  if (s.readLink) s.retrying = true;
  s.retryRoute();
}
