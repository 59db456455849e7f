// Routing a client's transactions (session/route.ts, classify.ts), the read retries
// (read-retry.ts) and the janitor's limits (timeouts.ts), against scripted fake servers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import { decodeErrorFields } from '../../src/protocol/backend.js';
import { BackendMessage } from '../../src/protocol/types.js';
import { ServerLoginError } from '../../src/pool/server-login.js';
import { FakeServer, harness, loggedIn, loggedInWithServer, loggedInWithServers, settle } from './session-harness.js';
import { bind, execute, parse, sync } from '../support/pipeline.js';
import { ReplayTracker } from '../../src/proxy/read-your-writes.js';
import { WRITE_POSITION } from '../../src/proxy/own-checks.js';

const BIND_COMPLETE = Buffer.from([0x32, 0, 0, 0, 4]);
const readOnlyRefusal = () =>
  encode.errorResponse('ERROR', '25006', 'cannot execute INSERT in a read-only transaction');

describe('routing a transaction', () => {
  it('a read runs on the backend the router draws, a write on the primary', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { client, server: a, standby: b } = loggedInWithServers(h);
    client.send(encode.query('SELECT 1'));
    assert.deepEqual(b.queriesReceived(), ['SELECT 1']);
    b.complete('SELECT 1');
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    assert.deepEqual(a.queriesReceived(), ['INSERT INTO t VALUES (1)']);
    a.complete('INSERT 0 1');
    assert.equal(client.takeTypes(), 'C ZI C ZI');
  });

  it('a session holds each pool it routed to until it leaves, so pool_idle_timeout cannot drop it', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { session, client, server: a } = loggedInWithServers(h);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    a.complete('INSERT 0 1');
    client.send(encode.query('SELECT 1'));
    assert.deepEqual([h.pools.get('pg1')!.holders, h.pools.get('pg2')!.holders], [1, 1]);
    session.close();
    assert.deepEqual([h.pools.get('pg1')!.holders, h.pools.get('pg2')!.holders], [0, 0]);
  });

  it("SET pgtide.route = primary keeps the session's reads on the primary", async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { client, server: a } = loggedInWithServers(h);
    client.send(encode.query('SET pgtide.route = primary'));
    a.complete('SET');
    client.send(encode.query('SELECT 1'));
    assert.deepEqual(a.queriesReceived(), ['SET pgtide.route = primary', 'SELECT 1']);
  });

  it('a write a standby refuses (25006) runs again on the primary, and the client sees only its answer', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { client, server: a, standby: b } = loggedInWithServers(h);
    client.send(encode.query('SELECT 1'));
    assert.equal(b.received.length, 1);
    b.reply(readOnlyRefusal(), encode.readyForQuery('I'));
    assert.equal(client.takeTypes(), '', 'the refusal never reaches the client');
    assert.ok(b.returned, 'the standby goes back');
    assert.deepEqual(a.queriesReceived(), ['SELECT 1']);
    a.complete('SELECT 1');
    assert.equal(client.takeTypes(), 'C ZI');
  });

  it('a standby lost before it answered a read: the read runs again on the primary', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { client, server: a, standby: b } = loggedInWithServers(h);
    client.send(encode.query('SELECT 1'));
    b.peer!.onServerLost('connection reset', false, true);
    assert.deepEqual(a.queriesReceived(), ['SELECT 1']);
    assert.equal(client.takeTypes(), '');
  });

  // Found by a helper in a switchover: clients that waited in the old primary's pool got its
  // servers once it came back as a standby, and session-mode clients kept them for good.
  it('a server of a backend that is no longer the primary goes back, and the waiting write routes afresh', async () => {
    const h = await harness();
    const { client } = loggedIn(h);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    const oldPrimary = h.pools.get('pg1')!;
    assert.equal(oldPrimary.waiters.length, 1, 'the write waits in the primary of the moment');
    h.router.primary = 'pg2';
    const promoted = new FakeServer('new');
    h.pools.get('pg2')!.idle.push(promoted);
    const demoted = new FakeServer('old');
    oldPrimary.give(demoted);
    assert.deepEqual(oldPrimary.released, [demoted]);
    assert.deepEqual(promoted.queriesReceived(), ['INSERT INTO t VALUES (1)']);
  });

  // Found by a helper with psycopg 3's pipeline (a read, then a write, then the Sync, in pieces):
  // the write was queued behind the read while the read waited for its standby, and went there
  // with it; refused (25006) after the read's rows had reached the client, it could not run again.
  it('a write queued behind a read still waiting for its standby takes the whole batch to the primary, and leaves its position', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    Object.assign(h.ctx, { replay: new ReplayTracker() });
    Object.assign(h.ctx.pools, { consistencyFor: () => 'read_your_writes' });
    const { client } = loggedIn(h);
    client.send(Buffer.concat([parse('', 'SELECT 1'), bind('', ''), execute()]));
    const standbyPool = h.pools.get('pg2')!;
    assert.equal(standbyPool.waiters.length, 1, 'the read waits for a standby server');
    client.send(Buffer.concat([parse('', 'INSERT INTO t VALUES (1)'), bind('', ''), execute(), sync()]));
    const primary = new FakeServer('primary');
    h.pools.get('pg1')!.idle.push(primary);
    const standby = new FakeServer('standby');
    standbyPool.give(standby);
    assert.deepEqual(standbyPool.released, [standby], 'the standby server goes back');
    assert.equal(standby.received.length, 0, 'nothing reached the standby');
    const sent = Buffer.concat(primary.received).toString('latin1');
    assert.ok(sent.includes('SELECT 1') && sent.includes('INSERT INTO t VALUES (1)'), 'the batch ran on the primary');
    // Its write's position is learned for the client's next reads (a helper: reads after such a
    // psycopg pipeline missed the row just written, the batch not counted as a write).
    const [parsed, bound] = [encode.parseComplete(), BIND_COMPLETE];
    primary.reply(parsed, bound, encode.dataRow(['1']), encode.commandComplete('SELECT 1'));
    primary.reply(parsed, bound, encode.commandComplete('INSERT 0 1'), encode.readyForQuery('I'));
    assert.ok(
      primary.ownQueries.some((q) => q.sql.includes(WRITE_POSITION)),
      JSON.stringify(primary.ownQueries.map((q) => q.sql)),
    );
  });

  // Found by a helper: a primary frozen while a COMMIT was on its way ran it once resumed,
  // after pgtide had told the client its transaction was rolled back (it wrote twice).
  it("a lost primary's hint says whether what the client sent may have run, or its transaction was rolled back", async () => {
    const hint = async (unanswered: boolean) => {
      const { client, server } = loggedInWithServer(await harness());
      client.send(encode.query('INSERT INTO t VALUES (1)'));
      server.peer!.onServerLost('backend declared unhealthy by the health checks', false, unanswered);
      const error = client.written.find((m) => m[0] === BackendMessage.ErrorResponse)!;
      const fields = decodeErrorFields(error.subarray(5));
      assert.equal(fields.code, '08006');
      return fields.hint;
    };
    assert.match(
      (await hint(true)) ?? '',
      /may have run: a COMMIT, or a statement outside a transaction block, may have committed/,
    );
    assert.match((await hint(false)) ?? '', /was rolled back by the server/);
  });

  // Found by tokio-postgres, 8 clients on 2 servers: a read sent to the primary instead (its
  // standby had not replayed a schema change) let the client's next chunk pass those deferred
  // behind the read, and the client matched answers to the wrong requests.
  it('bytes deferred behind a waiting read keep their place when the read goes to the primary instead', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('SELECT 1'));
    client.send(encode.query('SELECT 2'));
    session.onPoolError(new ServerLoginError('the standby refused the login', null, false));
    client.send(encode.query('SELECT 3'));
    assert.deepEqual(a.queriesReceived(), ['SELECT 1'], 'SELECT 3 went ahead of SELECT 2');
    a.complete('SELECT 1');
    const b = new FakeServer('b');
    for (const sql of ['SELECT 2', 'SELECT 3']) {
      h.pools.get('pg2')!.give(b);
      assert.deepEqual(b.queriesReceived().at(-1), sql);
      b.complete(sql);
    }
    assert.equal(client.takeTypes(), 'C ZI C ZI C ZI');
  });

  it('pin_on_session_state = error: LISTEN becomes a statement the server fails, and the client is not pinned', async () => {
    const h = await harness({ pin_on_session_state: 'error' });
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('LISTEN jobs'));
    const [sent] = a.queriesReceived();
    assert.match(sent!, /RAISE EXCEPTION USING ERRCODE = 'feature_not_supported'/);
    assert.match(sent!, /LISTEN would tie this session/);
    assert.equal(session.pinned, false);
  });
});

