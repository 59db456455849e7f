// The hand-off of a server to a client between its transactions, in one place: a server readied
// for the transaction (the standby's replay of the client's last write, its session settings, a
// deferred BEGIN), and pgtide's own queries after one (settings read back, the pin probe, the
// WAL position of a write). Each wait takes a token (waitFor); its continuation touches the
// session only while that token is current, so a client that left or was routed afresh meanwhile
// is never linked to the server of a wait it gave up.
import { SQLSTATE } from '../../protocol/encode.js';
import { ServerQueryError, type Rows } from '../../pool/own-query.js';
import { SEQUENCES_OF_SOMEONE, type LinkedServer, type ServerWaiter } from '../../pool/linked-server.js';
import type { ServerPeer } from '../../pool/server-peer.js';
import { UNKNOWN_SETTINGS } from '../../pool/server-settings.js';
import { transactionEnded } from '../../pool/schema-generation.js';
import { tookSharedDdl } from './shared-ddl.js';
import { fenceFromPool } from './schema-fence.js';
import { TransactionStatus } from '../../protocol/types.js';
import { NO_SETTINGS, diffSql, type SessionSettings, type SettingChanges, type Settings } from '../session-settings.js';
import type { ClientSession } from '../client-session.js';
import { countAnswered, type StatsSession } from './stats.js';
import { flushQueued, replayDeferred, takeQueued, type QueueSession } from './queue.js';
import { dropHeldCancel, sendHeldCancel } from './held-cancel.js';
import { pin } from './pinning.js';
import { isOn, isSerializable } from './setting-values.js';
import { learnReplay, replayedAt, takeReplayToLearn } from './statement-replay.js';
import type { Statement } from '../statement-registry.js';
import { mayTakeOver, takeOverStatements, type UntrackedSession } from './untracked.js';
import { retryOnPrimary, type ResendSession } from './read-retry.js';
import { correctReported, reportSettings, type ReportedParamsSession } from './reported-params.js';
import { NO_CHUNKS, State, Wait, appended, poolOf, releaseAfterFailure, type PoolsSession } from './state.js';
import { restoreUnnamed, type UnnamedSession } from './unnamed-statement.js';
import { eventNow } from '../../event-clock.js';
import { parseLsn } from '../../cluster/replication.js';
import { Check, PROBE_ALONE, runChecks, settingsCheck, type CheckStep } from '../own-checks.js';

/** What of the session these functions use. */
export type HandoffSession = Pick<
  ClientSession,
  | 'stateMayEnd'
  | 'backend'
  | 'close'
  | 'cancelPid'
  | 'consistency'
  | 'consistencyFallback'
  | 'ctx'
  | 'database'
  | 'deferred'
  | 'epoch'
  | 'fatal'
  | 'isClosed'
  | 'lastActive'
  | 'lastWriteLsn'
  | 'link'
  | 'mode'
  | 'pendingBegin'
  | 'pinned'
  | 'pinnedForGood'
  | 'pool'
  | 'probeAfter'
  | 'ranDdl'
  | 'readLink'
  | 'remote'
  | 'resend'
  | 'resumeClient'
  | 'retryRoute'
  | 'retrying'
  | 'routeWrite'
  | 'writesRows'
  | 'scanner'
  | 'lastWriteServer'
  | 'leftUnknown'
  | 'ranInLink'
  | 'cancelWanted'
  | 'cancelAgain'
  | 'sentOnLink'
  | 'sequenceRead'
  | 'sequencesUnseen'
  | 'server'
  | 'serverPaused'
  | 'settings'
  | 'settingsDirty'
  | 'serializableSession'
  | 'readOnlySession'
  | 'scopeMoved'
  | 'droppedStatements'
  | 'state'
  | 'timeoutCancelSent'
  | 'user'
  | 'wait'
  | 'waitingSince'
  | 'writeLsnAsked'
  | 'writeLsnPending'
  | 'wroteInLink'
> &
  StatsSession &
  QueueSession &
  ServerPeer &
  ServerWaiter &
  ReportedParamsSession &
  ResendSession &
  PoolsSession &
  UntrackedSession &
  UnnamedSession;

/** The server's settings differ from this session's (one string comparison). Settings pgtide
 *  cannot list that this client's own code set are its own: it goes on with them, as it would
 *  on a connection of its own, and only another client's transaction has them reset. */
export function lacksSettings(s: HandoffSession, server: LinkedServer): boolean {
  if (s.settings === null || server.settingsKey === s.settings.key) return false;
  return server.unknownOwner !== s || server.unknownOwnerKey !== s.settings.key;
}

/**
 * The transaction calls currval or lastval on a server where another client wrote last (or
 * none of this client's writes ran): in transaction pooling the session's sequence values
 * there are not this client's, so they are discarded first and PostgreSQL answers as in a
 * session that called no nextval (55000), never with another client's id. A client whose
 * write was the last on its server, which pgtide lends back first (an idle stack), reads
 * its own values, as PDO's lastInsertId() expects. So that it reads only those, a write in a
 * pool whose clients read sequences has the values discarded first as well, where the server
 * is not the one of the client's last write: those there are another client's, or older ones
 * of this client's that its nextval calls on its last write's server have since replaced. So
 * does a transaction begun there (a deferred BEGIN) where another client's values are, since
 * its currval may come after its server was taken: DBD::Pg's last_insert_id() sends BEGIN, a
 * read of the catalog, then currval().
 */
