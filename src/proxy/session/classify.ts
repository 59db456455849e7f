// What each statement a client sends means for its session (a Query, or the Parse or Bind of
// one): the route of its transaction (read or write), settings it changes (read back after the
// transaction), session state that pins the client to its server, and the client's named
// statements. Called from the scan of each client chunk: plain functions, nothing allocated.
import { SQLSTATE } from '../../protocol/encode.js';
import { FrontendMessage } from '../../protocol/types.js';
import { someStatement, UNSEEN_STATEMENT, type Classification, type StatementKind } from '../../sql/index.js';
import { changesSettings, movesScope } from '../session-settings.js';
import { signalBackends } from '../backend-signals.js';
import { noteSharedDdl } from './shared-ddl.js';
import type { ClientSession } from '../client-session.js';
import { keptSessionState, keptStateName, pin, refusedQuery, type KeptState } from './pinning.js';
import { replaceMessage } from './chunk-edits.js';
import { unmappedList } from './unmapped-list.js';
import {
  executeOfPortal,
  portalBatchEnded,
  portalBound,
  queryDropsPortal,
  type PortalSession,
} from './unnamed-portal.js';
import { namedStatement, type LinkSession } from './statement-link.js';
import { isOn, isSerializable } from './setting-values.js';
import { followReplay } from './statement-replay.js';
import { CopyIn, State } from './state.js';
import { STATEMENT } from '../../protocol/frontend.js';
import type { Statement } from '../statement-registry.js';
import {
  unnamedBatchEnded,
  unnamedDropped,
  unnamedParsed,
  unnamedUsed,
  type UnnamedSession,
} from './unnamed-statement.js';

/** What of the session these functions use. */
export type ClassifySession = Pick<
  ClientSession,
  | 'stateMayEnd'
  | 'batchOpen'
  | 'batchRuns'
  | 'chunkChains'
  | 'chunkKind'
  | 'chunkReadOnly'
  | 'copyAfterQuery'
  | 'copyIn'
  | 'ctx'
  | 'database'
  | 'extendedAtFlush'
  | 'extendedSinceSyncPoint'
  | 'fatal'
  | 'pendingBegin'
  | 'lastWriteLsn'
  | 'lastWriteServer'
  | 'mode'
  | 'pinned'
  | 'pinnedForGood'
  | 'probeAfter'
  | 'ranDdl'
  | 'queuedBatched'
  | 'queuedSyncs'
  | 'queuedUnsynced'
  | 'readOnlySession'
  | 'edits'
  | 'remote'
  | 'routeOverride'
  | 'routeRead'
  | 'routeWrite'
  | 'writesRows'
  | 'scanner'
  | 'ranInLink'
  | 'sequenceRead'
  | 'sequencesUnseen'
  | 'serializableSession'
  | 'settings'
  | 'pool'
  | 'server'
  | 'settingsDirty'
  | 'scopeMoved'
  | 'droppedStatements'
  | 'state'
  | 'statements'
  | 'syncEnd'
  | 'syncsSinceExecute'
  | 'terminateAt'
  | 'unnamedStatement'
  | 'user'
> &
  LinkSession &
  UnnamedSession &
  PortalSession;

/** Clears what the scan of the client's next chunk finds. */
export function beginChunk(s: ClassifySession): void {
  s.syncEnd = -1;
  s.terminateAt = -1;
  // The route flags describe every chunk of the transaction not yet routed.
  if (!s.server && s.state === State.Ready) {
    s.routeRead = false;
    s.routeWrite = false;
    // A choice's setter looks its value up: not on every chunk.
    if (s.sequenceRead) s.sequenceRead = false;
    if (s.sequencesUnseen) s.sequencesUnseen = false;
    if (s.writesRows) s.writesRows = false;
  }
  s.chunkKind = null;
  if (s.chunkChains) s.chunkChains = false;
}

/** A statement (or the Bind of one) that may change settings: they are read back after its transaction. */
function noteSettings(s: ClassifySession, c: Classification): void {
  if (c.opaque) noteOpaqueCode(s);
  if (c.touchesSettings === undefined || s.mode === 'session' || !s.settings) return;
  if (!s.scopeMoved && movesScope(c)) s.scopeMoved = true;
  if (!changesSettings(c) && !s.settings.newPlaceholder(c)) return;
  s.settingsDirty = true;
  s.settings.follow(c);
}

