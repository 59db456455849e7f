// The statement link: a client's named prepared statements mapped onto the statements its
// current server holds (pooling modes). The client's messages are rewritten on their way (see
// ClientStatements), the server's answers followed (ResponseTracker), and the answers of requests
// pgtide added or answered itself are taken out of, or put into, what the client reads.
import { decodeErrorFields, errorWithMessage, type ErrorFields } from '../../protocol/backend.js';
import * as encode from '../../protocol/encode.js';
import { BackendMessage, FrontendMessage, TransactionStatus } from '../../protocol/types.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import { WholeMessages } from '../../protocol/whole-messages.js';
import { type ClientStatements, clientStatements, OLD_SHAPE } from '../prepared-statements.js';
import { Expect, ResponseTracker } from '../response-tracker.js';
import { STALE_PLAN_ERROR, statementFailure } from '../statement-failure.js';
import type { ClientSession } from '../client-session.js';
import { pin, type PinSession } from './pinning.js';
import { staleSeen } from './statement-replay.js';
import type { Statement } from '../statement-registry.js';
import { parseAnswered, type ParsedSession } from './parse-answer.js';
import { NO_CHUNKS } from './state.js';

/** A span of a server chunk replaced by pgtide's own answers (none: a hidden answer). */
export type AnswerEdit = { start: number; end: number; insert: Buffer[] };

/**
 * What following a client's named statements takes beyond ClientStatements: made with its first
 * named statement (see namedStatement), so that a client that never has one holds none of it.
 */
export class StatementLink {
  readonly tracker = new ResponseTracker();
  /** An answer pgtide gives itself with nothing owed before it; false: it joined a refusal
   *  held back (see answerOrHold). */
  readonly answerNow: (message: Buffer) => boolean;
  readonly emitWhole: (piece: Buffer) => void;
  /** The client's messages, gathered whole for rewriting (see ClientSession.dispatch). */
  whole: WholeMessages | null = null;
  /** Where the current server chunk must lose a hidden answer or gain pgtide's own answers. */
  readonly answerEdits: AnswerEdit[] = [];
  /** A hidden-answer candidate cut inside its header at the end of the last server chunk. */
  cutAnswer: Buffer | null = null;
  /** Before anything answered the link, an error came that pgtide held back (a shape check's)
   *  or put in place (the 0A000 of a description outdated here): the chunk it is in, edited,
   *  is the link's first answer, which a retry may still hide (see onServerData). */
  refusalEdited = false;
  /** Copies of what the client sent since its named statements went unmapped, to take them over
   *  from (see untracked.ts); null when there is nothing to learn, or too much. */
  untrackedSent: Buffer[] | null = null;
  untrackedSize = 0;
  /** Statements the server showed stale in this transaction (see statement-replay.ts); null: none. */
  replayToLearn: Statement[] | null = null;

  constructor(s: Pick<ClientSession, 'socket' | 'onQueryData' | 'statements' | 'resend'> & ParsedSession) {
    this.tracker.onParseFailed = (clientName, serverName) => s.statements?.forget(clientName, serverName);
    this.tracker.onCloseSkipped = (clientName, serverName) => s.statements?.reopen(clientName, serverName);
    this.tracker.onParseAnswered = (serverName, ok) => parseAnswered(s, serverName, ok);
    this.answerNow = (message) => answerOrHold(s, message);
    this.emitWhole = (piece) => s.onQueryData(piece);
  }
}

/**
 * An answer pgtide gives at once goes to the client, unless a standby's refusal is held back
 * (see holdsFirstAnswer): the bytes it answers, released to that standby behind the refusal
 * (a Parse held until the batch before it was answered), run again on the primary with the
 * refused ones, where their answers follow the refused statement's. Written now, libpq's
 * pipeline took it for the refused statement's answer and waited for ever. Kept with the
 * refusal, it reaches the client in its place should the refusal reach it after all.
 */