export function lacksSequences(s: HandoffSession, server: LinkedServer): boolean {
  if (ownsSequences(s, server)) return false;
  // None there (no write ran since a new connection or a discard): nothing to hide.
  if (server.sequenceOwner === 0) return false;
  if (s.sequenceRead || s.sequencesUnseen) return true;
  if (s.pool?.sequenceReaders !== true) return false;
  return (s.wroteInLink && s.routeWrite) || s.pendingBegin !== null;
}

function ownsSequences(s: HandoffSession, server: LinkedServer): boolean {
  return server.sequenceOwner === s.cancelPid && server.id === s.lastWriteServer;
}

/** The server must be readied for the client's transaction before its bytes go (see setUp). */
export function needsSetUp(s: HandoffSession, server: LinkedServer): boolean {
  return lacksSettings(s, server) || lacksSequences(s, server) || s.unnamedToRestore !== null;
}

/** The client's write ran last on `server`: its sequence values are there, and nowhere else. */
function ownSequences(s: HandoffSession, server: LinkedServer): void {
  server.sequenceOwner = s.cancelPid;
  s.lastWriteServer = server.id;
}

/** Give the server this session's settings, then run a deferred BEGIN, then prepare the client's
 *  unnamed statement that a Bind of this transaction runs (each Query before replaces it). Nothing the server sends
 *  on its own meanwhile reaches the client: none of its work has run there yet, and a server
 *  that ends its session now (terminated, shut down) is replaced, not passed on (see startOn). */
export async function setUp(s: HandoffSession, server: LinkedServer, begin: string | null): Promise<void> {
  const reset = lacksSettings(s, server) && server.settings === UNKNOWN_SETTINGS;
  // The client's own values there stay, as in its session: the reset spares them.
  const own = ownsSequences(s, server);
  if (lacksSequences(s, server)) {
    // The reset discards them too.
    if (!reset) await server.query('DISCARD SEQUENCES');
    // A write's values become the client's once it ran (see releaseServer): a Parse alone runs nothing.
    if (s.sequenceRead || s.sequencesUnseen) ownSequences(s, server);
    else server.sequenceOwner = 0;
  } else if (reset && !own) server.sequenceOwner = 0;
  if (lacksSettings(s, server)) {
    const { values, key } = s.settings!;
    if (reset) await resetSettings(server, values, !own);
    else {
      const sql = diffSql(server.settings, values);
      if (sql !== null) await changeSettings(server, sql, values);
    }
    server.settings = values;
    server.settingsKey = key;
    correctReported(s, server);
  }
  if (begin) await server.query(begin);
  if (s.unnamedToRestore !== null) await restoreUnnamed(s, server, null);
}

/** Settings, and with `sequences` sequence values, only: the statements prepared there stay (a
 *  DISCARD ALL dropped them, shared ones and pgtide's own checks alike, each prepared again
 *  after it). SET SESSION AUTHORIZATION DEFAULT also ends a SET ROLE, which RESET ALL leaves.
 *  The values another client's code left (a function calling nextval) must not answer this
 *  one's currval. The client's `values` follow in the same transaction, one round trip for all;
 *  begun first, so that no statement before it takes a snapshot at the session's own isolation
 *  (DISCARD SEQUENCES does: a repeatable read default then refused the BEGIN's, 25001). */
async function resetSettings(server: LinkedServer, values: Settings, sequences = true): Promise<void> {
  await server.query(diffSql(NO_SETTINGS, values, sequences ? RESET_ALL : RESET_SETTINGS)!, null, true);
  server.forgetSettings(NO_SETTINGS);
}

const RESET_SETTINGS = 'SET SESSION AUTHORIZATION DEFAULT; RESET ALL';
const RESET_ALL = `${RESET_SETTINGS}; DISCARD SEQUENCES`;

/**
 * Runs `sql`, which turns what pgtide took the server to hold into `values`. Refused, the
 * server held something else: a LOAD (or the first call of a library's function) that
 * reserved a prefix removed another client's placeholder of that prefix (PostgreSQL warns, and
 * the name is gone), and a RESET of it fails. From the defaults the server then gets only this
 * client's own values; should those be refused too, the client hears of it.
 */
async function changeSettings(server: LinkedServer, sql: string, values: Settings): Promise<void> {
  try {
    await server.query(sql, null, true);
  } catch (err) {
    if (!(err instanceof ServerQueryError) || server.settings === NO_SETTINGS) throw err;
    await server.query('ROLLBACK');
    await resetSettings(server, values);
  }
}

