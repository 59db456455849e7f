import * as encode from '../protocol/encode.js';
import type { PreparedSet } from '../pool/prepared-set.js';
import { BackendMessage } from '../protocol/types.js';

/** The request a server answer belongs to. Fake* requests never reach the server: pgtide
 *  answers them itself, in order, when the answers before them have been forwarded. */
export const enum Expect {
  Parse = 1,
  Bind,
  Describe,
  Execute,
  Close,
  Sync,
  Query,
  FakeParse,
  FakeClose,
  /** The client's Describe of a portal bound from a named statement (see describedPortal). */
  DescribePortal,
}

const KIND = 0x0f;
/** The answer ending this request goes nowhere: pgtide added the request. */
const HIDDEN = 0x10;
/** A Parse under a client name already in use; `names` holds that client name. */
const DUPLICATE = 0x20;
/** The Describe of pgtide's shape check (see ClientStatements): the client's bytes wait for its answer. */
const SHAPE = 0x40;
/** pgtide's Sync after a Query (see pushQueryGuard): hidden, unless the Query is skipped. */
const GUARD = 0x80;

const ERROR = BackendMessage.ErrorResponse,
  READY = BackendMessage.ReadyForQuery;
const {
  ParseComplete: PARSE_DONE,
  BindComplete: BIND_DONE,
  CloseComplete: CLOSE_DONE,
  RowDescription: ROW_DESCRIPTION,
  NoData: NO_DATA,
  CommandComplete: COMMAND_DONE,
  EmptyQueryResponse: EMPTY_QUERY,
  PortalSuspended: SUSPENDED,
  ParameterDescription: PARAMETER_DESCRIPTION,
} = BackendMessage;
const PARSE_COMPLETE = encode.parseComplete();
const CLOSE_COMPLETE = encode.closeComplete();

/**
 * What a server connection owes its client, request by request, while pgtide edits the
 * client's stream for prepared statements: which answer ends each request, which answers the
 * client must not see, and where the answers pgtide gives itself belong. A ring of small
 * integers: nothing is allocated per message.
 */
export class ResponseTracker {
  private kinds = new Uint8Array(32);
  /** Server-side statement name of a Parse pgtide tracks, or of a Bind or Describe (for stale plans). */
  private names: (string | null)[] = new Array<string | null>(32).fill(null);
  /** The client's name a Parse (answered by the server or by pgtide) creates. */
  private clientNames: (string | null)[] = new Array<string | null>(32).fill(null);
  /** What gives back the names a request's DEALLOCATE took, should the server skip the request
   *  or fail it before anything ran (see ClientStatements.deallocate). */
  private undos: (Undo | null)[] = new Array<Undo | null>(32).fill(null);
  /** CommandCompletes of the Query at the head so far: the statements of its text that ran. */
  private completedInQuery = 0;
  /** An error was answered and no Sync has been sent since: the server discards everything until one. */
  private discarding = false;
  /** Query and FunctionCall requests the server skips after an error: no ReadyForQuery comes for
   *  them, and the server connection's sync points must say so (see takeSkippedQueries). */
  private skippedQueries = 0;
  /** A Parse that did not create its statement (an error, or skipped after one): the client name is free again. */
  onParseFailed: ((clientName: string, serverName: string) => void) | null = null;
  /** A Close pgtide answered itself was skipped after an error: the client still has `clientName`. */
  onCloseSkipped: ((clientName: string, serverName: string) => void) | null = null;
  /** A tracked Parse got its answer (`ok`: ParseComplete), so its text is known to parse or not. */
  onParseAnswered: ((serverName: string, ok: boolean) => void) | null = null;
  private head = 0;
  private count = 0;
  /** Syncs among the requests owed: checked for each Parse of a batch, which may hold thousands. */
  private syncs = 0;
  private set: PreparedSet | null = null;
  /** Answers pgtide owes the client after the answer just handled. */
  readonly fakes: Buffer[] = [];
  /** The server-side statement of the Bind or Describe that failed last (a stale plan, or missing). */
  failedStatement: string | null = null;
  /** The server-side statement of the Parse that failed last (see ClientStatements.retypeAfterFailure). */
  failedParse: string | null = null;
  /** The client's name for the statement of the request that failed last (a Parse of a name in
   *  use, a Bind, a Describe): the server's error names pgtide's statement instead. */
  failedClientName: string | null = null;
  /** The server-side statement whose Describe the answer just handled ended (a RowDescription or NoData), else null. */
  describedStatement: string | null = null;
  /** The server-side statement whose Describe the answer just handled began with its
   *  ParameterDescription, else null. */
  parametersOf: string | null = null;
  /** The server-side statement of the portal whose Describe the answer just handled ended, else
   *  null; with it, the client's name of that statement (read only then). */
  describedPortal: string | null = null;
  describedPortalClientName: string | null = null;
  /**
   * The last Bind answered failed, or was skipped after an error: a Describe of its portal after
   * it (in a later batch, sent before the error was known) describes no portal of that Bind, but
   * whatever portal of that name the session still has (the unnamed one a failed simple Query
   * left), and tells the client nothing of the statement.
   */
  private bindFailed = false;
  /** A shape check is owed its answer. */
  checkingShape = false;
  /** The shape check ended with the answer just handled: answered, or skipped after an error (the caller clears it). */
  shapeCheckEnded = false;
  /**
   * An Execute completed since the last ReadyForQuery. In a failed transaction block the server
   * runs only a portal that ends it, so the block the last ReadyForQuery told of is over.
   */
  portalRan = false;

