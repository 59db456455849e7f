// A client that has sent all it will send: its FIN (a half-close, `nc -N`, a socket.end() after
// the query) or a Terminate behind its last messages. PostgreSQL reads the client's messages in
// order and answers each before it reads the end, so such a client gets every answer owed for
// what it sent first; pgtide keeps the session until then, and only then leaves as for any
// client that goes (its server rolled back or reset, see closeSession).
import * as encode from '../../protocol/encode.js';
import { SQLSTATE } from '../../protocol/encode.js';
import type { ClientSession } from '../client-session.js';
import { closeSession, type CloseSession } from './close.js';
import { repeatTold, type ReportedParamsSession } from './reported-params.js';
import { CopyIn, State } from './state.js';

/** What PostgreSQL sends a client whose end comes inside COPY IN: the COPY fails for want of
 *  data (copyfromparse.c), or for the Terminate it reads instead, then the backend, cut in the
 *  middle of reading a message, ends the session (postgres.c); no ReadyForQuery. Measured
 *  with PostgreSQL 18. */
const COPY_CUT_ERROR = encode.errorResponse(
  'ERROR',
  SQLSTATE.CONNECTION_FAILURE,
  'unexpected EOF on client connection with an open transaction',
);
const COPY_TERMINATED_ERROR = encode.errorResponse(
  'ERROR',
  SQLSTATE.PROTOCOL_VIOLATION,
  'unexpected message type 0x58 during COPY from stdin',
);
const COPY_CUT_FATAL = encode.errorResponse(
  'FATAL',
  SQLSTATE.PROTOCOL_VIOLATION,
  'terminating connection because protocol synchronization was lost',
);

/** What of the session these functions use. */
export type EndSession = Pick<
  ClientSession,
  | 'clientEnd'
  | 'consoleAnswer'
  | 'copyIn'
  | 'deferred'
  | 'extendedAtFlush'
  | 'extendedSinceSyncPoint'
  | 'queuedSyncs'
  | 'resend'
  | 'server'
  | 'state'
  | 'statementLink'
  | 'tracking'
> &
  CloseSession &
  ReportedParamsSession;

/** The client sends nothing more (terminated: it said so with a Terminate, so it reads nothing after its answers). */
export function clientEnded(s: EndSession, terminated: boolean): void {
  if (s.clientEnd === 'open' || terminated) s.clientEnd = terminated ? 'terminated' : 'ended';
  leaveIfAnswered(s);
  if (!terminated && s.state !== State.Closed) setTimeout(probeEndedClient, ENDED_CLIENT_PROBE_MS, s, 2).unref();
}

/** How long answers owed after a FIN may take before pgtide asks whether the client is there. */
const ENDED_CLIENT_PROBE_MS = 1000;
/** Between the two writes of that question: the reset the first one met arrives meanwhile. */
const PROBE_AGAIN_MS = 50;

/**
 * A FIN comes from a client that half-closed its connection and reads on, and from one that is
 * gone: a process killed, whose kernel sends the same FIN. A gone client's query would run to its
 * end, its server held from the pool all the while (PostgreSQL's own backend runs it to the end
 * too). Writing tells them apart: a gone client's kernel answers with a reset, which the second
 * write meets, and the session closes as for any client that leaves (its query cancelled, its
 * server rolled back). A client that reads on gets a ParameterStatus repeating what it was told
 * of server_version, twice: the protocol allows one at any time, and it changes nothing.
 */
function probeEndedClient(s: EndSession, left: number): void {
  // Logged in and past the login's own messages: nothing else may come before AuthenticationOk.
  const loggedIn = s.state === State.Ready || s.state === State.Waiting || s.state === State.Linked;
  if (!loggedIn || !s.socket.writable || !owesAnswers(s)) return;
  // An answer under way is written to the client anyway, which finds a gone one out as well.
  if (s.server !== null && !s.server.answerAtBoundary) return;
  if (repeatTold(s, 'server_version') && left > 1) setTimeout(probeEndedClient, PROBE_AGAIN_MS, s, left - 1).unref();
}

/** Called where an answer owed may have been the last: the session ends once none is. */
export function leaveIfAnswered(s: EndSession): void {
  if (s.clientEnd === 'open' || s.state === State.Closed || owesAnswers(s)) return;
  const terminated = s.clientEnd === 'terminated';
  // The server's COPY is failed too (with a CopyFail, see ServerConnection.orphan): no row is kept.
  // Errors just written are not cut off by the at-once close a Terminate otherwise gets.
  const told = s.copyIn === CopyIn.Running && tellCopyCut(s, terminated);
  closeSession(s, terminated && !told);
}

/** Returns whether the client was told. */
function tellCopyCut(s: EndSession, terminated: boolean): boolean {
  // A client that closed both ways (a reset) reads nothing.
  if (!s.socket.writable) return false;
  s.ctx.pools.countError(terminated ? SQLSTATE.PROTOCOL_VIOLATION : SQLSTATE.CONNECTION_FAILURE);
  s.ctx.pools.countError(SQLSTATE.PROTOCOL_VIOLATION);
  s.socket.write(terminated ? COPY_TERMINATED_ERROR : COPY_CUT_ERROR);
  s.socket.write(COPY_CUT_FATAL);
  return true;
}

/**
 * Messages after the last sync point (an extended batch without its Sync) get the answers the
 * client flushed: PostgreSQL sends those, and keeps what it was not asked to flush until a Sync
 * that never comes. Each Parse, Bind and Execute before the Flush ends with one answer, or an
 * error after which the server skips the rest (see SyncPoints). Once those are in, the session
 * leaves, and its server's batch is ended in a rollback (see ServerConnection.orphan).
 */
function owesFlushed(s: EndSession): boolean {
  if (s.extendedAtFlush < 0) return false;
  const server = s.server;
  // Still queued for a server.
  if (server === null) return true;
  if (s.tracking) {
    // pgtide adds and answers requests of its own there: the tracker follows each request to
    // its answer, those after the Flush too, which never come. Only a batch that ends with its
    // Flush is followed to its end; one with more after it leaves at once, as before.
    if (s.extendedSinceSyncPoint !== s.extendedAtFlush) return false;
    const tracker = s.statementLink!.tracker;
    return !tracker.idle && !tracker.skipping;
  }
  return !server.syncs.discarding && server.syncs.answersSinceReady < s.extendedAtFlush;
}

/** Something the client sent is still to be answered, or a login it began still to be finished. */
function owesAnswers(s: EndSession): boolean {
  switch (s.state) {
    // The startup packet was taken: PostgreSQL would finish the login (and answer what followed it).
    case State.Lookup:
    case State.Login:
      return true;
    case State.Admin:
      return s.consoleAnswer !== null;
    case State.Ready:
    case State.Waiting:
    case State.Linked:
      // A COPY IN still waits for data that will not come: PostgreSQL fails it at once.
      if (s.copyIn === CopyIn.Running) return false;
      // Sync points waiting for a server, bytes held back (scanned again later) or to run again,
      // sync points the server still owes, what a Flush asked for.
      return (
        s.queuedSyncs > 0 ||
        s.deferred.length > 0 ||
        (s.resend !== null && s.resend.bytes !== null) ||
        (s.server !== null && s.server.syncs.pending > 0) ||
        owesFlushed(s)
      );
    default:
      // Before the login is whole, the client must still speak (TLS, a password): nothing comes.
      return false;
  }
}