/** Lend the transaction its server: apply settings and replay a deferred BEGIN first, then the queued bytes. */
export function startOn(s: HandoffSession, server: LinkedServer): void {
  if (writeJoinedRead(s)) {
    s.pool!.release(server);
    return readFromPrimary(s);
  }
  const begin = s.pendingBegin;
  if (!begin && !needsSetUp(s, server)) {
    s.link(server);
    return flushQueued(s, server);
  }
  const pool = s.pool!;
  const epoch = waitFor(s, Wait.SetUp);
  setUp(s, server, begin).then(
    () => {
      // A FATAL read with the last answer closed it (see onIdleMessage): none of the client's
      // work reached it, so another server takes the transaction, as when a set-up query fails.
      if (server.isClosed) {
        if (s.epoch === epoch) acquire(s);
        return;
      }
      if (s.epoch === epoch) {
        if (!writeJoinedRead(s)) {
          // Kept until now: a client routed afresh meanwhile still needs it on its next server.
          s.pendingBegin = null;
          s.link(server);
          return flushQueued(s, server);
        }
        readFromPrimary(s);
      }
      // The client left or was routed afresh meanwhile: end the transaction before the server is reused.
      if (!begin) return pool.release(server);
      server.query('ROLLBACK').then(
        () => pool.release(server),
        () => server.close('rollback failed'),
      );
    },
    (err: Error & { code?: string }) => {
      releaseAfterFailure(pool, server, `setting up a transaction failed: ${err.message}`);
      if (s.epoch !== epoch) return;
      // Lost before any of the client's work reached it: another server takes the transaction.
      if (server.isClosed && !(err instanceof ServerQueryError)) return acquire(s);
      if (server.toldClientOfEnd) return s.close();
      s.fatal(err.code ?? SQLSTATE.CONNECTION_FAILURE, `could not start the transaction on the server: ${err.message}`);
    },
  );
}

/** The client waits for a server from its pool (or for a primary to be known, when it has no pool). */
export function acquire(s: HandoffSession): void {
  waitFor(s, Wait.Pool);
  s.timeoutCancelSent = false;
  s.waitingSince = eventNow();
  s.pool?.acquire(s);
}

/** The pool lends a server to a waiting client: readied for its transaction, or given back
 *  when the client waits for it no more. */
export function serverAssigned(s: HandoffSession, server: LinkedServer): void {
  if (s.state !== State.Waiting || s.wait !== Wait.Pool) return s.pool!.release(server);
  if (mustCheckReplay(s)) return checkReplay(s, server);
  startOn(s, server);
}

/** The client waits for `wait`; returns the token the wait's continuation checks (see epoch). */
export function waitFor(s: HandoffSession, wait: Wait): number {
  s.state = State.Waiting;
  s.wait = wait;
  return ++s.epoch;
}

export function mustCheckReplay(s: HandoffSession): boolean {
  if (!s.readLink) return false;
  const target = readTarget(s);
  return target !== null && (target === UNKNOWN || !s.ctx.replay.knownReplayed(s.backend!.name, target));
}

/** A read_your_writes read while a DDL's position is being learned: nothing to wait for is
 *  known yet, and the read goes to the primary (see ReplayTracker.fenceUnknown). */
const UNKNOWN = -1n;

/** The WAL position a standby must have replayed to serve this client's read: its own last
 *  write's, and for read_your_writes the last DDL of any client's (see ReplayTracker.schemaFence). */
function readTarget(s: HandoffSession): bigint | null {
  const own = s.lastWriteLsn;
  if (s.consistency !== 'read_your_writes') return own;
  const replay = s.ctx.replay;
  if (replay.fenceUnknown()) return UNKNOWN;
  const fence = replay.schemaFence;
  if (fence === null) return own;
  return own === null || own < fence ? fence : own;
}

/**
 * The standby must have replayed this client's last write (and any client's last DDL, see
 * readTarget) before the read runs there; if it does not within read_your_writes_timeout, the
 * read goes to the primary instead.
 */
export function checkReplay(s: HandoffSession, server: LinkedServer): void {
  const pool = s.pool!;
  const target = readTarget(s)!;
  if (target === UNKNOWN) {
    pool.release(server);
    return readFromPrimary(s);
  }
  const epoch = waitFor(s, Wait.SetUp);
  const deadline = Date.now() + s.ctx.config.read_your_writes_timeout * 1000;
  s.ctx.replay.waitForReplay(server, s.backend!.name, target, deadline).then(
    (caughtUp) => {
      if (s.epoch !== epoch) return pool.release(server);
      // Lost while the standby was checked: the read has not reached it.
      if (server.isClosed) return acquire(s);
      if (caughtUp) return startOn(s, server);
      pool.release(server);
      readFromPrimary(s);
    },
    () => {
      server.close('replay position check failed');
      if (s.epoch === epoch) readFromPrimary(s);
    },
  );
}

/**
 * A write was queued behind a read still waiting for its standby's server (a batch the client
 * sends in pieces, no Sync between: psycopg's pipeline, while a replay check or set-up ran): none
 * of it has gone there, so the whole batch goes to the primary. Sent to the standby, its write was
 * refused (25006) after the read's answers had reached the client, too late to run it again.
 */
function writeJoinedRead(s: HandoffSession): boolean {
  return s.readLink && s.routeWrite;
}

