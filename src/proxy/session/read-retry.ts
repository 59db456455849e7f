// Whether a server's answer refuses what the client sent in a way that lets pgtide run the same
// bytes again unseen: a standby's "read-only transaction" refusal (25006, the bytes go to the
// primary), or a prepared statement that was stale or missing (prepared again, run again).
// Decided from the chunk alone, before any of it reaches the client; then the bytes sent on the
// link are scanned and routed again.
import { decodeErrorFields, endsSession, errorCode, type ErrorFields } from '../../protocol/backend.js';
import { SQLSTATE } from '../../protocol/encode.js';
import { BackendMessage, TransactionStatus } from '../../protocol/types.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import type { ClientSession } from '../client-session.js';
import { forgetCountedSyncs, forgetOpenBatch, replayDeferred, type QueueSession } from './queue.js';
import { appended, CopyIn, NO_CHUNKS, State } from './state.js';
import { endSkippedBatch, mayRunAgain } from './statement-link.js';
import { CUT_MESSAGE, letServerGo } from './close.js';
import { OLD_SHAPE } from '../prepared-statements.js';

export const enum Refusal {
  None,
  /** Refused, and the chunk ends with the ReadyForQuery that ends the refusal. */
  Complete,
  /** Refused, its ReadyForQuery still to come. */
  AwaitingReady,
  /** Refused on a standby, and batches the client pipelined after it ran there (reads, as all
   *  a standby runs): their answers so far are whole messages pgtide may drop, to run them
   *  again after it on the primary, in the client's order. */
  LaterRan,
}

/** Whether an error refusing a statement lets it run again unseen: a shared function given its
 *  context, not a closure per session. */
export type Retryable<C> = (error: ErrorFields, context: C) => boolean;

const READ_ONLY_REFUSAL = '25006';
const UNLOGGED_TABLE = 'a standby cannot read an unlogged or temporary table';
const LAGGING_SHAPE =
  "a standby's copy of the statement has another shape than the client holds (a table change not replayed there yet?)";

/**
 * What only a standby refuses, so that the primary runs it: a write (25006), or a read of an
 * unlogged or temporary table, whose rows only the primary has ("cannot access temporary or
 * unlogged relations during recovery": 0A000 from the planner's get_relation_info, named by its
 * routine since the message may be translated and 0A000 alone also means a stale plan).
 */
export function isStandbyOnlyRefusal(error: ErrorFields): boolean {
  return (
    error.code === READ_ONLY_REFUSAL ||
    (error.code === SQLSTATE.FEATURE_NOT_SUPPORTED && error['routine'] === 'get_relation_info')
  );
}

/** The SQLSTATE of an error isStandbyOnlyRefusal may accept. */
function mayBeStandbyOnlyRefusal(code: string): boolean {
  return code === READ_ONLY_REFUSAL || code === SQLSTATE.FEATURE_NOT_SUPPORTED;
}

/** On a standby any of these may come: a standby-only refusal, or a shared statement stale or
 *  missing there as on any server (its copy was prepared before the table changed), or pgtide's
 *  0A000 for a client whose description is not the shape of the copy there: a standby that has
 *  not replayed a table change yet gives a copy the old shape, where the primary has the one the
 *  client holds (run there, a real change still gets the client its 0A000). */
function isStandbyRefusal(error: ErrorFields, s: RetrySession): boolean {
  return isStandbyOnlyRefusal(error) || (s.tracking && (mayRunAgain(error, s) || refusedOldShape(s)));
}

/** The last error is pgtide's 0A000 for a description that is not the shape of the copy here. */
function refusedOldShape(s: Pick<RetrySession, 'statementLink'>): boolean {
  return s.statementLink?.tracker.failedStatement === OLD_SHAPE;
}

/**
 * Whether a chunk answers a statement with an error `retryable` accepts ("cannot execute … in a
 * read-only transaction", a stale plan) before any row, ending idle (outside a transaction
 * block) or about to: then nothing of it needs to reach the client. Several batches (Syncs)
 * count when each of them is refused so: none of them ran. `afterAnswers`: rows and command
 * tags may come before the error in its batch (the batch's earlier statements, which it rolls back).
 * `dropLater`: on a standby, batches after a refused one may have run (see laterAnswersIn).
 */
