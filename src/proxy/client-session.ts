import type net from 'node:net';
import { AUTH_MESSAGE_MAX, MessageScanner, type MessageSink } from '../protocol/scanner.js';
import { StartupReader } from '../protocol/startup.js';
import { errorCode } from '../protocol/backend.js';
import type { Classification, StatementKind } from '../sql/index.js';
import { BackendMessage } from '../protocol/types.js';
import * as encode from '../protocol/encode.js';
import { SQLSTATE } from '../protocol/encode.js';
import type { BackendConfig, Consistency, PoolMode } from '../config/types.js';
import type { ServerPool, PoolWaiter } from '../pool/pool.js';
import type { LendingPool, LinkedServer } from '../pool/linked-server.js';
import type { ServerLoginError } from '../pool/server-login.js';
import type { ServerPeer } from '../pool/server-peer.js';
import type { ClientAuth } from './client-auth.js';
import type { ProxyContext } from './context.js';
import type { ClientStatements } from './prepared-statements.js';
import type { SessionSettings } from './session-settings.js';
import { editedChunk, type ChunkEdit } from './session/chunk-edits.js';
import { beginChunk, onClientMessage } from './session/classify.js';
import { editAnswers, editsDue, forwardEdited, holdCutMessage, onServerAnswer } from './session/statement-link.js';
import { relink, sendRewritten, splitWhole, startTracking, type StatementLink } from './session/statement-link.js';
import {
  answerCancelWhileQueued,
  defer,
  flushQueued,
  holdCutBehindRead,
  leaveRead,
  leavesRead,
  mustDefer,
  oweSyncPoints,
  queue,
} from './session/queue.js';
import { startQuery } from './session/stats.js';
import {
  AUTH_TYPES,
  learnServerParams,
  onAuthData,
  onLoginMessage,
  onStartupData,
  relocateLogin,
} from './session/login.js';
import { CopyIn, NO_CHUNKS, NO_PARAMS, State, Wait, appended } from './session/state.js';
import { unnamedSent } from './session/unnamed-statement.js';
import { cutMessage, LONG_PORTAL_NAME, withCutHead } from './session/cut-head.js';
import { rerouteWaiting, route, routeFirstBytes, waitsOnStaleBackend } from './session/route.js';
import { checkTimeouts } from './session/timeouts.js';
import { acquire, serverAssigned, transactionAnswered } from './session/handoff.js';
import { keepUntracked } from './session/untracked.js';
import {
  holdsFirstAnswer,
  holdsRefusal,
  moveBatchToPrimary,
  onlyShutdownNotices,
  type Resend,
  retryRead,
} from './session/read-retry.js';
import { bindSocket, shareClientReads, writeToClient } from './session/socket.js';
import { closeSession } from './session/close.js';
import { clientEnded, leaveIfAnswered } from './session/client-end.js';
import { defineChoices, defineFlags, type Choices } from './session/flags.js';
import { fromTicks, toTicks } from './session/clock.js';
import { changesSharedSchemaNow } from './session/shared-ddl.js';
import { holdForFence } from './session/schema-fence.js';
import { allWritten } from '../pool/direct-write.js';
import { eventNow } from '../event-clock.js';
import { holdCancel } from './session/held-cancel.js';

/**
 * One client connection: startup, TLS, authentication, then transactions forwarded to a
 * server connection borrowed from a pool. The forward path hands over received Buffers and
 * keeps its state in plain fields; it allocates nothing per message.
 *
 * Here: the dispatch of client and server bytes, the forward path both ways, backpressure. Each
 * phase is a module of `session/`, plain functions over a `Pick` of the session: hence fields
 * that are not private. An idle client holds only a listed few objects
 * (test/integration/idle-client-memory.test.ts): a phase's state object (a StatementLink, a
 * Resend) is made when the phase first needs it, its lists of chunks are one shared empty list
 * until it holds some (session/state.ts), its yes/no and few-valued fields are bits of two small
 * integers (session/flags.ts) and its times small integers too (session/clock.ts).
 */
export class ClientSession implements MessageSink, ServerPeer, PoolWaiter {
  socket: net.Socket;
  /** The boolean fields declared below, one bit each (session/flags.ts). */
  flags = 0;
  /** The fields declared below that hold one of a few values set at login or by a SET (mode,
   *  consistency, routeOverride), a few bits each (session/flags.ts, SESSION_CHOICES). Those the
   *  forward path sets at every chunk or transaction (state, wait, chunkKind, chunkReadOnly)
   *  stay plain fields: a choice's setter searches its list of values. */
  choices = 0;
  state = State.Startup;
  /** Dropped once the startup packet is read. */
  startup: StartupReader | null = new StartupReader();
  readonly scanner: MessageScanner;
  auth: ClientAuth | null = null;