function readFromPrimary(s: HandoffSession): void {
  const primary = s.ctx.router.writeBackend();
  s.readLink = false;
  // Routed afresh while it waits (no primary known: a crash, a failover), the read stays off the
  // lagging standby: back there it was checked again and again, its wait restarted each time,
  // and query_wait_timeout never ended it.
  s.retrying = true;
  // As route() marks a transaction on the primary: a write that joined the read (see
  // writeJoinedRead) must leave its position for the client's next reads (a helper: 43 of 500
  // reads after a psycopg pipeline of a read and a write missed the row just written).
  s.wroteInLink = true;
  s.backend = primary;
  s.pool = primary ? poolOf(s, primary) : null;
  s.state = State.Ready;
  acquire(s);
}

/**
 * The transaction may have changed session settings: read what the server has now (so
 * rollbacks, SET LOCAL and errors count as PostgreSQL counts them), restore startup values a
 * RESET dropped, and tell the client of those, before the server serves anyone else.
 */
function learnSettings(s: HandoffSession): void {
  const server = s.server!;
  const settings = s.settings!;
  // The pin probe goes in the read-back's query, one round trip, unless something runs between
  // them; so does the write position the release reads next (see releaseServer), which would
  // keep the server busy while the client's next transaction looks for one.
  const probe = (s.pinned || s.probeAfter) && !s.pinnedForGood && !mayTakeOver(s) && s.keptUnnamedParse === null;
  const position = !s.pinnedForGood && learnsWritePosition(s, false);
  const wasPinned = s.pinned;
  if (probe) s.probeAfter = false;
  s.settingsDirty = false;
  s.server = null;
  server.unlink();
  const epoch = waitFor(s, Wait.OwnQuery);
  s.waitingSince = eventNow();
  readBackSettings(s, server, settings, probe, position).then(
    ({ holdsState, lsn }) => {
      if (s.epoch !== epoch) return leftDuringCheck(s, server, holdsState);
      // The server's FATAL came with the answer and was passed on: nothing may follow it.
      if (server.toldClientOfEnd) return s.close();
      if (holdsState !== null) return afterProbe(s, server, holdsState, wasPinned, lsn);
      s.link(server);
      if (s.pinnedForGood) return continueOn(s, server);
      if (s.pinned || s.probeAfter) return checkPin(s);
      releaseServer(s, false, lsn);
      resumeAfterCheck(s);
    },
    (err: Error & { code?: string }) => {
      if (err instanceof ServerQueryError && !server.isClosed)
        return keepServerForGood(s, server, 'read its session settings', err, epoch);
      if (!server.isClosed) server.close(`could not read session settings: ${err.message}`);
      lostDuringOwnQuery(s, server, 'server connection lost while reading session settings');
    },
  );
}

/** What the read-back found besides the settings: whether the session holds state that pins
 *  (null: not probed), and the primary's write position (undefined: not read). */
interface ReadBack {
  holdsState: boolean | null;
  lsn: bigint | undefined;
}

/** Reads the session's settings back; with `probe`, also whether it holds state that pins;
 *  with `position`, also the write position, each a row of one column after the settings'. */
async function readBackSettings(
  s: HandoffSession,
  server: LinkedServer,
  settings: SessionSettings,
  probe: boolean,
  position: boolean,
): Promise<ReadBack> {
  const changes = settings.takeChanges();
  try {
    return await readBack(s, server, settings, changes, probe, position);
  } catch (err) {
    // A role the client set may not read every setting the digest names (42501 for
    // dynamic_library_path after SET ROLE to a role without pg_read_all_settings), nor one it
    // was granted SET on, where pg_settings leaves those out: the settings are read there
    // (and on this server from now on, for the digest).
    const digested = changes.named === null && server.settableNames !== '' && server.settableNames !== UNREADABLE;
    const readable = digested || changes.named !== null;
    if (!(err instanceof ServerQueryError) || err.code !== SQLSTATE.INSUFFICIENT_PRIVILEGE || !readable) throw err;
    if (digested) server.settableNames = UNREADABLE;
    if (server.txStatus !== TransactionStatus.Idle) await server.query('ROLLBACK', s);
    return readBack(s, server, settings, { ...changes, named: null }, probe, position);
  }
}

/** settableNames of a server where the digest was refused. */
const UNREADABLE = '-';