function answerOrHold(s: Pick<ClientSession, 'socket' | 'resend'>, message: Buffer): boolean {
  const resend = s.resend;
  if (resend !== null && resend.heldRefusal !== null) {
    resend.heldRefusal = Buffer.concat([resend.heldRefusal, message]);
    return false;
  }
  s.socket.write(message);
  return true;
}

/** What of the session these functions use. */
export type LinkSession = Pick<
  ClientSession,
  | 'answered'
  | 'backend'
  | 'ctx'
  | 'readLink'
  | 'pinned'
  | 'remote'
  | 'scanner'
  | 'server'
  | 'statementLink'
  | 'statements'
  | 'statementsUntracked'
  | 'tracking'
  | 'mode'
  | 'socket'
  | 'onQueryData'
  | 'pool'
  | 'isClosed'
  | 'send'
  | 'resumeClient'
  | 'resend'
  | 'sentOnLink'
  | 'database'
  | 'user'
  | 'settings'
  | 'ranDdl'
  | 'scopeMoved'
  | 'keepsServer'
> &
  PinSession;

/** Gather a client chunk into whole messages once named statements are mapped; false: it goes on as it is. */
export function splitWhole(
  s: Pick<ClientSession, 'statements' | 'scanner' | 'ctx'>,
  link: StatementLink,
  chunk: Buffer,
): boolean {
  if (s.statements && !link.whole && s.scanner.atBoundary) link.whole = new WholeMessages(s.ctx.config.max_packet_size);
  if (!link.whole) return false;
  link.whole.split(chunk, link.emitWhole);
  return true;
}

/** Client bytes rewritten for the linked server; false: the client pauses (see ClientSession.send). */
export function sendRewritten(
  s: Pick<ClientSession, 'statements' | 'statementLink' | 'pool' | 'pinned' | 'pinnedForGood' | 'socket'>,
  server: LinkedServer,
  data: Buffer,
): boolean {
  const statements = s.statements!;
  // Bytes waiting for a shape check keep their order; the client pauses until it is over.
  if (statements.holding) {
    statements.hold(data);
    return false;
  }
  const link = s.statementLink!;
  // A failed block whose ReadyForQuery came, nothing in flight, and no portal that ended it
  // since (bytes that waited for a shape check go on without a ReadyForQuery): what follows runs in it.
  const tracker = link.tracker;
  const failed = server.txStatus === TransactionStatus.Failed && tracker.idle && !tracker.portalRan;
  // The answers pgtide gives at once leave in one write, not one each: a batch may hold
  // thousands of Parses of statements the server holds.
  s.socket.cork();
  let out: Buffer;
  try {
    out = statements.rewrite(
      data,
      server.prepared,
      tracker,
      s.pool!.stats,
      link.answerNow,
      failed,
      s.pinned || s.pinnedForGood,
      server.txStatus === TransactionStatus.InTransaction,
    );
  } finally {
    s.socket.uncork();
  }
  const added = statements.takeAddedSyncs();
  if (added > 0) server.syncs.sent(added, server.syncs.unsynced);
  server.syncs.skipped(tracker.takeSkippedQueries());
  return (out.length === 0 || server.write(out)) && !statements.holding;
}

/** A new link: nothing of the last one's answers is owed, and a tracking link follows its own from the start. */
export function relink(
  s: Pick<ClientSession, 'tracking' | 'statements' | 'resend'>,
  link: StatementLink,
  server: LinkedServer,
): void {
  link.answerEdits.length = 0;
  link.cutAnswer = null;
  link.refusalEdited = false;
  if (!s.tracking) return;
  link.tracker.reset(server.prepared);
  // Bytes waiting to run again still need their names rolled back (see retryOnPrimary).
  if (!s.resend?.bytes) s.statements!.beginUndo();
}

/**
 * The chunk holding the client's first named statement ends inside a message that will need
 * rewriting: hold that message back until it is whole (it is scanned again then).
 */
