// One connection to a PostgreSQL server: its states from connect to close, the forward path
// both ways for the client it is lent to, pgtide's own queries, and the drain after a client.
import net from 'node:net';
import { MessageScanner, type MessageSink } from '../protocol/scanner.js';
import { decodeBackendKeyData, endsSession, isRollbackComplete, readyForQueryStatus } from '../protocol/backend.js';
import * as encode from '../protocol/encode.js';
import { BackendMessage, FrontendMessage, TransactionStatus } from '../protocol/types.js';
import { SyncPoints } from './sync-points.js';
import { PreparedSet } from './prepared-set.js';
import { ServerLoginExchange } from './server-login-exchange.js';
import { describeEndpoint, outOfDescriptors, ServerLoginError, type ServerLogin } from './server-login.js';
import { sslAnswer, startTls } from './server-tls.js';
import { copyForClient, OwnQuery, type Rows } from './own-query.js';
import type { ServerOwner, ServerPeer } from './server-peer.js';
import type { LinkedServer } from './linked-server.js';
import {
  parameterStatusTooLong,
  settingsAfterReset,
  trackReportedParameter,
  UNKNOWN_SETTINGS,
} from './server-settings.js';
import { ACTIVE_TYPES, ALL_TYPES, ANSWER_ENDS, LOGIN_ONLY, State, TRACKED_TYPES } from './server-states.js';
import { ReusedReadBuffer } from './read-buffer.js';
import { addBackend, dropBackend, nextEvent, notifyingClient, type BackendHolder } from './notifier.js';
import { writeDirect } from './direct-write.js';
import { beginRead, endRead, eventNow } from '../event-clock.js';
import { keptCopy } from '../protocol/kept-buffer.js';

const {
  ReadyForQuery: Z,
  ParameterStatus: S,
  BackendKeyData: K,
  ErrorResponse: E,
  CopyInResponse: G,
  CopyBothResponse: W,
  NoticeResponse: N,
  DataRow: D,
  NotificationResponse: A,
  CommandComplete: C,
} = BackendMessage;
const IDLE = TransactionStatus.Idle;
const DRAIN_TIMEOUT_MS = 10_000;
/** How long an ERROR waits for the ReadyForQuery owed after it (PostgreSQL sends it once the
 *  transaction is rolled back: microseconds, a few milliseconds for a large one). */
const ANSWER_BEFORE_READY_MS = 100;
/** A Parse that fails (42601): sent before the drain's Sync when the client left an extended-
 *  protocol batch open, so that the Sync ends its implicit transaction in a rollback. */
const ABORT_OPEN_BATCH = encode.parseWithName(
  '',
  Buffer.from('pgtide: the client left before its Sync\0\0\0', 'latin1'),
);
/** Ends the COPY IN of a client that left inside it: the server fails the COPY (57014) and rolls back. */
const ABORT_COPY_IN = encode.copyFail('pgtide: the client left during COPY');
let nextServerId = 1;

/** One connection to a PostgreSQL server: login, then bytes in both directions for a peer. */
export class ServerConnection implements MessageSink, LinkedServer, BackendHolder {
  readonly id = nextServerId++;
  socket: net.Socket;
  private state = State.Connecting;
  private readonly scanner: MessageScanner;
  private readonly exchange: ServerLoginExchange;
  /** The login, or one of pgtide's own queries, must be answered within login.connectTimeoutMs. */
  private answerTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;

  readonly params = new Map<string, string>();
  backendPid = 0;
  backendSecret: Buffer | null = null;
  /** Transaction status from the last ReadyForQuery: 'I', 'T' or 'E'. */
  txStatus: number = IDLE;
  /** Sync points sent and not yet answered, by the client session and by pgtide itself. */
  readonly syncs = new SyncPoints();
  copyIn = false;
  private becameIdle = false;