async function readBack(
  s: HandoffSession,
  server: LinkedServer,
  settings: SessionSettings,
  { unknown, seen, named, toStartup }: SettingChanges,
  probe: boolean,
  position: boolean,
): Promise<ReadBack> {
  if (named !== null) return readBackNamed(s, server, settings, named, probe, position);
  const customs = settings.customNameList;
  const printedFor = `${settings.key}\0${customs}`;
  // Only code pgtide cannot see into ran, on a server holding the settings a read-back here
  // once found (the client's since, or another's with the same, given after a reset): the
  // digest of every setting's value that read-back found tells nothing changed, without pg_settings.
  const digests = server.settableNames !== UNREADABLE;
  const printed = unknown && !seen && digests && server.settingsPrint !== '' && server.printedFor === printedFor;
  const steps: CheckStep[] = [BEGIN];
  // After a reset of the whole session nothing is set for it (see followQuery): a driver's
  // reset of its pooled connection (Npgsql's at every reuse) read pg_settings, about a
  // millisecond of the server's CPU, each time. Its custom settings are read by name: a
  // placeholder reads '', one a library defines (plpgsql.*) its default.
  if (printed) steps.push([Check.Print, server.settableNames, customs]);
  else if (!toStartup) steps.push([settingsCheck(server), customs]);
  else if (customs !== NO_NAMES) steps.push([Check.Named, customs]);
  // After such code, the digest to compare the next read-backs with (once the names are known).
  const print = unknown && !printed && digests;
  if (print) steps.push(server.settableNames === '' ? SETTABLE : [Check.Print, server.settableNames, customs]);
  if (unknown) steps.push(KEPT);
  if (probe) steps.push(PROBE);
  if (position) steps.push(POSITION);
  steps.push(COMMIT);
  // Before: a check the client's code dropped makes the request run again, pgtide's statements doubted.
  const shared = server.prepared.size;
  // BEGIN and COMMIT alone (a reset, no custom names, nothing else asked): no round trip.
  let rows: Rows = steps.length > 2 ? await runChecks(server, steps, s) : [];
  const lsn = position ? parseLsn(rows.pop()?.[0] ?? '') : undefined;
  const holdsState = probe ? rows.pop()?.[0] === 't' : null;
  if (unknown) countKept(server, shared, rows.pop()?.[0]);
  let digest = '';
  if (print && server.settableNames === '') server.settableNames = rows.pop()?.[0] ?? '';
  else if (print || printed) digest = rows.pop()?.[0] ?? '';
  if (printed) {
    if (digest === server.settingsPrint) {
      server.forgetSettings(UNKNOWN_SETTINGS, s, settings.key);
      s.leftUnknown = true;
      return { holdsState, lsn };
    }
    rows = await runChecks(
      server,
      [BEGIN, [settingsCheck(server), customs], [Check.Print, server.settableNames, customs], COMMIT],
      s,
    );
    digest = rows.pop()?.[0] ?? '';
  }
  const { found, restored } = settings.learn(rows);
  // Set where pgtide could not see it (a function's set_config), a default that routes counts as a SET's.
  s.serializableSession = isSerializable(settings.values.get('default_transaction_isolation') ?? null);
  s.readOnlySession = isOn(settings.values.get('default_transaction_read_only') ?? null);
  server.settings = found;
  server.settingsKey = '';
  if (restored.length > 0) {
    await server.query(diffSql(found, settings.values)!, s, true);
    if (!s.isClosed) reportSettings(s, server, restored);
    // Its client goes on here (see learnSettings), where that query replaced its unnamed statement.
    if (s.pinnedForGood) await restoreUnnamed(s, server, s);
  }
  server.settings = settings.values;
  server.settingsKey = settings.key;
  // Something unnamed was set, now or by this client's code before: this server is reset before
  // another client uses it.
  if (unknown || server.unknownOwner === s) {
    server.forgetSettings(UNKNOWN_SETTINGS, s, settings.key);
    s.leftUnknown = true;
    // The digest is of what the read found, not of what a restore made since.
    if (restored.length === 0 && digest !== '') {
      server.settingsPrint = digest;
      server.printedFor = `${settings.key}\0${customs}`;
    }
  }
  return { holdsState, lsn };
}

/**
 * Code pgtide cannot see into may have dropped statements (`EXECUTE 'DEALLOCATE ALL'` in a
 * function): fewer shared ones on the server than pgtide is sure it prepared there tells so.
 * They are prepared there again before their next use, the caller's too: its names stay (it
 * may have prepared some after the drop, in the same transaction, which PostgreSQL keeps).
 * Counted, not found by a failed Bind of one of pgtide's checks: a check not yet prepared on
 * that server is prepared afresh, which hid the drop from the next client's transaction
 * (26000 for pgtide's name).
 */
function countKept(server: LinkedServer, shared: number, count: string | null | undefined): void {
  if (Number(count) < shared) server.prepared.doubtAll();
}

/** After plain SETs alone: their settings' values, read by name (see plainSetName). */
async function readBackNamed(
  s: HandoffSession,
  server: LinkedServer,
  settings: SessionSettings,
  named: string,
  probe: boolean,
  position: boolean,
): Promise<ReadBack> {
  const steps: CheckStep[] = [BEGIN, [Check.Named, named]];
  if (probe) steps.push(PROBE);
  if (position) steps.push(POSITION);
  steps.push(COMMIT);
  const rows = await runChecks(server, steps, s);
  const lsn = position ? parseLsn(rows.pop()?.[0] ?? '') : undefined;
  const holdsState = probe ? rows.pop()?.[0] === 't' : null;
  settings.learnNamed(rows);
  s.serializableSession = isSerializable(settings.values.get('default_transaction_isolation') ?? null);
  s.readOnlySession = isOn(settings.values.get('default_transaction_read_only') ?? null);
  server.settings = settings.values;
  server.settingsKey = settings.key;
  // Code of this client's left what pgtide cannot list here before: still its own alone.
  if (server.unknownOwner === s) {
    server.forgetSettings(UNKNOWN_SETTINGS, s, settings.key);
    s.leftUnknown = true;
  }
  return { holdsState, lsn };
}

