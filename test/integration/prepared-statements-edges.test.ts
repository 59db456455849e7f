// Edge cases of prepared-statement mapping and session settings found in review: each test
// states what PostgreSQL answers on a direct connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  WireClient,
  bind,
  close,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  normalise,
  parse,
  query,
  sync,
  useWirePgtide,
  withStaleableTable,
  type Message,
} from '../support/pipeline.js';
import { terminate } from '../../src/protocol/encode.js';

const t = currentTopology();
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);
const types = (messages: Message[]) => messages.map((m) => m.type).join('');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('review: prepared statements and settings, pool size 1', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
  const connect = wire.connect;

  test('a Bind cut by the end of the chunk that holds the first named Parse is renamed too', async () => {
    const c = await connect();
    const b = bind('', 'cut1', ['x'.repeat(1000)]);
    c.send(parse('cut1', 'SELECT length($1::text) AS n'), b.subarray(0, 20));
    await sleep(100);
    c.send(b.subarray(20), execute(), sync());
    const got = await c.untilReady();
    assert.equal(types(got), '12DCZ', normalise(got).join(' | '));
  });

  test('a first named Parse behind unanswered requests, in a chunk that ends inside a message: nothing is lost', async () => {
    const c = await connect();
    const b = bind('', 'late1', ['y'.repeat(1000)]);
    // The server still owes the sleep's answers when the named Parse arrives: this client is pinned, untracked.
    c.send(query('SELECT pg_catalog.pg_sleep(0.3)'));
    await sleep(50);
    c.send(parse('late1', 'SELECT length($1::text) AS n'), b.subarray(0, 30));
    await sleep(50);
    c.send(b.subarray(30), execute(), sync());
    const got = await c.untilReady(2);
    assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
    assert.deepEqual(dataRows(got).at(-1), ['1000']);
    // Pinned to the only server connection: leave, so the next tests get it.
    await c.close();
  });

  // A first named Parse longer than one read cannot be mapped (its start went as sent): the
  // client is pinned, its statements unmapped. PostgreSQL skipped that Parse (an error before it
  // in its batch), so the check at the end of the transaction found nothing and unpinned it,
  // and its later Parses went unmapped to whatever server it got, left there for the next
  // client: a fresh client's Parse of the same name got 42P05 "already exists" (c1's fuzzing).
  test('a client whose unmapped first Parse was skipped leaves no statement behind when unpinned', async () => {
    const steps = [
      [execute('nope'), parse('big1', `SELECT length('${'q'.repeat(70_000)}') AS n`), sync()],
      [parse('small2', 'SELECT 2 AS two'), sync()],
      [parse('big1', `SELECT 1 AS one /* ${'d'.repeat(70_000)} */`), bind('', 'small2'), execute(), sync()],
    ];
    for (const round of [1, 2]) {
      const c = await connect();
      const got: string[][] = [];
      for (const step of steps) got.push(errorCodes(await c.exchange(...step)));
      assert.deepEqual(got, [['34000'], [], []], `client ${round}`);
      await c.close();
    }
  });

  // Read as sent, the view listed what the server held: pgtide's own check statements and the
  // copies other clients had left there, with their texts (the fuzzer's split mode).
  test("a client whose statements are unmapped reads its own pg_prepared_statements, not its server's", async () => {
    const other = await connect();
    assert.deepEqual(errorCodes(await other.exchange(parse('others', 'SELECT 5 AS five'), sync())), []);
    await other.close();
    const c = await connect();
    // Longer than one read: its start went as sent, so the client's statements are not mapped.
    const big = parse('big3', `SELECT 1 AS one /* ${'d'.repeat(70_000)} */`);
    assert.deepEqual(errorCodes(await c.exchange(big, sync())), []);
    const list = 'SELECT name FROM pg_prepared_statements ORDER BY name';
    assert.deepEqual(dataRows(await c.exchange(query(list))), [['big3']]);
    const counted = await c.exchange(parse('', list), bind('', ''), execute(), sync());
    assert.deepEqual(dataRows(counted), [['big3']]);
    // Pinned to the only server connection: leave, so the next tests get it.
    await c.close();
  });

  test('a Parse that failed leaves its name free, as in PostgreSQL', async () => {
    const c = await connect();
    assert.deepEqual(errorCodes(await c.exchange(parse('again', 'SELEC 1'), sync())), ['42601']);
    const got = await c.exchange(parse('again', 'SELECT 1 AS v'), bind('', 'again'), execute(), sync());
    assert.deepEqual(errorCodes(got), []);
    assert.deepEqual(dataRows(got), [['1']]);
  });

  test('after an error and before Sync, a Parse of a statement the server has gets no ParseComplete', async () => {
    const c = await connect();
    await c.exchange(parse('known1', 'SELECT 11'), sync());
    c.send(parse('', 'SELEC'), FLUSH);
    await sleep(200);
    // PostgreSQL discards everything up to Sync after the error.
    const got = await c.exchange(parse('known2', 'SELECT 11'), sync());
    assert.equal(types(got), 'EZ');
  });

  test('a stale plan retried for a Parse pgtide answered itself gives one ParseComplete', async () => {
    await withStaleableTable(t.primary, 'rv_stale', async (changeType) => {
      const a = await connect();
      assert.deepEqual(
        errorCodes(await a.exchange(parse('st1', 'SELECT v FROM rv_stale'), bind('', 'st1'), execute(), sync())),
        [],
      );
      await changeType();
      const b = await connect();
      const got = await b.exchange(parse('st2', 'SELECT v FROM rv_stale'), bind('', 'st2'), execute(), sync());
      assert.equal(types(got), '12DCZ', normalise(got).join(' | '));
    });
  });

  test('a Parse that failed on a server its client left does not count as prepared there', async () => {
    await sqlOn(t.primary, 'DROP TABLE IF EXISTS rv_later');
    try {
      const x = await connect();
      x.send(parse('gone1', 'SELECT * FROM rv_later'), sync(), terminate());
      await sleep(300);
      await sqlOn(
        t.primary,
        'CREATE TABLE rv_later (v int); INSERT INTO rv_later VALUES (3); GRANT ALL ON rv_later TO PUBLIC',
      );
      const y = await connect();
      const got = await y.exchange(parse('gone2', 'SELECT * FROM rv_later'), bind('', 'gone2'), execute(), sync());
      assert.deepEqual(
        normalise(got).filter((l) => l.startsWith('E')),
        [],
      );
      assert.deepEqual(dataRows(got), [['3']]);
    } finally {
      await sqlOn(t.primary, 'DROP TABLE IF EXISTS rv_later');
    }
  });

  // psycopg's test_change_type then test_change_type_savepoint, through pgtide: a statement
  // prepared in a transaction that is rolled back keeps parameter types of a type created in
  // it; a Parse of its text answered from that copy failed the next Bind with XX000 "cache
  // lookup failed for type", where PostgreSQL parses afresh and runs it.
  for (const [how, end] of [
    ['ROLLBACK', (c: WireClient) => c.exchange(query('ROLLBACK'))],
    ['ROLLBACK TO SAVEPOINT', (c: WireClient) => c.exchange(query('ROLLBACK TO SAVEPOINT s; COMMIT'))],
    ['an error', (c: WireClient) => c.exchange(query('SELECT 1/0'), query('ROLLBACK'))],
    ['the client leaving', (c: WireClient) => c.close()],
  ] as const) {
    test(`a statement prepared in a transaction ended by ${how} is parsed afresh for the next Parse of its text`, async () => {
      const text = `SELECT $1::rv_enum::text AS v -- ${how}`;
      for (const name of ['rb1', 'rb2']) {
        const c = await connect();
        try {
          await c.exchange(query("BEGIN; SAVEPOINT s; CREATE TYPE rv_enum AS ENUM ('a')"));
          const got = await c.exchange(parse(name, text), bind('', name, ['a']), execute(), sync());
          assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
          assert.deepEqual(dataRows(got), [['a']]);
          await end(c);
        } finally {
          await c.close();
        }
      }
    });
  }

  test('a statement prepared behind a committed batch of the same pipeline, then rolled back, is parsed afresh', async () => {
    const text = 'SELECT $1::rv_enum::text AS v -- pipelined';
    const inBlock = query("BEGIN; SAVEPOINT s; CREATE TYPE rv_enum AS ENUM ('a')");
    const a = await connect();
    try {
      // The first batch's ReadyForQuery (idle) comes after pgtide prepared the second's statement.
      const got = await a.exchange(
        parse('', 'SELECT 1'),
        bind('', ''),
        execute(),
        sync(),
        inBlock,
        parse('pl1', text),
        bind('', 'pl1', ['a']),
        execute(),
        sync(),
        query('ROLLBACK'),
      );
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
    } finally {
      await a.close();
    }
    const b = await connect();
    try {
      await b.exchange(inBlock);
      const got = await b.exchange(parse('pl2', text), bind('', 'pl2', ['a']), execute(), sync());
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.deepEqual(dataRows(got), [['a']]);
      await b.exchange(query('ROLLBACK'));
    } finally {
      await b.close();
    }
  });

  test('a statement whose parameter type was dropped and created again since the server prepared it runs for the next Parse of its text', async () => {
    const text = 'SELECT $1::rv_enum2::text AS v';
    const create = "CREATE TYPE rv_enum2 AS ENUM ('a'); GRANT USAGE ON TYPE rv_enum2 TO PUBLIC";
    await sqlOn(t.primary, `DROP TYPE IF EXISTS rv_enum2; ${create}`);
    try {
      for (const name of ['dt1', 'dt2']) {
        const c = await connect();
        try {
          const got = await c.exchange(parse(name, text), bind('', name, ['a']), execute(), sync());
          assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
          assert.deepEqual(dataRows(got), [['a']]);
        } finally {
          await c.close();
        }
        await sqlOn(t.primary, `DROP TYPE rv_enum2; ${create}`);
      }
    } finally {
      await sqlOn(t.primary, 'DROP TYPE IF EXISTS rv_enum2');
    }
  });

  test('SET ROLE does not follow the server connection to the next client', async () => {
    await sqlOn(t.primary, 'DROP ROLE IF EXISTS rv_role');
    await sqlOn(t.primary, `CREATE ROLE rv_role NOLOGIN; GRANT rv_role TO ${t.scramUser.user}`);
    try {
      const a = new pg.Client(wire.pgtide().pgConfig());
      await a.connect();
      await a.query('SET ROLE rv_role');
      assert.equal((await a.query('SELECT current_user AS u')).rows[0].u, 'rv_role');
      await a.end();
      const b = new pg.Client(wire.pgtide().pgConfig());
      await b.connect();
      const u = (await b.query('SELECT current_user AS u')).rows[0].u;
      await b.end();
      assert.equal(u, t.scramUser.user);
    } finally {
      await sqlOn(t.primary, `REVOKE rv_role FROM ${t.scramUser.user}`).catch(() => undefined);
    }
  });
});