  get endsTransaction(): boolean {
    return this.becameIdle && this.txStatus === IDLE;
  }
  /** Cancel connections in flight: the server is not reused until they finish, so a late
   * cancel can never hit the next client's query. */
  cancelsInFlight = 0;
  private reuseWhenCancelsDone = false;
  private resetQuery: string | null = null;
  /** The drain waits for cancels in flight before its ROLLBACK or reset query (see continueDrain). */
  private drainWhenCancelsDone = false;
  /** pgtide's own queries for a client (a probe, a settings read-back) waiting for its cancels in flight (see request). */
  private afterCancels: (() => void)[] | null = null;
  /** The reset query of a drain was sent; an error after it means it did not run (see continueDrain). */
  private resetSent = false;
  private resetFailed = false;
  /** The client pgtide's own query runs for: what the server sends on its own meanwhile
   *  (notifications, notices, a FATAL), up to the end of the chunk that ends the query, is that
   *  client's. The session's next step (another query, or a link) follows in a microtask. */
  private asyncOwner: ServerPeer | null = null;
  /** The server's FATAL ErrorResponse has been passed to the client. */
  toldClientOfEnd = false;
  /** The server sent a FATAL or PANIC: its session is over, whatever it sent in the same read
   *  (a ReadyForQuery before it), so the connection is never lent again (see ServerPool.release). */
  sessionEnded = false;
  /** See BackendHolder (notifier.ts). */
  holderPid = 0;
  othersUntil = 0;
  /** The event at which the last client let this connection go (unlinked, or drained after it left). */
  private releasedAt = 0;
  /** The event at which pgtide wrote the sync point that the last idle ReadyForQuery answered:
   *  a notification read after it was sent after that write (see notifier.ts). */
  private quietSince = 0;
  /** The server's "host:port", naming its backends among those of other servers. */
  private readonly endpointKey: string;
  /** The chunk being scanned, for rewriting a notification's pid in place. */
  private scanning: Buffer | null = null;
  /** Where an ErrorResponse ended in the chunk being scanned (-1: none did). */
  private errorEnd = -1;
  /** Where a FATAL that came after the client's last answer begins in the chunk being scanned
   *  (-1: none did): the chunk reaches the client cut there (see fatalAfterAnswer). */
  private cutAt = -1;
  /** A chunk ending in an ERROR whose ReadyForQuery is owed: forwarded with it (see handleData). */
  private answerBeforeReady: Buffer | null = null;
  private answerBeforeReadyTimer: NodeJS.Timeout | null = null;
  private internal: OwnQuery | null = null;

  peer: ServerPeer | null = null;
  private tracking = false;
  /** Named statements pgtide prepared here, shared by the clients it serves. */
  readonly prepared: PreparedSet;
  /** Session settings made on this connection since login (by pgtide for its clients); see SessionSettings. */
  settings: ReadonlyMap<string, string> = new Map();
  /** Key of `settings`, compared with a client's on each link. */
  settingsKey = '';
  unknownOwner: ServerPeer | null = null;
  unknownOwnerKey = '';
  settingsPrint = '';
  printedFor = '';
  settableNames = '';
  sequenceOwner = 0;
  unnamedBy: object | null = null;
  private readonly ownReads: boolean;
  private readonly reads = new ReusedReadBuffer();
  readonly createdAt = Date.now();
  lastUsedAt = Date.now();
  uses = 0;
  closeReason = '';

  constructor(
    readonly login: ServerLogin,
    readonly owner: ServerOwner,
  ) {
    this.scanner = new MessageScanner(login.maxPacketSize, ALL_TYPES);
    this.prepared = new PreparedSet(login.maxPreparedStatements);
    this.exchange = new ServerLoginExchange(login);
    this.endpointKey = describeEndpoint(login.endpoint);
    this.onData = this.onData.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onError = this.onError.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onRead = this.onRead.bind(this);
    // Without TLS, reads land in a buffer of ours that is reused while no write holds it,
    // instead of a fresh 64 KiB allocation per read. TLS needs the stream's own reads.
    this.ownReads = login.tls.mode === 'disable' || login.tls.mode === 'allow';
    const options: net.NetConnectOpts = {
      host: login.endpoint.host,
      port: login.endpoint.port,
      noDelay: true,
      keepAlive: true,
    };
    if (this.ownReads) options.onread = { buffer: this.reads.next, callback: this.onRead };
    this.socket = net.connect(options);
    this.socket.once('connect', () => this.onConnect());
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
    this.answerTimer = setTimeout(() => {
      this.failLogin(
        new ServerLoginError(
          `server ${this.describe()} did not answer within ${login.connectTimeoutMs} ms`,
          null,
          true,
          true,
        ),
      );
    }, login.connectTimeoutMs);
  }

  describe(): string {
    return this.endpointKey;
  }

  get isIdle(): boolean {
    return this.state === State.Idle;
  }

  /** What came from the server ends with a whole message: a message of pgtide's may go to the
   *  client between it and the next. */
  get answerAtBoundary(): boolean {
    return this.scanner.atBoundary;
  }

  get isClosed(): boolean {
    return this.state === State.Closed;
  }

  private onConnect(): void {
    const mode = this.login.tls.mode;
    if (mode === 'disable' || mode === 'allow') return this.sendStartup();
    this.socket.write(encode.sslRequest());
    this.socket.once('data', (answer: Buffer) => this.onSslAnswer(answer));
  }