export function refusalIn<C>(
  chunk: Buffer,
  retryable: Retryable<C>,
  context: C,
  awaitingReady = false,
  afterAnswers = false,
  dropLater = false,
): Refusal {
  let off = 0;
  let refused = awaitingReady;
  while (off + 5 <= chunk.length) {
    const type = chunk[off]!;
    const len = chunk.readUInt32BE(off + 1);
    const end = off + 1 + len;
    if (len < 4 || end > chunk.length) return Refusal.None;
    if (type === BackendMessage.ErrorResponse) {
      refused = retryable(decodeErrorFields(chunk.subarray(off + 5, end)), context);
      if (!refused) return Refusal.None;
    } else if (type === BackendMessage.ReadyForQuery) {
      if (!refused || chunk[off + 5] !== TransactionStatus.Idle) return Refusal.None;
      if (end === chunk.length) return Refusal.Complete;
      if (dropLater) return laterAnswersIn(chunk, end);
      refused = false;
    } else if ((type === BackendMessage.DataRow || type === BackendMessage.CommandComplete) && !afterAnswers) {
      return Refusal.None;
    }
    off = end;
  }
  return refused && off === chunk.length ? Refusal.AwaitingReady : Refusal.None;
}

/**
 * The answers, from `off`, of batches a standby ran after a refused one: LaterRan when they are
 * whole messages of reads that changed nothing pgtide follows (rows, row counts of SELECT, SHOW
 * and EXPLAIN, errors that end no session), each batch ending outside a transaction block, so
 * that running them again on the primary is what the client asked for. None otherwise: the
 * client then gets the refusal after all.
 */
export function laterAnswersIn(chunk: Buffer, off: number): Refusal {
  while (off + 5 <= chunk.length) {
    const type = chunk[off]!;
    const end = off + 1 + chunk.readUInt32BE(off + 1);
    if (end < off + 5 || end > chunk.length) return Refusal.None;
    switch (type) {
      case BackendMessage.RowDescription:
      case BackendMessage.DataRow:
      case BackendMessage.NoData:
      case BackendMessage.ParseComplete:
      case BackendMessage.BindComplete:
      case BackendMessage.CloseComplete:
      case BackendMessage.ParameterDescription:
      case BackendMessage.EmptyQueryResponse:
      case BackendMessage.PortalSuspended:
      case BackendMessage.NoticeResponse:
        break;
      case BackendMessage.ErrorResponse:
        if (endsSession(chunk.subarray(off + 5, end))) return Refusal.None;
        break;
      case BackendMessage.CommandComplete:
        if (!readTag(chunk, off + 5, end)) return Refusal.None;
        break;
      case BackendMessage.ReadyForQuery:
        if (chunk[off + 5] !== TransactionStatus.Idle) return Refusal.None;
        break;
      default:
        return Refusal.None;
    }
    off = end;
  }
  return off === chunk.length ? Refusal.LaterRan : Refusal.None;
}

const SELECT_TAG = Buffer.from('SELECT ');
const READ_TAGS = [Buffer.from('SHOW\0'), Buffer.from('EXPLAIN\0')];

/** A CommandComplete tag of a statement that only reads: SELECT n (also VALUES, TABLE), SHOW, EXPLAIN. */
function readTag(chunk: Buffer, start: number, end: number): boolean {
  const tag = chunk.subarray(start, end);
  return tag.subarray(0, SELECT_TAG.length).equals(SELECT_TAG) || READ_TAGS.some((t) => tag.equals(t));
}

/** A refused batch's held answers grow by the batches after it up to this; past it the client gets them. */
const MAX_HELD_LATER = 1 << 20;

/**
 * A refusal held back from the client and the bytes that run again after it (see
 * holdsFirstAnswer): made with the client's first such refusal, which most clients never meet.
 */
