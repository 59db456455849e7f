// Client bytes that cannot go to a server yet, kept in order: queued while no server is linked
// (flushed to the one linked next), and deferred while a read runs on a standby or bytes wait to
// run again (scanned and routed afresh later, since they may write). A client that sends a lot
// meanwhile is paused, so that it cannot fill pgtide's memory.
import type { LinkedServer } from '../../pool/linked-server.js';
import type { PoolWaiter } from '../../pool/pool.js';
import type { ClientSession } from '../client-session.js';
import * as encode from '../../protocol/encode.js';
import { TransactionStatus } from '../../protocol/types.js';
import { startQuery, type StatsSession } from './stats.js';
import { endSkippedBatch } from './statement-link.js';
import { CopyIn, NO_CHUNKS, State, Wait, appended } from './state.js';
import { leaveIfAnswered, type EndSession } from './client-end.js';
import { dropHeldCancel, sendHeldCancel } from './held-cancel.js';
import { usesMissingUnnamed } from './unnamed-statement.js';

const QUEUE_LIMIT_BYTES = 256 * 1024;

/** What of the session these functions use. */
export type QueueSession = Pick<
  ClientSession,
  | 'batchOpen'
  | 'batchRuns'
  | 'cancelAgain'
  | 'cancelWanted'
  | 'ctx'
  | 'deferred'
  | 'deferredBytes'
  | 'extendedAtFlush'
  | 'extendedSinceSyncPoint'
  | 'copyIn'
  | 'isClosed'
  | 'keptUnnamedParse'
  | 'keptUnnamedUnsent'
  | 'cutHead'
  | 'onQueryBytes'
  | 'onQueryData'
  | 'pauseClient'
  | 'mode'
  | 'queryStart'
  | 'queued'
  | 'queuedBatched'
  | 'queuedBytes'
  | 'queuedSyncs'
  | 'queuedUnsynced'
  | 'readLink'
  | 'resend'
  | 'resumeClient'
  | 'send'
  | 'sentOnLink'
  | 'server'
  | 'state'
  | 'statementLink'
  | 'tracking'
  | 'unnamedToRestore'
> &
  StatsSession;

/** Client bytes for the server not linked yet. */
export function queue(s: QueueSession, data: Buffer): void {
  s.queued = appended(s.queued, data);
  s.queuedBytes += data.length;
  // Pausing costs two syscalls, so only a client that sends a lot while it waits for a
  // server is paused: it must not fill our memory.
  if (s.queuedBytes > QUEUE_LIMIT_BYTES) s.pauseClient();
}

/** The client's next `chunk` cannot be scanned and sent yet: it is deferred. */
export function mustDefer(s: QueueSession & Pick<ClientSession, 'statementLink' | 'scanner'>, chunk: Buffer): boolean {
  // What the client sends while its last bytes wait to run again follows them.
  if (s.resend !== null && s.resend.bytes !== null) return true;
  // Bytes deferred before it go first, whatever became of the read that held them back: a read
  // sent to the primary instead (its standby had not replayed a schema change), while they
  // waited, sent the client's next chunk ahead of them (tokio-postgres read answers in the
  // wrong order, 8 clients on 2 servers).
  if (s.deferred.length > 0) return true;
  const linked = s.server;
  // A pipelined statement must not follow a read onto a standby: it may write. Hold it
  // until the read's server is released (or its transaction stays open), then route it. Not
  // when the read's last sync point is a Query the server may skip (see querySkippable): its
  // batch's Sync may be in these bytes, without which neither side would ever go on (pgJDBC's
  // autosave sends Bind, Execute and a SAVEPOINT Query, then the next statement and the Sync).
  // Checked first: a chunk on a write link, with no unnamed statement kept, reads two fields.
  if (linked)
    return (
      (s.readLink || s.keptUnnamedParse !== null) &&
      linked.syncs.pending > 0 &&
      !linked.syncs.unsynced &&
      !(s.tracking ? s.statementLink!.tracker.querySkippable : linked.syncs.querySkippable) &&
      // So does a Bind (or Describe) of an unnamed statement the client parsed on another
      // server, pipelined (see lacksUnnamed): here it would run whatever this one holds.
      (s.readLink || (s.mode !== 'session' && s.copyIn === CopyIn.None && usesMissingUnnamed(s, linked, chunk)))
    );
  // Waiting for a server for a read: what follows may write, so it is routed on its own later,
  // unless it ends the batch queued (a Parse alone, its Bind and Flush in later chunks, as
  // pg-cursor writes them): the server then needs it to answer at all.
  return s.readLink && s.state === State.Waiting && !s.queuedUnsynced;
}

/**
 * Whether the read's server may be left for the client's next chunk, if that chunk writes: the
 * batch open there only prepared named statements (asyncpg's prepare() sends Parse, Describe and
 * Flush, and its next statement without a Sync before it), all answered, outside a transaction
 * block. Nothing in it ran, and any server prepares those statements at their first use.
 * Decided before the chunk is scanned, which counts its own messages into the batch.
 */