/** SessionSettings.customNameList when the session used none. */
const NO_NAMES = '{}';
const BEGIN: CheckStep = [Check.Begin];
const COMMIT: CheckStep = [Check.Commit];
const PROBE: CheckStep = [Check.Probe];
const POSITION: CheckStep = [Check.Position];
const SETTABLE: CheckStep = [Check.SettableNames];
const KEPT: CheckStep = [Check.Kept];

async function restoredAfter(s: HandoffSession, server: LinkedServer, rows: Rows): Promise<Rows> {
  if (rows[0]?.[0] === 't') await restoreUnnamed(s, server, s);
  return rows;
}

/** After each transaction of a pinned client, or one that ran code pgtide cannot see into:
 *  does its session hold state that pins? */
function checkPin(s: HandoffSession): void {
  const server = s.server!;
  const wasPinned = s.pinned;
  s.probeAfter = false;
  // Not linked while the probe runs: the client's next bytes wait in the queue.
  s.server = null;
  server.unlink();
  const epoch = waitFor(s, Wait.OwnQuery);
  s.waitingSince = eventNow();
  const takeOver = mayTakeOver(s);
  const probe = takeOver
    ? takeOverStatements(s, server).then(() => runChecks(server, PROBE_ALONE, s))
    : runChecks(server, PROBE_ALONE, s);
  // A client that stays pinned binds next where the take-over's queries replaced its unnamed statement.
  const probed = takeOver && s.keptUnnamedParse !== null ? probe.then((rows) => restoredAfter(s, server, rows)) : probe;
  probed.then(
    (rows) => {
      if (s.epoch !== epoch) return leftDuringCheck(s, server, rows[0]?.[0] === 't');
      if (server.toldClientOfEnd) return s.close();
      afterProbe(s, server, rows[0]?.[0] === 't', wasPinned, undefined);
    },
    (err: Error & { code?: string }) => {
      if (err instanceof ServerQueryError && !server.isClosed)
        return keepServerForGood(s, server, 'check its session state', err, epoch);
      // The server is gone or broken; its close already told the pool.
      lostDuringOwnQuery(s, server, 'server connection lost while checking session state');
    },
  );
}

/** The probe told whether the session holds state that pins: the client keeps its server, or
 *  the server goes back (`lsn`: its write position, when read with the probe). */
function afterProbe(
  s: HandoffSession,
  server: LinkedServer,
  holdsState: boolean,
  wasPinned: boolean,
  lsn: bigint | undefined,
): void {
  if (holdsState) return stayPinned(s, server);
  if (!s.scanner.atBoundary) {
    // A half-received message cannot be routed afresh: keep this server one more round.
    s.link(server);
    return continueOn(s, server);
  }
  if (wasPinned) s.ctx.log.info({ client: s.remote }, 'client unpinned: its session state is gone');
  s.pinned = false;
  // None of its unmapped statements is left (the probe counts them): its next ones are mapped,
  // not left unpinned under its own names on servers other clients get next.
  if (s.statementsUntracked) s.statementsUntracked = false;
  // Released as after any transaction (read_your_writes learns the write position).
  s.link(server);
  releaseServer(s, false, lsn);
  resumeAfterCheck(s);
}

/**
 * pgtide's own query between transactions failed on a server that is still there (the
 * client's own statement_timeout or lock_timeout cancelled it): what the session holds is
 * unknown, but this server holds it, so the client keeps the server until it leaves.
 */
function keepServerForGood(s: HandoffSession, server: LinkedServer, what: string, err: Error, epoch: number): void {
  s.ctx.log.warn(
    { client: s.remote, err: err.message },
    `could not ${what}: the client keeps its server connection until it leaves`,
  );
  const keep = () => {
    if (s.epoch !== epoch) return server.close('pinned client left');
    if (server.toldClientOfEnd) return s.close();
    s.pinnedForGood = true;
    stayPinned(s, server);
  };
  // A failed read-back leaves its own transaction aborted.
  if (server.txStatus === TransactionStatus.Idle) return keep();
  server.query('ROLLBACK', s).then(keep, () => {
    lostDuringOwnQuery(s, server, `server connection lost after failing to ${what}`);
  });
}

/** Links the client to its server afresh, as after a probe (its next transaction may run again
 *  unseen: a stale statement prepared again), without one. */
function relink(s: HandoffSession, server: LinkedServer): void {
  s.server = null;
  server.unlink();
  s.link(server);
  continueOn(s, server);
}

/** The session holds state that pins: the client goes on with the server it has. */
function stayPinned(s: HandoffSession, server: LinkedServer): void {
  if (!s.pinned) pin(s);
  s.link(server);
  continueOn(s, server);
}

/**
 * A pinned client's next transaction, on its server (linked afresh): bytes to run again (a
 * stale or missing statement) go first, then what arrived meanwhile. Nothing is queued while
 * bytes wait to run again (see onQueryData), so no half-received message is scanned twice.
 */
function continueOn(s: HandoffSession, server: LinkedServer): void {
  if (s.resend?.bytes) {
    if (s.server !== server) s.link(server);
    return retryOnPrimary(s);
  }
  flushQueued(s, server);
  if (s.deferred.length > 0) replayDeferred(s);
}

