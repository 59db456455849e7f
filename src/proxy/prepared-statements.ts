import type { BackendConfig } from '../config/types.js';
import * as encode from '../protocol/encode.js';
import { resultShapeChecked } from '../sql/index.js';
import { identifier } from '../sql/quote.js';
import { findStatementNames, type Deallocation } from '../sql/statement-names.js';
import { findStatementLists } from '../sql/statement-list.js';
import { edited, type TextEdit } from '../sql/text-edits.js';
import { endsFailedBlockText, runsInFailedBlock } from '../sql/transaction-statement.js';
import type { PreparedSet } from '../pool/prepared-set.js';
import type { PoolStats } from '../pool/pool.js';
import { Expect, type ResponseTracker } from './response-tracker.js';
import { statementScope, unsharedScope, type Statement, type StatementRegistry } from './statement-registry.js';
import { BackendMessage, FrontendMessage } from '../protocol/types.js';
import { rowShape, sameRowShape } from '../protocol/row-shape.js';
import { describesPortal, renamed, resultFormatCount } from './statement-messages.js';
import { ToldShapes } from './told-shapes.js';
import { listEdits } from './statement-list.js';
import { OwnStatements } from './own-statements.js';
import { ClientNames } from './client-names.js';
import type { ClientSession } from './client-session.js';
import { keptCopy } from '../protocol/kept-buffer.js';

const { Parse: P, Bind: B, Describe: D, Close: C, Query: Q, Execute: E, Sync: SYNC, FunctionCall: F } = FrontendMessage;
/** The statement a Bind goes to when its client holds a stale description: no server has it. */
export const OLD_SHAPE = 'pgtide_old_shape';
const STATEMENT = 0x53;
/** How deep prepareExecuted follows statements that EXECUTE statements that EXECUTE others. */
const MAX_EXECUTE_CHAIN = 16;
/** What a statement that is not the client's own EXECUTEs: made once, not at every Bind. */
const NO_NAMES: readonly string[] = [];
/** Never prepared by pgtide: a Parse the server must refuse goes under it (see refusedParse). */
const REFUSED_NAME = 'pgtide_refused';
/** A client name and the statement it named when a DEALLOCATE text was read (null: ALL), and
 *  which statement of the text deallocates it. */
type Target = [name: string | null, statement: Statement | null, ordinal: number];
/** The client's names a DEALLOCATE took, the statement each named, which statement of the text took it. */
type Taken = readonly [name: string, statement: Statement, ordinal: number][];

/** An empty statement text and no parameter types, as a Parse carries them after the name. */
const EMPTY_TEXT = Buffer.from([0, 0, 0]);
const FLUSH = encode.flush();
const SYNC_MESSAGE = encode.sync();

/** The request kind of each client message type that gets an answer of its own (0: none). */
const EXPECT = new Uint8Array(256);
EXPECT[P] = Expect.Parse;
EXPECT[B] = Expect.Bind;
EXPECT[D] = Expect.Describe;
EXPECT[C] = Expect.Close;
EXPECT[E] = Expect.Execute;
EXPECT[SYNC] = Expect.Sync;
EXPECT[Q] = Expect.Query;
EXPECT[F] = Expect.Query;

/** The map of a client's named statements, which resolve where its session says now: where
 *  its transaction may have moved that, or changed tables (DDL not committed yet, which other
 *  clients do not see: a statement shared with them would get types or a plan from the other
 *  side of it), or where it keeps its server (its temporary tables read by the same names as
 *  other sessions' tables of other columns), somewhere no other statement resolves. */
export function clientStatements(
  s: Pick<ClientSession, 'ctx' | 'database' | 'user' | 'settings' | 'scopeMoved' | 'ranDdl' | 'keepsServer'>,
): ClientStatements {
  return new ClientStatements(s.ctx.statements, () =>
    s.scopeMoved || s.ranDdl || s.keepsServer
      ? unsharedScope()
      : statementScope(s.database, s.user, s.settings?.values ?? null),
  );
}

/**
 * A client's named prepared statements, and the rewriting of its messages for whichever server
 * runs its next transaction: names become the shared server-side names, a statement the server
 * lacks is prepared there first (its ParseComplete hidden), a Parse of a statement the server
 * already has is answered by pgtide, Close of a statement is answered by pgtide (other clients
 * may share it; the per-server LRU bounds what stays prepared).
 */
export class ClientStatements {
  private readonly byName = new ClientNames();
  private out: Buffer[] = [];
  /** The pool's counters (SHOW STATS: client and server parses, binds) during a rewrite. */
  private stats: PoolStats | null = null;
  private copied = 0;
  private changed = false;
  /** Bytes of a message cut by the end of the last chunk (CopyData, or one sent before mapping began). */
  private cutRemaining = 0;

  /** Changes to the names since the link began, while its bytes may still be sent again elsewhere. */
  private undo: [name: string, before: Statement | undefined, portalShape: Buffer | undefined][] = [];
  private recording = false;

  /** `scope()`: where the client's statement names resolve now (see statementScope). */
  constructor(
    private readonly registry: StatementRegistry,
    readonly scope: () => string,
  ) {
    this.own = new OwnStatements(registry, scope);
  }

  /** ParseCompletes pgtide sent at once on this link (before any server answer). */
  private earlyParses = 0;

  /** What the client was told of each statement's result shape (see mayRunAgain and Bind). */
  private readonly shapes = new ToldShapes();
  /** Statements whose Parse in this link pgtide answered from a copy the server already had. */
  private readonly sharedNow = new Set<string>();
  /** The statement whose Parse in this link, sent with its told types, failed (see retypeAfterFailure). */
  private failedTyped: string | null = null;
  /** The portal and statement of the last Bind: a Describe of that portal describes the statement. */
  private boundPortal: string | null = null;
  private boundStatement: string | null = null;
  private boundClientName: string | null = null;
  private boundEpoch = 0;
  /** That Bind set a format per result column: they fit the shape the client holds, whatever a
   *  Describe of the portal tells it (see holdsOldShape). */
  private boundPerColumn = false;
  /** The client is pinned to its server (see holdsOldShape); told at each rewrite. */
  private pinned = false;
  /** Parses of bytes sent again whose ParseComplete the client already has. */
  private answeredParses = 0;
  /** Statements closed by Closes pgtide answers itself, until nothing is in flight, by client
   *  and server name (see closingKey): one name closed twice in a batch, around a Parse of it,
   *  names two statements, and each skipped Close gives its own back (see reopen). */
  private readonly closing = new Map<string, Statement>();
  /** During rewrite: the server's transaction block has failed, so it refuses all but its end. */
  private failed = false;
  /** During rewrite: the server was last seen in a transaction block (see the Parse case of message). */
  private inBlock = false;
  /** During rewrite: the names the last text read by mapNames() deallocates. */
  private targets: Target[] | null = null;
  /** During rewrite: that text EXECUTEs a statement pgtide prepared for it, whose Parse may fail. */
  private executesPrepared = false;
  /** During rewrite: the one client name that text maps (null: none, or several), and its server name. */
  private textClientName: string | null = null;
  private textServerName: string | null = null;
  /** Syncs pgtide added (see guardQuery) since last asked: sync points the server owes. */
  private addedSyncs = 0;
  /** What the unnamed statement deallocates when run, and the portal bound to it that will. */
  private unnamedTargets: Target[] | null = null;
  private portalTargets: Target[] | null = null;
  private portalName = '';
  /** The portals that may end a failed block, bound since the server was last known not to be in one (see staysFailed). */
  private endingPortals: string[] = [];
  /** Whether the unnamed statement on `unnamedOn` may end a failed block; on any other server, unknown. */
  private unnamedEnds = true;
  private unnamedOn: PreparedSet | null = null;
  /** A Parse pgtide knows the failed block refuses was sent, and no Sync since: the server skips
   *  the requests between, so a Bind among them ends nothing. */
  private refusedInBatch = false;