export function holdCutMessage(s: LinkSession, chunk: Buffer): Buffer {
  const start = s.scanner.cutMessageStart(chunk.length);
  // Begun in an earlier chunk, already on its way unchanged.
  if (start < 0) {
    untrackedStatements(s, false);
    return chunk;
  }
  s.scanner.reset();
  const link = s.statementLink!;
  link.whole = new WholeMessages(s.ctx.config.max_packet_size);
  link.whole.split(chunk.subarray(start), link.emitWhole);
  return chunk.subarray(0, start);
}

/**
 * The first named statement arrived on a link that did not track answers. With nothing in
 * flight, tracking starts now; otherwise the answers owed are unknown, so this client's named
 * statements go through unchanged and pin it to this server until its transaction ends (see
 * untracked.ts; `atBoundary`: the chunk holding the statement begins with a whole message).
 */
export function startTracking(s: LinkSession, server: LinkedServer, quiet: boolean, atBoundary: boolean): void {
  s.statementLink!.tracker.reset(server.prepared);
  // Its names may have to be rolled back if the bytes run again (a stale plan), as on any link.
  s.statements!.beginUndo();
  if (!quiet && !followsSentSoFar(s, server)) return untrackedStatements(s, atBoundary);
  s.tracking = true;
  server.setTracking(true);
}

/**
 * Requests are in flight, but none is answered yet and a read link kept every byte it sent (to
 * run them again elsewhere): the tracker learns from those bytes what they owe, and tracking
 * starts mid-batch. They hold no named statement, so they pass the rewrite unchanged; anything
 * else (a Query the plain path counted, a DEALLOCATE the rewrite would change) is not followed.
 * psycopg in pipeline mode prepares a statement at its sixth run, in the middle of a pipeline
 * it writes in pieces: pinned, a read's client would stay on the standby, and its writes fail.
 */
function followsSentSoFar(s: LinkSession, server: LinkedServer): boolean {
  if (s.answered || s.sentOnLink.length === 0) return false;
  const sent = s.sentOnLink.length === 1 ? s.sentOnLink[0]! : Buffer.concat(s.sentOnLink);
  if (!extendedOnly(sent)) return false;
  const link = s.statementLink!;
  const statements = s.statements!;
  return (
    statements.rewrite(sent, server.prepared, link.tracker, s.pool!.stats, link.answerNow) === sent &&
    !statements.holding
  );
}

/** Whole extended-protocol messages, no Query or FunctionCall. */
function extendedOnly(bytes: Buffer): boolean {
  let off = 0;
  while (off + 5 <= bytes.length) {
    const type = bytes[off]!;
    if (type === FrontendMessage.Query || type === FrontendMessage.FunctionCall) return false;
    off += 1 + bytes.readUInt32BE(off + 1);
  }
  return off === bytes.length;
}

/** `learnable`: every byte of the client's from the chunk about to be sent on can be kept (see untracked.ts). */
function untrackedStatements(s: LinkSession, learnable: boolean): void {
  s.statements = null;
  const link = s.statementLink;
  if (link) {
    link.whole = null;
    link.untrackedSent = learnable ? [] : null;
    link.untrackedSize = 0;
  }
  s.statementsUntracked = true;
  s.ctx.log.info({ client: s.remote }, 'named prepared statements cannot be mapped mid-pipeline: the client is pinned');
  if (!s.pinned) pin(s);
}

/**
 * The server's statement set or one statement's plan is not what pgtide believed: correct it for
 * every client. Returns whether the failure was the shared statement's, not the client's request's.
 */
function onStatementFailed(s: LinkSession, body: Buffer, failed: string): boolean {
  const server = s.server;
  if (!server) return false;
  const failure = statementFailure(decodeErrorFields(body), failed);
  switch (failure) {
    case 'missing':
      s.ctx.log.warn(
        { client: s.remote, server: server.id, statement: failed },
        'a server lost a statement pgtide prepared (a DEALLOCATE pgtide could not follow): its statements are prepared again',
      );
      server.prepared.doubtAll();
      break;
    case 'stale':
    case 'reanalysed': {
      const statement = s.statements?.invalidate(failed);
      if (statement) staleSeen(s.statementLink!, statement);
      server.prepared.doubt(failed);
    }
  }
  return failure !== null;
}