describe('review: max_prepared_statements = 1', { timeout: 30_000 }, () => {
  let p: RunningPgtide;

  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1, max_prepared_statements: 1 });
  });
  after(async () => {
    await p.stop();
  });

  test('making room does not close a statement a portal of the same batch still uses', async () => {
    const c = await WireClient.connect({
      host: p.host,
      port: p.port,
      user: t.scramUser.user,
      password: t.scramUser.password,
      database: t.database,
    });
    try {
      const got = await c.exchange(
        parse('lru1', 'SELECT 1 AS a'),
        bind('p1', 'lru1'),
        parse('lru2', 'SELECT 2 AS b'),
        bind('p2', 'lru2'),
        execute('p1'),
        execute('p2'),
        sync(),
      );
      assert.deepEqual(
        normalise(got).filter((l) => l.startsWith('E')),
        [],
      );
      assert.deepEqual(dataRows(got), [['1'], ['2']]);
    } finally {
      await c.close();
    }
  });
});

describe('max_client_prepared_statements', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { default_pool_size: 1, max_client_prepared_statements: 5 });
  });
  after(async () => {
    await p.stop();
  });

  test('a client holding more named statements than allowed is closed with 53400; closing some makes room', async () => {
    const login = {
      host: p.host,
      port: p.port,
      user: t.scramUser.user,
      password: t.scramUser.password,
      database: t.database,
    };
    const c = await WireClient.connect(login);
    for (let i = 0; i < 5; i++)
      assert.deepEqual(errorCodes(await c.exchange(parse(`cap${i}`, `SELECT ${i}`), sync())), []);
    // Closing one makes room for another.
    await c.exchange(close('S', 'cap0'), sync());
    assert.deepEqual(errorCodes(await c.exchange(parse('cap5', 'SELECT 5'), sync())), []);
    c.send(parse('cap6', 'SELECT 6'), sync());
    const answer = await c.next(Date.now() + 5000);
    assert.deepEqual(errorCodes([answer]), ['53400']);
    await c.close();
  });
});