  private onSslAnswer(answer: Buffer): void {
    const next = sslAnswer(answer, this.login.tls.mode, this.describe());
    if (next instanceof ServerLoginError) return this.failLogin(next);
    if (next === 'plain') return this.sendStartup();
    const plain = this.socket;
    plain.removeListener('error', this.onError);
    plain.removeListener('close', this.onClose);
    const secure = startTls(plain, this.login);
    this.socket = secure;
    secure.on('error', this.onError);
    secure.on('close', this.onClose);
    secure.once('secureConnect', () => this.sendStartup());
  }

  private sendStartup(): void {
    const { credentials, database, params } = this.login;
    if (!this.ownReads) this.socket.on('data', this.onData);
    this.socket.on('drain', this.onDrain);
    this.socket.write(encode.startupMessage({ ...params, user: credentials.user, database }));
    this.state = State.Login;
  }

  /** A read while paused for a slow client (a resume and a pause in one tick start the handle
   *  reading again) is taken, and the reads stop there until the client drains. */
  private onRead(length: number, buffer: Uint8Array): boolean {
    this.onData((buffer as Buffer).subarray(0, length));
    return !this.socket.isPaused();
  }

  private onData(chunk: Buffer): void {
    beginRead();
    try {
      this.handleData(chunk);
    } catch (err) {
      // A bug reached by a server's bytes costs this connection (and its client), not the process.
      this.close(`internal error: ${(err as Error).message}`);
    } finally {
      endRead();
    }
  }

  private handleData(chunk: Buffer): void {
    const state = this.state;
    if (state === State.Closed) return;
    if (this.answerBeforeReady === null) return this.scanChunk(chunk, state);
    const corked = this.forwardAnswerBeforeReady(true);
    try {
      // Read again: what the client did with the answer may have changed it.
      if (this.state !== State.Closed) this.scanChunk(chunk, this.state);
    } finally {
      corked?.uncorkClient();
    }
  }

  private scanChunk(chunk: Buffer, state: State): void {
    this.errorEnd = -1;
    this.cutAt = -1;
    this.scanning = chunk;
    const scanned = this.scanner.scan(chunk, this);
    this.scanning = null;
    if (this.state === State.Idle) this.asyncOwner = null;
    if (scanned < 0) return void this.violation(this.scanner.error);
    // A message may have closed the connection: nothing after it reaches a client.
    if (this.isClosed) return;
    // Refused whole, the client heard of it (see trackParameter); refused once its head had gone
    // to the client, the client would read pgtide's error as the rest of it.
    if (this.scanner.cutType === S) {
      const tooLong = parameterStatusTooLong(this.scanner.cutBodyLength);
      if (tooLong !== null) return void this.violation(tooLong);
    }
    if (state === State.Linked) {
      const peer = this.peer!;
      // PostgreSQL sends an ERROR in a write of its own and its ReadyForQuery in the next: a
      // client reading both in one read (node-postgres's transaction status, looked at right
      // after the error) sees them so more often through pgtide than directly. Outside COPY IN
      // a sync point owed after an ERROR is answered at once, the messages before it skipped.
      if (this.errorEnd === chunk.length && this.syncs.pending > 0 && !this.copyIn && !this.sessionEnded)
        this.holdAnswerBeforeReady(chunk);
      else if (peer.onServerData(this.cutAt < 0 ? chunk : chunk.subarray(0, this.cutAt))) this.reads.held = true;
      if (this.becameIdle && this.peer === peer) {
        this.becameIdle = false;
        peer.onServerIdle(this.txStatus);
      }
    } else if (this.becameIdle && state === State.Draining) {
      this.becameIdle = false;
      this.continueDrain();
    }
  }

  settleAfterCut(): void {
    const peer = this.peer;
    if (this.state !== State.Linked || peer === null || !this.syncs.idle) return;
    this.noteIdle();
    peer.onServerIdle(this.txStatus);
  }

  /** Every sync point is answered. Not at every idle ReadyForQuery: a pipeline's later batch
   *  may have prepared statements already, in a transaction that has yet to end. */
  private noteIdle(): void {
    if (this.txStatus === IDLE) {
      this.prepared.committed();
      this.quietSince = this.syncs.sentAt;
    }
  }

  /** A copy: the read buffer is reused. Should the ReadyForQuery not come soon after all (an
   *  error counted for a sync point the server does not owe), the answer goes on its own. */
  private holdAnswerBeforeReady(chunk: Buffer): void {
    this.answerBeforeReady = Buffer.from(chunk);
    this.answerBeforeReadyTimer ??= setTimeout(() => {
      this.answerBeforeReadyTimer = null;
      if (this.answerBeforeReady !== null) this.forwardAnswerBeforeReady(false);
    }, ANSWER_BEFORE_READY_MS);
  }

