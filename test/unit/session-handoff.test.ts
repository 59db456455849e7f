// The hand-off between a client's transactions, against scripted fake servers (session-harness.ts):
// pgtide's own queries on the client's server, a server readied for a transaction, and the janitor
// that routes a waiting client afresh after a failover.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import { WRITE_POSITION } from '../../src/proxy/own-checks.js';
import { ReplayTracker } from '../../src/proxy/read-your-writes.js';
import { ServerQueryError } from '../../src/pool/own-query.js';
import { ClientSession } from '../../src/proxy/client-session.js';
import {
  FakeClientSocket,
  FakeServer,
  harness,
  loggedIn,
  loggedInWithServer,
  loggedInWithServers,
  settle,
  type Harness,
} from './session-harness.js';

/** The count of pgtide's statements a read-back after code pgtide cannot see into asks for: all there. */
const KEPT_ALL = ['99'];

describe('the hand-off between transactions', () => {
  it('logs a client in and runs a transaction on a server of the primary pool, which goes back idle', async () => {
    const h = await harness();
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('SELECT 1'));
    assert.equal(a.peer, session);
    assert.deepEqual(a.queriesReceived(), ['SELECT 1']);
    a.complete('SELECT 1');
    assert.equal(client.takeTypes(), 'C ZI');
    assert.equal(a.peer, null);
    assert.ok(a.returned);
    assert.equal(session.server, null);
  });

  it('a client waiting on a pin probe is not routed afresh by the janitor after a failover, and gets its own server back', async () => {
    const h = await harness();
    const { session, client, server: a, standby: b } = loggedInWithServers(h);
    client.send(encode.query('LISTEN jobs'));
    assert.ok(session.pinned);
    a.complete('LISTEN');
    // The probe runs on a, unlinked; meanwhile the primary moves and the client sends more.
    assert.equal(a.ownQueries.length, 1);
    assert.equal(session.isWaiting, true);
    h.router.primary = 'pg2';
    client.send(encode.query('SELECT 2'));
    session.checkTimeouts(Date.now());
    session.retryRoute();
    assert.equal(b.peer, null, 'no second server is linked while the probe runs');
    assert.deepEqual(h.pools.get('pg2')!.idle, [b]);
    assert.deepEqual(h.pools.get('pg2')!.waiters, []);
    // The session still holds its LISTEN: it stays on a, and what it sent meanwhile runs there.
    await a.answerOwn([['t']]);
    assert.equal(a.peer, session);
    assert.equal(session.server, a);
    assert.deepEqual(a.queriesReceived(), ['LISTEN jobs', 'SELECT 2']);
    assert.equal(b.received.length, 0);
  });

  it('after code pgtide cannot see into, one query reads the settings back and probes; its client goes on there without a reset, another client gets it reset', async () => {
    const h = await harness();
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('DO $$ BEGIN END $$'));
    a.complete('DO');
    assert.equal(a.ownQueries.length, 1);
    assert.match(a.ownQueries[0]!.sql, /pg_settings.*pg_my_temp_schema/s);
    // The settings' rows (none), then the probe's.
    await a.answerOwn([KEPT_ALL, ['f']]);
    assert.equal(session.pinned, false);
    assert.ok(a.returned);
    assert.equal(a.unknownOwner, session);
    client.send(encode.query('SELECT 1'));
    assert.equal(a.ownQueries.length, 0, 'no reset for the client whose code set what pgtide cannot list');
    assert.equal(a.peer, session);
    a.complete('SELECT 1');
    assert.equal(a.unknownOwner, session, 'still unknown to any other client');
    const other = loggedIn(h);
    other.client.send(encode.query('SELECT 2'));
    // Its settings and sequence values only: what is prepared there stays.
    assert.deepEqual(
      a.ownQueries.map((q) => q.sql),
      ['BEGIN ISOLATION LEVEL READ COMMITTED; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DISCARD SEQUENCES; COMMIT'],
    );
  });

  it('a client that leaves during the pin probe costs its pinned server, and nothing is linked after', async () => {
    const h = await harness();
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('LISTEN jobs'));
    a.complete('LISTEN');
    session.close();
    await a.answerOwn([['t']]);
    assert.equal(a.peer, null);
    assert.ok(a.isClosed, 'its session state must not reach another client');
  });

  it('a probe that finds the session state gone unpins the client and gives the server back', async () => {
    const h = await harness();
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('LISTEN jobs'));
    a.complete('LISTEN');
    await a.answerOwn([KEPT_ALL, ['f']]);
    assert.equal(session.pinned, false);
    assert.equal(a.peer, null);
    assert.ok(a.returned);
  });

  it('bytes that came during a pin probe run before the start of a message held from the same read', async () => {
    // The split fuzzer's seed 47: the bytes waited for the probe; the start of the Parse after
    // them, cut by the end of the read, waited for its rest. Replayed after the probe, they were
    // put behind that start, and the scan misframed the client's stream (08P01, session ended).
    const h = await harness();
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('LISTEN jobs'));
    a.complete('LISTEN');
    const parse = encode.parseWithName('late', Buffer.from('SELECT 2\0\0\0', 'latin1'));
    client.send(Buffer.concat([encode.query('SELECT 1'), parse.subarray(0, 7)]));
    await a.answerOwn([['f']]);
    assert.equal(session.isClosed, false);
    assert.deepEqual(a.queriesReceived(), ['LISTEN jobs', 'SELECT 1']);
    client.send(Buffer.concat([parse.subarray(7), encode.sync()]));
    assert.equal(session.isClosed, false);
  });

  it('a cancel for a query that came during a pin probe reaches the query once it runs, and no later one', async () => {
    const h = await harness();
    const cancels: unknown[] = [];
    h.ctx.sendCancel = (server) => cancels.push(server);
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('LISTEN jobs'));
    a.complete('LISTEN');
    client.send(encode.query('SELECT pg_sleep(10)'));
    session.cancelRunningQuery();
    assert.deepEqual(cancels, [], 'no server runs it yet');
    // The probe finds the state gone: the server goes back, and the query is routed afresh.
    await a.answerOwn([['f']]);
    assert.equal(session.server, a);
    assert.deepEqual(a.queriesReceived(), ['LISTEN jobs', 'SELECT pg_sleep(10)']);
    // Before, the cancel was kept for a query queued later, and this one ran its 10 s.
    assert.deepEqual(cancels, [a]);
    a.reply(
      encode.errorResponse('ERROR', '57014', 'canceling statement due to user request'),
      encode.readyForQuery('I'),
    );
    client.send(encode.query('SELECT 1'));
    assert.deepEqual(cancels, [a], 'the next query is not cancelled');
  });

  it('a server being readied (a deferred BEGIN) when the janitor routes the client afresh goes back, and the BEGIN runs on the new one', async () => {
    const h = await harness();
    h.routing.transaction = 'first_statement';
    const a = new FakeServer('a');
    const b = new FakeServer('b');
    h.pools.get('pg2')!.idle.push(b);
    const { session, client } = loggedIn(h);
    client.send(encode.query('BEGIN'));
    assert.equal(client.takeTypes(), 'C ZT', 'pgtide answers the BEGIN itself');
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    h.pools.get('pg1')!.give(a);
    assert.deepEqual(
      a.ownQueries.map((q) => q.sql),
      ['BEGIN'],
    );
    // Failover while the BEGIN runs on a: the client is routed to the new primary.
    h.router.primary = 'pg2';
    session.checkTimeouts(Date.now());
    await a.answerOwn([]);
    assert.equal(a.peer, null, 'the abandoned server is not linked');
    await a.answerOwn([]);
    assert.deepEqual(h.pools.get('pg1')!.released, [a], 'its transaction rolled back, it goes back');
    assert.deepEqual(
      b.ownQueries.map((q) => q.sql),
      ['BEGIN'],
      'the transaction starts on the new primary',
    );
    await b.answerOwn([]);
    assert.equal(b.peer, session);
    assert.deepEqual(b.queriesReceived(), ['INSERT INTO t VALUES (1)']);
  });
});