export class Resend {
  /** The bytes refused: they go again, to the primary when a standby refused them as a write. */
  bytes: readonly Buffer[] | null = null;
  why = '';
  /** The refusal, kept until its ReadyForQuery arrives (and those of the batches pipelined after it). */
  heldRefusal: Buffer | null = null;
  /** The held refusal still lacks its ReadyForQuery. */
  refusalAwaitsReady = false;
  /** The bytes resent go again because a statement was stale or missing: not a second time. */
  rerunning = false;
}

/** What the retries use of the session. */
export type RetrySession = Pick<
  ClientSession,
  | 'answered'
  | 'backend'
  | 'batchOpen'
  | 'batchRuns'
  | 'ctx'
  | 'extendedAtFlush'
  | 'extendedSinceSyncPoint'
  | 'isClosed'
  | 'lastErrorCode'
  | 'onQueryData'
  | 'queuedBatched'
  | 'queuedSyncs'
  | 'readLink'
  | 'remote'
  | 'resend'
  | 'retrying'
  | 'scanner'
  | 'sentOnLink'
  | 'server'
  | 'serverPaused'
  | 'socket'
  | 'state'
  | 'statements'
  | 'statementLink'
  | 'tracking'
  | 'deferred'
>;

/**
 * The first answer on a link. A write the classifier let through to a standby fails with 25006
 * before any row: the client never sees that answer, the statement runs again on the primary. A
 * prepared statement that was stale or missing (see mayRunAgain) outside a transaction is
 * prepared afresh and run again the same way. Returns true when the chunk is held back so.
 */
export function holdsFirstAnswer(s: RetrySession, chunk: Buffer): boolean {
  // A statement runs again once for a stale plan, wherever it runs.
  const stalePlans = s.tracking && s.resend?.rerunning !== true;
  const retryable = s.readLink
    ? stalePlans
      ? isStandbyRefusal
      : isStandbyOnlyRefusal
    : stalePlans
      ? mayRunAgain
      : null;
  // Bytes waiting for a shape check are not on the server yet. A statement run again for a stale
  // plan needs them run there first; a standby's refusal does not: they follow the check there,
  // their answers are dropped as those of any batch after the refusal, and they run again on
  // the primary with the rest (Bun.SQL's pipelined read of an unlogged table, refused while the
  // read after it waited for its statement's shape, reached the client).
  const holding = s.statements?.holding === true;
  if (retryable && s.sentOnLink.length > 0 && s.scanner.atBoundary && (!holding || s.readLink)) {
    const server = s.server!;
    const readLink = s.readLink;
    let refusal = refusalIn(chunk, retryable, s, false, false, readLink);
    let standbyOnly =
      refusal !== Refusal.None &&
      readLink &&
      refusalIn(chunk, isStandbyOnlyRefusal, s, false, false, true) !== Refusal.None;
    if (holding && !standbyOnly) refusal = Refusal.None;
    // Only a chunk whose last error may be a standby's refusal is walked to its end (see link()).
    if (refusal === Refusal.None && s.readLink && mayBeStandbyOnlyRefusal(s.lastErrorCode)) {
      // A write pipelined after reads in one batch (psycopg's pipeline in autocommit sends each
      // statement as it comes, the Sync last) followed them to the standby. Nothing on a standby
      // writes, and the error rolls the batch back: the whole batch runs again on the primary.
      refusal = refusalIn(chunk, isStandbyOnlyRefusal, s, false, true, true);
      standbyOnly = refusal !== Refusal.None;
    }
    const awaiting = refusal === Refusal.AwaitingReady;
    const stale = !standbyOnly;
    // Refused before any Sync (a Parse and Describe then Flush, as postgres.js sends a new
    // statement with parameters; a pipelined write, whose error PostgreSQL sends at once):
    // pgtide ends the skipped batch with a Sync of its own, whose ReadyForQuery the client
    // never sees, and the bytes run again; the client's own Sync follows them.
    const flushed = awaiting && server.syncs.pending === 0 && server.txStatus === TransactionStatus.Idle;
    // Only a refusal of everything sent on this link can be replayed elsewhere: the
    // ReadyForQuery awaited and the answers of batches pipelined after it come later, and
    // must be refused too (see holdsRefusal); no batch may be left open.
    if (refusal !== Refusal.None && (flushed || (!server.syncs.unsynced && (!awaiting || server.syncs.pending > 0)))) {
      if (flushed) endSkippedBatch(s, server);
      const resend = (s.resend ??= new Resend());
      resend.rerunning = stale;
      // onServerError saw the chunk's errors before it came here.
      resend.why = stale
        ? refusedOldShape(s)
          ? LAGGING_SHAPE
          : 'a prepared statement was stale or missing on its server'
        : s.lastErrorCode === READ_ONLY_REFUSAL
          ? 'a standby refused it as a write (25006)'
          : UNLOGGED_TABLE;
      resend.bytes = s.sentOnLink;
      s.sentOnLink = NO_CHUNKS;
      // Counted as it arrived (onServerError), but the client never gets it.
      s.ctx.pools.countError(s.lastErrorCode, -1);
      // The ReadyForQuery may follow in a later chunk; keep a copy in case it does not.
      if (awaiting || server.syncs.pending > 0) resend.heldRefusal = Buffer.from(chunk);
      resend.refusalAwaitsReady = awaiting;
      return true;
    }
  }
  if (s.resend !== null) s.resend.rerunning = false;
  s.sentOnLink = NO_CHUNKS;
  s.statements?.endUndo();
  return false;
}