  /** Forwards the answer held for its ReadyForQuery to the client still linked (one that left
   *  is owed nothing), the client's writes corked with `cork`; returns the peer corked. */
  private forwardAnswerBeforeReady(cork: boolean): ServerPeer | null {
    const answer = this.answerBeforeReady!;
    this.answerBeforeReady = null;
    if (this.answerBeforeReadyTimer !== null) {
      clearTimeout(this.answerBeforeReadyTimer);
      this.answerBeforeReadyTimer = null;
    }
    const peer = this.state === State.Linked ? this.peer : null;
    if (peer === null) return null;
    if (cork) peer.corkClient();
    peer.onServerData(answer);
    return cork ? peer : null;
  }

  onMessage(type: number, body: Buffer, end: number): boolean {
    switch (this.state) {
      case State.Login:
        return this.onLoginMessage(type, body);
      case State.Idle:
        return this.onIdleMessage(type, body);
      case State.Internal:
        return this.onInternalMessage(type, body);
      default:
        if (type === Z) {
          if (!this.takeStatus(body)) return false;
          if (this.copyIn) {
            this.copyIn = false;
            this.peer?.onServerCopyOver();
          }
          if (this.syncs.answered()) {
            this.becameIdle = true;
            this.noteIdle();
          }
        } else if (type === S) {
          if (!this.trackParameter(body)) return false;
        } else if (type === E) {
          if (this.fatalAfterAnswer(body, end)) return true;
          this.errorEnd = end;
          if (endsSession(body)) {
            this.sessionEnded = true;
            // Forwarded with this chunk: the client hears the end of its session from the server.
            if (this.peer) this.toldClientOfEnd = true;
          }
          this.peer?.onServerError(body);
          this.syncs.failed();
          this.noteError();
          if (this.resetSent && this.state === State.Draining) this.resetFailed = true;
        } else if (type === A) {
          this.reportNotifierAsClient(body, end);
        } else if (type === G || type === W) {
          this.copyIn = true;
          // The server ignores Syncs during COPY IN, so those already sent are no sync points.
          if (this.peer) this.syncs.ignored(this.peer.onServerCopyIn());
        } else if (ANSWER_ENDS[type] !== 0) {
          this.syncs.countAnswer();
          if (type === C) this.noteCommandComplete(body);
        } else if (LOGIN_ONLY[type] !== 0) {
          return this.violation(`'${String.fromCharCode(type)}' after login`);
        }
        if (this.tracking) this.peer?.onServerAnswer(type, body, end);
        return true;
    }
  }

  /**
   * A notification names the pid told to the client that sent it, not its backend's, where
   * that client is certain (see notifierPid). Rewritten in place when its pid lies in the chunk
   * being forwarded; one whose first bytes came in an earlier read keeps the server's pid.
   */
  private reportNotifierAsClient(body: Buffer, end: number): void {
    const pidAt = end - body.length;
    if (pidAt < 0 || body.length < 4) return;
    const told = this.notifierPid(body.readInt32BE(0), this.peer?.clientPid ?? 0);
    if (told !== 0) this.scanning!.writeInt32BE(told, pidAt);
  }

  /** The pid told to the client whose transaction sent a notification from backend `senderPid`
   *  (0: not certain). This very backend's own (a client that notifies itself) is `clientPid`'s:
   *  PostgreSQL sends those before the ReadyForQuery of the transaction that committed them. */
  private notifierPid(senderPid: number, clientPid: number): number {
    if (senderPid === this.backendPid) return clientPid;
    return notifyingClient(this.endpointKey, senderPid, this.quietSince);
  }

  /**
   * Run one simple query for pgtide itself on an idle connection no client holds: health and
   * role checks, or, for `owner`, settings, probes and resets between its transactions. The
   * answer never reaches a client; what the server sends on its own meanwhile goes to `owner`.
   * An ErrorResponse rejects with a ServerQueryError (the connection stays idle and usable);
   * any other rejection is a plain Error and the connection is closed or was not idle.
   */
  query(sql: string, owner: ServerPeer | null = null, changesSettings = false): Promise<Rows> {
    return this.request(encode.query(sql), owner, changesSettings);
  }

  /** One statement with text parameters ($1 …), for pgtide itself (auth_query), as query() runs. */
  queryWithParams(sql: string, params: readonly string[]): Promise<Rows> {
    return this.request(encode.queryWithParams(sql, params), null, false);
  }