describe("a standby's refusal with batches pipelined behind it", () => {
  it('the answers after it, rewritten for named statements, are held with it, and every batch runs again on the primary', async () => {
    const h = await harness();
    h.router.reader = 'pg2';
    const { session, client, server: primary, standby } = loggedInWithServers(h);
    client.send(Buffer.concat([parse('s1', 'SELECT 1'), parse('s2', 'SELECT 2'), parse('s3', 'SELECT 3'), sync()]));
    standby.replyTracked(
      encode.parseComplete(),
      encode.parseComplete(),
      encode.parseComplete(),
      encode.readyForQuery('I'),
    );
    await settle();
    assert.equal(client.takeTypes(), '1 1 1 ZI');
    // A standby server that lacks the statements: pgtide prepares each there and hides the answers.
    const fresh = new FakeServer('fresh');
    h.pools.get('pg2')!.idle.splice(0, Infinity, fresh);
    const batch = (name: string) => Buffer.concat([bind('', name), execute(), sync()]);
    client.send(Buffer.concat([batch('s1'), batch('s2'), batch('s3')]));
    assert.equal(session.server, fresh);
    fresh.replyTracked(encode.parseComplete(), readOnlyRefusal(), encode.readyForQuery('I'));
    await settle();
    const ran = (n: string) => [
      encode.parseComplete(),
      BIND_COMPLETE,
      encode.dataRow([n]),
      encode.commandComplete('SELECT 1'),
      encode.readyForQuery('I'),
    ];
    fresh.replyTracked(...ran('2'), ...ran('3'));
    await settle();
    // Nothing of the standby's answers reached the client: the three batches went to the primary.
    assert.equal(client.takeTypes(), '');
    assert.equal(
      (
        Buffer.concat(primary.received)
          .toString('latin1')
          .match(/S\0\0\0\x04/g) ?? []
      ).length,
      3,
    );
  });
});