/**
 * A chunk after a refusal held back (see holdsFirstAnswer): the ReadyForQuery awaited, or the
 * next batches refused the same way, and nothing reaches the client yet (returns true). Anything
 * else is not the clean end expected: the client gets the whole answer after all, the held part
 * now and the chunk from the caller.
 */
export function holdsRefusal(s: RetrySession, resend: Resend, chunk: Buffer): boolean {
  const held = resend.heldRefusal!;
  resend.heldRefusal = null;
  const readLink = s.readLink;
  // On a standby what follows a refusal that ended is the answer of batches that ran there.
  const more =
    held.length + chunk.length > MAX_HELD_LATER
      ? Refusal.None
      : readLink && !resend.refusalAwaitsReady
        ? laterAnswersIn(chunk, 0)
        : refusalIn(chunk, readLink ? isStandbyRefusal : mayRunAgain, s, resend.refusalAwaitsReady, false, readLink);
  if (more !== Refusal.None) {
    resend.refusalAwaitsReady = more === Refusal.AwaitingReady;
    if (resend.refusalAwaitsReady || s.server!.syncs.pending > 0) resend.heldRefusal = Buffer.concat([held, chunk]);
    return true;
  }
  resend.bytes = null;
  resend.rerunning = false;
  s.statements?.endUndo();
  s.ctx.pools.countError(s.lastErrorCode);
  s.socket.write(held);
  return false;
}

/** What retryOnPrimary uses of the session. */
export type ResendSession = Pick<
  ClientSession,
  | 'backend'
  | 'ctx'
  | 'deferred'
  | 'isClosed'
  | 'onQueryData'
  | 'remote'
  | 'resend'
  | 'retrying'
  | 'state'
  | 'statements'
> &
  QueueSession;

/** Bytes a refusal held back (see holdsFirstAnswer) are scanned and routed again, as a retry:
 *  a read refused by a standby goes to the primary; what arrived meanwhile follows. */
export function retryOnPrimary(s: ResendSession): void {
  const resend = s.resend!;
  const bytes = resend.bytes!;
  resend.bytes = null;
  // Reads of unlogged tables take this way every time, and so do a statement's runs while a
  // standby lags behind a table change: a line each would flood the log.
  const level = resend.why === UNLOGGED_TABLE || resend.why === LAGGING_SHAPE ? 'debug' : 'warn';
  s.ctx.log[level]({ client: s.remote, backend: s.backend?.name }, `statement run again on the primary: ${resend.why}`);
  s.retrying = true;
  s.statements?.rollBack();
  forgetOpenBatch(s);
  runBeforeDeferred(s, bytes);
  if (s.deferred.length > 0 && s.state === State.Ready) replayDeferred(s);
}

/**
 * Bytes sent once go again ahead of what the client sent after them and pgtide deferred
 * meanwhile (pipelined behind a read on a standby). Fed in as new bytes they were deferred
 * behind those (mustDefer keeps what it deferred first): libpq's pipeline of a read of an
 * unlogged table and two reads got the reads' rows first, the unlogged read's last.
 */