  /** Messages ending with a Sync, run as query() runs; the shapes their Describes tell go to `shapes` (see row-shape.ts). */
  request(
    request: Buffer,
    owner: ServerPeer | null,
    changesSettings: boolean,
    shapes: Buffer[] | null = null,
  ): Promise<Rows> {
    if (this.state !== State.Idle) return Promise.reject(new Error('server connection is not idle'));
    if (replacesUnnamed(request)) this.unnamedBy = null;
    // A client's cancel still on its way would cancel this query instead of the client's: the
    // client would then keep this server for good (a probe failed), as pgJDBC's 1 ms query
    // timeouts showed. Sent once the server confirmed (or gave up on) every cancel.
    if (this.cancelsInFlight > 0)
      return new Promise<void>((resume) => (this.afterCancels ??= []).push(resume)).then(() =>
        this.request(request, owner, changesSettings, shapes),
      );
    this.asyncOwner = owner;
    return new Promise((resolve, reject) => {
      this.internal = new OwnQuery(resolve, reject, changesSettings, shapes);
      this.state = State.Internal;
      this.socket.write(request);
      // A server that stops answering must not hold the client waiting on this query for ever.
      this.answerTimer = setTimeout(() => {
        this.close(`server ${this.describe()} did not answer pgtide's query within ${this.login.connectTimeoutMs} ms`);
      }, this.login.connectTimeoutMs);
    });
  }

  private onInternalMessage(type: number, body: Buffer): boolean {
    const internal = this.internal!;
    if (type === D) {
      const wrong = internal.addRow(body);
      if (wrong !== null) return this.violation(wrong);
    } else if (type === E) {
      internal.addError(body);
      if (endsSession(body)) {
        this.sessionEnded = true;
        this.passToOwner(type, body);
      }
    } else if (type === S) {
      if (!this.trackParameter(body)) return false;
      if (!internal.changesSettings) this.passToOwner(type, body);
    } else if (type === A || type === N) {
      this.passToOwner(type, body);
    } else if (type === Z) {
      if (!this.takeStatus(body)) return false;
      this.clearAnswerTimer();
      this.internal = null;
      this.state = State.Idle;
      internal.settle();
      // What follows in this chunk (a notification sent as the query ended) is read as idle.
    } else internal.addAnswer(type, body);
    return true;
  }

  /**
   * A FATAL read right after the ReadyForQuery that answered the client's last sync point (a
   * fast shutdown or restart ends every session as its answers go out): the client's
   * transaction is over and, unless the client keeps this server (session pooling, pinned), its
   * next one runs on another server. The FATAL is the connection's, as an idle pooled one's
   * would be, and is cut off the chunk the client gets: passed on, it ended the client too.
   */
  private fatalAfterAnswer(body: Buffer, end: number): boolean {
    if (!this.becameIdle || this.txStatus !== IDLE || this.peer === null || this.peer.keepsServer) return false;
    if (!endsSession(body)) return false;
    this.sessionEnded = true;
    this.cutAt = end - body.length - 5;
    return true;
  }

  /** See PreparedSet.rolledBack. */
  private noteCommandComplete(body: Buffer): void {
    if (this.prepared.hasProvisional && isRollbackComplete(body)) this.prepared.rolledBack();
  }

  /** An error outside a transaction block rolls back its implicit transaction; one inside a
   *  block is followed by the ROLLBACK (of the block or to a savepoint) that ends it. */
  private noteError(): void {
    if (this.txStatus === IDLE) this.prepared.rolledBack();
  }

  /** A copy of a message for the client pgtide's own query runs for; nobody's is dropped. */
  private passToOwner(type: number, body: Buffer): void {
    const owner = this.asyncOwner;
    if (!owner) return;
    if (type === E) this.toldClientOfEnd = true;
    const told = type === A && body.length >= 4 ? this.notifierPid(body.readInt32BE(0), owner.clientPid) : 0;
    owner.onServerAsync(copyForClient(type, body, told));
  }

  /** Returns false (connection closed) when the ReadyForQuery status is none of 'I', 'T', 'E'. */
  private takeStatus(body: Buffer): boolean {
    const status = readyForQueryStatus(body);
    if (status < 0) return this.violation('malformed ReadyForQuery');
    this.txStatus = status;
    return true;
  }

  /** Returns false (connection closed) when the server reports more settings than any PostgreSQL does. */
  private trackParameter(body: Buffer): boolean {
    const wrong = trackReportedParameter(this.params, body);
    return wrong === null || this.violation(wrong);
  }

  /** The framing or state of this connection can no longer be trusted. Returns false, for onMessage. */
  private violation(detail: string): false {
    this.close(`protocol violation from server ${this.describe()}: ${detail}`);
    return false;
  }