  user = '';
  database = '';
  applicationName = '';
  startupParams: ReadonlyMap<string, string> = NO_PARAMS;
  declare mode: PoolMode;
  pool: LendingPool | null = null;
  /** This client's pool on each backend it used, so routing builds no lookup key per
   *  transaction: the first in two fields, the others in a map made when one is used. */
  firstBackend: BackendConfig | null = null;
  firstPool: ServerPool | null = null;
  otherPools: Map<BackendConfig, ServerPool> | null = null;
  server: LinkedServer | null = null;
  /** Its places in ctx.clients and ctx.loggingIn (roster.ts); -1: not there. */
  clientSlot = -1;
  loginSlot = -1;
  /** Its cancel key (cancel-keys.ts); pid 0 until login ends. */
  cancelPid = 0;
  cancelSecret = 0;
  /** A CancelRequest came while the client's query waited for a server. */
  declare cancelWanted: boolean;
  /** That cancel went with the query's bytes, to a server perhaps still reading them (see resendCancel). */
  declare cancelAgain: boolean;

  /** When it connected and when it was last active, in ticks (session/clock.ts): connectedAt, lastActive. */
  private readonly connectedTicks = toTicks(Date.now());
  private activeTicks = this.connectedTicks;
  /** In ms, exact (a boxed number): the wait times SHOW STATS and SHOW CLIENTS give come from it. */
  waitingSince = 0;
  /** query_timeout cancels a statement once. */
  declare timeoutCancelSent: boolean;
  /** performance.now() when the running query's first bytes went to a server, and its transaction's; 0: none. */
  queryStart = 0;
  xactStart = 0;
  /** SQLSTATE of the latest server error counted for the client: taken back when pgtide hides it (a rerun). */
  lastErrorCode = '';
  /** When query_timeout cancelled the statement, in ticks (session/clock.ts): a time in ms
   *  stored once would box this field in every session made after. */
  timeoutCancelTicks = 0;