  /** A new link: nothing is owed; `set` is the server's prepared statements. */
  reset(set: PreparedSet | null): void {
    this.head = 0;
    this.count = 0;
    this.syncs = 0;
    this.names.fill(null);
    this.clientNames.fill(null);
    this.undos.fill(null);
    this.completedInQuery = 0;
    this.discarding = false;
    this.skippedQueries = 0;
    this.fakes.length = 0;
    this.failedStatement = null;
    this.failedParse = null;
    this.failedClientName = null;
    this.describedStatement = null;
    this.describedPortal = null;
    this.bindFailed = false;
    this.checkingShape = false;
    this.shapeCheckEnded = false;
    this.portalRan = false;
    this.set = set;
  }

  get idle(): boolean {
    return this.count === 0;
  }

  /** The Queries skipped since last asked, for SyncPoints.skipped. */
  takeSkippedQueries(): number {
    const n = this.skippedQueries;
    this.skippedQueries = 0;
    return n;
  }

  /** Requests sent now are discarded by the server (an error came, no Sync since): they get no answer. */
  get skipping(): boolean {
    return this.discarding;
  }

  /**
   * A request sent now runs only if every request before it in its batch succeeds: some are
   * not answered yet (or one failed), and no Sync ends their batch.
   */
  get mayBeSkipped(): boolean {
    if (this.discarding) return true;
    return this.count > 0 && (this.kinds[(this.head + this.count - 1) % this.kinds.length]! & KIND) !== Expect.Sync;
  }

  /** No extended-protocol request is owed since the last Sync: a Sync sent now would end no
   *  batch of the client's (Queries, answered with their own ReadyForQuery, leave none open). */
  get batchClosed(): boolean {
    if (this.discarding) return false;
    const size = this.kinds.length;
    for (let i = this.count - 1; i >= 0; i--) {
      const kind = this.kinds[(this.head + i) % size]! & KIND;
      if (kind === Expect.Sync) return true;
      if (kind !== Expect.Query) return false;
    }
    return true;
  }

  /** A Query owed was sent inside a batch, after requests still owed that no Sync ended: should
   *  one of them fail, the server skips the Query and sends no ReadyForQuery for it. */
  get querySkippable(): boolean {
    const size = this.kinds.length;
    let open = false;
    for (let i = 0; i < this.count; i++) {
      const kind = this.kinds[(this.head + i) % size]! & KIND;
      if (kind === Expect.Query) {
        if (open) return true;
      } else open = kind !== Expect.Sync && kind !== Expect.FakeParse && kind !== Expect.FakeClose;
    }
    return false;
  }

  /** A Sync is not answered yet: its batch may have failed the transaction block. */
  get syncInFlight(): boolean {
    return this.syncs > 0;
  }