/**
 * Code pgtide cannot see into (trust_functions = false): after its transaction the settings
 * are read back, the session probed for state that pins, and the server, whose custom
 * settings cannot be listed, reset before another client's transaction.
 */
function noteOpaqueCode(s: ClassifySession): void {
  if (s.mode === 'session' || !s.settings || s.ctx.config.trust_functions) return;
  // It may call currval or lastval, or nextval: a server where another client's values are has
  // them discarded first, and the values it leaves are this client's.
  if (!s.sequencesUnseen) s.sequencesUnseen = true;
  s.settingsDirty = true;
  if (!s.scopeMoved) s.scopeMoved = true;
  s.settings.followUnseen();
  s.probeAfter = true;
}

/**
 * The text of a simple Query or of an unnamed Parse, whose names ClientStatements maps: follow
 * it (see follow), and the statements its EXECUTEs run. Returns the session state it leaves.
 * A text that reads pg_prepared_statements is rewritten there too (`wholeInChunk`: its message
 * ends in this chunk), even for a client with no named statement yet.
 */
function followText(s: ClassifySession, c: Classification | null, wholeInChunk: boolean): KeptState | null {
  if (c === null) return null;
  if (c.readsStatementList && s.statements === null) namedStatement(s, wholeInChunk);
  if (s.statements === null) return follow(s, c);
  let kept: KeptState | null;
  if (c.kind === 'execute') {
    const executed = followExecuted(s, c);
    // Arguments that call functions run where the EXECUTE does: on the primary, as on its own.
    kept = executed !== undefined && c.constantArguments ? executed : (follow(s, c) ?? executed ?? null);
  } else {
    kept = follow(s, c);
    if (c.statements) for (const one of c.statements) if (one.kind === 'execute') kept = followExecuted(s, one) ?? kept;
  }
  // What the chunk is, for a BEGIN or COMMIT pgtide answers itself: an EXECUTE, whatever it runs.
  s.chunkKind = c.kind;
  s.chunkReadOnly = standbyMode(c);
  return kept;
}

/**
 * `EXECUTE name` of a statement the client prepared by protocol runs what its Parse did, as its
 * Bind would (see ClientStatements.mapNames): its session state, settings and route follow the
 * statement's text. Undefined when the name is none of those (one made by SQL PREPARE pinned
 * the client, and only the server knows what it runs).
 */
function followExecuted(s: ClassifySession, c: Classification): KeptState | null | undefined {
  const statement = c.name === undefined ? undefined : s.statements?.named(c.name);
  return statement && followStatement(s, statement, null);
}

function classifyText(s: ClassifySession, body: Buffer, start: number, end: number): Classification | null {
  if (end <= start) return null;
  if (s.ctx.config.log_statements) {
    s.ctx.log.info(
      { client: s.remote, user: s.user, database: s.database, statement: body.toString('utf8', start, end) },
      'statement',
    );
  }
  return s.ctx.classifier.classifyBytes(body, start, end);
}

/**
 * A statement is about to run (its Query, Parse or Bind): route the transaction by it and
 * note the settings and session state it changes. Returns the session state it leaves on
 * its server connection, if any.
 */