  // Client bytes that arrived while no server was linked, flushed in order when one is.
  queued = NO_CHUNKS;
  queuedSyncs = 0;
  declare queuedUnsynced: boolean;
  /** Which of queuedSyncs are Queries or FunctionCalls inside a batch (see SyncPoints.sent); null: none yet. */
  queuedBatched: number[] | null = null;
  queuedBytes = 0;
  // Chunks held back while a read runs on a standby (see onQueryData).
  deferred = NO_CHUNKS;
  deferredBytes = 0;
  /** The linked server was chosen for a read (it may be a standby). */
  declare readLink: boolean;
  backend: BackendConfig | null = null;
  /** The server has sent something for this link (a retry is no longer transparent). */
  declare answered: boolean;
  /** Bytes sent on a read link before any answer: resent once if the standby fails. */
  sentOnLink = NO_CHUNKS;
  /** This transaction is being retried: it goes to the primary. */
  declare retrying: boolean;
  resend: Resend | null = null;
  declare consistency: Consistency;
  declare firstStatementRouting: boolean;
  /** Session state keeps this client on its server connection (see pin()). */
  declare pinned: boolean;
  /** ...until it leaves: no probe can tell when such state is gone. */
  declare pinnedForGood: boolean;
  /** Code pgtide cannot see into ran in this transaction: probe for session state after it. */
  declare probeAfter: boolean;
  /** DDL (or a statement not understood) ran in this transaction: its end is a schema change
   *  (see pool/schema-generation.ts). */
  declare ranDdl: boolean;
  /** This transaction ran something that may make or end session state (see mayEndState): a
   *  pinned client's probe after it is worth its round trip. */
  declare stateMayEnd: boolean;
  wait = Wait.Pool;
  /** The hand-off token: every wait (see waitFor) takes a new one, and so do a re-route and the
   *  close that abandon it. The continuation of a hand-off (pgtide's own query, a replay check)
   *  touches the session only while the token it was given is current. */
  epoch = 0;
  /** A BEGIN answered by pgtide, run on the server of the transaction's first statement. */
  pendingBegin: string | null = null;
  chunkKind: StatementKind | null = null;
  /** What the chunk's statement says of standbys: true READ ONLY, false READ WRITE or
   *  SERIALIZABLE (they refuse either), undefined neither. */
  chunkReadOnly: boolean | undefined = undefined;
  /** `SET pgtide.route = primary | standby | auto`. */
  declare routeOverride: 'primary' | 'standby' | 'auto';
  /** The client sends nothing more: its FIN came, or a Terminate; it leaves once answered (session/client-end.ts). */
  declare clientEnd: 'open' | 'ended' | 'terminated';
  /** default_transaction_read_only is on for this client (startup or SET). */
  declare readOnlySession: boolean;
  /** Its transactions are serializable by default, which standbys refuse: everything goes to the primary. */
  declare serializableSession: boolean;
  /** The current link was chosen for writes (its commit position matters for read-your-writes). */
  declare wroteInLink: boolean;
  /** The transaction not yet linked calls currval or lastval (see handoff.ts, lacksSequences). */
  declare sequenceRead: boolean;
  /** It runs code pgtide cannot see into, which may call them, or nextval: the same, but the
   *  pool's other writes are not kept for their writers for it (see Pool.sequenceReaders). */
  declare sequencesUnseen: boolean;
  /** The transaction ran a statement that may write, and so call nextval: more than BEGIN and
   *  COMMIT, which also go to the primary (see handoff.ts, ownSequences). */
  declare writesRows: boolean;
  /** A Parse of the unnamed statement came since the client's last transaction ended, and no
   *  simple Query since: its server runs the client's own (see unnamedUsed). */
  declare unnamedMine: boolean;
  /** A simple Query dropped the unnamed portal, and no Bind made it again (see unnamed-portal.ts). */
  declare unnamedPortalDropped: boolean;
  /** A Bind of the dropped unnamed portal in the current batch, which a failed block may refuse:
   *  the batch's Executes are safe (skipped if it failed), a later one is not. */
  declare unnamedPortalRebinding: boolean;
  /** A Query, Execute or FunctionCall came since the last transaction ended: a Parse alone runs nothing. */
  declare ranInLink: boolean;
  /** Id of the server connection where the client's last write ran (its sequence values); 0: none. */
  lastWriteServer = 0;
  /** WAL position of this client's last write; its later reads need a standby past it. */
  lastWriteLsn: bigint | null = null;
  /** The position of a write is being asked (learnWritePosition): the client's reads wait for it. */
  declare writeLsnPending: boolean;
  /** How many write positions were asked: only the last one asked counts (see learnWritePosition). */
  writeLsnAsked = 0;
  /** The write position could not be learned: reads stay on the primary. */
  declare consistencyFallback: boolean;
  // Per-chunk classification of the statements that start a transaction.
  declare routeRead: boolean;
  declare routeWrite: boolean;
  // Per-chunk scan results.
  syncEnd = -1;
  terminateAt = -1;
  /** The client's socket is paused for backpressure. */
  declare clientPaused: boolean;
  declare encrypted: boolean;
  /** Came in on the admin socket (proxy/admin-socket.ts): the console without a password, nothing else. */
  declare viaAdminSocket: boolean;
  declare consoleAdmin: boolean;
  consoleAnswer: Promise<void> | null = null;
  // COPY IN bookkeeping: see onServerCopyIn.
  copyIn = CopyIn.None;
  syncsSinceExecute = 0;
  /** The client's messages since its last Query are CopyData, CopyDone and CopyFail only: the
   *  server reads them as the COPY that Query began, or ignores them (no COPY began), so they
   *  open no batch. asyncpg writes a COPY's Query, data and CopyDone at once. */
  declare copyAfterQuery: boolean;
  // Extended-protocol batch bookkeeping (see SyncPoints): messages since the last Sync, and since the last sync point.
  declare batchOpen: boolean;
  extendedSinceSyncPoint = 0;
  /** Of those, the ones before the batch's last Flush, whose answers the server sends without a
   *  Sync (an ended client is owed them, see client-end.ts); -1: no Flush since the last sync point. */
  extendedAtFlush = -1;
  /** Since the last sync point the client sent a Bind, an Execute or an unnamed Parse: its batch
   *  holds more than named statements prepared, which any server can prepare (see leavesRead). */
  declare batchRuns: boolean;
  declare serverPaused: boolean;
  // Named prepared statements (transaction and statement pooling): see ClientStatements.
  statements: ClientStatements | null = null;
  /** What the client's unnamed statement does (its last unnamed Parse), for a Bind that runs it later. */
  unnamedStatement: Classification | null = null;
  /** See unnamed-statement.ts: the last unnamed Parse of the open batch while nothing bound it,
   *  the copy kept of one no Bind of its batch ran (with a Sync), and a Bind of that copy waits to run. */
  unnamedParseBody: Buffer | null = null;
  keptUnnamedParse: Buffer | null = null;
  /** The bytes scanned and not yet sent hold that copy's Parse (see unnamedSent). */
  declare keptUnnamedUnsent: boolean;
  /** The copy a Bind among the bytes waiting for a server runs: prepared there first. */
  unnamedToRestore: Buffer | null = null;
  /** The start of a message cut at the end of the client's last read, held for its next (see cut-head.ts). */
  cutHead: Buffer | null = null;
  /** The current link rewrites the client's messages and follows every answer. */
  declare tracking: boolean;
  statementLink: StatementLink | null = null;
  /** Named statements could not be mapped (see untrackedStatements): they pass unchanged and pin. */
  declare statementsUntracked: boolean;
  /** A refused chunk ended the session while the bytes sent to the server end inside a message. */
  declare serverCut: boolean;
  /** Messages of the chunk being scanned that go to the server in another form (see chunk-edits.ts); null: none. */
  edits: ChunkEdit[] | null = null;
  /** The session settings every server running this client's transactions gets first. */
  settings: SessionSettings | null = null;
  /** A statement of the current transaction may have changed settings: read them back after it. */
  declare settingsDirty: boolean;
  /** A statement of the current transaction may have moved where names resolve (search_path,
   *  role), SET LOCAL too: the client's named statements prepared until the transaction is over
   *  and its settings read back are its own, shared with no other client (see clientStatements). */
  declare scopeMoved: boolean;
  /** Code of this client pgtide could not see into set settings it cannot list on a server now
   *  idle, maybe: its transactions look for that server first (see ServerPool.takeIdle). */
  declare leftUnknown: boolean;
  /** Let in beyond the client cap: only a console login goes on (see Pgtide.accept). */
  declare overCapacity: boolean;
  /** The chunk's statement is a COMMIT or ROLLBACK AND CHAIN (see first-statement.ts). */
  declare chunkChains: boolean;
  /** The client's transaction ran DEALLOCATE or DISCARD ALL while pgtide maps none of its
   *  statements: its server holds none of pgtide's shared ones it believed it did. */
  declare droppedStatements: boolean;
  /** The ParameterStatus values the pool reported, told at login where the client's startup
   *  packet gave none (shared with the pool), and (toldOwn, made on first need) those told in
   *  another form than the default: a startup value reported otherwise, corrections since. See toldValue. */
  toldAtLogin: ReadonlyMap<string, string> = NO_PARAMS;
  toldOwn: Map<string, string> | null = null;