/**
 * The client left while pgtide's own query ran on its server (no longer linked, so close()
 * could not reset it). Pinned, it leaves its state behind: the server goes, PostgreSQL cleans
 * up. So it does when the probe that query ran found state (a lock its code took), or when a
 * probe was still due (see probeAfter). Else what the server holds is what pgtide knows
 * (settings it cannot list are marked unknown, see noteOpaqueCode; statements a DEALLOCATE it
 * did not map may have dropped, gone), so it is reset or prepared again as needed before its
 * next client.
 */
function leftDuringCheck(s: HandoffSession, server: LinkedServer, holdsState: boolean | null): void {
  if (s.pinned || s.pinnedForGood) return server.close('pinned client left');
  if (holdsState === true || s.probeAfter) return server.close('client left with session state its code may have made');
  if (s.droppedStatements) server.prepared.doubtAll();
  server.returnWhenCancelsDone();
}

/**
 * The server went back after pgtide's own queries between transactions. What arrived
 * meanwhile follows what was held back before it, and a statement to run again (a refusal,
 * a stale plan, a write a standby refused) goes first.
 */
function resumeAfterCheck(s: HandoffSession): void {
  for (const chunk of takeQueued(s)) s.deferred = appended(s.deferred, chunk);
  if (s.resend?.bytes) return retryOnPrimary(s);
  if (s.deferred.length > 0) replayDeferred(s);
  // A cancel for the bytes that waited (see cancelRunningQuery) follows them to the server
  // they went to; kept, it would cancel a later query instead.
  if (!s.cancelWanted || s.queued.length > 0) return;
  const server = s.server;
  if (server === null || server.syncs.idle) return dropHeldCancel(s);
  sendHeldCancel(s, server);
}

/** Whether the release of the client's server reads the primary's write position (see releaseServer). */
function learnsWritePosition(s: HandoffSession, sharedDdl: boolean): boolean {
  return ownWrite(s) && (sharedDdl || s.ctx.router.standbyReadable());
}

/** The transaction on the primary may have written rows the client's next reads must see: not
 *  one that only read there, or took, dropped or read session state there (Npgsql's reset of a
 *  pooled connection: UNLISTEN *, pg_advisory_unlock_all(); a job queue's advisory unlock).
 *  Nor a read, but for one sent there because the client's last position is not known: it
 *  learns one, after which its reads go to the standbys again. */
function ownWrite(s: HandoffSession): boolean {
  return s.wroteInLink && (s.writesRows || s.consistencyFallback) && s.consistency === 'read_your_writes';
}

/** Costs one round trip after each write transaction, for read_your_writes clients only, while a
 *  standby serves reads (none when the settings read-back read the position: `known`). */
function learnWritePosition(
  s: HandoffSession,
  server: LinkedServer,
  stale: readonly Statement[] | null,
  reset: string,
  sharedDdl: boolean,
  known: bigint | undefined,
): void {
  const asked = ++s.writeLsnAsked;
  s.writeLsnPending = true;
  // Set before the client, which has its answer, can tell another client to read.
  if (sharedDdl) s.ctx.replay.beginSchemaFence();
  const learned = (lsn: bigint) => {
    if (stale !== null) replayedAt(stale, lsn);
    if (sharedDdl) s.ctx.replay.fenceSchema(lsn);
    if (reset) server.resetThenReturn(reset);
    else server.returnWhenCancelsDone();
    knowWritePosition(s, asked, lsn);
  };
  // Read already: the server is back before the client's next transaction looks for one.
  if (known !== undefined) return learned(known);
  s.ctx.replay.writePosition(server).then(learned, () => {
    server.close('could not read the WAL position');
    if (sharedDdl) s.ctx.replay.fenceSchema(null);
    // Unknown position: reads go to the primary until the next write tells us one.
    knowWritePosition(s, asked, null);
  });
}

/**
 * The answer to the `asked`th write position. The client may write again, on another server,
 * while one is asked (asyncpg's copy_to_table right after copy_records_to_table): then only the
 * last write's position counts, whichever answer comes first. An earlier one must neither let
 * the client's reads go before the last is known nor replace it.
 */
function knowWritePosition(s: HandoffSession, asked: number, lsn: bigint | null): void {
  if (asked !== s.writeLsnAsked) return;
  s.lastWriteLsn = lsn;
  s.consistencyFallback = lsn === null;
  s.writeLsnPending = false;
  s.retryRoute();
}

/** The server went while pgtide's own query ran on it: the client hears of it once, from the
 *  server itself when its FATAL was passed on (see onServerAsync). */
function lostDuringOwnQuery(s: HandoffSession, server: LinkedServer, message: string): void {
  if (s.isClosed) return;
  if (server.toldClientOfEnd) return s.close();
  s.fatal(SQLSTATE.CONNECTION_FAILURE, message);
}

/**
 * Every sync point sent on the link is answered (a ReadyForQuery with `status`). A transaction
 * that ended hands its server back, after pgtide's own queries where the session needs them;
 * bytes to run again or held back go next.
 */