  /** A statement whose copy on this server is being checked before the client's Bind of it runs
   *  (see holdForShape), the epoch it was checked at, and whether its Describe is sent yet. */
  private shapeCheck: Statement | null = null;
  private shapeCheckEpoch = 0;
  private shapeAsked = false;
  /** The check is of that server's copy only, for a client told a portal's shape (see
   *  portalShapeDiffers): it says nothing of the statement's shape elsewhere. */
  private shapeCheckOfCopy = false;
  /** The client's bytes from that Bind on, whole messages in order, waiting for the check. */
  private held: Buffer[] = [];

  /** Grows with each change to the client's names or to what the server holds (see rewrite). */
  private changes = 0;
  /** Its statements whose text pgtide rewrites for it, and when it prepared each name. */
  private readonly own: OwnStatements;
  /** During rewrite: a request of the batch not yet ended by its Sync changed names, and may not run. */
  private unsureBatch = false;
  /**
   * A batch whose requests changed names, and may not run, went with its Sync: an error before
   * them in their batch makes the server skip them, a Parse pgtide adds in a failed block is
   * refused, and a Parse of a text no server has parsed at the statement's version may fail.
   * Until the server has answered them, which names the client and the server have is not
   * known, so the client's bytes after that Sync wait (see answersCame). So does a Parse that
   * pgtide would answer itself while a batch before it may have failed the transaction block.
   */
  private unsure = false;

  /** A link began: its bytes may be resent elsewhere until the server answers (see rollBack). */
  beginUndo(): void {
    this.recording = true;
    this.undo.length = 0;
    this.earlyParses = 0;
    this.keepDescribed();
  }

  /** The server answered: the bytes will not be resent. */
  endUndo(): void {
    this.recording = false;
    this.undo.length = 0;
    this.earlyParses = 0;
    this.keepDescribed();
  }

  private keepDescribed(): void {
    this.shapes.keep();
    this.sharedNow.clear();
    this.failedTyped = null;
  }