  constructor(
    socket: net.Socket,
    readonly ctx: ProxyContext,
    readonly remote: string,
    viaAdminSocket = false,
  ) {
    this.socket = socket;
    this.viaAdminSocket = viaAdminSocket;
    this.scanner = new MessageScanner(
      Math.min(ctx.config.max_packet_size, AUTH_MESSAGE_MAX),
      AUTH_TYPES,
      ctx.assemblyBudget,
    );
    bindSocket(this, socket);
    shareClientReads(this);
    ctx.clients.add(this);
    ctx.loggingIn.add(this);
  }

  get connectedAt(): number {
    return fromTicks(this.connectedTicks);
  }

  /** Last time the client sent bytes or a transaction ended: for idle timeouts. */
  get lastActive(): number {
    return fromTicks(this.activeTicks);
  }

  set lastActive(ms: number) {
    this.activeTicks = toTicks(ms);
  }

  get isLoggingIn(): boolean {
    return this.state <= State.Login;
  }

  get isWaiting(): boolean {
    return this.state === State.Waiting;
  }

  get isClosed(): boolean {
    return this.state === State.Closed;
  }

  /** Named statements the client holds (mapped in transaction and statement pooling). */
  get preparedStatements(): number {
    return this.statements?.size ?? 0;
  }

  // ---- bytes from the client ----