export function onServerAnswer(s: LinkSession, type: number, body: Buffer, end: number): void {
  const link = s.statementLink!;
  const tracker = link.tracker;
  if (type === BackendMessage.CopyInResponse || type === BackendMessage.CopyBothResponse) {
    tracker.onCopyIn();
    // The server waits for the COPY's data, which may be among client bytes held until this
    // batch is answered (after a first Parse of a name): it is not, before that data (pgJDBC's
    // named COPY hung, its server stuck in COPY holding its locks). Whatever came before the
    // COPY in the batch ran, so its names are known.
    const statements = s.statements;
    if (statements?.awaitsAnswers) {
      statements.answersCame();
      if (statements.holding) releaseHeld(s, s.server!);
    }
    return;
  }
  // Before the answer is taken: a failed Parse frees the client's name of its statement.
  if (type === BackendMessage.ErrorResponse && s.statements) {
    const parsing = tracker.parseAtHead();
    if (parsing !== null && statementFailure(decodeErrorFields(body), parsing) === 'reanalysed') {
      const statement = s.statements.retypeAfterFailure(parsing, tracker.parseAtHead(true) !== null);
      if (statement) staleSeen(link, statement);
    }
  }
  const hide = tracker.onAnswer(type);
  s.server!.syncs.skipped(tracker.takeSkippedQueries());
  const statements = s.statements;
  if (statements) {
    if (tracker.parametersOf !== null) statements.learnParameters(tracker.parametersOf, body);
    if (tracker.describedStatement !== null && !tracker.shapeCheckEnded)
      statements.learnShape(tracker.describedStatement, type, body, s.backend);
    else if (tracker.describedPortal !== null)
      statements.learnPortalShape(
        tracker.describedPortal,
        tracker.describedPortalClientName!,
        type,
        body,
        s.server!.prepared,
      );
    if (statements.checkingShape) followShapeCheck(s, statements, tracker, type, body);
    else if (statements.awaitsAnswers && tracker.idle) {
      statements.answersCame();
      if (statements.holding) releaseHeld(s, s.server!);
    }
  }
  const fakes = tracker.fakes;
  const start = end - 5 - body.length;
  if (type === BackendMessage.ErrorResponse && tracker.failedStatement === OLD_SHAPE) {
    // The client's description is of the statement's old shape: PostgreSQL's own answer.
    if (start >= 0) link.answerEdits.push({ start, end, insert: [STALE_PLAN_ERROR] });
    // On a standby, the copy's shape may be one the primary no longer has (see isStandbyRefusal).
    if (!s.answered) link.refusalEdited = true;
    return;
  }
  // A standby's refusal (25006) among answers pgtide edits: the retry on the primary must see it.
  if (type === BackendMessage.ErrorResponse && s.readLink && !s.answered) link.refusalEdited = true;
  const statementsOwn =
    type === BackendMessage.ErrorResponse &&
    tracker.failedStatement !== null &&
    !parseFailedFirst(statements, tracker) &&
    onStatementFailed(s, body, tracker.failedStatement);
  if (hide) {
    link.answerEdits.push({ start, end, insert: fakes.splice(0) });
  } else if (
    type === BackendMessage.ErrorResponse &&
    tracker.failedClientName !== null &&
    !statementsOwn &&
    start >= 0 &&
    // Only an error that names it is rewritten: any other (a standby's refusal that read-retry
    // looks for) reaches the client, or the retry, as the server sent it.
    namesServerStatement(body)
  ) {
    // The server's error (42P05, a Bind's wrong parameter count) names the shared statement; the client knows its own name.
    const client = tracker.failedClientName;
    const error = errorWithMessage(body, (m) => m.replace(SERVER_STATEMENT, `"${client}"`));
    if (error) link.answerEdits.push({ start, end, insert: [error] });
  } else if (fakes.length > 0) {
    link.answerEdits.push({ start: end, end, insert: fakes.splice(0) });
  }
}

