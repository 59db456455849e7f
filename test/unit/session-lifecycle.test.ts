// The parts of a client session around its forward path: its socket's handlers (session/socket.ts),
// its close (close.ts), a client that ends its input (client-end.ts), when a chunk is deferred (queue.ts), a chunk's fresh scan state
// (classify.ts), the first bytes of a transaction (route.ts), a client's pools (state.ts) and
// the wait for a server (handoff.ts): against fakes of the part each uses, or scripted fake servers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as encode from '../../src/protocol/encode.js';
import { decodeErrorFields } from '../../src/protocol/backend.js';
import { serialize } from 'pg-protocol';
import type { BackendConfig } from '../../src/config/types.js';
import { SyncPoints } from '../../src/pool/sync-points.js';
import { UNKNOWN_SETTINGS } from '../../src/pool/server-settings.js';
import { bindSocket, unbindSocket, type SocketSession } from '../../src/proxy/session/socket.js';
import { closeSession, closeSocket, type CloseSession } from '../../src/proxy/session/close.js';
import { clientEnded, leaveIfAnswered, type EndSession } from '../../src/proxy/session/client-end.js';
import { mustDefer } from '../../src/proxy/session/queue.js';
import { Expect, ResponseTracker } from '../../src/proxy/response-tracker.js';
import { BackendMessage } from '../../src/protocol/types.js';
import { beginChunk, isIdleFlush, type ClassifySession } from '../../src/proxy/session/classify.js';
import { CopyIn, poolOf, State, Wait, type PoolsSession } from '../../src/proxy/session/state.js';
import {
  FakeClientSocket,
  FakeServer,
  fakeLinkedSession,
  harness,
  loggedIn,
  loggedInWithServer,
  loggedInWithServers,
  settle,
} from './session-harness.js';

describe('the client socket', () => {
  function socketSession(dispatch: (chunk: Buffer) => void) {
    const calls: string[] = [];
    const server = { resumed: 0, resumeReading: () => server.resumed++ };
    const s = {
      socket: null,
      remote: 'test-client',
      ctx: { log: { error: () => calls.push('logged'), debug: () => calls.push('debug') } },
      server,
      serverPaused: false,
      dispatch,
      fatal: (code: string) => calls.push(`fatal ${code}`),
      close: () => calls.push('close'),
    };
    return { s: s as unknown as SocketSession & { serverPaused: boolean }, calls, server };
  }

  it("hands the client's bytes to its session, and a bug they reach costs that client only (XX000)", () => {
    const seen: string[] = [];
    const { s } = socketSession((chunk) => seen.push(String(chunk)));
    const socket = new EventEmitter();
    bindSocket(s, socket as never);
    assert.equal(s.socket, socket);
    socket.emit('data', Buffer.from('hello'));
    assert.deepEqual(seen, ['hello']);
    const failing = socketSession(() => {
      throw new Error('boom');
    });
    const other = new EventEmitter();
    bindSocket(failing.s, other as never);
    other.emit('data', Buffer.from('x'));
    assert.deepEqual(failing.calls, ['logged', 'fatal XX000']);
  });

  it('closes the session with its socket, resumes a server paused for the client on drain, and lets go on unbind', () => {
    const { s, calls, server } = socketSession(() => {});
    const socket = new EventEmitter();
    bindSocket(s, socket as never);
    socket.emit('drain');
    assert.equal(server.resumed, 0, 'a server not paused is left alone');
    s.serverPaused = true;
    socket.emit('drain');
    assert.equal(server.resumed, 1);
    assert.equal(s.serverPaused, false);
    socket.emit('error', new Error('reset'));
    socket.emit('close');
    assert.deepEqual(calls, ['debug', 'close']);
    unbindSocket(socket as never);
    assert.equal(socket.listenerCount('data') + socket.listenerCount('close') + socket.listenerCount('drain'), 0);
  });
});