  dispatch(chunk: Buffer): void {
    switch (this.state) {
      case State.Ready:
      case State.Waiting:
      case State.Linked:
        return this.onQueryBytes(chunk);
      case State.Startup:
        return onStartupData(this, chunk);
      case State.Admin:
        return onAuthData(this, chunk);
      case State.Auth:
        return onAuthData(this, chunk);
      case State.Login:
        // Nothing is legal before our ReadyForQuery; keep it for after, in order.
        this.queued = appended(this.queued, chunk);
        this.pauseClient();
        return;
      case State.Closed:
        // Bytes for a session that ended (a COPY's data streaming on after its server's FATAL)
        // reset the connection once all owed is written, as PostgreSQL's exited backend does:
        // taken in, they would stream into nowhere until the close timer (pgJDBC: 343 MB in 5 s).
        if (allWritten(this.socket)) this.socket.destroy();
        return;
    }
  }

  /** Bytes of the query stream as the client sent them. */
  onQueryBytes(chunk: Buffer): void {
    if (this.cutHead !== null) chunk = withCutHead(this, chunk);
    // Rewriting needs whole messages; other sessions forward chunks as they come.
    if (this.statementLink !== null && splitWhole(this, this.statementLink, chunk)) return;
    this.onQueryData(chunk);
  }

  /** The forward path, client to server: a chunk scanned once, then sent as received to the linked server, or queued. */
  onQueryData(chunk: Buffer): void {
    // What follows a Terminate is never read, as by PostgreSQL.
    if (this.clientEnd === 'terminated') return;
    if (mustDefer(this, chunk)) return defer(this, chunk);
    const linked = this.server;
    const leavable = linked !== null && leavesRead(this, linked);
    beginChunk(this);
    this.lastActive = eventNow();
    const quiet = linked?.syncs.idle === true;
    const hadStatements = this.statements !== null;
    // The server has the bytes before this chunk: inside a message unless the scanner is at a boundary.
    const cutBefore = !this.scanner.atBoundary;
    if (this.scanner.scan(chunk, this) < 0) {
      // Nothing of a refused chunk is sent: the server may be left inside a message it can never finish.
      this.serverCut = cutBefore;
      return this.protocolViolation(this.scanner.error);
    }
    if (this.isClosed) return;
    // Tracking is decided first: a client that cannot be tracked keeps its bytes flowing as they are.
    if (linked && !hadStatements && this.statements) startTracking(this, linked, quiet, !cutBefore);
    if (!hadStatements && this.statements && !this.scanner.atBoundary) chunk = holdCutMessage(this, chunk);
    let data = this.terminateAt >= 0 ? chunk.subarray(0, this.terminateAt) : chunk;
    if (this.edits !== null) data = editedChunk(this, data);
    if (!this.scanner.atBoundary && this.terminateAt < 0) {
      const cut = cutMessage(this, chunk, data);
      if (cut === null) {
        this.serverCut = cutBefore;
        return this.protocolViolation(LONG_PORTAL_NAME);
      }
      data = cut;
    }
    if (data.length > 0) {
      // A message cut at the chunk's end (COPY data the server may fail in the middle of, a
      // pipelined Query) keeps the server until the rest of it has gone there too: PostgreSQL
      // reads every message whole, a CopyData after a failed COPY too (and ignores it).
      if (!linked && this.state === State.Ready && !routeFirstBytes(this, data)) return;
      if (this.readLink && !this.scanner.atBoundary && data === chunk) data = holdCutBehindRead(this, data);
      const unsynced =
        !this.scanner.atBoundary || (!this.copyAfterQuery && (this.syncEnd < 0 || this.syncEnd < data.length));
      const server = this.server;
      if (server && leavable && this.routeWrite && !unsynced && this.terminateAt < 0) {
        return leaveRead(this, server, data);
      }
      // A write for a read's batch, in a chunk the scan left as it came, on a link tracked as before it.
      if (
        server &&
        this.readLink &&
        this.routeWrite &&
        data === chunk &&
        hadStatements === (this.statements !== null) &&
        moveBatchToPrimary(this, server, data)
      )
        return;
      if (server) {
        oweSyncPoints(this, server, unsynced);
        if ((this.readLink || this.tracking) && !this.answered) this.sentOnLink = appended(this.sentOnLink, data);
        this.pool!.stats.bytesReceived += data.length;
        if (this.queryStart === 0) startQuery(this);
        if (!this.send(server, data)) this.pauseClient();
        // Its every sync point was answered while this message was on its way (a COPY the server
        // failed mid-CopyData, see unsynced): whole now, and ignored there, it ends the transaction.
        if (cutBefore && this.server === server && server.syncs.idle) server.settleAfterCut();
      } else {
        this.queuedUnsynced = unsynced;
        queue(this, data);
        if (this.state === State.Ready) acquire(this);
      }
    }
    if (this.terminateAt >= 0) clientEnded(this, true);
  }

