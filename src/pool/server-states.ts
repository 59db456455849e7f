// The states of a server connection, and which of the server's messages its scanner assembles
// in each: the rest of a chunk is forwarded as bytes, never decoded.
import { collectTable } from '../protocol/scanner.js';

export const enum State {
  Connecting,
  Login,
  Idle,
  Linked,
  Draining,
  Internal,
  Closed,
}

// On the forward path only the messages that change what pgtide must do are assembled: errors
// (a FATAL ends the session), notifications (their pid may be the client's to report), and the
// login's own messages, which a server never sends once logged in (see LOGIN_ONLY).
export const ACTIVE_TYPES = collectTable('ZSGWEARKv');
// A link whose client stream pgtide edits (prepared statements) also follows every request's answer;
// so does one with an extended-protocol batch open (see SyncPoints.failed).
export const TRACKED_TYPES = collectTable('ZSGW123ntTCIsEARKv');
/** An authentication request, a cancel key or a protocol version: forwarded after login, a
 *  compromised server could ask the client for its password through pgtide. */
export const LOGIN_ONLY = collectTable('RKv');
/** The end of the answer to a Parse, Bind or Execute (see SyncPoints.countAnswer); 0 for other types. */
export const ANSWER_ENDS = collectTable('12CIs');
// Logging in and idle, every message is checked: only a few types may come then.
export const ALL_TYPES = new Uint8Array(256).fill(1);