function runBeforeDeferred(
  s: Pick<ResendSession, 'deferred' | 'isClosed' | 'onQueryData'>,
  bytes: readonly Buffer[],
): void {
  const later = s.deferred;
  s.deferred = NO_CHUNKS;
  for (const chunk of bytes) {
    if (s.isClosed) return;
    s.onQueryData(chunk);
  }
  for (const chunk of later) s.deferred = appended(s.deferred, chunk);
}

/**
 * PostgreSQL's warnings that a server goes away (57P01 at an immediate shutdown, 57P02 when
 * another backend crashed), alone in a chunk: no answer to the client's statement, which may
 * still run again elsewhere when the connection then ends. The client gets them as they are.
 */
export function onlyShutdownNotices(chunk: Buffer): boolean {
  if (chunk[0] !== BackendMessage.NoticeResponse) return false;
  for (let at = 0; at < chunk.length; ) {
    if (chunk[at] !== BackendMessage.NoticeResponse || at + 5 > chunk.length) return false;
    const end = at + 1 + chunk.readUInt32BE(at + 1);
    if (end > chunk.length || !errorCode(chunk.subarray(at + 5, end)).startsWith('57P0')) return false;
    at = end;
  }
  return true;
}

/**
 * A standby failed before answering an autocommit read: nothing reached the client, so the
 * same bytes go once more, to the primary.
 */
export function retryRead(s: RetrySession, reason: string): void {
  s.ctx.log.warn(
    { client: s.remote, backend: s.backend?.name, reason },
    'read retried on the primary after its standby failed',
  );
  if (s.backend) s.ctx.pools.onBackendFailure?.(s.backend, null);
  replayOnPrimary(s, s.sentOnLink);
}

/** What moveBatchToPrimary uses of the session. */
export type MoveSession = RetrySession &
  Pick<
    ClientSession,
    'copyIn' | 'copyAfterQuery' | 'droppedStatements' | 'mode' | 'pinned' | 'routeWrite' | 'settingsDirty'
  >;

/**
 * A write came for the batch still open on a read's standby (psycopg's pipeline in autocommit
 * sends each statement as it comes and the Sync last), and no answer has reached the client:
 * the standby's connection is let go as a leaving client's is (its batch rolled back, its
 * answers dropped) and the batch runs from its start on the primary, its reads with it. The
 * write never reaches the standby. Returns false when the batch cannot move so.
 */
export function moveBatchToPrimary(s: MoveSession, server: LinkedServer, data: Buffer): boolean {
  if (
    !s.readLink ||
    !s.routeWrite ||
    s.answered ||
    s.retrying ||
    !s.scanner.atBoundary ||
    s.copyIn !== CopyIn.None ||
    s.copyAfterQuery ||
    s.resend?.heldRefusal != null ||
    server.syncs.pending > 0 ||
    !server.syncs.unsynced ||
    server.txStatus !== TransactionStatus.Idle
  )
    return false;
  s.server = null;
  letServerGo(s, server, s.statements?.holding === true ? CUT_MESSAGE : null);
  s.ctx.log.debug(
    { client: s.remote, backend: s.backend?.name },
    'a batch read on a standby writes: run on the primary',
  );
  replayOnPrimary(s, appended(s.sentOnLink, data));
  return true;
}

/** The bytes sent on a link that is gone, none of them answered, go again, routed as a retry (to the primary). */
function replayOnPrimary(s: RetrySession, resend: readonly Buffer[]): void {
  s.sentOnLink = NO_CHUNKS;
  s.statements?.rollBack();
  // Bytes held for the server's shape check are among those sent again.
  s.statements?.forgetHeld();
  s.state = State.Ready;
  s.readLink = false;
  s.retrying = true;
  s.serverPaused = false;
  forgetOpenBatch(s);
  // The chunk that moved a batch here was scanned and never sent (see moveBatchToPrimary): a
  // Sync in it counted then, and again now, was owed twice, and the primary's server never freed.
  forgetCountedSyncs(s);
  runBeforeDeferred(s, resend);
}