  /** `name`: the server-side statement of a tracked Parse, a Bind, or one a Query EXECUTEs;
   *  `clientName`: what a Parse creates, or the Query's name for that statement. */
  push(kind: Expect, hidden = false, name: string | null = null, clientName: string | null = null): void {
    if (kind === Expect.Sync) this.discarding = false;
    else if (this.discarding) {
      if (kind === Expect.Query) this.skippedQueries++;
      return;
    }
    this.pushEntry(hidden ? kind | HIDDEN : kind, name, clientName);
  }

  /** A Query or an Execute whose DEALLOCATEs pgtide acted on: `undo` if it never runs. */
  pushDeallocating(
    kind: Expect.Query | Expect.Execute,
    name: string | null,
    clientName: string | null,
    undo: Undo,
  ): void {
    this.push(kind, false, name, clientName);
    if (!this.discarding) this.undos[(this.head + this.count - 1) % this.kinds.length] = undo;
  }

  /** A Parse under `clientName`, already in use: the server's 42P05 must name it, not the server's name. */
  pushDuplicate(clientName: string): void {
    this.pushEntry(Expect.Parse | DUPLICATE, clientName, null);
  }

  private pushEntry(entry: number, name: string | null, clientName: string | null): void {
    if (this.count === this.kinds.length) this.grow();
    const at = (this.head + this.count) % this.kinds.length;
    this.kinds[at] = entry;
    this.names[at] = name;
    this.clientNames[at] = clientName;
    this.count++;
    if ((entry & KIND) === Expect.Sync) this.syncs++;
  }

  /**
   * pgtide's Sync right after a Query whose statement it prepared first: its ReadyForQuery is
   * hidden, unless that Parse fails and the server skips the Query, when it is the Query's.
   */
  pushQueryGuard(): void {
    this.discarding = false;
    this.pushEntry(Expect.Sync | HIDDEN | GUARD, null, null);
  }

  /** pgtide's Describe of `serverName` for a shape check: its answers are hidden (see describedStatement). */
  pushShapeCheck(serverName: string): void {
    this.checkingShape = true;
    this.pushEntry(Expect.Describe | HIDDEN | SHAPE, serverName, null);
  }

  /**
   * A request pgtide answers itself: now, if nothing is owed before it (returned, for the
   * caller to send), else after the answers before it. A FakeParse names what it creates.
   */
  pushFake(
    kind: Expect.FakeParse | Expect.FakeClose,
    serverName: string | null = null,
    clientName: string | null = null,
  ): Buffer | null {
    // Discarded by the server, so by pgtide too: PostgreSQL would not answer it.
    if (this.discarding) return null;
    if (this.count === 0) return kind === Expect.FakeParse ? PARSE_COMPLETE : CLOSE_COMPLETE;
    this.pushEntry(kind, serverName, clientName);
    return null;
  }