describe('read_your_writes after a write that ran code pgtide cannot see into', () => {
  it('the write position is read in the same query as the settings and the probe: the server is free for the client next', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    Object.assign(h.ctx, { replay: new ReplayTracker() });
    Object.assign(h.ctx.pools, { consistencyFor: () => 'read_your_writes' });
    const { session, client, server, standby } = loggedInWithServers(h);
    client.send(encode.query('SELECT bump_counter()'));
    assert.equal(server.peer, session);
    server.complete('SELECT 1');
    assert.equal(server.ownQueries.length, 1);
    assert.match(server.ownQueries[0]!.sql, /pg_settings.*pg_my_temp_schema.*pg_current_wal_insert_lsn/s);
    // No settings' rows, the settable names (read once), then the probe's row, then the position.
    await server.answerOwn([['{role}'], KEPT_ALL, ['f'], ['0/300']]);
    assert.equal(session.lastWriteLsn, 0x300n);
    assert.equal(server.ownQueries.length, 0, 'no second query for the position');
    assert.ok(server.returned);
    client.send(encode.query('SELECT count(*) FROM t'));
    assert.equal(standby.ownQueries.length, 1, 'the read waits for that position on the standby');
  });

  it('a write sent meanwhile runs on the same server, back in the pool before it is routed, without a reset', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    Object.assign(h.ctx, { replay: new ReplayTracker() });
    Object.assign(h.ctx.pools, { consistencyFor: () => 'read_your_writes' });
    const { session, client, server } = loggedInWithServers(h);
    client.send(encode.query('SELECT bump_counter()'));
    server.complete('SELECT 1');
    client.send(encode.query('SELECT bump_counter()'));
    await server.answerOwn([['{role}'], KEPT_ALL, ['f'], ['0/300']]);
    assert.equal(server.peer, session);
    assert.equal(server.ownQueries.length, 0, 'no reset: its own code set what pgtide cannot list');
    assert.deepEqual(server.queriesReceived(), ['SELECT bump_counter()', 'SELECT bump_counter()']);
  });
});