  /** Forward client bytes, rewritten for this server when the link tracks prepared statements. */
  send(server: LinkedServer, data: Buffer): boolean {
    if (this.keptUnnamedUnsent) unnamedSent(this, server);
    if (this.tracking) return sendRewritten(this, server, data);
    if (this.statementsUntracked) keepUntracked(this.statementLink, data);
    return server.write(data);
  }

  link(server: LinkedServer): void {
    this.server = server;
    this.state = State.Linked;
    this.answered = false;
    // Read by the retries of this link's answers only: an error of an earlier link is not theirs.
    this.lastErrorCode = '';
    this.cancelAgain = false;
    this.tracking = this.statements !== null;
    if (this.statementLink !== null) relink(this, this.statementLink, server);
    server.link(this, this.tracking);
  }

  /** Called by the janitor for a client still waiting for a primary to be known. */
  retryRoute(): void {
    if (this.state !== State.Waiting || this.wait !== Wait.Pool || this.pool) return;
    const since = this.waitingSince;
    this.state = State.Ready;
    // The queued bytes end inside a message (a statement cut across reads, pipelined behind a
    // read that waited for its client's write position): the rest follows them to their server,
    // and only the primary runs whatever it is (a write ran on a standby: 25006).
    if (!this.scanner.atBoundary && !this.routeWrite) this.routeWrite = true;
    route(this);
    if (this.server) return flushQueued(this, this.server);
    if (this.state !== State.Ready) return;
    acquire(this);
    // The same wait goes on: query_wait_timeout counts from its start, not from this re-route.
    this.waitingSince = since;
  }

  onMessage(type: number, body: Buffer, end: number): boolean {
    if (this.state === State.Admin || this.state === State.Auth) return onLoginMessage(this, type, body);
    return onClientMessage(this, type, body, end);
  }

  onServerCopyIn(): number {
    // A COPY whose end the client sent already (EndedEarly) is over before its next Sync.
    if (this.copyIn === CopyIn.None) this.copyIn = CopyIn.Running;
    const ignored = this.syncsSinceExecute;
    this.syncsSinceExecute = 0;
    return ignored;
  }

  onServerCopyOver(): void {
    // The client's end may still be to come (the server failed the COPY on a bad row), or it came
    // before the CopyInResponse and a Query after it hid that (see runsStatement in classify.ts): either way the
    // server reads what follows outside COPY IN, its Syncs too.
    if (this.copyIn === CopyIn.Running) this.copyIn = CopyIn.None;
  }

  onServerAssigned(server: LinkedServer): void {
    if (this.state === State.Login) {
      // No longer waiting for a server (query_wait_timeout), only for its settings.
      this.waitingSince = 0;
      return learnServerParams(this, server);
    }
    // The backend became a standby, or left the rotation, while the client waited in its pool
    // (a primary back from a switchover as a standby logs in again before the janitor's
    // re-route): a session-mode client would keep that server, every write refused, for good.
    if (this.state === State.Waiting && this.wait === Wait.Pool && waitsOnStaleBackend(this)) {
      this.pool!.release(server);
      return rerouteWaiting(this);
    }
    serverAssigned(this, server);
  }

  onPoolError(err: ServerLoginError): void {
    // A standby that will not log this client in (its own pg_hba.conf; a database or role it
    // has not replayed yet) fails no read: the primary runs it, as when no standby can.
    if (this.readLink && this.state === State.Waiting && this.wait === Wait.Pool) {
      this.pool = null;
      this.retrying = true;
      return this.retryRoute();
    }
    const f = err.fields;
    this.fatal(f?.code || SQLSTATE.CONNECTION_FAILURE, f?.message ? f.message : err.message, f?.detail, f?.hint);
  }

  // ---- bytes from the server ----

  onServerAnswer(type: number, body: Buffer, end: number): void {
    onServerAnswer(this, type, body, end);
  }