export function leavesRead(
  s: Pick<QueueSession, 'batchRuns' | 'readLink' | 'tracking'> & Pick<ClientSession, 'scanner' | 'statementLink'>,
  server: LinkedServer,
): boolean {
  return (
    s.readLink &&
    s.tracking &&
    !s.batchRuns &&
    s.scanner.atBoundary &&
    server.syncs.pending === 0 &&
    server.syncs.unsynced &&
    server.txStatus === TransactionStatus.Idle &&
    s.statementLink!.tracker.idle &&
    // A batch message failed there: the server discards the client's bytes up to the batch's
    // Sync, as PostgreSQL would; run elsewhere, a write the client sent before it would run.
    !s.statementLink!.tracker.skipping
  );
}

/**
 * A write (a whole chunk, up to its sync point) that came on a read's server: the batch open
 * there ends with a Sync of pgtide's own, whose ReadyForQuery the client never sees, and the
 * chunk waits in the queue, scanned, for the server of its own route (see transactionAnswered).
 */
export function leaveRead(
  s: QueueSession & Pick<ClientSession, 'statementLink'>,
  server: LinkedServer,
  data: Buffer,
): void {
  s.queuedUnsynced = false;
  queue(s, data);
  endSkippedBatch(s, server, true);
}

/** Client bytes to scan and route afresh later (see replayDeferred). */
export function defer(s: QueueSession, chunk: Buffer): void {
  s.deferred = appended(s.deferred, chunk);
  s.deferredBytes += chunk.length;
  if (s.deferredBytes > QUEUE_LIMIT_BYTES) s.pauseClient();
}

/**
 * A message the chunk ends inside, begun right after the last sync point of a read for a
 * standby (a statement longer than one socket read, pipelined behind the read): what arrived
 * of it is held back with what follows, to be scanned whole and routed once the read answered.
 * Sent, its rest would have to follow it to the standby, which refuses a write (25006) after
 * the read answered. The read's part is returned, to be sent.
 */
export function holdCutBehindRead(s: QueueSession & Pick<ClientSession, 'scanner' | 'syncEnd'>, data: Buffer): Buffer {
  const start = s.syncEnd;
  if (start <= 0 || s.scanner.cutMessageStart(data.length) !== start) return data;
  // Nothing of the message has reached the session yet: collected bodies go to it when whole.
  s.scanner.reset();
  defer(s, data.subarray(start));
  return data.subarray(0, start);
}

/** Replay held chunks now that the read's server is released or inside a transaction. */
export function replayDeferred(s: QueueSession): void {
  const held = s.deferred;
  s.deferred = NO_CHUNKS;
  s.deferredBytes = 0;
  // Held as the client sent them while its messages were not gathered whole: a first named
  // statement among them gathers the rest from then on, as new bytes would be (libpq's
  // pipeline, held behind a read, got its Binds cut unrenamed and its scan misframed).
  const asSent = s.statementLink === null || s.statementLink.whole === null;
  // A message start held from the client's last read (see cut-head.ts) follows these bytes,
  // which came before it: put in front of them, the scan misframed the stream.
  const head = s.cutHead;
  s.cutHead = null;
  for (const chunk of held) {
    if (s.isClosed) return;
    if (asSent) s.onQueryBytes(chunk);
    else s.onQueryData(chunk);
  }
  if (head !== null) s.cutHead = head;
  if (s.deferred.length === 0 && s.queuedBytes <= QUEUE_LIMIT_BYTES) s.resumeClient();
}

/** The queued bytes go to the server just linked, with the sync points they hold. */
export function flushQueued(s: QueueSession, server: LinkedServer): void {
  // Sent as they are (a pinned client's own server holds its unnamed statement): the copy a
  // Bind among them needed is theirs no more.
  if (s.unnamedToRestore !== null) s.unnamedToRestore = null;
  oweSyncPoints(s, server, s.queuedUnsynced);
  s.queuedUnsynced = false;
  const queued = s.queued;
  s.queued = NO_CHUNKS;
  if (s.readLink || s.tracking) for (const buf of queued) s.sentOnLink = appended(s.sentOnLink, buf);
  if (queued.length > 0 && s.queryStart === 0) startQuery(s);
  let ok = true;
  if (queued.length === 1) {
    ok = s.send(server, queued[0]!);
  } else {
    server.socket.cork();
    for (const buf of queued) ok = s.send(server, buf);
    server.socket.uncork();
  }
  // Counted here, not when queued: takeQueued's bytes are scanned again and counted when sent.
  s.pool!.stats.bytesReceived += s.queuedBytes;
  s.queuedBytes = 0;
  if (s.cancelWanted) sendHeldCancel(s, server);
  if (ok) s.resumeClient();
}