describe('prepared statement counters', { timeout: 60_000 }, () => {
  test('client parses, server parses and binds are counted; sharing keeps server parses low', async () => {
    const p = await startPgtide(t, { default_pool_size: 2 });
    try {
      const clients = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const c = new pg.Client(p.pgConfig());
          await c.connect();
          return c;
        }),
      );
      await Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < 5; i++) await c.query({ name: 'counted', text: 'SELECT $1::int AS v', values: [i] });
        }),
      );
      const stats = [...p.pgtide.context.pools.all()].map((pool) => pool.stats);
      const total = (f: (s: (typeof stats)[number]) => number) => stats.reduce((n, s) => n + f(s), 0);
      assert.equal(
        total((s) => s.clientParses),
        10,
      );
      assert.equal(
        total((s) => s.binds),
        50,
      );
      assert.ok(
        total((s) => s.serverParses) <= 2,
        `server parses ${total((s) => s.serverParses)}: one per server connection`,
      );
      assert.deepEqual(
        [...p.pgtide.context.clients].map((c) => c.preparedStatements),
        Array(10).fill(1),
      );
      await Promise.all(clients.map((c) => c.end()));
    } finally {
      await p.stop();
    }
  });
});

describe('a first named Parse in the middle of a read pipeline written in pieces (standby weight 1)', {
  timeout: 60_000,
}, () => {
  // psycopg 3 in pipeline mode: it prepares a statement at its sixth run, and writes the
  // pipeline as it goes, so the named Parse reaches pgtide after the first reads went to the
  // standby and before any answer came back.
  const wire = useWirePgtide(t, { backends: clusterBackends(t, [0, 1, 0]), default_pool_size: 1 });
  before(() =>
    sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS edge_pipeline_w; CREATE TABLE edge_pipeline_w (v int);
       GRANT ALL ON edge_pipeline_w TO ${t.scramUser.user}`,
    ),
  );

  test('does not tie the client to the standby: its statement and its later writes work', async () => {
    const c = await connect();
    const double = 'SELECT $1::int * 2 AS v';
    c.send(parse('', double), bind('', '', ['1']), execute(), parse('', double), bind('', '', ['2']), execute());
    await sleep(50);
    c.send(parse('pipe1', double), bind('', 'pipe1', ['3']), execute(), sync());
    const piped = await c.untilReady();
    assert.deepEqual(errorCodes(piped), [], normalise(piped).join(' | '));
    assert.deepEqual(dataRows(piped), [['2'], ['4'], ['6']]);

    const writes = await c.exchange(query('BEGIN'), query('INSERT INTO edge_pipeline_w VALUES (1)'), query('ROLLBACK'));
    assert.deepEqual(errorCodes(writes), [], normalise(writes).join(' | '));
    const again = await c.exchange(bind('', 'pipe1', ['4']), execute(), sync());
    assert.deepEqual(dataRows(again), [['8']]);
    assert.ok(!wire.pgtide().logs.some((l) => String(l['msg']).includes('pinned')), 'the client was pinned');
  });

  test('a first named Parse after the standby answered a flushed read: tracked after the Sync, writes go to the primary', async () => {
    const c = await connect();
    c.send(parse('', 'SELECT 1'), bind('', ''), execute(), FLUSH);
    // Answered by the standby before the named Parse arrives, in the same implicit transaction.
    const first = await c.next(Date.now() + 5000);
    assert.equal(first.type, '1');
    await sleep(100);
    const piped = await c.exchange(
      parse('flushed1', 'SELECT $1::int * 3 AS v'),
      bind('', 'flushed1', ['5']),
      execute(),
      sync(),
    );
    assert.deepEqual(errorCodes(piped), [], normalise(piped).join(' | '));
    assert.deepEqual(dataRows(piped), [['1'], ['15']]);

    const writes = await c.exchange(query('BEGIN'), query('INSERT INTO edge_pipeline_w VALUES (2)'), query('ROLLBACK'));
    assert.deepEqual(errorCodes(writes), [], normalise(writes).join(' | '));
    const again = await c.exchange(bind('', 'flushed1', ['7']), execute(), sync());
    assert.deepEqual(errorCodes(again), [], normalise(again).join(' | '));
    assert.deepEqual(dataRows(again), [['21']]);
    // The standby's server connection (its pool holds one) no longer has the client's name: its
    // own list, pg_prepared_statement() (the view would show the reading client's).
    const other = await connect();
    const left = await other.exchange(
      query("SELECT name FROM pg_catalog.pg_prepared_statement() WHERE name OPERATOR(pg_catalog.=) 'flushed1'"),
    );
    assert.deepEqual(dataRows(left), [], normalise(left).join(' | '));
    await Promise.all([c.close(), other.close()]);
  });

  test('a statement described in that transaction binds on after it with the description the client holds', async () => {
    const c = await connect();
    c.send(parse('', 'SELECT 1'), bind('', ''), execute(), FLUSH);
    assert.equal((await c.next(Date.now() + 5000)).type, '1');
    await sleep(100);
    const text = 'SELECT $1::int * 4 AS v';
    const piped = await c.exchange(parse('told1', text), describeMessage('S', 'told1'), sync());
    assert.deepEqual(errorCodes(piped), [], normalise(piped).join(' | '));
    // Its writes go to the primary, and its statement runs without a Describe, as directly.
    const writes = await c.exchange(query('BEGIN'), query('INSERT INTO edge_pipeline_w VALUES (3)'), query('ROLLBACK'));
    assert.deepEqual(errorCodes(writes), [], normalise(writes).join(' | '));
    const again = await c.exchange(bind('', 'told1', ['2']), execute(), sync());
    assert.deepEqual(errorCodes(again), [], normalise(again).join(' | '));
    assert.deepEqual(dataRows(again), [['8']]);
    await c.close();
  });

  function connect(): Promise<WireClient> {
    return wire.connect();
  }
});