function follow(s: ClassifySession, c: Classification): KeptState | null {
  s.chunkKind = c.kind;
  s.chunkReadOnly = standbyMode(c);
  if (c.chain === true) s.chunkChains = true;
  if (someStatement(c, changesSchema)) {
    if (!s.ranDdl) s.ranDdl = true;
    noteSharedDdl(s, c);
    s.server?.prepared.schemaChanges();
    if (someStatement(c, changesFunctions)) s.ctx.functions.forget();
  }
  noteSettings(s, c);
  // Only a pinned client's: the state it makes pins it (pin() marks the transaction then).
  if (s.pinned && !s.stateMayEnd && someStatement(c, mayEndState)) s.stateMayEnd = true;
  if (c.readsSequences && s.mode !== 'session') {
    s.sequenceRead = true;
    // Also inside a transaction routed already (DBD::Pg sends `begin` alone, then currval): the
    // pool's clients read sequences, so its writes are kept for their writers (see route).
    if (s.pool !== null) s.pool.sequenceReaders = true;
  }
  // Its values are gone wherever they were: a later currval answers 55000, as directly.
  if (s.mode !== 'session' && someStatement(c, discardsSequences)) s.lastWriteServer = 0;
  // A client whose statements pgtide does not map drops the server's shared ones with it
  // (ClientStatements follows a mapped client's): see releaseServer.
  if (s.statements === null && s.mode !== 'session' && !s.droppedStatements && someStatement(c, dropsStatements))
    s.droppedStatements = true;
  // A session-wide SET with a known value, or a RESET (value null: the default).
  const sessionSet = c.set && !c.set.local && (c.set.value !== null || c.kind === 'reset') ? c.set : null;
  if (c.kind === 'pgtide' && c.pgtideRoute) s.routeOverride = c.pgtideRoute;
  else if (sessionSet?.name === 'default_transaction_read_only') s.readOnlySession = isOn(sessionSet.value);
  else if (sessionSet?.name === 'default_transaction_isolation')
    s.serializableSession = isSerializable(sessionSet.value);
  else if (c.sessionState === 'transaction_characteristics' && c.isolation !== undefined) {
    s.serializableSession = c.isolation === 'serializable';
  }
  // A session that asked for read-only transactions starts them on a standby, unless SERIALIZABLE
  // (standbys refuse it: 0A000 "cannot use serializable mode in a hot standby").
  const read =
    (c.route === 'read' && !(s.pendingBegin !== null && decidesNothing(c) && !deferredReadOnly(s))) ||
    (s.readOnlySession && c.kind === 'begin' && c.readOnly !== false && c.isolation !== 'serializable');
  const state = keptSessionState(c);
  // A session-mode server goes back to the pool reset by server_reset_query (DISCARD ALL), which
  // leaves a random seed: the next client's random() followed this one's setseed(). Closed instead.
  if (s.mode === 'session' && state === 'random_seed') s.pinnedForGood = true;
  const kept = s.mode === 'session' ? null : state;
  // State that ties the client to its server belongs on the primary, which stays writable.
  if (read && kept === null) s.routeRead = true;
  else {
    s.routeWrite = true;
    if (!s.writesRows && !controlsTransaction(c) && !c.writesNothing) s.writesRows = true;
  }
  if (!read && c.functions && c.functions.length > 0) lookUpFunctions(s, c.functions);
  return kept;
}

/**
 * SET, RESET, SET CONSTRAINTS, SET TRANSACTION (but READ ONLY), a savepoint, local set_config
 * calls: the first statement after a BEGIN pgtide deferred (transaction_routing =
 * first_statement), they neither read nor write (or not only), and the transaction's writes may
 * follow (PostgREST sets its request's settings first). Sent to a standby, the BEGIN ran there
 * and the INSERT after them got 25006 (PostgreSQL's regression suite: `BEGIN; SET LOCAL …;
 * CREATE …`): such a transaction goes to the primary.
 */
function decidesNothing(c: Classification): boolean {
  const kind = c.kind;
  return (
    kind === 'set' ||
    kind === 'reset' ||
    kind === 'savepoint' ||
    (kind === 'set_transaction' && c.readOnly !== true) ||
    c.localSets === true
  );
}

/** The deferred BEGIN (or the session) makes the transaction read-only: a standby may run all of it. */
function deferredReadOnly(s: ClassifySession): boolean {
  return s.readOnlySession || s.ctx.classifier.classify(s.pendingBegin!).readOnly === true;
}

/** A statement's READ ONLY (true) or READ WRITE (false): SERIALIZABLE counts as READ WRITE,
 *  as standbys refuse both (see first-statement.ts). */
function standbyMode(c: Classification): boolean | undefined {
  return c.isolation === 'serializable' ? false : c.readOnly;
}

/** BEGIN, COMMIT, ROLLBACK, a savepoint or SET TRANSACTION: sent to the primary, yet calls no
 *  nextval there (see writesRows). */
function controlsTransaction(c: Classification): boolean {
  const kind = c.kind;
  return (
    kind === 'begin' || kind === 'commit' || kind === 'rollback' || kind === 'savepoint' || kind === 'set_transaction'
  );
}