describe('closing a session', () => {
  function closing(fields: Partial<Record<keyof CloseSession, unknown>> = {}, config: object = {}) {
    const orphaned: { closeReason: string | null; reset: string | null }[] = [];
    const server = {
      settings: new Map() as ReadonlyMap<string, string>,
      doubted: false,
      forgetSettings: (settings: ReadonlyMap<string, string>) => (server.settings = settings),
      prepared: { doubtAll: () => (server.doubted = true) },
      orphan: (closeReason: string | null, reset: string | null) => orphaned.push({ closeReason, reset }),
    };
    const revoked: number[] = [];
    const cancelled: unknown[] = [];
    const linked = fakeLinkedSession(
      server,
      { cancelKeys: { revoke: (pid: number) => revoked.push(pid) }, sendCancel: () => {} },
      config,
    );
    const socket = linked.socket;
    const s = {
      ...linked,
      cancelPid: 7,
      pool: { cancelWait: (w: unknown) => cancelled.push(w) },
      serverCut: false,
      settingsDirty: false,
      pinned: false,
      queued: [Buffer.from('x')],
      remote: 'c',
      user: 'u',
      database: 'd',
      ...fields,
    };
    return { s: s as unknown as CloseSession, server, orphaned, revoked, cancelled, socket };
  }

  it('a clean client in transaction pooling gives its server back with no reset, revokes its key, ends its socket', () => {
    const { s, orphaned, revoked, socket } = closing();
    closeSession(s);
    assert.equal(s.state, State.Closed);
    assert.equal(s.epoch, 1, 'the hand-off under way is abandoned');
    assert.equal(s.server, null);
    assert.deepEqual(orphaned, [{ closeReason: null, reset: null }]);
    assert.deepEqual(revoked, [7]);
    assert.equal(s.queued.length, 0);
    assert.equal(socket.writable, false);
    closeSession(s);
    assert.equal(orphaned.length, 1, 'a second close does nothing');
  });

  it('changed settings or a pin make the server run DISCARD ALL, its settings unknown', () => {
    const dirty = closing({ settingsDirty: true });
    closeSession(dirty.s);
    assert.equal(dirty.orphaned[0]?.reset, 'DISCARD ALL');
    assert.equal(dirty.server.settings, UNKNOWN_SETTINGS);
    const pinned = closing({ pinned: true }, { server_reset_query: 'RESET ALL' });
    closeSession(pinned.s);
    assert.equal(pinned.orphaned[0]?.reset, 'DISCARD ALL', 'whatever the configured reset');
  });

  it('a client pinned for good (setseed) has its server let go of, then closed: no reset ends that state', () => {
    const seeded = closing({ pinnedForGood: true });
    closeSession(seeded.s);
    assert.equal(seeded.orphaned[0]?.closeReason, 'pinned client left');
  });

  it('session pooling, or server_reset_query_always, runs server_reset_query', () => {
    const session = closing({ mode: 'session' }, { server_reset_query: 'RESET ALL' });
    closeSession(session.s);
    assert.equal(session.orphaned[0]?.reset, 'RESET ALL');
    assert.equal(session.server.settings, UNKNOWN_SETTINGS);
    const always = closing({}, { server_reset_query: 'RESET ALL', server_reset_query_always: true });
    closeSession(always.s);
    assert.equal(always.orphaned[0]?.reset, 'RESET ALL');
  });

  it('a client mid-message leaves its server mid-message; unanswered Parses leave its statements in doubt', () => {
    const { s, server, orphaned } = closing({
      scanner: { atBoundary: false, reset: () => {} },
      tracking: true,
      statementLink: { tracker: { idle: false } },
    });
    closeSession(s);
    assert.equal(orphaned[0]?.closeReason, 'client left in the middle of a message');
    assert.equal(server.doubted, true);
  });

  it('a waiting client leaves its pool queue', () => {
    const { s, cancelled } = closing({ state: State.Waiting, server: null });
    closeSession(s);
    assert.deepEqual(cancelled, [s]);
  });

  it('after Terminate the socket is closed at once, or ended politely while answers are still unsent', () => {
    const done = closing();
    closeSession(done.s, true);
    assert.deepEqual([done.socket.destroyed, done.socket.writable], [true, true], 'closed, not half-closed');
    const pending = closing();
    pending.socket.writableLength = 20;
    closeSession(pending.s, true);
    assert.deepEqual(
      [pending.socket.destroyed, pending.socket.writable],
      [false, false],
      'ended: what is queued still goes out',
    );
  });

  it('closeSocket ends a writable socket, destroys one that is not, and leaves a destroyed one', () => {
    const open = new FakeClientSocket();
    closeSocket(open as never);
    assert.deepEqual([open.writable, open.destroyed], [false, false]);
    const halfClosed = new FakeClientSocket();
    halfClosed.writable = false;
    closeSocket(halfClosed as never);
    assert.equal(halfClosed.destroyed, true);
  });
});