  onServerError(body: Buffer): void {
    this.lastErrorCode = errorCode(body);
    this.ctx.pools.countError(this.lastErrorCode);
    if (this.settingsDirty) this.settings?.refused();
  }

  onServerData(chunk: Buffer): boolean {
    if (this.tracking && editsDue(this.statementLink!, this.server!)) {
      const link = this.statementLink!;
      const parts = editAnswers(link, this.server!, chunk);
      // Only answers pgtide hides, or held back for a shape check: the client has no answer yet.
      if (parts.length === 0 && !this.answered) {
        this.leaveIfEndReached();
        return false;
      }
      // A refusal held back decides about what follows it as a whole (see holdsRefusal).
      const refusalHeld = this.resend !== null && this.resend.heldRefusal !== null;
      if (parts.length === 0 && refusalHeld) return false;
      if (parts.length !== 1 && !(link.refusalEdited && !this.answered) && !refusalHeld) {
        const held = forwardEdited(this, chunk, parts);
        this.leaveIfEndReached();
        return held;
      }
      // An error pgtide held back or put in place, with what followed it: a refusal a retry may hide.
      chunk = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      link.refusalEdited = false;
    }
    this.pool!.stats.bytesSent += chunk.length;
    if (!this.answered) {
      if (!onlyShutdownNotices(chunk)) {
        this.answered = true;
        if (holdsFirstAnswer(this, chunk)) return false;
      }
    } else if (this.resend !== null && this.resend.heldRefusal !== null && holdsRefusal(this, this.resend, chunk)) {
      return false;
    }
    const socket = this.socket;
    const announce = this.ctx.announceFence;
    if (announce !== null && this.server!.endsTransaction && changesSharedSchemaNow(this))
      holdForFence(socket, announce);
    if (!writeToClient(this, chunk) && !this.serverPaused) {
      this.serverPaused = true;
      this.server!.pauseReading();
    }
    this.leaveIfEndReached();
    // A TLS socket may keep the cleartext until it can encrypt it.
    return this.encrypted || !allWritten(socket);
  }

  /** No ReadyForQuery marks what an ended client is owed when it flushed a batch without a Sync
   *  (its answers are counted as they come) or when its COPY IN just began (it is owed nothing more). */
  private leaveIfEndReached(): void {
    if ((this.extendedAtFlush >= 0 || this.copyIn === CopyIn.Running) && this.clientEnd !== 'open')
      leaveIfAnswered(this);
  }

  onServerIdle(status: number): void {
    const toldOfEnd = this.server?.toldClientOfEnd === true;
    transactionAnswered(this, status);
    // The server's FATAL came in the same read as this answer: the session ends, as on PostgreSQL
    // and as when the FATAL comes alone (onServerLost).
    if (toldOfEnd) return this.close();
    if (this.clientEnd !== 'open') leaveIfAnswered(this);
  }

  get clientPid(): number {
    return this.cancelPid;
  }

  get keepsServer(): boolean {
    return this.mode === 'session' || this.pinned || this.pinnedForGood;
  }

  /** What a server sent on its own while pgtide ran a query of its own on it for this client. */
  onServerAsync(message: Buffer): void {
    if (this.isClosed) return;
    if (message[0] === BackendMessage.ErrorResponse) this.onServerError(message.subarray(5));
    this.socket.write(message);
  }

  onServerLost(reason: string, toldByServer: boolean, unanswered: boolean): void {
    if (this.isClosed) return;
    this.server = null;
    // The server's FATAL reached the client: PostgreSQL sends one error, so does pgtide.
    if (toldByServer) return this.close();
    if (this.readLink && !this.answered && !this.retrying && this.sentOnLink.length > 0 && this.scanner.atBoundary)
      return retryRead(this, reason);
    // A request the server got may still run (a frozen server runs what it read once it
    // resumes, before it sees the connection closed): a COMMIT or an autocommit write then
    // commits, and a client told otherwise would write twice.
    this.fatal(
      SQLSTATE.CONNECTION_FAILURE,
      `server connection lost: ${reason}`,
      undefined,
      unanswered
        ? 'What was sent and not answered may have run: a COMMIT, or a statement outside a transaction block, may have committed. Check before retrying; other work of an open transaction was rolled back. Reconnect.'
        : 'The transaction in progress, if any, was rolled back by the server. Reconnect and retry.',
    );
  }

  onServerDrain(): void {
    this.resumeClient();
  }

  corkClient(): void {
    this.socket.cork();
  }

