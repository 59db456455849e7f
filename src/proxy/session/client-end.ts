// A client that has sent all it will send: its FIN (a half-close, `nc -N`, a socket.end() after
// the query) or a Terminate behind its last messages. PostgreSQL reads the client's messages in
// order and answers each before it reads the end, so such a client gets every answer owed for
// what it sent first; pgtide keeps the session until then, and only then leaves as for any
// client that goes (its server rolled back or reset, see closeSession).
import type { ClientSession } from '../client-session.js';
import { closeSession, type CloseSession } from './close.js';
import { State } from './state.js';

/** What of the session these functions use. */
export type EndSession = Pick<
  ClientSession,
  'clientEnd' | 'consoleAnswer' | 'copying' | 'deferred' | 'queuedSyncs' | 'resend' | 'server' | 'state'
> &
  CloseSession;

/** The client sends nothing more (terminated: it said so with a Terminate, so it reads nothing after its answers). */
export function clientEnded(s: EndSession, terminated: boolean): void {
  if (s.clientEnd === 'open' || terminated) s.clientEnd = terminated ? 'terminated' : 'ended';
  leaveIfAnswered(s);
}

/** Called where an answer owed may have been the last: the session ends once none is. */
export function leaveIfAnswered(s: EndSession): void {
  if (s.clientEnd !== 'open' && !owesAnswers(s)) closeSession(s, s.clientEnd === 'terminated');
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
      // A COPY IN still waits for data that will not come: no answer is on its way.
      if (s.copying) return false;
      // Sync points waiting for a server, bytes held back (scanned again later) or to run again,
      // sync points the server still owes. Messages after the last sync point (an extended batch
      // without its Sync) are answered by nobody, as PostgreSQL sends nothing for them either.
      return (
        s.queuedSyncs > 0 ||
        s.deferred.length > 0 ||
        (s.resend !== null && s.resend.bytes !== null) ||
        (s.server !== null && s.server.syncs.pending > 0)
      );
    default:
      // Before the login is whole, the client must still speak (TLS, a password): nothing comes.
      return false;
  }
}