const BIND_COMPLETE = Buffer.from([0x32, 0, 0, 0, 4]);

describe('a client that ends its input', () => {
  /** A session of `fields` whose server owes `pending` sync points; the FIN (or Terminate) comes. */
  function ended(fields: Partial<Record<keyof EndSession, unknown>>, pending = 0, terminated = false) {
    const syncs = new SyncPoints();
    syncs.sent(pending, false);
    const server = { syncs, settings: new Map(), orphan: () => {}, forgetSettings: () => {} };
    const linked = fakeLinkedSession(server, { pools: { countError: () => {} } });
    const socket = linked.socket;
    const s = {
      ...linked,
      cancelPid: 0,
      pool: null,
      queued: [],
      clientEnd: 'open',
      consoleAnswer: null,
      copyIn: CopyIn.None,
      deferred: [],
      queuedSyncs: 0,
      resend: null,
      extendedAtFlush: -1,
      extendedSinceSyncPoint: 0,
      ...fields,
    } as unknown as EndSession;
    clientEnded(s, terminated);
    return { s, syncs, socket };
  }
  const closed = (s: EndSession) => s.state === State.Closed;

  it('stays until the server has answered every sync point it was sent, then leaves', () => {
    const { s, syncs } = ended({}, 2);
    assert.equal(closed(s), false);
    assert.equal(s.clientEnd, 'ended');
    syncs.answered();
    leaveIfAnswered(s);
    assert.equal(closed(s), false, 'one answer still owed');
    syncs.answered();
    leaveIfAnswered(s);
    assert.equal(closed(s), true);
  });

  it('stays for sync points queued for a server, bytes held back or to run again, and a login under way', () => {
    assert.equal(closed(ended({ state: State.Waiting, server: null, queuedSyncs: 1 }).s), false);
    assert.equal(closed(ended({ deferred: [Buffer.from('Q')] }).s), false);
    assert.equal(closed(ended({ resend: { bytes: [] } }).s), false);
    assert.equal(closed(ended({ state: State.Login, server: null }).s), false);
    assert.equal(closed(ended({ state: State.Lookup, server: null }).s), false);
    assert.equal(closed(ended({ state: State.Admin, server: null, consoleAnswer: Promise.resolve() }).s), false);
  });

  it('leaves at once when nothing is owed: idle, in a COPY IN, or before its login is whole', () => {
    assert.equal(closed(ended({}).s), true);
    assert.equal(closed(ended({ state: State.Ready, server: null }).s), true);
    assert.equal(closed(ended({ copyIn: CopyIn.Running }, 1).s), true, 'the COPY waits for data that will not come');
    assert.equal(closed(ended({ extendedAtFlush: -1, extendedSinceSyncPoint: 3 }).s), true, 'nothing was flushed');
    assert.equal(closed(ended({ state: State.Waiting, server: null, queued: [Buffer.from('P')] }).s), true);
    for (const state of [State.Startup, State.Tls, State.Auth])
      assert.equal(closed(ended({ state, server: null }).s), true);
    assert.equal(closed(ended({ state: State.Admin, server: null }).s), true);
  });

  it('in a COPY IN, is told what PostgreSQL tells (08006, or 08P01 after a Terminate, then a FATAL 08P01) before it leaves', () => {
    const { s, socket } = ended({ copyIn: CopyIn.Running }, 1);
    assert.equal(closed(s), true);
    assert.deepEqual(
      socket.written.map((m) => decodeErrorFields(m.subarray(5))).map((e) => [e.severity, e.code]),
      [
        ['ERROR', '08006'],
        ['FATAL', '08P01'],
      ],
    );
    const terminated = ended({ copyIn: CopyIn.Running }, 1, true);
    assert.deepEqual(
      terminated.socket.written.map((m) => decodeErrorFields(m.subarray(5)).code),
      ['08P01', '08P01'],
    );
    assert.equal(terminated.socket.destroyed, false, 'ended politely, so that the errors are read');
  });

  /** Ended after a batch with no Sync whose Flush came after `flushed` of its `sent` Parse, Bind
   *  and Execute messages, none answered yet. */
  function flushedBatch(flushed: number, sent: number) {
    const end = ended({ extendedAtFlush: flushed, extendedSinceSyncPoint: sent });
    end.syncs.sent(0, true);
    leaveIfAnswered(end.s);
    assert.equal(closed(end.s), false);
    return end;
  }

  it('after a batch with a Flush and no Sync, stays until each Parse, Bind and Execute before the Flush is answered', () => {
    const { s, syncs } = flushedBatch(3, 5);
    syncs.countAnswer();
    syncs.countAnswer();
    leaveIfAnswered(s);
    assert.equal(closed(s), false, 'the Execute is not answered yet');
    syncs.countAnswer();
    leaveIfAnswered(s);
    assert.equal(closed(s), true, 'what came after the Flush is never sent');
  });

  it('after a flushed batch, leaves once a message of it fails (the server skips the rest), or waits for a server', () => {
    const { s, syncs } = flushedBatch(3, 3);
    syncs.countAnswer();
    syncs.failed();
    leaveIfAnswered(s);
    assert.equal(closed(s), true);
    assert.equal(closed(ended({ state: State.Waiting, server: null, extendedAtFlush: 1 }).s), false);
  });

  it('ended before its COPY IN began: told as PostgreSQL tells once the CopyInResponse comes, with no second of delay', async () => {
    const { session, client, server: a } = loggedInWithServer(await harness());
    client.send(encode.query('COPY t FROM STDIN'));
    assert.equal(session.server, a);
    session.onClientEnd();
    assert.equal(session.isClosed, false, 'the COPY is still to begin');
    session.onServerCopyIn();
    a.reply(Buffer.from([0x47, 0, 0, 0, 7, 0, 0, 0]));
    assert.equal(client.takeTypes(), 'G E E');
    assert.equal(session.isClosed, true);
  });

  it('a flushed read whose standby is lost before it answers runs again on the primary, and is owed once, not twice', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { session, client, server: primary, standby } = loggedInWithServers(h);
    client.send(
      Buffer.concat([
        serialize.parse({ text: 'SELECT 1' }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.flush(),
      ]),
    );
    assert.equal(session.server, standby);
    session.onClientEnd();
    standby.peer!.onServerLost('connection reset', false, true);
    assert.equal(session.server, primary);
    for (const answer of [encode.parseComplete(), BIND_COMPLETE, encode.commandComplete('SELECT 1')]) {
      primary.syncs.countAnswer();
      primary.reply(answer);
    }
    assert.equal(client.takeTypes(), '1 2 C');
    assert.equal(session.isClosed, true);
  });

  it('a read held for a shape check whose standby is lost runs again on the primary, and its client goes on', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { session, client, server: primary, standby } = loggedInWithServers(h);
    const described = encode.rowDescription([{ name: 'one', typeOid: 23 }]);
    const noParameters = Buffer.from([0x74, 0, 0, 0, 6, 0, 0]);
    client.send(
      Buffer.concat([
        serialize.parse({ name: 's1', text: 'SELECT 1 AS one' }),
        serialize.describe({ type: 'S', name: 's1' }),
        serialize.sync(),
      ]),
    );
    assert.equal(session.server, standby);
    standby.replyTracked(encode.parseComplete(), noParameters, described, encode.readyForQuery('I'));
    await settle();
    assert.equal(client.takeTypes(), '1 t T ZI');
    // The next read goes to a second server of the standby, which lacks the statement: the Bind
    // waits there while its copy is prepared and described.
    h.pools.get('pg2')!.idle.length = 0;
    const second = new FakeServer('b2');
    h.pools.get('pg2')!.idle.push(second);
    client.send(Buffer.concat([serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()]));
    assert.equal(session.server, second);
    assert.equal(client.paused, true);
    second.peer!.onServerLost('connection reset', false, true);
    // Before, the bytes were held a second time and never sent: the client waited for ever.
    assert.equal(session.server, primary);
    primary.replyTracked(encode.parseComplete(), noParameters, described);
    await settle();
    assert.match(Buffer.concat(primary.received).toString('latin1'), /B.*E.*S/s, 'the Bind never reached the primary');
    primary.replyTracked(
      BIND_COMPLETE,
      encode.dataRow(['1']),
      encode.commandComplete('SELECT 1'),
      encode.readyForQuery('I'),
    );
    assert.equal(client.takeTypes(), '2 D C ZI');
    assert.equal(client.paused, false);
  });

  it('after a Terminate, stays for its answers, then closes the socket at once', () => {
    const { s, syncs, socket } = ended({}, 1, true);
    assert.equal(s.clientEnd, 'terminated');
    assert.equal(closed(s), false);
    clientEnded(s, false);
    assert.equal(s.clientEnd, 'terminated', 'a FIN after it changes nothing');
    syncs.answered();
    leaveIfAnswered(s);
    assert.equal(closed(s), true);
    assert.equal(socket.destroyed, true);
  });
});