  private onIdleMessage(type: number, body: Buffer): boolean {
    // Between pgtide's own queries for a client, what the server sends on its own is that client's.
    if (this.asyncOwner && (type === A || type === N || type === S || (type === E && endsSession(body)))) {
      if (type === S && !this.trackParameter(body)) return false;
      if (type === E) this.sessionEnded = true;
      this.passToOwner(type, body);
      return true;
    }
    // A pooled connection may only report setting changes or notices; anything else (a FATAL
    // from an administrator, a stray notification) means its state is no longer known.
    if (type === S) return this.trackParameter(body);
    if (type !== N) {
      this.close(`unexpected message '${String.fromCharCode(type)}' from an idle server`);
      return false;
    }
    return true;
  }

  private onLoginMessage(type: number, body: Buffer): boolean {
    if (type === S) return this.trackParameter(body);
    try {
      if (type === K) {
        const key = decodeBackendKeyData(body);
        if (!key) throw new ServerLoginError('invalid BackendKeyData from server', null, false);
        this.backendPid = key.pid;
        this.backendSecret = keptCopy(key.secret);
        addBackend(this.endpointKey, key.pid, this);
        return true;
      }
      if (!this.exchange.onMessage(type, body, this.socket)) return true;
      this.txStatus = IDLE;
      this.finishLogin();
    } catch (err) {
      this.failLogin(
        err instanceof ServerLoginError ? err : new ServerLoginError(String((err as Error).message), null, false),
      );
    }
    return false;
  }

  private finishLogin(): void {
    this.clearAnswerTimer();
    this.state = State.Idle;
    this.scanner.collect = ALL_TYPES;
    this.owner.onServerLogin(this, null);
  }

  private failLogin(err: ServerLoginError): void {
    if (this.state === State.Closed) return;
    this.clearAnswerTimer();
    const wasLoggingIn = this.state === State.Connecting || this.state === State.Login;
    this.closeQuietly(err.message);
    if (wasLoggingIn) this.owner.onServerLogin(this, err);
  }

  private clearAnswerTimer(): void {
    if (this.answerTimer) {
      clearTimeout(this.answerTimer);
      this.answerTimer = null;
    }
  }

  /** Lend the connection to a client session; `tracking` when it edits its stream (see onServerAnswer). */
  link(peer: ServerPeer, tracking: boolean): void {
    this.peer = peer;
    if (peer.clientPid !== this.holderPid) {
      // Another client may have replaced it since.
      this.unnamedBy = null;
      this.othersUntil = this.releasedAt;
      this.holderPid = peer.clientPid;
    }
    this.asyncOwner = null;
    this.state = State.Linked;
    this.setTracking(tracking);
    this.uses++;
    this.lastUsedAt = eventNow();
  }

  setTracking(tracking: boolean): void {
    this.tracking = tracking;
    this.scanner.collect = tracking ? TRACKED_TYPES : ACTIVE_TYPES;
  }

  /** Type byte of a message cut by the end of the last chunk inside its header, else 0; with the header bytes received. */
  get cutHeaderType(): number {
    return this.scanner.partialHeaderType;
  }

  get cutHeaderLength(): number {
    return this.scanner.partialHeaderLength;
  }

  /** Take the connection back from a clean client: it is idle and its state is known. */
  unlink(): void {
    this.peer = null;
    this.releasedAt = nextEvent();
    this.tracking = false;
    this.state = State.Idle;
    this.scanner.collect = ALL_TYPES;
    this.lastUsedAt = eventNow();
    if (this.socket.isPaused()) this.socket.resume();
  }

  /** Forward client bytes. Returns false when the socket buffer is full (pause the client). */
  write(chunk: Buffer): boolean {
    // The client's bytes hold an open batch: its answers are counted from now on (see SyncPoints).
    if (this.syncs.watching) this.scanner.collect = TRACKED_TYPES;
    return this.ownReads ? writeDirect(this.socket, chunk) : this.socket.write(chunk);
  }