/** What runs is unknown: it may write, and call nextval. */
function runsUnknown(s: ClassifySession): void {
  s.routeWrite = true;
  if (!s.writesRows) s.writesRows = true;
}

/** DISCARD SEQUENCES or DISCARD ALL. */
function discardsSequences(c: Classification): boolean {
  return c.kind === 'discard' && (c.discard === 'all' || c.discard === 'sequences');
}

/** DEALLOCATE (of any name: the client may name pgtide's) or DISCARD ALL. */
function dropsStatements(c: Classification): boolean {
  return c.kind === 'deallocate' || (c.kind === 'discard' && c.discard === 'all');
}

function changesFunctions(c: Classification): boolean {
  return c.changesFunctions === true;
}

/** Kinds of statement that neither make nor end session state, bar the calls they make. */
const KEEPS_STATE: ReadonlySet<StatementKind> = new Set<StatementKind>([
  // reads and row changes
  'select',
  'show',
  'explain',
  'copy',
  'dml',
  // the transaction itself (state made in it, then rolled back, was made: see mayEndState)
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'set_transaction',
  // settings, read back apart, and what leaves nothing
  'set',
  'notify',
  'pgtide',
  'empty',
]);

/**
 * A statement after whose transaction a pinned client's state may be gone, or new (which a
 * failed statement may not have made): anything but the kinds above, code pgtide cannot see
 * into, state made, and a read that goes to the primary for a call (an advisory unlock among
 * them). A pinned client's probe runs only after such a transaction: after every one, a
 * listener or a temporary table's user paid a round trip per transaction (helper r1:
 * tokio-postgres's Close of each statement). One missed (an unlock inside an INSERT) only
 * keeps the client on its server until a later probe.
 */
function mayEndState(c: Classification): boolean {
  return (
    !KEEPS_STATE.has(c.kind) ||
    c.opaque === true ||
    c.sessionState !== undefined ||
    c.writesNothing === true ||
    (c.kind === 'select' && c.route === 'write')
  );
}

/** DDL, or a statement the lexer did not understand (which may be DDL): see pool/schema-generation.ts. */
function changesSchema(c: Classification): boolean {
  return c.kind === 'ddl' || c.kind === 'other';
}

/**
 * A statement leaves state its server cannot hand to another client: pin the client, or,
 * with pin_on_session_state = error, have the server refuse it (a simple Query seen whole
 * in this chunk; other statements still pin).
 */
function keepSessionState(s: ClassifySession, state: KeptState | null, start: number, end: number): void {
  if (state === null) return;
  if (
    s.ctx.config.pin_on_session_state === 'error' &&
    replaceMessage(s, start, end, refusedQuery(keptStateName(state)))
  )
    return;
  // No probe can tell these gone: the session user, a random seed.
  if (state === 'session_authorization' || state === 'random_seed') s.pinnedForGood = true;
  if (!s.pinned) pin(s);
}

function lookUpFunctions(s: ClassifySession, names: readonly string[]): void {
  const primary = s.ctx.router.writeBackend();
  if (primary) s.ctx.functions.lookUp(names, () => s.ctx.pools.loginFor(s.database, s.user, primary));
}

function classifyParse(s: ClassifySession, body: Buffer, end: number): KeptState | null {
  const wholeInChunk = end - 5 - body.length >= 0;
  const nameEnd = body.indexOf(0);
  if (s.scanner.truncated) {
    if (nameEnd === 0) {
      s.unnamedStatement = UNSEEN_STATEMENT;
      unnamedParsed(s, null);
    }
    return follow(s, UNSEEN_STATEMENT);
  }
  const queryEnd = nameEnd < 0 ? -1 : body.indexOf(0, nameEnd + 1);
  if (queryEnd < 0) {
    s.routeWrite = true;
    return null;
  }
  const c = classifyText(s, body, nameEnd + 1, queryEnd);
  if (c?.readsStatementList && s.statementsUntracked)
    unmappedList(s, FrontendMessage.Parse, body, nameEnd + 1, queryEnd, end);
  if (nameEnd === 0) {
    s.unnamedStatement = c;
    unnamedParsed(s, body);
    return followText(s, c, wholeInChunk);
  }
  if (s.statements !== null) {
    // Prepared again after a table change (asyncpg, postgres.js do at 0A000): described where it is replayed.
    const statement = s.ctx.statements.find(body.subarray(nameEnd + 1), s.statements.scope());
    if (statement) followReplay(s, statement);
  }
  if (c !== null && (c.signals !== undefined || c.freesDatabase !== undefined)) {
    parsedBeyond.set(s, { name: body.toString('utf8', 0, nameEnd), c });
    anyParsedBeyond = true;
  } else if (anyParsedBeyond) {
    const parsed = parsedBeyond.get(s);
    if (parsed !== undefined && parsed.name === body.toString('utf8', 0, nameEnd)) parsedBeyond.delete(s);
  }
  return c === null ? null : follow(s, c);
}