export function transactionAnswered(s: HandoffSession, status: number): void {
  s.lastActive = eventNow();
  s.timeoutCancelSent = false;
  // A refusal to run again on the primary answers nothing yet: its query goes on there.
  if (!s.resend?.bytes) countAnswered(s, status);
  if (s.mode === 'session') {
    // It keeps its server: the position of its DDL is read on another one.
    if (status === TransactionStatus.Idle && tookSharedDdl(s)) fenceFromPool(s.pool, s.ctx.replay, true);
    return;
  }
  if (status !== TransactionStatus.Idle && s.mode === 'statement') {
    return s.fatal(
      SQLSTATE.FEATURE_NOT_SUPPORTED,
      'transaction blocks are not allowed in statement pooling mode',
      undefined,
      'Use pool_mode = transaction for this database or user.',
    );
  }
  if (status === TransactionStatus.Idle) {
    const stateMayEnd = s.stateMayEnd;
    if (stateMayEnd) s.stateMayEnd = false;
    // Committed (or rolled back: statements then get a needless new name, never a wrong one,
    // and reads wait for a position they need not).
    transactionEnded(s);
    const sharedDdl = tookSharedDdl(s);
    // A client that keeps its server a while yet: its position is read elsewhere.
    if (sharedDdl && ((s.settingsDirty && s.settings) || s.pinnedForGood || s.pinned || s.probeAfter))
      fenceFromPool(s.pool, s.ctx.replay);
    if (s.settingsDirty && s.settings) return learnSettings(s);
    if (s.pinnedForGood) return relink(s, s.server!);
    // Nothing in the transaction could end (or make) its state: the probe would find it still there.
    // Unmapped statements (Parses and Closes, see untracked.ts) count, whatever ran.
    if (s.pinned && !s.probeAfter && !stateMayEnd && !s.statementsUntracked) return relink(s, s.server!);
    if (s.pinned || s.probeAfter) return checkPin(s);
    releaseServer(s, sharedDdl);
    // A write that came on a read's server waits, scanned (see leaveRead): routed by itself now.
    if (s.queued.length > 0) routeQueued(s);
  }
  if (s.resend?.bytes) return retryOnPrimary(s);
  if (s.deferred.length > 0) replayDeferred(s);
}

function routeQueued(s: HandoffSession): void {
  waitFor(s, Wait.Pool);
  s.waitingSince = eventNow();
  s.pool = null;
  s.retryRoute();
}

/** The transaction is over: its server goes back to the pool (reset first, or once its write
 *  position is learned, which fences every client's reads when it ran DDL) and the client is
 *  ready for its next one. */
function releaseServer(s: HandoffSession, sharedDdl = false, lsn?: bigint): void {
  const server = s.server!;
  s.server = null;
  s.state = State.Ready;
  s.serverPaused = false;
  s.readLink = false;
  s.retrying = false;
  s.sentOnLink = NO_CHUNKS;
  if (s.resend !== null) s.resend.heldRefusal = null;
  server.unlink();
  // The server's unnamed statement may be another client's by the client's next transaction.
  if (s.unnamedMine) s.unnamedMine = false;
  // Its settings are known again (read back, if it set any for its session).
  if (s.scopeMoved) s.scopeMoved = false;
  // Another client's statement there is prepared again before its use, not found missing
  // inside its transaction block (26000, pgtide's name).
  if (s.droppedStatements) {
    s.droppedStatements = false;
    server.prepared.doubtAll();
  }
  // A write that ran may have called nextval there; a Parse alone (a driver preparing an INSERT)
  // did not, and must not make another client's values there look like this client's. Nor did
  // a read sent to the primary only by the client's consistency (primary_only, a write position
  // not known), nor BEGIN and ROLLBACK around reads (DBD::Pg's last_insert_id() then found its
  // values gone): writesRows says whether the transaction's statements may write.
  if (s.ranInLink) {
    if (s.wroteInLink && s.writesRows) ownSequences(s, server);
    // A write on a read's link to the primary (pipelined after the read) may have called nextval too.
    else if (s.writesRows) server.sequenceOwner = SEQUENCES_OF_SOMEONE;
    s.ranInLink = false;
  }
  const reset = s.ctx.config.server_reset_query_always ? s.ctx.config.server_reset_query : '';
  const stale = takeReplayToLearn(s);
  // A write's position is read before any reset: the client's next reads wait for it. While no
  // standby serves reads there is nothing to wait for, and no round trip: should one serve
  // reads later, the client's next transaction runs on the primary, its position read then.
  // DDL's position is read all the same, here as on another connection: every client's reads
  // wait for it once a standby serves them (see schema-fence.ts).
  const learns = learnsWritePosition(s, sharedDdl);
  if (ownWrite(s) && !learns) knowWritePosition(s, ++s.writeLsnAsked, null);
  // Asked of the pool before this server goes back to it: another idle one, else the next lent.
  if (sharedDdl && !learns) fenceFromPool(s.pool, s.ctx.replay);
  if (learns) learnWritePosition(s, server, stale, reset, sharedDdl, lsn);
  // Otherwise a reset server is not asked: those statements stay on the primary a while longer.
  else if (reset) server.resetThenReturn(reset);
  else if (stale !== null) learnReplay(server, stale);
  else server.returnWhenCancelsDone();
  s.resumeClient();
}