  uncorkClient(): void {
    this.socket.uncork();
  }

  pauseClient(): void {
    if (!this.clientPaused) {
      this.clientPaused = true;
      this.socket.pause();
    }
  }

  resumeClient(): void {
    if (this.clientPaused) {
      this.clientPaused = false;
      this.socket.resume();
    }
  }

  // ---- cancel and timeouts ----

  /** Cancel the statement this client is running; nothing when it runs none (the key is stale).
   *  A batch not ended by a Sync yet may run one too (asyncpg's executemany() sends its Sync last). */
  cancelRunningQuery(sent?: () => void): void {
    const server = this.server;
    if (server && !server.syncs.idle) {
      this.ctx.sendCancel(server, sent);
      // Its bytes may have gone to the server only just now (see resendCancel).
      this.cancelAgain = true;
      return;
    }
    // A query pipelined behind the last transaction (or sent while the pool was exhausted)
    // would run by now on a direct connection; here it waits for a server. It is answered at
    // once, or cancelled once it reaches one (see held-cancel.ts).
    if (this.queued.length > 0 && !answerCancelWhileQueued(this)) return holdCancel(this, sent);
    sent?.();
  }

  /** Called by the janitor for a login waiting for its pool's first server. */
  relocateLogin(): void {
    relocateLogin(this);
  }

  /** Called by the janitor once a second. */
  checkTimeouts(now: number): void {
    checkTimeouts(this, now);
    // An ended client whose last answer came by a path that does not look (a console answer
    // from the workers, a login refused) leaves at the next tick.
    if (this.clientEnd !== 'open') leaveIfAnswered(this);
  }

  /** The client's FIN: it has sent all it will. */
  onClientEnd(): void {
    clientEnded(this, false);
  }

  // ---- ending ----

  /** Send a FATAL error and close. */
  fatal(code: string, message: string, detail?: string, hint?: string): void {
    if (this.state === State.Closed) return;
    if (this.ctx.config.log_pooler_errors)
      this.ctx.log.warn({ client: this.remote, user: this.user, code, message }, 'closing client');
    if (this.socket.writable) {
      this.ctx.pools.countError(code);
      this.socket.write(encode.errorResponse('FATAL', code, message, detail, hint));
    }
    this.close();
  }

  protocolViolation(reason: string): void {
    this.fatal(SQLSTATE.PROTOCOL_VIOLATION, `protocol violation: ${reason}`);
  }

  /** Leave: give the server back in a clean state (or close it), forget the client. */
  close(): void {
    closeSession(this);
  }
}

defineFlags<ClientSession>(ClientSession.prototype, [
  'cancelWanted',
  'cancelAgain',
  'timeoutCancelSent',
  'queuedUnsynced',
  'readLink',
  'answered',
  'retrying',
  'firstStatementRouting',
  'pinned',
  'pinnedForGood',
  'probeAfter',
  'readOnlySession',
  'serializableSession',
  'wroteInLink',
  'writeLsnPending',
  'consistencyFallback',
  'routeRead',
  'routeWrite',
  'clientPaused',
  'encrypted',
  'viaAdminSocket',
  'consoleAdmin',
  'copyAfterQuery',
  'batchOpen',
  'batchRuns',
  'serverPaused',
  'tracking',
  'statementsUntracked',
  'serverCut',
  'settingsDirty',
]);

/** What the choices of a session may be, its first value first (a new session's). */
const SESSION_CHOICES: Choices<ClientSession> = {
  mode: ['transaction', 'session', 'statement'],
  consistency: ['read_your_writes', 'eventual', 'primary_only'],
  routeOverride: ['auto', 'primary', 'standby'],
  clientEnd: ['open', 'ended', 'terminated'],
  // Yes/no fields among the choices: the flags' small integer is full.
  sequenceRead: [false, true],
  sequencesUnseen: [false, true],
  keptUnnamedUnsent: [false, true],
  ranInLink: [false, true],
  ranDdl: [false, true],
  writesRows: [false, true],
  unnamedPortalDropped: [false, true],
  unnamedPortalRebinding: [false, true],
  droppedStatements: [false, true],
  unnamedMine: [false, true],
  scopeMoved: [false, true],
  chunkChains: [false, true],
  leftUnknown: [false, true],
  overCapacity: [false, true],
  stateMayEnd: [false, true],
};
defineChoices<ClientSession>(ClientSession.prototype, SESSION_CHOICES);