/**
 * The client's last named statement that acts beyond its server (see beyondServer), by session:
 * a Bind in the chunk of its Parse finds it in no statement map yet (node-postgres sends a named
 * query's Parse, Bind and Execute together). Rare: kept aside rather than in every session.
 */
const parsedBeyond = new WeakMap<ClassifySession, { name: string; c: Classification }>();
let anyParsedBeyond = false;

/**
 * A Bind runs a statement prepared earlier, perhaps in another transaction: it counts as that
 * statement's text did at its Parse (a map lookup, no parsing). `body` may hold only the
 * head of the message (see collectTable), which holds the two names.
 */
function classifyBind(s: ClassifySession, body: Buffer, end: number): KeptState | null {
  const portalEnd = body.indexOf(0);
  const nameEnd = portalEnd < 0 ? -1 : body.indexOf(0, portalEnd + 1);
  // The unnamed portal a simple Query dropped, made again (see unnamed-portal.ts).
  const rebinds = portalEnd === 0 && s.unnamedPortalDropped;
  if (nameEnd < 0) {
    // A name longer than the head pgtide keeps: what it runs is unknown.
    if (rebinds) portalBound(s, null);
    runsUnknown(s);
    return null;
  }
  if (nameEnd === portalEnd + 1) {
    unnamedUsed(s, FrontendMessage.Bind, body, end, portalEnd + 1);
    if (rebinds) portalBound(s, s.unnamedStatement);
    return s.unnamedStatement ? followBound(s, s.unnamedStatement, body) : null;
  }
  // Not found: a name the client never prepared (the server fails the Bind), or one whose
  // Parse is in this same chunk and counted already (what it does beyond its server is not).
  const name = body.toString('utf8', portalEnd + 1, nameEnd);
  const statement = s.statements?.named(name);
  if (statement === undefined) {
    if (rebinds) portalBound(s, null);
    const parsed = anyParsedBeyond ? parsedBeyond.get(s) : undefined;
    if (parsed?.name === name) beyondServer(s, parsed.c, body);
    return null;
  }
  if (rebinds) portalBound(s, s.ctx.statements.classification(statement));
  return followStatement(s, statement, body);
}

/** A run of the client's named statement: it counts as its text did at its Parse, and, run by
 *  a Bind (`bind`, not null), as followBound says. */
function followStatement(s: ClassifySession, statement: Statement, bind: Buffer | null): KeptState | null {
  followReplay(s, statement);
  const c = s.ctx.statements.classification(statement);
  return bind === null ? follow(s, c) : followBound(s, c, bind);
}

/** A run of a statement by `bind`: it counts as its text did at its Parse, and what it does
 *  beyond its server happens now (see beyondServer), with the Bind's parameters. */
function followBound(s: ClassifySession, c: Classification, bind: Buffer): KeptState | null {
  beyondServer(s, c, bind);
  return follow(s, c);
}

/**
 * A statement about to run (a Query, or a Bind with its parameters in `bind`) that acts on
 * more than its server: pgtide's own idle connections to a database it drops or copies close
 * first, and its pg_terminate_backend or pg_cancel_backend of a pid pgtide told reaches that
 * client. Returns false when the caller ended its own session.
 */
function beyondServer(s: ClassifySession, c: Classification, bind: Buffer | null): boolean {
  if (c.freesDatabase !== undefined) s.ctx.freeDatabase(c.freesDatabase);
  return c.signals === undefined || signalBackends(s, c.signals, bind);
}