describe('a stray end of COPY', () => {
  it('a lone CopyFail between transactions takes no server and is dropped', async () => {
    const h = await harness();
    const { client, server: a } = loggedInWithServer(h);
    const copyFail = Buffer.concat([Buffer.from([0x66, 0, 0, 0, 9]), Buffer.from('done\0')]);
    client.send(copyFail);
    assert.equal(a.peer, null);
    assert.deepEqual(h.pools.get('pg1')!.idle, [a]);
    assert.equal(client.takeTypes(), '');
  });
});

describe('the janitor', () => {
  it('a client waiting for a primary that is no longer one is routed to the new primary', async () => {
    const h = await harness();
    const b = new FakeServer('b');
    h.pools.get('pg2')!.idle.push(b);
    const { session, client } = loggedIn(h);
    client.send(encode.query('INSERT INTO t VALUES (1)'));
    assert.equal(h.pools.get('pg1')!.waiters.length, 1);
    h.router.primary = 'pg2';
    session.checkTimeouts(Date.now());
    assert.equal(h.pools.get('pg1')!.waiters.length, 0);
    assert.deepEqual(b.queriesReceived(), ['INSERT INTO t VALUES (1)']);
  });

  it('query_wait_timeout ends a wait for a server with 57014', async () => {
    const h = await harness({ query_wait_timeout: 2 });
    const { session, client } = loggedIn(h);
    client.send(encode.query('SELECT 1'));
    session.checkTimeouts(Date.now() + 1000);
    assert.equal(session.isClosed, false);
    session.checkTimeouts(Date.now() + 3000);
    assert.match(Buffer.concat(client.written).toString(), /57014.*query_wait_timeout/s);
    assert.equal(session.isClosed, true);
    assert.equal(h.pools.get('pg1')!.waiters.length, 0, 'it leaves the queue');
  });

  it('client_idle_timeout ends an idle client, query_timeout cancels a running statement', async () => {
    const h = await harness({ client_idle_timeout: 5, query_timeout: 2 });
    const cancels: unknown[] = [];
    h.ctx.sendCancel = (server) => cancels.push(server);
    const { session, client, server: a } = loggedInWithServer(h);
    client.send(encode.query('SELECT pg_sleep(10)'));
    session.checkTimeouts(Date.now() + 3000);
    assert.deepEqual(cancels, [a]);
    a.complete('SELECT 1');
    session.checkTimeouts(Date.now() + 6000);
    assert.match(Buffer.concat(client.written).toString(), /57P05.*client_idle_timeout/s);
  });
});