describe('settings read back after code pgtide cannot see into', () => {
  /** Bound of pgtide's own statement `check` (see own-checks.ts) in a request's bytes. */
  const runs = (sql: string, check: number) => sql.includes(`pgtide_check_${check}\0`);
  const SETTINGS = 2;
  const PRINT = 4;
  const NAMES = 8;
  const hex = (text: string) => Buffer.from(text).toString('hex');

  /** A client whose transactions call a volatile function, on one server of the primary. */
  async function callingFunctions(h?: Harness) {
    h ??= await harness();
    const { session, client, server } = loggedInWithServer(h);
    const call = async (rows: (string | null)[][]) => {
      client.send(encode.query('SELECT bump_counter()'));
      assert.equal(server.peer, session, 'the client gets its own server back');
      server.complete('SELECT 1');
      assert.equal(client.takeTypes(), 'C ZI');
      // The count of pgtide's statements the server holds (all of them) goes before the probe's row.
      return server.answerOwn([...rows.slice(0, -1), KEPT_ALL, ...rows.slice(-1)]);
    };
    return { session, client, server, call };
  }

  it('the names of the settable settings are read once, then a digest of their values goes with each full read', async () => {
    const { server, call } = await callingFunctions();
    const first = await call([['{work_mem,role}'], ['f']]);
    assert.ok(runs(first, SETTINGS) && runs(first, NAMES) && !runs(first, PRINT));
    assert.equal(server.settableNames, '{work_mem,role}');
    assert.equal(server.settingsPrint, '', 'no digest before the names are known');
    const second = await call([['\\x01'], ['f']]);
    assert.ok(runs(second, SETTINGS) && runs(second, PRINT) && !runs(second, NAMES));
    assert.equal(server.settingsPrint, '\\x01');
    assert.match(second, /\{work_mem,role\}/, "the names are the digest's parameter");
  });

  it("the same digest as after the last read: no pg_settings read, nothing learned, the server stays the client's", async () => {
    const { session, server, call } = await callingFunctions();
    await call([['{work_mem,role}'], ['f']]);
    await call([['\\x01'], ['f']]);
    const third = await call([['\\x01'], ['f']]);
    assert.ok(runs(third, PRINT) && !runs(third, SETTINGS), 'only the digest and the probe');
    assert.equal(server.ownQueries.length, 0, 'no second query');
    assert.equal(server.unknownOwner, session);
    assert.equal(server.settingsPrint, '\\x01');
    assert.ok(server.returned);
  });

  it("another digest: the settings are read in a second query, and what it finds is the session's", async () => {
    const { session, server, call } = await callingFunctions();
    await call([['{work_mem,role}'], ['f']]);
    await call([['\\x01'], ['f']]);
    await call([['\\x02'], ['f']]);
    assert.equal(server.ownQueries.length, 1);
    const reread = await server.answerOwn([[hex('work_mem'), hex('8MB')], ['\\x02']]);
    assert.ok(runs(reread, SETTINGS) && runs(reread, PRINT));
    assert.equal(server.settingsPrint, '\\x02');
    assert.equal(session.settings!.values.get('work_mem'), '8MB');
    assert.ok(server.returned);
  });

  it('a client that leaves while the probe after its code runs: a server holding state it made is closed, one holding none goes back', async () => {
    for (const [probed, closed] of [
      ['t', true],
      ['f', false],
    ] as const) {
      const { session, client, server } = loggedInWithServer(await harness());
      client.send(encode.query('SELECT take_lock()'));
      server.complete('SELECT 1');
      assert.equal(server.ownQueries.length, 1, 'the read-back and the probe run');
      session.onClientEnd();
      await server.answerOwn([['{role}'], [probed]]);
      assert.equal(server.isClosed, closed, `probe ${probed}`);
      assert.equal(server.returned, !closed);
    }
  });

  it("pgtide's statements dropped by the client's code (EXECUTE 'DEALLOCATE ALL'): prepared again, once, and the client goes on", async () => {
    const { session, client, server } = loggedInWithServer(await harness());
    // Prepared here before, as far as pgtide knows.
    server.prepared.own = 0xff;
    client.send(encode.query('SELECT bump_counter()'));
    server.complete('SELECT 1');
    assert.doesNotMatch(server.ownQueries[0]!.sql, /BEGIN ISOLATION LEVEL/, 'bound, not prepared');
    server.ownQueries.shift()!.reject(
      new ServerQueryError({
        severity: 'ERROR',
        code: '26000',
        message: 'prepared statement "pgtide_check_1" does not exist',
      }),
    );
    await settle();
    assert.equal(server.ownQueries.length, 1, 'asked again');
    assert.match(
      server.ownQueries[0]!.sql,
      /BEGIN ISOLATION LEVEL READ COMMITTED/,
      'with its statements prepared again',
    );
    await server.answerOwn([['{role}'], ['f']]);
    assert.ok(server.returned);
    assert.equal(session.pinnedForGood, false);
  });

  it('a statement pgtide reads set something as well: the settings are read, not only the digest', async () => {
    const { client, server, call } = await callingFunctions();
    await call([['{work_mem,role}'], ['f']]);
    await call([['\\x01'], ['f']]);
    client.send(encode.query("SELECT bump_counter(); SET work_mem = '8MB'"));
    server.complete('SET');
    const sql = await server.answerOwn([['\\x03'], KEPT_ALL, ['f']]);
    assert.ok(runs(sql, SETTINGS) && runs(sql, PRINT));
  });

  it('after plain SETs alone, only the settings they named are read, and what the others were stays', async () => {
    const { session, client, server } = loggedInWithServer(await harness());
    client.send(encode.query("SET search_path TO tenant_1; SET app.tenant = '7'"));
    server.complete('SET');
    const sql = await server.answerOwn([
      [hex('search_path'), hex('tenant_1')],
      [hex('app.tenant'), hex('7')],
    ]);
    assert.ok(runs(sql, 512) && !runs(sql, SETTINGS) && !runs(sql, PRINT));
    assert.match(sql, /\{"search_path","app.tenant"\}/);
    assert.equal(session.settings!.values.get('search_path'), 'tenant_1');
    assert.equal(session.settings!.values.get('app.tenant'), '7');
    assert.equal(server.settingsKey, session.settings!.key, 'the server has what the client has');
    assert.ok(server.returned);
    client.send(encode.query('RESET search_path'));
    server.complete('RESET');
    assert.ok(runs(await server.answerOwn([]), SETTINGS), 'a RESET reads them all');
  });

  it('a setting read by name that the role may not read (42501): the settings are read from pg_settings instead', async () => {
    const { session, client, server } = loggedInWithServer(await harness());
    client.send(encode.query("SET data_directory_mode = '0700'"));
    server.complete('SET');
    const refused = server.ownQueries.shift()!;
    assert.ok(runs(refused.sql, 512));
    refused.reject(new ServerQueryError({ severity: 'ERROR', code: '42501', message: 'permission denied to examine' }));
    await settle();
    const again = await server.answerOwn([]);
    assert.ok(runs(again, SETTINGS) && !runs(again, 512));
    assert.ok(server.returned);
    assert.equal(session.pinnedForGood, false);
  });

  it("a digest the client's role may not read (42501 after SET ROLE): the settings are read without it, from then on", async () => {
    const { server, client, session, call } = await callingFunctions();
    await call([['{work_mem,dynamic_library_path,role}'], ['f']]);
    client.send(encode.query('SELECT bump_counter()'));
    server.complete('SELECT 1');
    client.takeTypes();
    const refused = server.ownQueries.shift()!;
    assert.ok(runs(refused.sql, PRINT));
    server.txStatus = 0x45;
    refused.reject(
      new ServerQueryError({
        severity: 'ERROR',
        code: '42501',
        message: 'permission denied to examine "dynamic_library_path"',
      }),
    );
    await settle();
    assert.equal(await server.answerOwn([]), 'ROLLBACK');
    server.txStatus = 0x49;
    const again = await server.answerOwn([KEPT_ALL, ['f']]);
    assert.ok(runs(again, SETTINGS) && !runs(again, PRINT));
    assert.ok(server.returned);
    assert.equal(session.pinnedForGood, false, 'the client does not keep its server for good');
    const next = await call([['f']]);
    assert.ok(runs(next, SETTINGS) && !runs(next, PRINT) && !runs(next, NAMES));
  });

  it('another client with the same settings, on the server after its reset: the digest found there before is compared, no pg_settings read', async () => {
    const h = await harness();
    const { server, call } = await callingFunctions(h);
    await call([['{work_mem,role}'], ['f']]);
    await call([['\\x01'], ['f']]);
    assert.ok(server.returned);
    const other = loggedIn(h);
    other.client.send(encode.query('SELECT bump_counter()'));
    assert.match(await server.answerOwn([]), /RESET ALL/, "the first client's code ran there: reset first");
    assert.equal(server.peer, other.session);
    server.complete('SELECT 1');
    const sql = await server.answerOwn([['\\x01'], KEPT_ALL, ['f']]);
    assert.ok(runs(sql, PRINT) && !runs(sql, SETTINGS), 'only the digest and the probe');
    assert.equal(server.ownQueries.length, 0, 'no second query');
    assert.equal(server.unknownOwner, other.session, "its code ran there: reset before a third client's");
    assert.ok(server.returned);
  });

  it('another client with other settings: the digest is not compared, the settings are read', async () => {
    const h = await harness();
    const { server, call } = await callingFunctions(h);
    await call([['{work_mem,role}'], ['f']]);
    await call([['\\x01'], ['f']]);
    // The pool knows what the server reports for it: the login needs no server.
    h.pools.get('pg1')!.tookSettings(new Map([['application_name', 'other']]));
    const other = new FakeClientSocket();
    const session = new ClientSession(other as never, h.ctx, 'test-client');
    other.send(encode.startupMessage({ user: 'app', database: 'app', application_name: 'other' }));
    other.takeTypes();
    other.send(encode.query('SELECT bump_counter()'));
    // The reset and this client's settings, in one query.
    assert.match(await server.answerOwn([]), /RESET ALL.*set_config\(E'application_name', E'other', false\)/s);
    assert.equal(server.peer, session);
    server.complete('SELECT 1');
    const sql = await server.answerOwn([[hex('application_name'), hex('other')], ['\\x05'], KEPT_ALL, ['f']]);
    assert.ok(runs(sql, SETTINGS) && runs(sql, PRINT));
    assert.equal(server.settingsPrint, '\\x05', "the digest with this client's settings replaces the other");
  });
});

