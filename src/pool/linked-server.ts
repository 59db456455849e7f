// What a client session uses of the server connection lent to it, and of the pool that lends
// it: the seam between the two. ServerConnection and ServerPool implement them; the session's
// unit tests put scripted fakes in their place (test/unit/session-harness.ts).
import type { PoolStats } from './pool.js';
import type { ServerLoginError } from './server-login.js';
import type { PreparedSet } from './prepared-set.js';
import type { Rows } from './own-query.js';
import type { ServerPeer } from './server-peer.js';
import type { SyncPoints } from './sync-points.js';

/** LinkedServer.sequenceOwner where a client's transaction ran that may have called nextval,
 *  not a write pgtide knows of (a client that left mid-transaction, a write on a read's link). */
export const SEQUENCES_OF_SOMEONE = -1;

/** A server connection as the client session linked to it sees it. */
export interface LinkedServer {
  /** Names the connection in logs and SHOW CLIENTS. */
  readonly id: number;
  /** Sync points sent and not yet answered: the session adds, the server answers. */
  readonly syncs: SyncPoints;
  /** Named statements prepared on this server for the clients it serves. */
  readonly prepared: PreparedSet;
  /** What the server reported in ParameterStatus. */
  readonly params: ReadonlyMap<string, string>;
  /** Session settings made here by pgtide for its clients, and their key (see SessionSettings). */
  settings: ReadonlyMap<string, string>;
  settingsKey: string;
  /** With settings UNKNOWN_SETTINGS: the client whose code set them, which alone may go on with
   *  them while its settings' key is `unknownOwnerKey` (null: none may). */
  readonly unknownOwner: ServerPeer | null;
  readonly unknownOwnerKey: string;
  /** The digest of every setting's value (see SETTINGS_PRINT) a read-back found ('': none), the
   *  settings and custom names it was taken with (see printKey), and the settable names it
   *  covers ('': not read yet). A reset leaves it: the same settings given again read alike. */
  settingsPrint: string;
  printedFor: string;
  settableNames: string;
  /** cancelPid of the client whose write last ran here: what currval and lastval answer is its (0: no
   *  values here, no write having run since a new connection or a discard; SEQUENCES_OF_SOMEONE:
   *  maybe some, of no known client). */
  sequenceOwner: number;
  /** The unnamed statement the server holds, as the copy of its Parse a client's session keeps
   *  (see unnamed-statement.ts): set when that Parse went here; null once pgtide's own query or
   *  another client may have replaced it. */
  unnamedBy: object | null;
  /** What came from the server ends with a whole message (see ServerConnection). */
  readonly answerAtBoundary: boolean;
  /** Transaction status from the last ReadyForQuery. */
  readonly txStatus: number;
  /** The server's FATAL has reached the client already. */
  readonly toldClientOfEnd: boolean;
  /** Cancel requests sent for this server and not yet ended (see ServerConnection.cancelDone). */
  readonly cancelsInFlight: number;
  readonly isClosed: boolean;
  /** A message cut inside its header by the end of the last chunk: its type byte (else 0) and the header bytes received. */
  readonly cutHeaderType: number;
  readonly cutHeaderLength: number;
  /** For batching the writes of one tick. */
  readonly socket: { cork(): void; uncork(): void };
  /** The bytes being handed to the peer end its transaction (an idle ReadyForQuery answers its
   *  last sync point); read in ServerPeer.onServerData, before onServerIdle. */
  readonly endsTransaction: boolean;

  /** Lent to `peer`; `tracking` when the peer edits its stream and follows every answer. */
  link(peer: ServerPeer, tracking: boolean): void;
  unlink(): void;
  setTracking(tracking: boolean): void;
  /** Client bytes; false when the socket buffer is full (pause the client). */
  write(chunk: Buffer): boolean;
  /** pgtide's own query between the client's transactions (see ServerConnection.query). */
  query(sql: string, owner?: ServerPeer | null, changesSettings?: boolean): Promise<Rows>;
  /** pgtide's own extended-protocol messages, ending with a Sync (see ServerConnection.request). */
  request(request: Buffer, owner: ServerPeer | null, changesSettings: boolean, shapes?: Buffer[] | null): Promise<Rows>;
  /** Back to the pool now, or once pending cancels have finished. */
  returnWhenCancelsDone(): void;
  /** Back to the pool after `resetQuery` ran. */
  resetThenReturn(resetQuery: string): void;
  close(reason: string): void;
  /** Every sync point was answered while a client message was cut: with it whole now, the
   *  server is idle as at that ReadyForQuery, and the peer is told so. */
  settleAfterCut(): void;
  /** The client left: back to a known idle state (or closed, for `closeReason`). */
  orphan(closeReason: string | null, resetQuery: string | null, sendCancel: (server: LinkedServer) => void): void;
  /** Settings now `settings`; for UNKNOWN_SETTINGS, `owner` is the client that set them (see unknownOwner). */
  forgetSettings(settings: ReadonlyMap<string, string>, owner?: ServerPeer | null, ownerKey?: string): void;
  pauseReading(): void;
  resumeReading(): void;
}

/** A client session waiting for a server of a LendingPool. */
export interface ServerWaiter {
  waitingSince: number;
  onServerAssigned(server: LinkedServer): void;
  onPoolError(err: ServerLoginError): void;
}

/** The pool a client session borrows its servers from. */
export interface LendingPool {
  readonly stats: PoolStats;
  /** An idle server now, or `waiter` is told when one is free (or the pool fails). */
  acquire(waiter: ServerWaiter): void;
  /** An idle server or null; the one of id `lastWrite` first, while `owner`'s sequence values
   *  are there, then one whose unknown settings `peer` set (see LinkedServer.unknownOwner). */
  takeIdle(lastWrite: number, owner: number, peer?: ServerPeer | null): LinkedServer | null;
  /** Its clients call currval or lastval: where a write ran is kept for its writer (see ServerPool.takeIdle). */
  sequenceReaders: boolean;
  cancelWait(waiter: ServerWaiter): void;
  /** A server back from its client, idle and clean. */
  release(server: LinkedServer): void;
  /** A server of the pool took each of these startup settings at a login before. */
  knowsSettings(settings: ReadonlyMap<string, string>): boolean;
  /** A server took these startup settings at a login. */
  tookSettings(settings: ReadonlyMap<string, string>): void;
}