function tooManyStatements(s: ClassifySession): void {
  const limit = s.ctx.config.max_client_prepared_statements;
  s.fatal(
    SQLSTATE.CONFIGURATION_LIMIT_EXCEEDED,
    `too many prepared statements on this connection (max_client_prepared_statements = ${limit})`,
    undefined,
    'Close (or DEALLOCATE) prepared statements the application no longer uses.',
  );
}

/** A message of the client's query stream, looked at on its way (see QUERY_TYPES). Returns
 *  false to stop the scan of the chunk (Terminate, or a limit that ends the session). */
export function onClientMessage(s: ClassifySession, type: number, body: Buffer, end: number): boolean {
  // Past the COPY data a Query may have begun (see copyAfterQuery).
  if (type !== FrontendMessage.CopyDone && type !== FrontendMessage.CopyFail && type !== FrontendMessage.Terminate)
    s.copyAfterQuery = false;
  switch (type) {
    case FrontendMessage.Sync:
      // The server ignores Sync during COPY IN: it is no sync point then.
      if (s.copyIn === CopyIn.Running) break;
      // After the end of a COPY's data it is one, whenever the server says it entered the COPY.
      if (s.copyIn !== CopyIn.EndedEarly) s.syncsSinceExecute++;
      s.batchOpen = false;
      countSyncPoint(s, end);
      unnamedBatchEnded(s);
      portalBatchEnded(s);
      break;
    case FrontendMessage.Query: {
      // Nothing of the transaction before it: no statement scanned, no server, no deferred BEGIN.
      const first = s.chunkKind === null && s.server === null && s.state === State.Ready && s.pendingBegin === null;
      runsStatement(s);
      unnamedDropped(s);
      queryDropsPortal(s);
      let keeps: KeptState | null;
      if (s.scanner.truncated) keeps = follow(s, UNSEEN_STATEMENT);
      else {
        const c = classifyText(s, body, 0, body.length - 1);
        if (c !== null && !beyondServer(s, c, null)) return false;
        if (c?.readsStatementList && s.statementsUntracked) unmappedList(s, type, body, 0, body.length - 1, end);
        keeps = followText(s, c, end - 5 - body.length >= 0);
        if (first && c !== null && s.settingsDirty) s.settings?.followQuery(c);
      }
      if (keeps !== null) keepSessionState(s, keeps, end - 5 - body.length, end);
      countSimpleSyncPoint(s, end);
      s.copyAfterQuery = true;
      break;
    }
    case FrontendMessage.FunctionCall:
      // Answered with its own ReadyForQuery. The function is known only by its oid: it may
      // write, and change settings or session state.
      runsStatement(s);
      runsUnknown(s);
      noteOpaqueCode(s);
      countSimpleSyncPoint(s, end);
      break;
    case FrontendMessage.Parse:
      extendedMessage(s);
      if (body[0] === 0) s.batchRuns = true;
      keepSessionState(s, classifyParse(s, body, end), -1, end);
      if (body[0] !== 0) {
        if (s.statements === null) namedStatement(s, end - 5 - body.length >= 0);
        else if (s.statements.size >= s.ctx.config.max_client_prepared_statements) {
          tooManyStatements(s);
          return false;
        }
      }
      break;
    case FrontendMessage.Bind:
      extendedMessage(s);
      s.batchRuns = true;
      keepSessionState(s, classifyBind(s, body, end), -1, end);
      // The client ended its own session (pg_terminate_backend of its pid): read no further.
      if (s.state === State.Closed) return false;
      break;
    case FrontendMessage.Execute:
      extendedMessage(s);
      s.batchRuns = true;
      runsStatement(s);
      executeOfPortal(s, body, end);
      break;
    case FrontendMessage.Describe:
      // Of the unnamed statement ('S', then an empty name): only the head is read (QUERY_TYPES).
      if (body[0] === STATEMENT && body[1] === 0) {
        unnamedUsed(s, FrontendMessage.Describe, body, end, 1);
      }
      break;
    case FrontendMessage.Close:
      // Of the unnamed statement: gone on PostgreSQL, and so is the copy kept of it.
      if (body[0] === STATEMENT && body[1] === 0) unnamedDropped(s);
      break;
    case FrontendMessage.Flush:
      // The server ignores Flush during COPY IN too.
      if (s.copyIn === CopyIn.Running) break;
      // Right after a sync point it asks for nothing (psycopg's and libpq's pipelines send one
      // after a Sync): it belongs to that sync point, or the server would be held, and the
      // client's next statement sent there, for a Sync that never comes.
      if (end - 5 === s.syncEnd || (end === 5 && atSyncPoint(s))) s.syncEnd = end;
      else s.extendedAtFlush = s.extendedSinceSyncPoint;
      break;
    case FrontendMessage.CopyDone:
    case FrontendMessage.CopyFail:
      if (s.copyIn === CopyIn.Running) {
        s.copyIn = CopyIn.None;
        s.syncEnd = end;
      } else {
        // The server has not entered the COPY these end (yet): it will find them read when it
        // does, or ignore them (no COPY, or one it failed).
        s.copyIn = CopyIn.EndedEarly;
      }
      break;
    case FrontendMessage.Terminate:
      s.terminateAt = end - 5 - body.length;
      return false;
  }
  return true;
}