  /**
   * The client left (or was dropped) while this connection may hold a transaction, a running
   * query or an unread result. Bring it back to a known idle state, or close it when that is
   * impossible, or closed for `closeReason` when there is one (the client left in the middle
   * of a message, or state no reset ends). `resetQuery` runs last when set (session pooling's
   * DISCARD ALL).
   */
  orphan(closeReason: string | null, resetQuery: string | null, sendCancel: (server: ServerConnection) => void): void {
    this.peer = null;
    this.unnamedBy = null;
    // Whatever it has not committed yet is rolled back below, unseen: the ROLLBACK's tag is not collected.
    this.prepared.rolledBack();
    this.tracking = false;
    if (this.state !== State.Linked) return;
    if (closeReason !== null) return this.close(closeReason);
    this.state = State.Draining;
    this.resetSent = false;
    this.resetFailed = false;
    this.drainWhenCancelsDone = false;
    this.scanner.collect = this.syncs.watching ? TRACKED_TYPES : ACTIVE_TYPES;
    this.resetQuery = resetQuery;
    if (this.socket.isPaused()) this.socket.resume();
    this.drainTimer = setTimeout(
      () => this.close('server did not become idle after its client left'),
      DRAIN_TIMEOUT_MS,
    );
    // A COPY IN waits for the client's data, not for a cancel: a CopyFail ends it, in a rollback
    // as when PostgreSQL's own client goes mid-COPY, and answers the sync point that began it.
    const copyIn = this.copyIn;
    if (this.syncs.pending > 0 && !copyIn) sendCancel(this);
    // A Sync closes any open extended-protocol batch and yields a ReadyForQuery in any state,
    // but it would commit the batch's implicit transaction, which the client never asked for:
    // PostgreSQL rolls that back when its client goes. A failed message first makes it roll back.
    // (After a COPY begun by an extended batch the server skips to this Sync.)
    const openBatch = this.syncs.unsynced;
    // Idle inside a transaction: the drain's ROLLBACK ends it. A Sync first may not: after a
    // Query sent inside a flushed batch PostgreSQL reports a transaction, answers a Sync with
    // 'I', and fails the next statement with XX000 "unexpected state STARTED" (libpq's
    // pipeline tests).
    if (this.syncs.pending === 0 && !openBatch && !copyIn && this.txStatus !== IDLE) return this.continueDrain();
    this.syncs.sent(1, false);
    const sync = openBatch ? Buffer.concat([ABORT_OPEN_BATCH, encode.sync()]) : encode.sync();
    this.socket.write(copyIn ? Buffer.concat([ABORT_COPY_IN, sync]) : sync);
  }

  private continueDrain(): void {
    if (this.sessionEnded) return this.close('the server ended its session while its client left');
    // The reset query did not run (a cancel of the client that left reached it, 57014, or any
    // error): that client's temporary tables, settings and other session state are still
    // there, and the next client would find them (pgconn's TestConnCopyFromCanceled, then a
    // new client's CREATE TEMPORARY TABLE of the same name got 42P07).
    if (this.resetFailed) return this.close('its reset query failed after its client left');
    // A cancel on its way (the leaving client's own, relayed, or pgtide's) would cancel the
    // ROLLBACK or the reset query instead of the client's statement: they wait for it.
    if (this.cancelsInFlight > 0 && (this.txStatus !== IDLE || this.resetQuery)) {
      this.drainWhenCancelsDone = true;
      return;
    }
    if (this.txStatus !== IDLE) {
      this.syncs.sent(1, false);
      this.socket.write(encode.query('ROLLBACK'));
      return;
    }
    if (this.resetQuery) {
      const q = this.resetQuery;
      this.resetQuery = null;
      this.afterReset(q);
      this.resetSent = true;
      this.syncs.sent(1, false);
      this.socket.write(encode.query(q));
      return;
    }
    this.resetSent = false;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.state = State.Idle;
    this.releasedAt = nextEvent();
    this.scanner.collect = ALL_TYPES;
    this.returnWhenCancelsDone();
  }

  /** A reset query may drop prepared statements and settings; a failed one is caught by the drain. */
  private afterReset(query: string): void {
    this.unnamedBy = null;
    this.prepared.doubtAll();
    this.forgetSettings(settingsAfterReset(query));
  }

  forgetSettings(settings: ReadonlyMap<string, string>, owner: ServerPeer | null = null, ownerKey = ''): void {
    this.settings = settings;
    this.settingsKey = settings === UNKNOWN_SETTINGS ? '\0unknown' : '';
    this.unknownOwner = settings === UNKNOWN_SETTINGS ? owner : null;
    this.unknownOwnerKey = ownerKey;
  }

  /**
   * Called by the cancel sender when a cancel connection to this server ended. `confirmed`:
   * the server closed it after reading the request, so the cancel has been acted on. Else it
   * may still be queued (a frozen server reads it when it wakes up) and would cancel whatever
   * this connection runs then, another client's query: the connection is closed instead, and
   * its owner told that the server's postmaster left a connection made at `sentAt` unanswered.
   */
  cancelDone(confirmed: boolean, sentAt: number): void {
    this.cancelsInFlight--;
    // Resumed after what follows here: a connection closed below refuses the query.
    if (this.cancelsInFlight === 0 && this.afterCancels !== null) {
      for (const resume of this.afterCancels) resume();
      this.afterCancels = null;
    }
    if (!confirmed) {
      this.owner.onCancelUnanswered?.(sentAt);
      return this.close('its cancel request was not confirmed by the server');
    }
    if (this.cancelsInFlight === 0 && this.drainWhenCancelsDone) {
      this.drainWhenCancelsDone = false;
      if (this.state === State.Draining) this.continueDrain();
      return;
    }
    if (this.cancelsInFlight === 0 && this.reuseWhenCancelsDone) {
      this.reuseWhenCancelsDone = false;
      if (this.state === State.Idle) this.owner.onServerReusable(this);
    }
  }