  /** The link's bytes go again to another server: the names return to what they were, and
   *  the ParseCompletes already sent are not sent twice. */
  rollBack(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const [name, before, portalShape] = this.undo[i]!;
      if (before) this.byName.set(name, before);
      else this.byName.delete(name);
      if (portalShape) this.shapes.portalTold(name, portalShape);
      else this.shapes.forgetPortal(name);
    }
    this.undo.length = 0;
    this.answeredParses = this.earlyParses;
    this.earlyParses = 0;
    // Sending the bytes again records these again.
    this.shapes.dropAsked();
    this.sharedNow.clear();
    this.failedTyped = null;
  }

  /**
   * The server failed the statement `serverName` with a stale plan (0A000): running it again,
   * prepared afresh, gives rows of a new shape. Only right when the client holds no description
   * of the old shape: it never had one, or it asks for one again in these very bytes, or it
   * sent a Parse that pgtide answered from the server's older copy.
   */
  mayRunAgain(serverName: string): boolean {
    return !this.shapes.holds(serverName) || this.shapes.askedNow(serverName) || this.sharedNow.has(serverName);
  }

  /**
   * The client holds a description of the statement from an older version than its current one
   * (a server showed it stale, or two backends described it with two shapes), whose shape is not
   * the current version's: rows of the new shape would be decoded with the old one.
   * A Describe of the portal after the Bind does not excuse that: PostgreSQL fails the Bind of
   * its stale statement first, and libpq's clients (PHP's PDO) keep the columns of the first
   * portal they described for the statement's life. Except for a pinned client (temporary
   * tables, session state): a statement's version is followed per text across sessions, and
   * sessions whose own tables give one text other shapes (node-postgres's type tests) would
   * each look outdated to the others; there, a Describe of the portal that sets no format per
   * result column still tells the client the shape.
   */
  private holdsOldShape(
    statement: Statement,
    clientName: string,
    data: Buffer,
    next: number,
    portalStart: number,
    portalEnd: number,
  ): boolean {
    return (
      this.shapes.outdated(statement, clientName) &&
      (!this.pinned || this.boundPerColumn || !describesPortal(data, next, portalStart, portalEnd))
    );
  }

  /**
   * The Bind or Parse at `off` needs a statement prepared afresh on this server, and clients
   * were told its shape (a Describe of it at its current epoch): the copy made here may have
   * another shape (the table changed, and no server has said so yet), and a client holding the
   * description would decode its rows wrongly, now or when its Bind lands here later. So the
   * message and everything after it wait, while the statement is prepared here and described
   * (after the requests before it are answered; the Flush makes the server answer them without
   * the client's Sync). Prepared so, within the client's own implicit or explicit transaction,
   * it fails and skips to the client's Sync exactly as the hidden Parse before a Bind, or the
   * client's own Parse, would. Once per statement and server connection.
   */
  private holdForShape(
    data: Buffer,
    off: number,
    set: PreparedSet,
    tracker: ResponseTracker,
    statement: Statement,
    copyOnly = false,
  ): void {
    this.holdFrom(data, off);
    this.shapeCheck = statement;
    this.shapeCheckEpoch = statement.epoch;
    this.shapeCheckOfCopy = copyOnly;
    if (tracker.idle) this.askShape(set, tracker);
    else this.out.push(FLUSH);
  }

  private askShape(set: PreparedSet, tracker: ResponseTracker): void {
    const statement = this.shapeCheck!;
    this.shapeAsked = true;
    // A copy of the current version whose shape no one has asked yet is only described.
    if (!set.holds(statement)) this.prepare(set, tracker, statement, true);
    this.out.push(encode.describeStatement(statement.serverName), FLUSH);
    tracker.pushShapeCheck(statement.serverName);
  }

  /** The client's bytes from `off` on wait, out of what this rewrite sends. */
  private holdFrom(data: Buffer, off: number): void {
    this.keep(data, off);
    this.changed = true;
    this.copied = data.length;
    this.held.push(Buffer.from(data.subarray(off)));
  }

  /** Client bytes wait for the answers to a batch whose changes to names may not have run (see unsure). */
  get awaitsAnswers(): boolean {
    return this.unsure && this.shapeCheck === null;
  }

  /** Every request sent is answered: the names are known again, and the bytes that waited can be rewritten. */
  answersCame(): void {
    this.unsure = false;
    this.unsureBatch = false;
  }

  /** The link's bytes go again to another server (see retryRead), those that waited for a
   *  shape check or for answers among them: the wait was for the server that is gone. */
  forgetHeld(): void {
    this.held = [];
    this.shapeCheck = null;
    this.shapeAsked = false;
    this.unsure = false;
    this.unsureBatch = false;
  }

  /** Client bytes wait for a shape check (see holdForShape) or for answers (see unsure). */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Bytes of the client's that came while others wait: they follow them (copied, as they wait). */
  hold(data: Buffer): void {
    this.held.push(Buffer.from(data));
  }

  /** The bytes that waited, to rewrite again in order now that the check is over. */
  takeHeld(): Buffer[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  /** A shape check waits for its answer, or to be sent. */
  get checkingShape(): boolean {
    return this.shapeCheck !== null;
  }

  /** The check waits for the requests before its Bind to be answered. */
  get shapeQuestionPending(): boolean {
    return this.shapeCheck !== null && !this.shapeAsked;
  }

  /**
   * The requests before the Bind that waits are answered: the check's own requests, for the
   * server, or null when it is no longer needed (an error skips everything to the client's Sync;
   * the Bind would not run).
   */
  askShapeNow(set: PreparedSet, tracker: ResponseTracker, stats: PoolStats): Buffer | null {
    if (tracker.skipping) {
      this.shapeCheck = null;
      return null;
    }
    this.stats = stats;
    this.askShape(set, tracker);
    const question = Buffer.concat(this.out);
    this.out.length = 0;
    return question;
  }

  /**
   * The check's answer (`type` RowDescription or NoData; else an error, which the client gets as
   * the hidden Parse's). Another shape than the one clients were told is a new version of the
   * statement: the copy here is of it, older copies are prepared again before their next use,
   * and a client holding the old description gets PostgreSQL's 0A000 at its Bind (see OLD_SHAPE).
   */
  shapeAnswered(type: number, body: Buffer, set: PreparedSet, backend: BackendConfig | null): void {
    const statement = this.shapeCheck!;
    this.shapeCheck = null;
    this.shapeAsked = false;
    if (type !== BackendMessage.RowDescription && type !== BackendMessage.NoData) return;
    if (statement.epoch !== this.shapeCheckEpoch) return;
    const shape = rowShape(type, body);
    set.described(statement.serverName, shape);
    if (this.shapeCheckOfCopy) return;
    if (statement.shapeEpoch !== statement.epoch || statement.shape === null) {
      // The current version's first known shape (see mustLearnShape), as a first Describe gives it.
      statement.shape = shape;
      statement.shapeEpoch = statement.epoch;
      statement.shapeBackend = backend;
      return;
    }
    if (sameRowShape(statement.shape, shape)) return;
    statement.epoch++;
    statement.shape = shape;
    statement.shapeEpoch = statement.epoch;
    statement.shapeBackend = backend;
    set.add(statement);
  }

  /**
   * A Describe of the client's statement `serverName` told it these parameter types
   * (a ParameterDescription `body`): PostgreSQL fixes them at the Parse, so every copy pgtide
   * prepares from now on is parsed with them, never with types inferred again after the
   * table changed (a client holding an int4 statement bound on a copy parsed as int8 got
   * 08P01 "insufficient data left in message", where its own copy on PostgreSQL kept int4;
   * one whose column became text had its int4 bytes read as text: no row, no error). Learnt
   * once: a later Describe answered by a copy parsed with them tells the same.
   */
  learnParameters(serverName: string, body: Buffer): void {
    const statement = this.statementNamed(serverName);
    if (statement === undefined || statement.typedParse !== null || body.length < 2) return;
    const count = body.readUInt16BE(0);
    if (body.length < 2 + 4 * count) return;
    const parse = statement.parse;
    const textStart = parse.indexOf(0, 5) + 1;
    const textEnd = parse.indexOf(0, textStart);
    if (textStart <= 0 || textEnd < 0) return;
    // The query String as the client sent it, then the types as the server described them.
    const rest = Buffer.concat([parse.subarray(textStart, textEnd + 1), body.subarray(0, 2 + 4 * count)]);
    statement.typedParse = keptCopy(encode.parseWithName(statement.serverName, rest));
    statement.typedEpoch = statement.epoch;
  }

  /**
   * A Parse of `serverName` on this link (the client's, or pgtide's copy or shape check) failed
   * as a text analysed against types that no longer fit. Sent with the parameter types clients
   * were told (see learnParameters), it fails where a new client's Parse, whose types PostgreSQL
   * infers afresh, would not (their column changed type, or the type was dropped and created
   * again on a connection pgtide does not see): every new client's Parse of the text failed so,
   * for good. The statement's version ends (returned, else undefined): a new Parse of its text
   * gets a new statement, so a Parse of the client's in these bytes (`own`, or the one a shape
   * check holds back) may run again (see parsedTypedNow). A copy pgtide prepared for a Bind of a
   * client holding the statement would only fail again: that client gets the error, as on
   * PostgreSQL. So may a client whose bytes the shape check holds (see transaction-pooling.md).
   */
  retypeAfterFailure(serverName: string, own: boolean): Statement | undefined {
    // A shape check's copy is of a statement the client does not name yet.
    const check = this.shapeCheck;
    const checked = check?.serverName === serverName;
    const statement = checked ? check : this.statementNamed(serverName);
    if (statement?.typedParse == null) return undefined;
    statement.epoch++;
    if (own || (checked && this.held[0]?.[0] === P)) this.failedTyped = serverName;
    return statement;
  }

  /** This link's Parse of `serverName` failed with the told types (see retypeAfterFailure). */
  parsedTypedNow(serverName: string): boolean {
    return this.failedTyped === serverName;
  }

  /** A Describe of the statement `serverName` was answered by a server of `backend` (see ToldShapes.learn). */
  learnShape(serverName: string, type: number, body: Buffer, backend: BackendConfig | null): void {
    const statement = this.shapes.holds(serverName) ? this.statementNamed(serverName) : undefined;
    if (statement) this.shapes.learn(statement, type, body, backend);
  }

  /**
   * A Describe of a portal bound from the client's statement `clientName` (`serverName` on the
   * server) was answered (`type` RowDescription or NoData; else nothing was told): the client
   * holds that shape, and so does the server's copy. The shape kept before is kept when the
   * answer is the same, as at most executions.
   */
  learnPortalShape(serverName: string, clientName: string, type: number, body: Buffer, set: PreparedSet): void {
    if (type !== BackendMessage.RowDescription && type !== BackendMessage.NoData) return;
    const told = this.shapes.portalShape(clientName);
    const copy = set.shapeOf(serverName);
    const shape = isShape(told, type, body) ? told! : isShape(copy, type, body) ? copy! : rowShape(type, body);
    // The name was closed or made again since the Bind: what the client holds under it is another statement's.
    if (shape !== told && this.byName.get(clientName)?.serverName === serverName)
      this.shapes.portalTold(clientName, shape);
    if (shape !== copy) set.described(serverName, shape);
  }

  /**
   * Whether the client's Bind of `statement` (its `clientName`) here would run a copy whose shape
   * is not the one a Describe of a portal told it (true: it gets PostgreSQL's 0A000), or null
   * when the copy's shape is not known yet (it is checked first). A copy prepared afresh after
   * the statement's table changed has the new shape, with no stale plan for PostgreSQL to
   * refuse; a client such as PHP's PDO would decode its rows with the old columns. False when
   * the client was told no portal's shape, or the copy has that shape.
   */
  private portalShapeDiffers(
    clientName: string,
    statement: Statement,
    held: boolean,
    set: PreparedSet,
  ): boolean | null {
    const told = this.shapes.portalShape(clientName);
    if (told === undefined) return false;
    const copy = held ? set.shapeOf(statement.serverName) : undefined;
    if (copy === undefined) return null;
    return copy !== told && !sameRowShape(copy, told, false);
  }

  /** The statement of the server-side name `serverName` among the client's. */
  statementNamed(serverName: string): Statement | undefined {
    return this.byName.statementNamed(serverName);
  }

  /** The client's Parse of `serverName` in this link was answered by pgtide, not by a fresh Parse on the server. */
  parsedFromCopy(serverName: string): boolean {
    return this.sharedNow.has(serverName);
  }

  /** A server showed the statement stale: every copy prepared before now is prepared again before its next use. */
  invalidate(serverName: string): Statement | undefined {
    const statement = this.statementNamed(serverName);
    if (statement) statement.epoch++;
    return statement;
  }

  /** A Parse failed or was skipped by the server: the client's name is free again (if still that statement). */
  forget(clientName: string, serverName: string): void {
    if (this.byName.get(clientName)?.serverName === serverName) this.setName(clientName, undefined);
  }

  /** A Close the server skipped after an error in its batch: the client keeps `clientName`, as in PostgreSQL. */
  reopen(clientName: string, serverName: string): void {
    const statement = this.closing.get(closingKey(clientName, serverName));
    if (statement && !this.byName.has(clientName)) this.setName(clientName, statement);
  }

  /** The client's Parse creates `name`, as the statement's ParseComplete will tell it. */
  private created(name: string, statement: Statement): void {
    this.setName(name, statement);
    this.own.created(name, statement);
    // A statement made afresh: whatever shape the client knew of it is no longer its.
    this.shapes.forget(statement.serverName);
  }

  /** Whether the client has a statement under `name`. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Whether a Parse of the body `sent` under `name` is of a text that depends on the client's names (see OwnStatements). */
  ownText(name: string, sent: Buffer): boolean {
    return this.own.wouldMake(name, sent);
  }

  /** A Parse pgtide answered itself, with no server linked (see session/parse-answer.ts). */
  parsedWithoutServer(name: string, statement: Statement, stats: PoolStats): void {
    stats.clientParses++;
    this.created(name, statement);
  }

  private setName(name: string, statement: Statement | undefined): void {
    this.changes++;
    const before = this.byName.get(name);
    if (this.recording) this.undo.push([name, before, this.shapes.portalShape(name)]);
    // The client holds no portal's shape of what the name denotes now.
    this.shapes.forgetPortal(name);
    this.own.renamed(name, before, statement);
    if (statement) this.byName.set(name, statement);
    else this.byName.delete(name);
  }

  /**
   * The client's own `statement` under `name` (see OwnStatements) for a Bind in `data` at `off`:
   * made again if its names changed since, and what it EXECUTEs prepared on this server first.
   */
  private ownNow(
    name: string,
    statement: Statement,
    data: Buffer,
    off: number,
    set: PreparedSet,
    tracker: ResponseTracker,
  ): Statement {
    const current = this.ownCurrent(name, statement);
    // Not held, it is prepared with what it executes (see prepare).
    if (this.own.executedBy(current)?.length && set.holds(current)) {
      this.keep(data, off);
      this.prepareExecuted(set, tracker, current);
    }
    return current;
  }

  /** The client's own `statement` under `name` (see OwnStatements), made again if its names
   *  changed since: one whose EXECUTE names a statement the client dropped or made again runs
   *  what the name denotes now, as PostgreSQL looks the name up at each run. */
  private ownCurrent(name: string, statement: Statement, depth = 0): Statement {
    // What it EXECUTEs first, along a chain: one made again changes the names its text is made of.
    for (const executedName of this.own.executedNamesOf(statement) ?? NO_NAMES) {
      const executed = this.byName.get(executedName);
      if (executed !== undefined && depth < MAX_EXECUTE_CHAIN) this.ownCurrent(executedName, executed, depth + 1);
    }
    const fresh = this.own.remade(name, statement, this.byName);
    // The same shared statement again (nothing in it to rewrite yet): the name is unchanged.
    if (fresh !== null && fresh !== statement) this.setName(name, fresh);
    if (fresh !== null) this.own.fitted(fresh);
    return fresh ?? statement;
  }

  get size(): number {
    return this.byName.size;
  }

  /** A statement the client prepared under `name` where pgtide could not map it (see session/untracked.ts). */
  adopt(name: string, rest: Buffer): void {
    this.byName.set(name, this.registry.intern(rest, this.scope()));
  }

  /** The client was told `shape` of its adopted statement `name` (null: a shape pgtide did not get). */
  told(name: string, shape: Buffer | null): void {
    const statement = this.byName.get(name);
    if (statement) this.shapes.adopted(statement, shape);
  }

  /** An adopted name the server turned out not to hold (its Parse failed). */
  disown(name: string): void {
    this.byName.delete(name);
  }

  /** The statement a client calls `name`, if it has one. */
  named(name: string): Statement | undefined {
    return this.byName.get(name);
  }

  /**
   * Rewrite `data` (whole messages; a cut one passes unchanged) for a server whose
   * statements are `set`, recording in `tracker` the answer each request will get.
   * Answers pgtide gives at once are passed to `answerNow`.
   */
  rewrite(
    data: Buffer,
    set: PreparedSet,
    tracker: ResponseTracker,
    stats: PoolStats,
    answerNow: (b: Buffer) => boolean,
    failedTransaction = false,
    pinned = false,
    inBlock = false,
  ): Buffer {
    this.stats = stats;
    this.failed = failedTransaction;
    this.inBlock = inBlock;
    this.pinned = pinned;
    if (tracker.idle) {
      this.closing.clear();
      this.answersCame();
      // Not in a failed block: a portal bound until now is gone, or fails with the block.
      if (!failedTransaction) this.endingPortals.length = 0;
    }
    this.out.length = 0;
    this.copied = 0;
    this.changed = false;
    let off = 0;
    if (this.cutRemaining > 0) {
      off = Math.min(this.cutRemaining, data.length);
      this.cutRemaining -= off;
    }
    while (off + 5 <= data.length) {
      const type = data[off]!;
      const end = off + 1 + data.readUInt32BE(off + 1);
      if (end > data.length) {
        const expect = EXPECT[type]!;
        if (expect !== 0) tracker.push(expect);
        this.cutRemaining = end - data.length;
        break;
      }
      // After an error the server discards all until Sync: those requests change nothing.
      if (!tracker.skipping || type === SYNC) {
        if (this.unsure) {
          this.holdFrom(data, off);
          break;
        }
        const unsure = this.failed || tracker.mayBeSkipped;
        const changes = this.changes;
        this.message(type, data, off, end, set, tracker, answerNow);
        if (unsure && this.changes !== changes) this.unsureBatch = true;
        if (type === SYNC) this.batchEnded();
      }
      if (this.failed) this.failed = this.staysFailed(type, data, off, end);
      // The rest waits for a shape check (see holdForShape).
      if (this.held.length > 0) break;
      off = end;
    }
    if (!this.changed) return data;
    this.keep(data, data.length);
    const result = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out.length = 0;
    return result;
  }

  /** A Sync went to the server: what its batch changed is known once it is answered (see unsure). */
  private batchEnded(): void {
    if (this.unsureBatch) this.unsure = true;
    this.refusedInBatch = false;
  }

  /** The Syncs pgtide added since last asked, which the server answers with ReadyForQuery as any. */
  takeAddedSyncs(): number {
    const n = this.addedSyncs;
    this.addedSyncs = 0;
    return n;
  }

  private message(
    type: number,
    data: Buffer,
    off: number,
    end: number,
    set: PreparedSet,
    tracker: ResponseTracker,
    answerNow: (b: Buffer) => boolean,
  ): void {
    switch (type) {
      case P: {
        if (data[off + 5] === 0) {
          this.unnamedParse(data, off, end, set, tracker);
          return tracker.push(Expect.Parse);
        }
        const nameEnd = data.indexOf(0, off + 5);
        if (nameEnd < 0 || nameEnd >= end) return tracker.push(Expect.Parse);
        if (this.refusesText(data, nameEnd + 1, end)) return this.refusedParse(data, off, nameEnd, end, tracker);
        const name = data.toString('utf8', off + 5, nameEnd);
        const known = this.byName.get(name);
        const sent = data.subarray(nameEnd + 1, end);
        const statement = known ?? this.own.make(name, sent, this.byName) ?? this.registry.intern(sent, this.scope());
        // Inside a transaction block nothing can run again: a copy the server holds may be
        // stale (its table dropped and created again with other columns since it was
        // prepared, perhaps by another client), and answering the client's Parse from it fails
        // the client's Describe or Bind with 0A000 "cached plan must not change result type",
        // which a fresh Parse on PostgreSQL never gets (pgx's TestStmtCacheInvalidationTx after
        // TestStmtCacheInvalidationConn). The copy is prepared afresh here instead, with the
        // shape check when clients were told its shape. A copy prepared in this transaction
        // (the shape check's own, when these bytes waited for it) is as fresh as a Parse.
        if (
          !known &&
          this.inBlock &&
          !this.failed &&
          this.answeredParses === 0 &&
          set.holds(statement) &&
          !set.isProvisional(statement.serverName)
        ) {
          set.doubt(statement.serverName);
        }
        if (
          !known &&
          this.answeredParses === 0 &&
          statement.shapeEpoch === statement.epoch &&
          !set.holds(statement) &&
          resultShapeChecked(statement.classification)
        ) {
          return this.holdForShape(data, off, set, tracker, statement);
        }
        // pgtide would answer it itself, but a batch before it may leave a failed block, where
        // PostgreSQL refuses it: it waits for the answers (see unsure), which the requests of
        // its own batch sent before it get without the client's Sync.
        if (!known && this.answeredParses === 0 && tracker.syncInFlight && set.holds(statement)) {
          this.holdFrom(data, off);
          if (tracker.mayBeSkipped) this.out.push(FLUSH);
          this.unsure = true;
          return;
        }
        this.stats!.clientParses++;
        this.drop(data, off, end);
        if (known) {
          // A name in use: the client's text under the server name the server holds gives
          // PostgreSQL's own answer, the text's error first (a syntax error, an unknown
          // column), else 42P05. In a failed block (the text is one that runs there), or one
          // a batch before it may fail, the server would refuse the statement's own text: it
          // holds the name as for a DEALLOCATE.
          if ((this.failed || tracker.syncInFlight) && !set.holds(known)) this.holdName(set, tracker, known);
          else this.ensure(set, tracker, known);
          this.out.push(encode.parseWithName(known.serverName, data.subarray(nameEnd + 1, end)));
          return tracker.pushDuplicate(name);
        }
        this.created(name, statement);
        // A request sent again after a retry was answered already: its answer is hidden now.
        const answered = this.answeredParses > 0;
        if (answered) this.answeredParses--;
        if (!set.holds(statement)) return this.prepare(set, tracker, statement, answered, name);
        set.touch(statement.serverName);
        this.sharedNow.add(statement.serverName);
        if (answered) return;
        const now = tracker.pushFake(Expect.FakeParse, statement.serverName, name);
        // One held back with a refusal is answered again where the bytes run again.
        if (now && answerNow(now)) this.earlyParses++;
        return;
      }
      case B: {
        const portalEnd = data.indexOf(0, off + 5);
        const nameEnd =
          portalEnd < 0 || portalEnd + 1 >= end || data[portalEnd + 1] === 0 ? -1 : data.indexOf(0, portalEnd + 1);
        const clientName = nameEnd < 0 || nameEnd >= end ? null : data.toString('utf8', portalEnd + 1, nameEnd);
        let statement = clientName === null ? undefined : this.byName.get(clientName);
        if (statement !== undefined && this.own.any)
          statement = this.ownNow(clientName!, statement, data, off, set, tracker);
        const unnamed = clientName === null && nameEnd < 0;
        this.bindPortal(data, off, portalEnd, unnamed);
        // The block may have failed earlier in these bytes, unknown to pgtide yet.
        if (!this.refusedInBatch && (statement ? endsFailedBlock(statement) : unnamed && this.unnamedMayEnd(set)))
          this.mayEndBlock(data.toString('utf8', off + 5, portalEnd));
        if (!statement) {
          this.boundStatement = null;
          return tracker.push(Expect.Bind);
        }
        const held = set.holds(statement);
        this.boundPerColumn = resultFormatCount(data, nameEnd, end) > 1;
        let oldShape = false;
        // Rows of another shape than the client holds are PostgreSQL's own answer to those it
        // never checks (see resultShapeChecked): an EXECUTE of a name prepared again runs.
        if (resultShapeChecked(statement.classification)) {
          oldShape = this.holdsOldShape(statement, clientName!, data, end, off + 5, portalEnd);
          // Whether its description is still right is known once the current version's shape is.
          if (oldShape && this.shapes.mustLearn(statement))
            return this.holdForShape(data, off, set, tracker, statement);
          if (!held && !oldShape && statement.shapeEpoch === statement.epoch)
            return this.holdForShape(data, off, set, tracker, statement);
          if (!oldShape) {
            const differs = this.portalShapeDiffers(clientName!, statement, held, set);
            if (differs === null) return this.holdForShape(data, off, set, tracker, statement, true);
            oldShape = differs;
          }
        }
        this.stats!.binds++;
        this.boundPortal = data.toString('utf8', off + 5, portalEnd);
        this.boundStatement = statement.serverName;
        this.boundClientName = clientName;
        this.boundEpoch = statement.epoch;
        this.drop(data, off, end);
        if (oldShape) {
          // The server fails the Bind and skips to Sync, as PostgreSQL would with the client's
          // own stale statement; the session gives the client PostgreSQL's 0A000 for its error.
          // A Describe of its portal is skipped with it: it tells the client no shape.
          this.boundStatement = null;
          this.out.push(renamed(B, data.subarray(off + 5, portalEnd + 1), OLD_SHAPE, data.subarray(nameEnd + 1, end)));
          return tracker.push(Expect.Bind, false, OLD_SHAPE);
        }
        if (held) set.touch(statement.serverName);
        else this.prepare(set, tracker, statement, true);
        this.out.push(
          renamed(B, data.subarray(off + 5, portalEnd + 1), statement.serverName, data.subarray(nameEnd + 1, end)),
        );
        tracker.push(Expect.Bind, false, statement.serverName, clientName);
        // Bound in a failed block, it is refused: it deallocates nothing.
        if (statement.deallocates && !this.failed) this.ranDeallocations(statement.deallocates, set);
        return;
      }
      case D:
      case C: {
        const clientName =
          data[off + 5] === STATEMENT && data[off + 6] !== 0 && data[end - 1] === 0
            ? data.toString('utf8', off + 6, end - 1)
            : null;
        const statement = clientName === null ? undefined : this.byName.get(clientName);
        if (!statement) {
          if (
            type === D &&
            this.boundStatement !== null &&
            data[off + 5] !== STATEMENT &&
            data.toString('utf8', off + 6, end - 1) === this.boundPortal
          ) {
            this.shapes.asked(this.boundStatement, this.boundEpoch, !this.pinned || this.boundPerColumn);
            // Its answer tells the client the shape of the statement's copy here (see learnPortalShape).
            return tracker.push(Expect.DescribePortal, false, this.boundStatement, this.boundClientName);
          }
          return tracker.push(type === D ? Expect.Describe : Expect.Close);
        }
        this.drop(data, off, end);
        if (type === D) {
          this.ensure(set, tracker, statement);
          this.out.push(renamed(D, data.subarray(off + 5, off + 6), statement.serverName, null));
          this.shapes.asked(statement.serverName, statement.epoch, false);
          return tracker.push(Expect.Describe, false, statement.serverName, clientName);
        }
        // Other clients may use the server's copy; only this client's name goes.
        this.setName(clientName!, undefined);
        this.closing.set(closingKey(clientName!, statement.serverName), statement);
        const now = tracker.pushFake(Expect.FakeClose, statement.serverName, clientName);
        if (now) answerNow(now);
        return;
      }
      case Q: {
        // A simple query runs in the unnamed portal: a later Describe of "" describes it (NoData
        // for a DEALLOCATE that failed), not the portal an earlier Bind made there.
        if (this.boundPortal === '') this.boundStatement = null;
        const alone = tracker.batchClosed;
        const taken = this.simpleQuery(data, off, end, set, tracker);
        this.pushDeallocating(tracker, Expect.Query, taken, this.textServerName, this.textClientName);
        if (this.executesPrepared && alone) this.guardQuery(tracker);
        this.executesPrepared = false;
        return;
      }
      case E: {
        const targets = this.portalTargets;
        if (targets === null || data.toString('utf8', off + 5, end - 5) !== this.portalName)
          return tracker.push(Expect.Execute);
        this.portalTargets = null;
        return this.pushDeallocating(tracker, Expect.Execute, this.take(targets, set));
      }
      default: {
        const expect = EXPECT[type]!;
        if (expect !== 0) tracker.push(expect);
      }
    }
  }

  /** A simple Query: its DEALLOCATEs (and DISCARD ALL) act on the client's names, returned as taken. */
  private simpleQuery(
    data: Buffer,
    off: number,
    end: number,
    set: PreparedSet,
    tracker: ResponseTracker,
  ): Taken | null {
    this.textClientName = this.textServerName = null;
    // The unnamed statement and portal are gone once the Query runs.
    this.unnamedTargets = null;
    this.portalTargets = null;
    if (this.refusesText(data, off + 5, end)) return null;
    const text = this.mapNames(data, off, off + 5, end - 1, set, tracker);
    const targets = this.targets;
    this.targets = null;
    const taken = targets === null ? null : this.take(targets, set);
    if (text !== null) {
      this.drop(data, off, end);
      this.out.push(encode.queryOfBytes(text));
    }
    return taken;
  }

  /**
   * An unnamed statement that deallocates (psycopg's DEALLOCATE after ROLLBACK) acts when a
   * portal of it is executed: its names are mapped now, and taken then (see bindPortal).
   */
  private unnamedParse(data: Buffer, off: number, end: number, set: PreparedSet, tracker: ResponseTracker): void {
    this.unnamedTargets = null;
    const textEnd = data.indexOf(0, off + 6);
    if (textEnd < 0 || textEnd >= end) return;
    // Skipped after an error, the Parse leaves the statement before it in place.
    const before = tracker.mayBeSkipped && this.unnamedMayEnd(set);
    this.unnamedEnds = before || endsFailedBlockText(data, off + 6, textEnd);
    this.unnamedOn = set;
    if (this.refusesText(data, off + 6, end)) {
      this.refusedInBatch = true;
      return;
    }
    const text = this.mapNames(data, off, off + 6, textEnd, set, tracker);
    this.unnamedTargets = this.targets;
    this.targets = null;
    // Its EXECUTE runs in the client's own batch: a failed Parse skips to the client's Sync.
    this.executesPrepared = false;
    if (text === null) return;
    this.drop(data, off, end);
    this.out.push(encode.parseWithName('', Buffer.concat([text, data.subarray(textEnd, end)])));
  }

  /**
   * Whether the failed block outlasts the message at `off`: a Query whose text PostgreSQL
   * refuses there, or an Execute of a portal that cannot end it (the server binds there only a
   * statement that ends it, and runs a portal bound before the failure only if its statement
   * does, as an empty statement runs and leaves the block failed; the portal may be executed
   * in a later write than its Bind). Otherwise the block may have ended and its state is not
   * known.
   */
  private staysFailed(type: number, data: Buffer, off: number, end: number): boolean {
    if (type === Q) return this.refusesText(data, off + 5, end);
    if (type !== E || this.endingPortals.length === 0) return true;
    const portalEnd = data.indexOf(0, off + 5);
    return !this.endingPortals.includes(
      data.toString('utf8', off + 5, portalEnd < 0 || portalEnd > end ? end : portalEnd),
    );
  }

  private mayEndBlock(portal: string): void {
    if (!this.endingPortals.includes(portal)) this.endingPortals.push(portal);
  }

  /** Whether the unnamed statement on the server of `set` may end a failed block: unknown unless its Parse was seen. */
  private unnamedMayEnd(set: PreparedSet): boolean {
    return this.unnamedOn !== set || this.unnamedEnds;
  }

  /**
   * The server refuses the text starting at `data[start]` (NUL-terminated before `end`) with
   * 25P02, running none of it: the transaction block has failed, and the text neither ends it
   * nor is empty.
   */
  private refusesText(data: Buffer, start: number, end: number): boolean {
    if (!this.failed) return false;
    const textEnd = data.indexOf(0, start);
    return !runsInFailedBlock(data, start, textEnd < 0 || textEnd > end ? end : textEnd);
  }

  /**
   * A named Parse in a failed transaction block: PostgreSQL refuses it with 25P02 and creates
   * nothing, where pgtide would answer ParseComplete itself for a statement the server holds
   * (and a client that parses the name again after its ROLLBACK would get 42P05). The server is
   * asked under a name nothing holds, so its own refusal reaches the client and no name changes.
   */
  private refusedParse(data: Buffer, off: number, nameEnd: number, end: number, tracker: ResponseTracker): void {
    this.refusedInBatch = true;
    this.drop(data, off, end);
    this.out.push(encode.parseWithName(REFUSED_NAME, data.subarray(nameEnd + 1, end)));
    tracker.push(Expect.Parse);
  }

  /** A Bind of a portal; `unnamed`: of the unnamed statement, whose DEALLOCATEs the portal carries. */
  private bindPortal(data: Buffer, off: number, portalEnd: number, unnamed: boolean): void {
    if (this.portalTargets === null && (!unnamed || this.unnamedTargets === null)) return;
    const portal = data.toString('utf8', off + 5, portalEnd);
    if (unnamed && this.unnamedTargets !== null) {
      this.portalTargets = this.unnamedTargets;
      this.portalName = portal;
    } else if (portal === this.portalName) this.portalTargets = null;
  }

  /**
   * A Query or Execute whose DEALLOCATEs took the client's names `taken` (see take): taken at
   * once, so that the messages after it in these bytes see them gone. Should the server skip
   * it (after an error earlier in its batch) or fail the Execute, nothing ran and the names
   * come back. A multi-statement Query that fails ran the statements before its failure (one
   * CommandComplete each), and prepared statements are not transactional: the names taken by
   * those stay gone, the others come back.
   */
  private pushDeallocating(
    tracker: ResponseTracker,
    kind: Expect.Query | Expect.Execute,
    taken: Taken | null,
    serverName: string | null = null,
    clientName: string | null = null,
  ): void {
    if (taken === null || taken.length === 0) return tracker.push(kind, false, serverName, clientName);
    tracker.pushDeallocating(kind, serverName, clientName, (ran) => {
      for (let i = taken.length - 1; i >= 0; i--) {
        const [name, statement, ordinal] = taken[i]!;
        if (ordinal >= ran) this.setName(name, statement);
      }
    });
  }

  /**
   * The client's names in the SQL text `data[start, end)` become their server names (so that
   * command tags and errors are the server's own). A DEALLOCATE forgets its name, DEALLOCATE
   * ALL and DISCARD ALL every name, and make every statement of the server doubtful (see
   * targets). An EXECUTE needs the statement on the server: it is prepared there first, unless
   * a DEALLOCATE before it in the text dropped the name (the server's 26000 then names the
   * client's, as PostgreSQL's does). pg_prepared_statements becomes the client's own list (see
   * OwnStatements.list). Returns the text to send instead, or null when it is unchanged. The text
   * is that of the message at `off`.
   */
  private mapNames(
    data: Buffer,
    off: number,
    start: number,
    end: number,
    set: PreparedSet,
    tracker: ResponseTracker,
  ): Buffer | null {
    const found = findStatementNames(data, start, end, true);
    const lists = findStatementLists(data, start, end);
    if (found === null && lists === null) return null;
    // What holdName and prepare send goes after the requests before this message, as the answers will.
    this.keep(data, off);
    const targets: Target[] = [];
    this.targets = targets;
    const edits: TextEdit[] = [];
    let several = false;
    let unchecked: Statement[] | null = null;
    for (const d of found ?? []) {
      if (d.name === null) targets.push([null, null, d.statement]);
      let statement = d.name === null ? undefined : this.byName.get(d.name);
      if (!statement || (d.executes && dropsName(targets, d.name!))) continue;
      if (d.executes && this.own.any) statement = this.ownCurrent(d.name!, statement);
      if (!d.executes) {
        targets.push([d.name, statement, d.statement]);
        // The server deallocates the shared name; others prepare it again when they next use it.
        this.holdName(set, tracker, statement);
      } else if (set.holds(statement)) {
        set.touch(statement.serverName);
        this.prepareExecuted(set, tracker, statement);
      } else {
        this.prepare(set, tracker, statement, true);
        this.executesPrepared = true;
        if (statement.shapeEpoch === statement.epoch) (unchecked ??= []).push(statement);
      }
      several ||= edits.length > 0 && d.name !== this.textClientName;
      this.textClientName = d.name;
      this.textServerName = statement.serverName;
      edits.push([d.start, d.end, identifier(statement.serverName)]);
    }
    if (several) this.textClientName = this.textServerName = null;
    // Clients were told its shape, which this copy was not checked against (the table may have
    // changed: see holdForShape). The EXECUTE's rows carry their own description; a Bind or
    // Parse of it here later prepares it again, checked. After the text: a DEALLOCATE in it
    // would otherwise put an empty text under the name before the EXECUTE runs (see holdName).
    if (unchecked !== null) for (const statement of unchecked) set.doubt(statement.serverName);
    if (lists !== null) {
      const sql = this.own.list(this.byName, null);
      edits.push(...listEdits(lists, sql));
      edits.sort((a, b) => a[0] - b[0]);
    }
    return edits.length === 0 ? null : edited(data, start, end, edits);
  }

  /**
   * A Query that EXECUTEs a statement pgtide prepared for it, with no batch of the client's
   * open before it, is followed by a Sync of pgtide's own: should that Parse fail (the text no
   * longer parses, as after a DROP TABLE), the server skips the Query, which gets no
   * ReadyForQuery, and the client waits for ever. The Sync's ReadyForQuery stands in for it
   * then, and is hidden otherwise. It ends no transaction the Query would not: the Query's own
   * end commits the implicit transaction the Parse began, and inside a block a Sync ends nothing.
   */
  private guardQuery(tracker: ResponseTracker): void {
    this.out.push(SYNC_MESSAGE);
    this.addedSyncs++;
    tracker.pushQueryGuard();
    this.batchEnded();
  }

  /**
   * The client's names go as its DEALLOCATE runs (null: all of them); returns those taken. A
   * name the client gave to another statement since is kept.
   */
  private take(targets: readonly Target[], set: PreparedSet): Taken {
    const taken: [string, Statement, number][] = [];
    for (const [name, statement, ordinal] of targets) {
      if (name === null) {
        for (const [n, s] of this.byName) taken.push([n, s, ordinal]);
        this.forgetAll(set);
      } else if (this.byName.get(name) === statement) {
        taken.push([name, statement!, ordinal]);
        this.setName(name, undefined);
      }
    }
    return taken;
  }

  /**
   * The server must hold the statement's name when the client's DEALLOCATE of it runs. What it
   * holds under it matters not: an empty text, which parses anywhere (in a failed block too)
   * and never fails, where the statement's own text may fail now (a table dropped) or in a
   * failed block, and its error would make the server skip the Query that follows. The name is
   * doubtful from then on: the DEALLOCATE may not run.
   */
  private holdName(set: PreparedSet, tracker: ResponseTracker, statement: Statement): void {
    const name = statement.serverName;
    if (!set.holds(statement)) {
      if (set.isDoubtful(name)) this.close(tracker, name);
      this.changes++;
      const evicted = set.add(statement);
      if (evicted !== null) this.close(tracker, evicted);
      this.out.push(encode.parseWithName(name, EMPTY_TEXT));
      // No name: the answer says nothing of the statement's own text.
      tracker.push(Expect.Parse, true);
    }
    set.doubt(name);
  }

  /**
   * A named statement of the client that runs DEALLOCATE was bound. Its text was prepared
   * unchanged, so a name in it cannot be mapped: the names go as PostgreSQL would drop them,
   * and what the server holds is unknown from now on.
   */
  private ranDeallocations(deallocations: readonly Deallocation[], set: PreparedSet): void {
    for (const d of deallocations) {
      if (d.name === null) this.forgetAll(set);
      else if (this.byName.has(d.name)) this.setName(d.name, undefined);
    }
    set.doubtAll();
  }

  private forgetAll(set: PreparedSet): void {
    for (const name of [...this.byName.keys()]) this.setName(name, undefined);
    set.doubtAll();
  }

  private ensure(set: PreparedSet, tracker: ResponseTracker, statement: Statement): void {
    if (set.holds(statement)) set.touch(statement.serverName);
    else this.prepare(set, tracker, statement, true);
  }

  /** Prepare on this server: close what makes room or what may linger, then Parse (creating `clientName`, if given). */
  private prepare(
    set: PreparedSet,
    tracker: ResponseTracker,
    statement: Statement,
    hidden: boolean,
    clientName: string | null = null,
  ): void {
    // Closed first: what the statement EXECUTEs, prepared for it below and doubted at once (see
    // prepareExecuted), must be there when it runs. Closed after, it was gone: asyncpg's
    // fetchval('EXECUTE name') failed with 26000 on a server the prepare had not gone to.
    for (const doubtful of set.takeDoubtful()) this.close(tracker, doubtful);
    this.prepareExecuted(set, tracker, statement);
    const name = statement.serverName;
    this.changes++;
    // Its text may fail to parse (see unsure).
    if (statement.parsedEpoch !== statement.epoch) this.unsureBatch = true;
    const evicted = set.add(statement);
    if (evicted !== null) this.close(tracker, evicted);
    this.out.push(statement.typedParse ?? statement.parse);
    this.stats!.serverParses++;
    tracker.push(Expect.Parse, hidden, name, clientName);
  }

  /**
   * The client's statements that its own `statement` EXECUTEs (see OwnStatements), prepared here
   * first where missing: PostgreSQL describes an EXECUTE by the statement it names when parsing
   * it, and runs it by that name. A copy clients were told the shape of is doubted after, as for
   * an EXECUTE in a query (see mapNames).
   */
  private prepareExecuted(set: PreparedSet, tracker: ResponseTracker, statement: Statement, depth = 0): void {
    const executed = this.own.executedBy(statement);
    if (executed === undefined) return;
    for (const e of executed) {
      // Held, what it EXECUTEs in turn may not be (closed as doubtful since): a chain of them.
      // No client text names itself, but a chain is bounded all the same.
      if (set.holds(e)) {
        if (depth < MAX_EXECUTE_CHAIN) this.prepareExecuted(set, tracker, e, depth + 1);
        continue;
      }
      this.prepare(set, tracker, e, true);
      if (e.shapeEpoch === e.epoch) set.doubt(e.serverName);
    }
  }

  private close(tracker: ResponseTracker, name: string): void {
    this.out.push(encode.closeStatement(name));
    tracker.push(Expect.Close, true, name);
  }

  /** Keep the client's bytes up to `off` unchanged and leave out the message ending at `end`. */
  private drop(data: Buffer, off: number, end: number): void {
    this.keep(data, off);
    this.copied = end;
    this.changed = true;
  }

  private keep(data: Buffer, upTo: number): void {
    if (upTo > this.copied) this.out.push(data.subarray(this.copied, upTo));
    this.copied = upTo;
  }
}

/**
 * Whether the statement may end a failed block, so that the server binds it there (a few more
 * kinds than PostgreSQL's: SAVEPOINT, COMMIT PREPARED), from its kind: cheap at every Bind.
 */
function endsFailedBlock(statement: Statement): boolean {
  const kind = statement.classification.kind;
  return kind === 'commit' || kind === 'rollback' || kind === 'savepoint' || kind === 'two_phase';
}

/** A DEALLOCATE (or DEALLOCATE ALL) among `targets` drops `name`. */
function dropsName(targets: readonly Target[], name: string): boolean {
  for (const [target] of targets) if (target === null || target === name) return true;
  return false;
}

/** Whether `shape` (see rowShape) holds exactly the answer `type`, `body`: the same Buffer serves. */
function isShape(shape: Buffer | undefined, type: number, body: Buffer): boolean {
  return (
    shape !== undefined &&
    shape[0] === type &&
    shape.length === body.length + 1 &&
    shape.compare(body, 0, body.length, 1) === 0
  );
}

/** A client name and a server name, neither of which holds a NUL (both came as C strings). */
function closingKey(clientName: string, serverName: string): string {
  return `${clientName}\0${serverName}`;
}