/** The client's bytes before this chunk ended at a sync point: none is owed an answer. */
function atSyncPoint(s: ClassifySession): boolean {
  const server = s.server;
  if (server !== null) return !server.syncs.unsynced;
  return s.state === State.Ready || !s.queuedUnsynced;
}

/** A Query, Execute or FunctionCall: something runs in the transaction (see ranInLink), and a
 *  COPY IN it begins is still to be ended by the client. */
function runsStatement(s: ClassifySession): void {
  if (!s.ranInLink) s.ranInLink = true;
  s.syncsSinceExecute = 0;
  if (s.copyIn === CopyIn.EndedEarly) s.copyIn = CopyIn.None;
}

function countSyncPoint(s: ClassifySession, end: number): void {
  // Owed by the server once the chunk is sent (onQueryData, flushQueued): a chunk refused
  // mid-scan is never sent, and its sync points must not be waited for.
  s.queuedSyncs++;
  s.syncEnd = end;
  s.extendedSinceSyncPoint = 0;
  s.extendedAtFlush = -1;
  s.batchRuns = false;
}

/** A Parse, Bind or Execute: each ends with one answer SyncPoints counts, or an ErrorResponse.
 *  Describe and Close are not counted (nor their answers): the scan stays as cheap. */
function extendedMessage(s: ClassifySession): void {
  s.batchOpen = true;
  s.extendedSinceSyncPoint++;
}

/**
 * A Query or FunctionCall: answered with a ReadyForQuery of its own, unless it is sent inside
 * an extended-protocol batch in which a message before it fails (see SyncPoints). A client
 * whose statements pgtide rewrites is left out: the server's answers then differ from its
 * messages, and counting them would mistake the Query's own error for the batch's.
 */
function countSimpleSyncPoint(s: ClassifySession, end: number): void {
  if (s.batchOpen && s.statements === null) (s.queuedBatched ??= []).push(s.queuedSyncs, s.extendedSinceSyncPoint);
  countSyncPoint(s, end);
}

/**
 * A lone CopyDone or CopyFail between transactions (postgres.js ends its COPY stream with a
 * CopyFail after the COPY's ReadyForQuery): the server ignores it outside COPY, so it is
 * dropped rather than routed, which would take a primary server for no transaction and carry
 * the client's next statement, a read perhaps, along with it.
 */
export function isStrayCopyEnd(data: Buffer): boolean {
  return (
    (data[0] === FrontendMessage.CopyDone || data[0] === FrontendMessage.CopyFail) &&
    data.length >= 5 &&
    data.readUInt32BE(1) + 1 === data.length
  );
}

/**
 * Flushes alone between transactions (libpq's PQsendFlushRequest after its pipeline's Sync,
 * in a write of its own): every answer is sent already, so they are dropped rather than
 * routed, which would take a server for no transaction and hold it, and send the client's
 * next statement there, for a Sync that never comes.
 */
export function isIdleFlush(data: Buffer): boolean {
  for (let at = 0; at < data.length; at += 5) {
    if (data[at] !== FrontendMessage.Flush || at + 5 > data.length || data.readUInt32BE(at + 1) !== 4) return false;
  }
  return data.length > 0;
}