  /**
   * One message from the server. Returns true when the client must not see it. Afterwards
   * `fakes` holds the answers to send right after it (the caller empties it).
   */
  onAnswer(type: number): boolean {
    this.describedStatement = null;
    this.parametersOf = null;
    this.describedPortal = null;
    if (this.count === 0) return false;
    const entry = this.kinds[this.head]!;
    const kind = entry & KIND;
    if (type === ERROR) {
      this.failedStatement = null;
      this.failedParse = null;
      // The simple-query and Sync answers end with ReadyForQuery, errors or not.
      if (kind === Expect.Sync) return false;
      if (kind === Expect.Query) {
        // Its error may name the statement it EXECUTEs, by the server's name.
        this.failedClientName = this.clientNames[this.head]!;
        this.undos[this.head]?.(this.completedInQuery);
        this.undos[this.head] = null;
        return false;
      }
      this.failedStatement = failedStatementKinds(kind) ? this.names[this.head]! : null;
      this.failedParse = this.parseAtHead();
      this.failedClientName =
        (entry & DUPLICATE) !== 0
          ? this.names[this.head]!
          : failedStatementKinds(kind)
            ? this.clientNames[this.head]!
            : null;
      this.parseAnswered(entry, false);
      // PostgreSQL skips everything up to the next Sync after an error. What the failed request
      // and the skipped ones did to the client's names is undone last first: a Close then a
      // Parse of one name give the name back as it was before both, and a failed Parse then a
      // Close of its name leave it as it was before the Parse.
      const size = this.kinds.length;
      let failed = 1;
      for (; failed < this.count; failed++) {
        const next = this.kinds[(this.head + failed) % size]! & KIND;
        if (next === Expect.Sync) break;
        if (next === Expect.Query) this.skippedQueries++;
      }
      // A Query skipped for its statement's failed Parse: the ReadyForQuery of pgtide's Sync is its.
      const sync = (this.head + failed) % size;
      if (failed < this.count && (this.kinds[sync]! & GUARD) !== 0) this.kinds[sync]! &= ~HIDDEN;
      for (let i = failed - 1; i >= 0; i--) this.failAt(i);
      for (let i = 0; i < failed; i++) this.pop();
      if (this.count === 0) this.discarding = true;
      return false;
    }
    if (!ends(kind, type)) {
      if (type === COMMAND_DONE && kind === Expect.Query) this.completedInQuery++;
      // A ReadyForQuery where another answer was due: the count went wrong; resynchronise.
      if (type === READY) this.skipToSync();
      if (type === PARAMETER_DESCRIPTION && kind === Expect.Describe) this.parametersOf = this.names[this.head]!;
      // A statement's parameters come before its shape: pgtide asked for both when it asked for the shape.
      return type === PARAMETER_DESCRIPTION && (entry & HIDDEN) !== 0;
    }
    this.parseAnswered(entry, true);
    if (type === READY) this.portalRan = false;
    else if (type === COMMAND_DONE && kind === Expect.Execute) this.portalRan = true;
    if (kind === Expect.Describe) {
      this.describedStatement = this.names[this.head]!;
      if ((entry & SHAPE) !== 0) this.endShapeCheck();
    } else if (kind === Expect.DescribePortal) {
      if (!this.bindFailed) {
        this.describedPortal = this.names[this.head]!;
        this.describedPortalClientName = this.clientNames[this.head]!;
      }
    } else if (kind === Expect.Bind) this.bindFailed = false;
    this.pop();
    this.takeFakes();
    return (entry & HIDDEN) !== 0;
  }

  /** The server-side statement of the Parse the next answer is for (`own`: only the client's,
   *  not one pgtide added), else null. */
  parseAtHead(own = false): string | null {
    if (this.count === 0) return null;
    const mask = own ? KIND | DUPLICATE | HIDDEN : KIND | DUPLICATE;
    return (this.kinds[this.head]! & mask) === Expect.Parse ? this.names[this.head]! : null;
  }

  private parseAnswered(entry: number, ok: boolean): void {
    // A duplicate's name is the client's, and its 42P05 says nothing of the text.
    if ((entry & (KIND | DUPLICATE)) !== Expect.Parse) return;
    const name = this.names[this.head];
    if (name) this.onParseAnswered?.(name, ok);
  }

  /** COPY IN started: the server ignores the Syncs that follow its Execute. */
  onCopyIn(): void {
    const at = this.count > 0 ? 1 : 0;
    while (at < this.count && (this.kinds[(this.head + at) % this.kinds.length]! & KIND) === Expect.Sync) {
      this.removeAt(at);
    }
  }

  private skipToSync(): void {
    while (this.count > 0) {
      const kind = this.kinds[this.head]! & KIND;
      this.fail();
      if (kind === Expect.Sync || kind === Expect.Query) break;
    }
    this.takeFakes();
  }

  private takeFakes(): void {
    while (this.count > 0) {
      const kind = this.kinds[this.head]! & KIND;
      if (kind !== Expect.FakeParse && kind !== Expect.FakeClose) return;
      this.fakes.push(kind === Expect.FakeParse ? PARSE_COMPLETE : CLOSE_COMPLETE);
      this.pop();
    }
  }

  /** The request at the head got no success answer, and leaves the queue. */
  private fail(): void {
    this.failAt(0);
    this.pop();
  }