/**
 * The client's name of the failed request no longer names its statement: the Parse that made
 * it failed earlier in the batch, so the server lacks the statement as the client does, and
 * its error (26000) is the client's own, about the client's name.
 */
function parseFailedFirst(statements: ClientStatements | null, tracker: ResponseTracker): boolean {
  const name = tracker.failedClientName;
  return name !== null && statements?.named(name)?.serverName !== tracker.failedStatement;
}

/**
 * A Bind or Parse waits for its statement's shape on this server (see
 * ClientStatements.holdForShape): the check is sent once the requests before it are answered,
 * and when it is answered the client's bytes go on, after the server chunk that ended it has
 * reached the client.
 */
function followShapeCheck(
  s: LinkSession,
  statements: ClientStatements,
  tracker: ResponseTracker,
  type: number,
  body: Buffer,
): void {
  const server = s.server!;
  if (tracker.shapeCheckEnded) {
    tracker.shapeCheckEnded = false;
    if (type === BackendMessage.ErrorResponse && !s.answered) s.statementLink!.refusalEdited = true;
    statements.shapeAnswered(type, body, server.prepared, s.backend);
    return releaseHeld(s, server);
  }
  if (!statements.shapeQuestionPending || !tracker.idle) return;
  const question = statements.askShapeNow(server.prepared, tracker, s.pool!.stats);
  if (question) server.write(question);
  else releaseHeld(s, server);
}

function releaseHeld(s: LinkSession, server: LinkedServer): void {
  process.nextTick(() => {
    if (s.server !== server || s.isClosed || !s.statements) return;
    let ok = true;
    for (const data of s.statements.takeHeld()) ok = s.send(server, data);
    if (ok) s.resumeClient();
  });
}

type CutHeader = Pick<LinkedServer, 'cutHeaderType' | 'cutHeaderLength'>;

/** Whether a server chunk on a tracking link needs its answers edited (see editAnswers). */
export function editsDue(link: StatementLink, server: CutHeader): boolean {
  return (
    link.answerEdits.length > 0 || link.cutAnswer !== null || server.cutHeaderLength > 0 || link.tracker.checkingShape
  );
}

/** What editAnswers uses of the statement link. */
export type EditLink = Pick<StatementLink, 'answerEdits' | 'cutAnswer' | 'tracker'>;

/**
 * Apply the edits the answers of this chunk asked for: hidden answers (ParseComplete and
 * CloseComplete of requests pgtide added, 5 bytes each) go, pgtide's own answers are put in
 * place. Such an answer cut inside its header is held until the next chunk decides.
 */
export function editAnswers(link: EditLink, server: CutHeader, chunk: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  const edits = link.answerEdits;
  // While a shape check is owed its answer, everything the server sends answers it (the
  // client's bytes wait), and a cut answer may turn out hidden: nothing of it goes yet.
  const checking = link.tracker.checkingShape;
  if (checking && edits.length === 0) {
    link.cutAnswer = link.cutAnswer ? Buffer.concat([link.cutAnswer, chunk]) : Buffer.from(chunk);
    return parts;
  }
  let pos = 0;
  if (link.cutAnswer) {
    // Dropped when the answer it begins is hidden.
    if (!(edits.length > 0 && edits[0]!.start < 0)) parts.push(link.cutAnswer);
    link.cutAnswer = null;
  }
  for (const edit of edits) {
    if (edit.start > pos) parts.push(chunk.subarray(pos, edit.start));
    pos = Math.max(pos, edit.end);
    for (const b of edit.insert) parts.push(b);
  }
  edits.length = 0;
  let tail = chunk.length;
  const cutType = server.cutHeaderType;
  if (checking) {
    tail = pos;
    if (tail < chunk.length) link.cutAnswer = Buffer.from(chunk.subarray(tail));
  } else if (cutType === BackendMessage.ParseComplete || cutType === BackendMessage.CloseComplete) {
    tail = chunk.length - server.cutHeaderLength;
    link.cutAnswer = Buffer.from(chunk.subarray(tail));
  }
  if (tail > pos) parts.push(chunk.subarray(pos, tail));
  return parts;
}