describe("a client chunk's turn", () => {
  function queued(fields: object): Parameters<typeof mustDefer>[0] {
    return {
      resend: null,
      deferred: [],
      server: null,
      readLink: false,
      state: State.Ready,
      tracking: false,
      mode: 'transaction',
      copyIn: CopyIn.None,
      keptUnnamedParse: null,
      keptUnnamedUnsent: false,
      scanner: { atBoundary: true },
      ...fields,
    } as never;
  }
  /** mustDefer of a session with `fields`, for a chunk of `messages` (none: a Sync). */
  const chunkOf = (fields: object, ...messages: Buffer[]) =>
    [queued(fields), Buffer.concat(messages.length > 0 ? messages : [encode.sync()])] as const;
  const busy = () => {
    const syncs = new SyncPoints();
    syncs.sent(1, false);
    return { syncs };
  };

  it('is deferred behind bytes waiting to run again, behind a read that has not answered, or while waiting for a read', () => {
    assert.equal(mustDefer(...chunkOf({})), false);
    assert.equal(mustDefer(...chunkOf({ resend: { bytes: [] } })), true);
    assert.equal(mustDefer(...chunkOf({ deferred: [Buffer.from('S')] })), true, 'behind bytes deferred before it, too');
    assert.equal(mustDefer(...chunkOf({ server: busy(), readLink: true })), true);
    assert.equal(
      mustDefer(...chunkOf({ server: busy(), readLink: false })),
      false,
      'a write link takes pipelined bytes',
    );
    assert.equal(
      mustDefer(...chunkOf({ server: { syncs: new SyncPoints() }, readLink: true })),
      false,
      'an idle read link too',
    );
    assert.equal(mustDefer(...chunkOf({ readLink: true, state: State.Waiting, queuedUnsynced: false })), true);
    assert.equal(
      mustDefer(...chunkOf({ readLink: true, state: State.Waiting, queuedUnsynced: true })),
      false,
      'the rest of a batch queued for the read follows it',
    );
  });

  // pgJDBC's autosave: Bind and Execute of a statement, then a SAVEPOINT Query, no Sync; then
  // the next statement and the Sync. Should the Bind fail, the server skips the Query and
  // answers only at that Sync: held, the client's Sync would never reach it.
  it('follows a read whose last sync point is a Query sent inside a batch not answered yet', () => {
    const skippable = new SyncPoints();
    skippable.sent(1, false, [0, 2]);
    assert.equal(mustDefer(...chunkOf({ server: { syncs: skippable }, readLink: true })), false);
    skippable.countAnswer();
    skippable.countAnswer();
    assert.equal(
      mustDefer(...chunkOf({ server: { syncs: skippable }, readLink: true })),
      true,
      'the Bind and Execute answered: the Query runs, and its ReadyForQuery comes',
    );
    const tracked = new ResponseTracker();
    tracked.push(Expect.Bind);
    tracked.push(Expect.Execute);
    tracked.push(Expect.Query);
    const link = { tracker: tracked };
    assert.equal(mustDefer(...chunkOf({ server: busy(), readLink: true, tracking: true, statementLink: link })), false);
    tracked.onAnswer(BackendMessage.BindComplete);
    tracked.onAnswer(BackendMessage.CommandComplete);
    assert.equal(
      mustDefer(...chunkOf({ server: busy(), readLink: true, tracking: true, statementLink: link })),
      true,
      'tracked: the Bind and Execute answered',
    );
  });

  // The client's Parse '' and Sync went to one server; a write, Sync, took another; its Bind of
  // the unnamed statement comes before the write's answer. There it would run another's.
  it("waits behind a write link's answers when it binds an unnamed statement parsed elsewhere", () => {
    const kept = Buffer.from('P');
    const bindUnnamed = serialize.bind({ portal: '', statement: '' });
    const elsewhere = { server: busy(), keptUnnamedParse: kept, keptUnnamedUnsent: false };
    assert.equal(mustDefer(...chunkOf(elsewhere, bindUnnamed, encode.sync())), true);
    assert.equal(
      mustDefer(...chunkOf(elsewhere, serialize.describe({ type: 'S', name: '' }), encode.sync())),
      true,
      'a Describe of it too',
    );
    assert.equal(
      mustDefer(
        ...chunkOf(
          elsewhere,
          serialize.bind({ portal: '', statement: 'named' }),
          encode.sync(),
          bindUnnamed,
          encode.sync(),
        ),
      ),
      true,
      'after other messages',
    );
    assert.equal(
      mustDefer(...chunkOf(elsewhere, serialize.bind({ portal: '', statement: 'named' }), encode.sync())),
      false,
      'a named Bind goes',
    );
    // A COPY FROM STDIN of the extended protocol whose data the client sent before the server began it.
    assert.equal(
      mustDefer(...chunkOf(elsewhere, serialize.copyData(Buffer.from('1\n')), serialize.copyDone(), bindUnnamed)),
      false,
      'COPY data before it: the server may wait for it',
    );
    assert.equal(
      mustDefer(...chunkOf(elsewhere, serialize.parse({ text: 'SELECT 1' }), bindUnnamed)),
      false,
      'a Parse of a new one first',
    );
    assert.equal(mustDefer(...chunkOf({ ...elsewhere, server: { ...busy(), unnamedBy: null } }, bindUnnamed)), true);
    const here = queued({ ...elsewhere, server: busy() });
    (here.server as unknown as { unnamedBy: object }).unnamedBy = kept;
    assert.equal(mustDefer(here, Buffer.concat([bindUnnamed, encode.sync()])), false, 'where it went');
    assert.equal(
      mustDefer(...chunkOf({ ...elsewhere, keptUnnamedUnsent: true }, bindUnnamed)),
      false,
      'its copy not sent yet goes with it',
    );
    assert.equal(
      mustDefer(...chunkOf({ ...elsewhere, server: { syncs: new SyncPoints() } }, bindUnnamed)),
      false,
      'an idle link',
    );
    assert.equal(mustDefer(...chunkOf({ ...elsewhere, mode: 'session' }, bindUnnamed)), false);
    assert.equal(mustDefer(...chunkOf({ ...elsewhere, copyIn: CopyIn.Running }, bindUnnamed)), false);
    assert.equal(mustDefer(...chunkOf({ ...elsewhere, scanner: { atBoundary: false } }, bindUnnamed)), false);
    assert.equal(mustDefer(...chunkOf({ ...elsewhere, keptUnnamedParse: null }, bindUnnamed)), false);
  });

  it('starts with a fresh scan state; the route flags only when no transaction is routed yet', () => {
    const fresh = {
      server: null,
      state: State.Ready,
      syncEnd: 5,
      terminateAt: 3,
      routeRead: true,
      routeWrite: true,
      chunkKind: 'x',
    };
    beginChunk(fresh as unknown as ClassifySession);
    assert.deepEqual(fresh, {
      server: null,
      state: State.Ready,
      syncEnd: -1,
      terminateAt: -1,
      routeRead: false,
      routeWrite: false,
      chunkKind: null,
    });
    const waiting = {
      server: null,
      state: State.Waiting,
      syncEnd: 5,
      terminateAt: 3,
      routeRead: true,
      routeWrite: false,
      chunkKind: 'x',
    };
    beginChunk(waiting as unknown as ClassifySession);
    assert.equal(waiting.routeRead, true, 'what the waiting transaction holds stays');
  });
});

