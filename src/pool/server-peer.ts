// The two parties a server connection talks to: the client session it is lent to, and the
// pool that owns it.
import type { ServerConnection } from './server-connection.js';
import type { ServerLoginError } from './server-login.js';

/** The client session a server connection is lent to. */
export interface ServerPeer {
  /** Server bytes to forward, whole chunks as received. Returns true when the chunk is still
   * referenced afterwards (queued in a socket), so its memory must not be reused. */
  onServerData(chunk: Buffer): boolean;
  /** Every sync point answered, no client bytes waiting for one, and a status byte to act on. */
  onServerIdle(status: number): void;
  /** The connection is gone. `toldByServer`: the server's own FATAL (a terminated backend,
   *  a shutdown) has already reached the client, which must not get a second error.
   *  `unanswered`: requests were sent that the server had not answered to their sync point
   *  (one may have run, a COMMIT among them). */
  onServerLost(reason: string, toldByServer: boolean, unanswered: boolean): void;
  /** Until uncorkClient, what onServerData forwards is gathered into one write to the client. */
  corkClient(): void;
  uncorkClient(): void;
  /** The server's write buffer emptied: the peer may resume reading its client. */
  onServerDrain(): void;
  /** An ErrorResponse in the chunk onServerData receives next (counted for /metrics). */
  onServerError(body: Buffer): void;
  /** The server entered COPY IN: returns how many Syncs it sent since the Execute that
   * started it (the server ignores them) and stops counting Syncs until CopyDone/CopyFail. */
  onServerCopyIn(): number;
  /** The server's ReadyForQuery after a COPY IN: whatever the client sends from now on, the
   *  server reads outside it (it ignores COPY data, and a Sync is one again). */
  onServerCopyOver(): void;
  /** On a tracking link, each answer that may end a request (see ResponseTracker); `end` is
   *  its end offset in the chunk onServerData receives next. */
  onServerAnswer(type: number, body: Buffer, end: number): void;
  /** The client keeps this server after its transaction (session pooling, pinned): a FATAL
   *  the server sends after an answer is the client's, not only the connection's. */
  readonly keepsServer: boolean;
  /** The pid the client was told in BackendKeyData (0 before): a notification its own server
   *  sends carries it instead of the server's, as if that backend were the client's. */
  readonly clientPid: number;
  /** A whole message (NotificationResponse, NoticeResponse, ParameterStatus, a FATAL
   *  ErrorResponse) the server sent while pgtide ran its own query for this peer, a copy. */
  onServerAsync(message: Buffer): void;
}

/** The pool that owns a server connection. */
export interface ServerOwner {
  onServerLogin(server: ServerConnection, error: ServerLoginError | null): void;
  onServerClosed(server: ServerConnection): void;
  /** A server cleaned up after its client left is ready to be reused. */
  onServerReusable(server: ServerConnection): void;
  /** A cancel request sent at `sentAt` to the server's postmaster got no answer (pools only:
   *  no one cancels what a check or a catalog lookup runs). */
  onCancelUnanswered?(sentAt: number): void;
}