  /** Hand the connection back to the owner now, or once pending cancels have finished. */
  returnWhenCancelsDone(): void {
    if (this.cancelsInFlight > 0) this.reuseWhenCancelsDone = true;
    else this.owner.onServerReusable(this);
  }

  /** Reset with a query before reuse, even from a clean client (session pooling). */
  resetThenReturn(resetQuery: string): void {
    this.peer = null;
    this.state = State.Draining;
    this.scanner.collect = ACTIVE_TYPES;
    if (this.socket.isPaused()) this.socket.resume();
    this.resetQuery = null;
    this.afterReset(resetQuery);
    this.resetSent = true;
    this.resetFailed = false;
    this.drainWhenCancelsDone = false;
    this.syncs.sent(1, false);
    this.socket.write(encode.query(resetQuery));
    this.drainTimer = setTimeout(() => this.close('server reset query did not finish'), DRAIN_TIMEOUT_MS);
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    if (this.socket.isPaused()) this.socket.resume();
  }

  private onDrain(): void {
    this.peer?.onServerDrain();
  }

  private onError(err: Error): void {
    if (this.state === State.Connecting || this.state === State.Login) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE') return this.failLogin(outOfDescriptors(this.describe(), code));
      this.failLogin(new ServerLoginError(`cannot connect to server ${this.describe()}: ${err.message}`, null, true));
    } else {
      this.closeReason ||= err.message;
    }
  }

  private onClose(): void {
    if (this.state === State.Closed) return;
    if (this.state === State.Connecting || this.state === State.Login) {
      return this.failLogin(
        new ServerLoginError(`server ${this.describe()} closed the connection during login`, null, true),
      );
    }
    this.close(this.closeReason || 'server closed the connection');
  }

  /** Calls `then` once the socket has closed, never before the caller returns. PostgreSQL
   *  leaves a backend's socket open until the process exits, after it has given up its
   *  connection slot (at most DRAIN_TIMEOUT_MS after close() for a server that does not answer). */
  whenGone(then: () => void): void {
    if (this.socket.closed) queueMicrotask(then);
    else this.socket.once('close', then);
  }

  /** Close for good; the peer (if any) and the owner are told. */
  close(reason: string): void {
    if (this.state === State.Closed) return;
    if (this.state === State.Connecting || this.state === State.Login) {
      return this.failLogin(new ServerLoginError(reason, null, true));
    }
    // The client hears the ERROR before the loss, as it would have without the wait.
    if (this.answerBeforeReady !== null) this.forwardAnswerBeforeReady(false);
    const peer = this.peer;
    const unanswered = !this.syncs.idle;
    this.closeQuietly(reason);
    peer?.onServerLost(reason, this.toldClientOfEnd, unanswered);
    this.owner.onServerClosed(this);
  }

  private closeQuietly(reason: string): void {
    this.state = State.Closed;
    dropBackend(this.endpointKey, this.backendPid, this);
    if (this.internal) {
      this.internal.abandon(reason);
      this.internal = null;
    }
    this.closeReason = reason;
    this.peer = null;
    this.clearAnswerTimer();
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    if (this.socket.destroyed) return;
    // A polite Terminate lets the server end the backend at once instead of on its next read;
    // a server that does not read it (frozen, unreachable) must not keep the socket for ever.
    if (this.socket.writable && this.backendSecret) {
      const socket = this.socket;
      socket.end(encode.terminate());
      const timer = setTimeout(() => socket.destroy(), DRAIN_TIMEOUT_MS).unref();
      // Not kept till then, with this connection and its buffers, once the server closed.
      socket.once('close', () => clearTimeout(timer));
    } else {
      this.socket.destroy();
    }
  }
}

/** Whether pgtide's own messages replace the unnamed statement: a simple Query drops it, an
 *  unnamed Parse (auth_query's, a client's restored) takes its place. Prepared checks leave it. */
function replacesUnnamed(request: Buffer): boolean {
  for (let at = 0; at + 5 < request.length; at += 1 + request.readUInt32BE(at + 1)) {
    const type = request[at];
    if (type === FrontendMessage.Query || (type === FrontendMessage.Parse && request[at + 5] === 0)) return true;
  }
  return false;
}