describe("a client's pools", () => {
  it('looks each backend up once, and keeps the first without a map; holds each pool once (pool_idle_timeout)', () => {
    const looked: string[] = [];
    const held: string[] = [];
    const fakePool = (name: string) => ({ name, hold: () => held.push(name) });
    const s = {
      ctx: { pools: { pool: (_d: string, _u: string, b: BackendConfig) => (looked.push(b.name), fakePool(b.name)) } },
      database: 'd',
      user: 'u',
      firstBackend: null,
      firstPool: null,
      otherPools: null,
    } as unknown as PoolsSession;
    const pg1 = { name: 'pg1' } as BackendConfig;
    const pg2 = { name: 'pg2' } as BackendConfig;
    assert.equal(poolOf(s, pg1), poolOf(s, pg1));
    assert.equal(s.otherPools, null);
    assert.equal(poolOf(s, pg2), poolOf(s, pg2));
    assert.deepEqual(looked, ['pg1', 'pg2']);
    assert.deepEqual(held, ['pg1', 'pg2']);
  });
});

describe('the first bytes of a transaction, and the wait for a server', () => {
  it('first_statement: a lone BEGIN is answered by pgtide and takes no server; the next statement runs it on its server', async () => {
    const h = await harness();
    h.routing.transaction = 'first_statement';
    const { client, server: a } = loggedInWithServer(h);
    client.send(encode.query('BEGIN'));
    assert.equal(client.takeTypes(), 'C ZT');
    assert.equal(a.peer, null);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    assert.deepEqual(
      a.ownQueries.map((q) => q.sql),
      ['BEGIN'],
    );
  });

  it('a client with no idle server waits in its pool, and gets the server the pool lends', async () => {
    const h = await harness();
    const { session, client } = loggedIn(h);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    assert.equal(session.state, State.Waiting);
    assert.equal(session.wait, Wait.Pool);
    const pool = h.pools.get('pg1')!;
    assert.deepEqual(pool.waiters, [session]);
    const a = new FakeServer('a');
    pool.give(a);
    assert.equal(session.server, a);
    assert.deepEqual(a.queriesReceived(), ['INSERT INTO t VALUES (1)']);
  });

  it('a server lent to a client that waits for it no more goes back to its pool', async () => {
    const h = await harness();
    const { session, client } = loggedIn(h);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    const pool = h.pools.get('pg1')!;
    session.state = State.Ready;
    const a = new FakeServer('a');
    pool.give(a);
    assert.deepEqual(pool.released, [a]);
    assert.equal(session.server, null);
  });
});

describe('Flushes alone between transactions', () => {
  it('are told apart from anything else in the chunk', () => {
    const flush = encode.flush();
    const cases: [string, Buffer, boolean][] = [
      ['one', flush, true],
      ['two', Buffer.concat([flush, flush]), true],
      ['then a Sync', Buffer.concat([flush, encode.sync()]), false],
      ['after a Query', Buffer.concat([encode.query('SELECT 1'), flush]), false],
      ['cut', flush.subarray(0, 3), false],
      ['a Flush with a body', Buffer.from([0x48, 0, 0, 0, 5, 0]), false],
      ['nothing', Buffer.alloc(0), false],
    ];
    for (const [what, data, idle] of cases) assert.equal(isIdleFlush(data), idle, what);
  });
});