describe('read_your_writes after writes in a row', () => {
  /** A read_your_writes client that wrote twice, each time on another server of the primary
   *  (the first busy with pgtide's own query for its write position when the second came, as
   *  after asyncpg's copy_records_to_table then copy_to_table): both positions still asked. */
  async function wroteTwice(h: Harness) {
    h.router.reader = 'pg2';
    Object.assign(h.ctx, { replay: new ReplayTracker() });
    Object.assign(h.ctx.pools, { consistencyFor: () => 'read_your_writes' });
    const other = new FakeServer('a2');
    h.pools.get('pg1')!.idle.push(other);
    const { session, client, server, standby } = loggedInWithServers(h);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    assert.equal(server.peer, session);
    server.complete('INSERT 0 1');
    client.send(encode.query('INSERT INTO t VALUES (2)'));
    assert.equal(other.peer, session);
    other.complete('INSERT 0 1');
    for (const s of [server, other]) {
      assert.equal(s.ownQueries.length, 1);
      assert.ok(s.ownQueries[0]!.sql.includes(WRITE_POSITION));
    }
    return { session, client, first: server, second: other, standby };
  }

  it('the first position learned leaves a read waiting for the second, and the standby must reach that one', async () => {
    const h = await harness();
    const { session, client, first, second, standby } = await wroteTwice(h);
    await first.answerOwn([['0/100']]);
    client.send(encode.query('SELECT count(*) FROM t'));
    assert.equal(standby.ownQueries.length, 0, 'the read waits for the last write position, not the first');
    assert.equal(standby.peer, null);
    await second.answerOwn([['0/200']]);
    assert.equal(session.lastWriteLsn, 0x200n);
    assert.equal(standby.ownQueries.length, 1, 'the standby is asked how far it replayed');
    await standby.answerOwn([['0/200']]);
    assert.deepEqual(standby.queriesReceived(), ['SELECT count(*) FROM t']);
  });

  it('a read waiting for the write position with a statement cut behind it: none of that statement follows it to the standby', async () => {
    const h = await harness();
    const { session, client, first, second, standby } = await wroteTwice(h);
    await first.answerOwn([['0/100']]);
    // The read and the start of a Parse whose text is still on its way (routing.test.ts' write
    // cut across reads): routed to the standby once the position came, the rest of the INSERT
    // followed it there (25006). The start now waits for the rest (cut-head.ts).
    const text = `INSERT INTO t VALUES (3, '${'x'.repeat(100)}')`;
    const cutWrite = encode.parseWithName('', Buffer.from(`${text}\0\0\0`, 'latin1'));
    client.send(Buffer.concat([encode.query('SELECT count(*) FROM t'), cutWrite.subarray(0, 20)]));
    await second.answerOwn([['0/200']]);
    await standby.answerOwn([['0/200']]);
    assert.equal(session.server, standby);
    client.send(cutWrite.subarray(20));
    assert.deepEqual(standby.queriesReceived(), ['SELECT count(*) FROM t']);
    assert.ok(!Buffer.concat(standby.received).includes('INSERT'), 'the standby got bytes of the write');
  });

  it('the first position learned last does not replace the second', async () => {
    const h = await harness();
    const { session, first, second } = await wroteTwice(h);
    await second.answerOwn([['0/200']]);
    await first.answerOwn([['0/100']]);
    assert.equal(session.lastWriteLsn, 0x200n);
    assert.ok(first.returned && second.returned);
  });
});

describe("a server's FATAL passed on right after pgtide's own query answered", () => {
  it('ends the client: no answer follows the FATAL (a read-back of settings, the server terminated as it answered)', async () => {
    const h = await harness();
    const { session, client, server } = loggedInWithServer(h);
    client.send(encode.query("SET application_name = 'told'"));
    server.complete('SET');
    assert.equal(client.takeTypes(), 'C ZI');
    assert.equal(server.ownQueries.length, 1, 'the settings are read back');
    // The FATAL came in the chunk of the read-back's answer: passed to the client, as the
    // server connection does for the client its query runs for.
    server.toldClientOfEnd = true;
    session.onServerAsync(
      encode.errorResponse('FATAL', '57P01', 'terminating connection due to administrator command'),
    );
    server.isClosed = true;
    await server.answerOwn([]);
    assert.equal(client.takeTypes(), 'E');
    assert.equal(
      session.isClosed,
      true,
      'the client goes on after its FATAL (its next query was answered by another server)',
    );
  });
});