/** End a batch the client left open (no Sync) with a Sync of pgtide's own, whose answer the
 *  client never sees: a refusal holds it back (see holdsFirstAnswer), or it is `hidden`. */
export function endSkippedBatch(
  s: Pick<ClientSession, 'statementLink' | 'tracking'>,
  server: LinkedServer,
  hidden = false,
): void {
  server.syncs.sent(1, false);
  // An untracked link's ReadyForQuery is held back with the refusal it ends (see holdsFirstAnswer).
  if (s.tracking) s.statementLink!.tracker.push(Expect.Sync, hidden);
  server.write(encode.sync());
}

/** The client's first named statement: from now on its statements are mapped (pooling modes only). */
export function namedStatement(s: LinkSession, wholeInChunk: boolean): void {
  if (s.mode === 'session' || s.statementsUntracked) return;
  // Its first bytes may already be on their way unchanged: then it cannot be renamed.
  if (!wholeInChunk) return untrackedStatements(s, false);
  s.statements = clientStatements(s);
  s.statementLink ??= new StatementLink(s);
}

/**
 * A statement pgtide prepared failed in a way that running the bytes again fixes, invisibly
 * to the client: it was missing (prepared again first), or its plan went stale and the client
 * holds no description of the old shape (see ClientStatements.mayRunAgain), or re-planning it
 * failed where the client had asked for a fresh Parse, or its Parse failed for the types other
 * clients were told (see ClientStatements.retypeAfterFailure).
 */
export function mayRunAgain(error: ErrorFields, session: Pick<ClientSession, 'statementLink' | 'statements'>): boolean {
  const tracker = session.statementLink!.tracker;
  const parse = tracker.failedParse;
  if (parse !== null)
    return session.statements?.parsedTypedNow(parse) === true && statementFailure(error, parse) === 'reanalysed';
  const failed = tracker.failedStatement;
  if (failed === null || failed === OLD_SHAPE || !session.statements) return false;
  switch (statementFailure(error, failed)) {
    case 'missing':
      return true;
    case 'stale':
      return session.statements.mayRunAgain(failed);
    case 'reanalysed':
      return session.statements.parsedFromCopy(failed);
    default:
      return false;
  }
}

/** Forward a server chunk whose answers were edited (`parts`, see editAnswers): it answers the
 *  link, so nothing sent on it runs again. Returns true: the chunk stays referenced. */
export function forwardEdited(s: ForwardSession, chunk: Buffer, parts: readonly Buffer[]): boolean {
  s.pool!.stats.bytesSent += chunk.length;
  const socket = s.socket;
  let ok = true;
  socket.cork();
  for (const part of parts) ok = socket.write(part);
  socket.uncork();
  if (!ok && !s.serverPaused) {
    s.serverPaused = true;
    s.server!.pauseReading();
  }
  s.answered = true;
  s.sentOnLink = NO_CHUNKS;
  s.statements?.endUndo();
  return true;
}

/** What forwardEdited uses of the session. */
export type ForwardSession = Pick<
  ClientSession,
  'pool' | 'socket' | 'serverPaused' | 'server' | 'answered' | 'sentOnLink' | 'statements'
>;

const SERVER_STATEMENT = /"pgtide_\d+"/;

function namesServerStatement(body: Buffer): boolean {
  return SERVER_STATEMENT.test(decodeErrorFields(body).message);
}