  /**
   * The request `offset` places behind the head got no success answer: a Parse created nothing,
   * on the server or for the client; a Close pgtide answered itself closed nothing.
   */
  private failAt(offset: number): void {
    const at = (this.head + offset) % this.kinds.length;
    const name = this.names[at] ?? null;
    const clientName = this.clientNames[at] ?? null;
    const kind = this.kinds[at]! & (KIND | DUPLICATE);
    if ((this.kinds[at]! & SHAPE) !== 0) this.endShapeCheck();
    if (kind === Expect.Bind) this.bindFailed = true;
    // A Close of the name before it may have been skipped too, leaving an older copy: doubtful.
    if (name !== null && kind === Expect.Parse) this.set?.doubt(name);
    if (name !== null && kind === Expect.Close) this.set?.closeSkipped(name);
    if (clientName !== null && name !== null && (kind === Expect.Parse || kind === Expect.FakeParse))
      this.onParseFailed?.(clientName, name);
    else if (clientName !== null && name !== null && kind === Expect.FakeClose) this.onCloseSkipped?.(clientName, name);
    this.undos[at]?.(0);
  }

  private endShapeCheck(): void {
    this.checkingShape = false;
    this.shapeCheckEnded = true;
  }

  private pop(): void {
    if ((this.kinds[this.head]! & KIND) === Expect.Sync) this.syncs--;
    this.completedInQuery = 0;
    this.names[this.head] = null;
    this.undos[this.head] = null;
    this.clientNames[this.head] = null;
    this.head = (this.head + 1) % this.kinds.length;
    this.count--;
  }

  private removeAt(offset: number): void {
    const size = this.kinds.length;
    if ((this.kinds[(this.head + offset) % size]! & KIND) === Expect.Sync) this.syncs--;
    for (let i = offset; i < this.count - 1; i++) {
      this.kinds[(this.head + i) % size] = this.kinds[(this.head + i + 1) % size]!;
      this.names[(this.head + i) % size] = this.names[(this.head + i + 1) % size]!;
      this.clientNames[(this.head + i) % size] = this.clientNames[(this.head + i + 1) % size]!;
      this.undos[(this.head + i) % size] = this.undos[(this.head + i + 1) % size]!;
    }
    this.names[(this.head + this.count - 1) % size] = null;
    this.clientNames[(this.head + this.count - 1) % size] = null;
    this.undos[(this.head + this.count - 1) % size] = null;
    this.count--;
  }

  private grow(): void {
    const size = this.kinds.length;
    const kinds = new Uint8Array(size * 2);
    const names = new Array<string | null>(size * 2).fill(null);
    const clientNames = new Array<string | null>(size * 2).fill(null);
    const undos = new Array<Undo | null>(size * 2).fill(null);
    for (let i = 0; i < this.count; i++) {
      kinds[i] = this.kinds[(this.head + i) % size]!;
      names[i] = this.names[(this.head + i) % size]!;
      clientNames[i] = this.clientNames[(this.head + i) % size]!;
      undos[i] = this.undos[(this.head + i) % size]!;
    }
    this.kinds = kinds;
    this.names = names;
    this.clientNames = clientNames;
    this.undos = undos;
    this.head = 0;
  }
}

/** Gives back what a request took, but for what the first `ran` statements of its text did. */
type Undo = (ran: number) => void;

/** Whether a server message is the last answer to a request of this kind. */
function ends(kind: number, type: number): boolean {
  switch (kind) {
    case Expect.Parse:
      return type === PARSE_DONE;
    case Expect.Bind:
      return type === BIND_DONE;
    case Expect.Describe:
    case Expect.DescribePortal:
      return type === ROW_DESCRIPTION || type === NO_DATA;
    case Expect.Execute:
      return type === COMMAND_DONE || type === EMPTY_QUERY || type === SUSPENDED;
    case Expect.Close:
      return type === CLOSE_DONE;
    case Expect.Sync:
    case Expect.Query:
      return type === READY;
    default:
      return false;
  }
}

/** Requests whose statement's name an error may give: a Bind's, a Describe's. */
function failedStatementKinds(kind: number): boolean {
  return kind === Expect.Bind || kind === Expect.Describe;
}
