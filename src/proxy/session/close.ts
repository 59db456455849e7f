// A client leaving: the hand-off under way abandoned, its server given back in a known state
// (or closed), its cancel key revoked, its socket ended.
import type net from 'node:net';
import tls from 'node:tls';
import { UNKNOWN_SETTINGS } from '../../pool/server-settings.js';
import { SEQUENCES_OF_SOMEONE, type LinkedServer, type ServerWaiter } from '../../pool/linked-server.js';
import type { ClientSession } from '../client-session.js';
import { NO_CHUNKS, State } from './state.js';
import { allWritten } from '../../pool/direct-write.js';
import { dropHeldCancel } from './held-cancel.js';
import { transactionEnded } from '../../pool/schema-generation.js';

/** What of the session these functions use. */
export type CloseSession = Pick<
  ClientSession,
  | 'cancelAgain'
  | 'cancelPid'
  | 'cancelWanted'
  | 'ctx'
  | 'database'
  | 'epoch'
  | 'firstPool'
  | 'mode'
  | 'otherPools'
  | 'pinned'
  | 'pinnedForGood'
  | 'pool'
  | 'queued'
  | 'ranDdl'
  | 'remote'
  | 'resumeClient'
  | 'scanner'
  | 'server'
  | 'serverCut'
  | 'settingsDirty'
  | 'droppedStatements'
  | 'socket'
  | 'state'
  | 'statements'
  | 'statementLink'
  | 'tracking'
  | 'user'
> &
  ServerWaiter;

/** Leave: give the server back in a clean state (or close it), forget the client.
 *  terminated: the client sent Terminate, so it expects nothing more. */
export function closeSession(s: CloseSession, terminated = false): void {
  if (s.state === State.Closed) return;
  const wasWaiting = s.state === State.Waiting || s.state === State.Login;
  s.state = State.Closed;
  // Whatever hand-off was under way is abandoned: its continuation gives its server back.
  s.epoch++;
  const ctx = s.ctx;
  // Read before the reset below: a server holding part of a client message must be closed.
  const midMessage = s.serverCut || !s.scanner.atBoundary || s.statements?.holding === true;
  // A statement cut off by the close gives back the budget its assembly held.
  s.scanner.reset();
  // The sets hold whole sessions, and only a whole session closes (a test's fake is in neither).
  ctx.clients.delete(s as ClientSession);
  ctx.loggingIn.delete(s as ClientSession);
  if (s.cancelPid !== 0) ctx.cancelKeys.revoke(s.cancelPid);
  if (wasWaiting) s.pool?.cancelWait(s);
  // pool_idle_timeout may drop the pools no session holds.
  s.firstPool?.letGo();
  if (s.otherPools) for (const pool of s.otherPools.values()) pool.letGo();
  const server = s.server;
  s.server = null;
  // Its transaction ends (rolled back), DDL and all: a Parse of a text prepared in it, or
  // before, is parsed afresh (see schema-generation.ts), as at the end of any other.
  transactionEnded(s);
  // State no reset ends (a random seed, what pgtide could not read back) leaves with its server.
  if (server) letServerGo(s, server, midMessage ? CUT_MESSAGE : s.pinnedForGood ? 'pinned client left' : null);
  s.queued = NO_CHUNKS;
  if (s.cancelWanted) dropHeldCancel(s);
  // After Terminate with nothing left to send, the socket is closed at once, as PostgreSQL
  // does: no half-close to wait out, no timer for a client that will not read. TLS still
  // ends politely, so that the client gets its close_notify.
  if (terminated && allWritten(s.socket) && !(s.socket instanceof tls.TLSSocket)) s.socket.destroy();
  else {
    closeSocket(s.socket);
    // Paused for sending faster than its server took it (COPY data), it is read again: what
    // it still sends resets the connection (see ClientSession.dispatch).
    s.resumeClient();
  }
  if (ctx.config.log_disconnections && s.cancelPid !== 0) {
    ctx.log.info({ client: s.remote, user: s.user, database: s.database }, 'disconnect');
  }
}

/** Why a server is closed when its client leaves in the middle of a message (or bytes held for
 *  a shape check, whose Syncs were counted): no drain could end. */
export const CUT_MESSAGE = 'client left in the middle of a message';

/** The client lets go of `server` before its work there ended (it leaves, or its batch moves to
 *  another server): what it left there is forgotten or reset, and the server drains back to its
 *  pool, or is closed, let go of first, for `closeReason` when there is one. */
export function letServerGo(
  s: Pick<
    CloseSession,
    'ctx' | 'droppedStatements' | 'mode' | 'pinned' | 'settingsDirty' | 'statementLink' | 'tracking'
  >,
  server: LinkedServer,
  closeReason: string | null,
): void {
  // Settings changed by a transaction the client did not finish, or by a whole session, are unknown.
  if (s.settingsDirty || s.mode === 'session') server.forgetSettings(UNKNOWN_SETTINGS);
  // Parses still unanswered may fail unseen, a DEALLOCATE pgtide did not map may have run: what
  // the server has prepared is unknown too.
  if ((s.tracking && !s.statementLink!.tracker.idle) || s.droppedStatements) server.prepared.doubtAll();
  // Its transaction may have called nextval: those values are no one's to read.
  server.sequenceOwner = SEQUENCES_OF_SOMEONE;
  server.orphan(closeReason, resetQuery(s), s.ctx.sendCancel);
}

/** What the server runs before its next client, if anything. */
function resetQuery(s: Pick<CloseSession, 'ctx' | 'mode' | 'pinned' | 'settingsDirty'>): string | null {
  // A pinned client's session state must not reach the next client, whatever the configured reset.
  if (s.pinned || s.settingsDirty) return 'DISCARD ALL';
  const cfg = s.ctx.config;
  return s.mode === 'session' || cfg.server_reset_query_always ? cfg.server_reset_query || null : null;
}

/** End the client's socket, politely first. */
export function closeSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writable) {
    socket.end();
    // A client that never reads must not keep the socket (and our buffers) forever.
    setTimeout(() => socket.destroy(), 5000).unref();
  } else {
    socket.destroy();
  }
}