/** What of the session answerCancelWhileQueued uses. */
export type QueuedCancelSession = Pick<
  ClientSession,
  | 'cancelWanted'
  | 'chunkKind'
  | 'copyAfterQuery'
  | 'ctx'
  | 'deferred'
  | 'epoch'
  | 'pendingBegin'
  | 'pinned'
  | 'pinnedForGood'
  | 'pool'
  | 'probeAfter'
  | 'queued'
  | 'queuedBatched'
  | 'queuedBytes'
  | 'queuedSyncs'
  | 'queuedUnsynced'
  | 'ranDdl'
  | 'ranInLink'
  | 'readLink'
  | 'resend'
  | 'resumeClient'
  | 'retrying'
  | 'routeOverride'
  | 'scanner'
  | 'server'
  | 'settingsDirty'
  | 'socket'
  | 'state'
  | 'wait'
  | 'waitingSince'
> &
  EndSession &
  PoolWaiter;

/**
 * A cancel of a query still waiting for a server: on a direct connection the query would be
 * running, and the cancel would end it. Queued, it has reached no server, so it is answered
 * 57014 at once and never sent (returns true), where dropping it leaves nothing behind: one
 * whole batch waits in one chunk, for a server of its pool (not for one being readied), its
 * statement is a plain read or write (no COPY data can follow it), and its scan noted no
 * setting, route choice, pin, schema change or deferred BEGIN. Otherwise the cancel follows
 * the bytes to their server (see flushQueued), where a statement quicker than it still runs.
 */
export function answerCancelWhileQueued(s: QueuedCancelSession): boolean {
  if (s.state !== State.Waiting || s.wait !== Wait.Pool || s.server !== null) return false;
  if (s.queued.length !== 1 || s.queuedSyncs !== 1 || s.queuedUnsynced || !s.scanner.atBoundary) return false;
  if (s.deferred.length > 0 || (s.resend !== null && s.resend.bytes !== null)) return false;
  // No COPY data can follow a read or a write of rows (COPY is a kind of its own).
  if (s.chunkKind !== 'select' && s.chunkKind !== 'dml') return false;
  if (s.pendingBegin !== null || s.settingsDirty || s.probeAfter || s.ranDdl || s.pinned || s.pinnedForGood)
    return false;
  if (s.routeOverride !== 'auto') return false;
  s.pool?.cancelWait(s);
  // A server the pool hands over for the abandoned wait goes back to it (see serverAssigned).
  s.epoch++;
  s.state = State.Ready;
  s.readLink = false;
  s.retrying = false;
  s.ranInLink = false;
  dropHeldCancel(s);
  s.copyAfterQuery = false;
  s.waitingSince = 0;
  s.queued = NO_CHUNKS;
  s.queuedBytes = 0;
  s.queuedSyncs = 0;
  if (s.queuedBatched) s.queuedBatched.length = 0;
  s.ctx.pools.countError(encode.SQLSTATE.QUERY_CANCELED);
  s.socket.write(
    Buffer.concat([
      encode.errorResponse('ERROR', encode.SQLSTATE.QUERY_CANCELED, 'canceling statement due to user request'),
      encode.readyForQuery('I'),
    ]),
  );
  s.resumeClient();
  // A Terminate (or the end of the stream) queued behind it: nothing is owed now.
  leaveIfAnswered(s);
  return true;
}

/** The sync points counted in the bytes about to go to `server` are owed by it from now on. */
export function oweSyncPoints(s: QueueSession, server: LinkedServer, unsynced: boolean): void {
  server.syncs.sent(s.queuedSyncs, unsynced, s.queuedBatched);
  forgetCountedSyncs(s);
}

/** The sync points the scan counted in bytes not sent (yet): they are scanned again, and counted then. */
export function forgetCountedSyncs(s: Pick<QueueSession, 'queuedSyncs' | 'queuedBatched'>): void {
  s.queuedSyncs = 0;
  if (s.queuedBatched) s.queuedBatched.length = 0;
}

/** Bytes sent since the last sync point are about to be scanned again (the queued ones, or a
 *  link's bytes run again elsewhere, which began at one): the batch they open is counted afresh. */
export function forgetOpenBatch(
  s: Pick<QueueSession, 'batchOpen' | 'batchRuns' | 'extendedAtFlush' | 'extendedSinceSyncPoint'>,
): void {
  s.batchOpen = false;
  s.batchRuns = false;
  s.extendedSinceSyncPoint = 0;
  s.extendedAtFlush = -1;
}

/** The chunks queued while no server was linked, and their sync-point count forgotten: they are scanned again. */
export function takeQueued(s: QueueSession & Pick<ClientSession, 'scanner'>): readonly Buffer[] {
  forgetCountedSyncs(s);
  // They began at a message boundary (the server went back at a sync point); scanned again from
  // the scanner's state after them, a message they end inside would be framed twice: the
  // client's bytes read as a length (08P01), or a wait for bytes never sent (a wedged server).
  s.scanner.reset();
  // No server was linked: the last one was released idle, with no batch open.
  forgetOpenBatch(s);
  s.queuedUnsynced = false;
  s.queuedBytes = 0;
  const queued = s.queued;
  s.queued = NO_CHUNKS;
  return queued;
}
