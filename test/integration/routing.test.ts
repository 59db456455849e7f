import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { backendEvents, clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { learnProbe, sleep } from '../support/reader.js';
import {
  bind,
  dataRows,
  describe as describeMessage,
  directLogin,
  errorCodes,
  execute,
  type Message,
  parse,
  query,
  sameAnswers,
  stepAnswers,
  sync,
  WireClient,
} from '../support/pipeline.js';
import { flush } from '../../src/protocol/encode.js';

const t = currentTopology();
const PORT = 'SELECT pg_catalog.inet_server_port() AS port';

/** Servers lent per backend so far, to see where a statement ran. */
function lentByBackend(p: RunningPgtide): Map<string, number> {
  const out = new Map<string, number>();
  for (const pool of p.pgtide.context.pools.all())
    out.set(pool.key.backend, (out.get(pool.key.backend) ?? 0) + pool.lentTotal);
  return out;
}

/** Run the statements on one connection and say which backends served them. */
async function servedBy(p: RunningPgtide, client: pg.Client, statements: string[]): Promise<Set<string>> {
  const before = lentByBackend(p);
  try {
    for (const sql of statements) await client.query(sql);
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
  const used = new Set<string>();
  for (const [backend, n] of lentByBackend(p)) if (n > (before.get(backend) ?? 0)) used.add(backend);
  return used;
}

/**
 * The first statement calling a function pgtide has not met goes to the primary while the
 * catalog says whether the function writes; run the probe once and let that lookup finish.
 */
async function learnFunctions(client: pg.Client): Promise<void> {
  await learnProbe((sql) => client.query(sql));
}

/** A client logged in with `config`, pgtide told the probe only reads. */
async function connectLearned(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  // A failure must show as itself, not as the client's error when pgtide stops.
  client.on('error', () => {});
  await client.connect();
  await learnFunctions(client);
  return client;
}

/** `begin`, then `mode`: the transaction runs on the primary, which takes the mode. */
async function onPrimaryAfter(c: pg.Client, begin: string, mode: string): Promise<void> {
  await c.query(begin);
  await c.query(mode);
  assert.equal((await c.query(PORT)).rows[0].port, t.primary.port, `${begin}; ${mode}`);
  await c.query('COMMIT');
}

/** `begin`, then `mode` (read-write), then an INSERT of row `id`: the row is on the primary. */
async function writesAfter(c: pg.Client, begin: string | pg.QueryConfig, mode: string, id: number): Promise<void> {
  const what = `${typeof begin === 'string' ? begin : `named ${begin.text}`}, then ${mode}`;
  await c.query(begin);
  await c.query(mode);
  await c.query(`INSERT INTO route_t VALUES (${id}, $1)`, [what]);
  await c.query('COMMIT');
  const written = await sqlOn(t.primary, 'SELECT count(*)::int AS n FROM route_t WHERE id = $1', [id]);
  assert.equal(written[0].n, 1, what);
}

async function waitForStandbys(sql: string): Promise<void> {
  for (const node of t.standbys) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if ((await sqlOn(node, sql)).length > 0) break;
      } catch {
        // not replayed yet
      }
      if (Date.now() > deadline) assert.fail(`${node.name} did not replay: ${sql}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('read/write splitting', { timeout: 120_000 }, () => {
  let p: RunningPgtide;
  let client: pg.Client;
  before(async () => {
    await sqlOn(
      t.primary,
      `
      DROP TABLE IF EXISTS route_t; CREATE TABLE route_t (id int PRIMARY KEY, v text);
      INSERT INTO route_t SELECT g, 'v' || g FROM pg_catalog.generate_series(1, 100) g;
      DROP SEQUENCE IF EXISTS route_seq; CREATE SEQUENCE route_seq;
      CREATE OR REPLACE FUNCTION route_bump() RETURNS int LANGUAGE sql VOLATILE AS
        'INSERT INTO route_t VALUES (1000 + (SELECT count(*)::int FROM route_t), ''bumped'') RETURNING id';
      GRANT ALL ON route_t, route_seq TO ${t.scramUser.user};
      CREATE TABLE IF NOT EXISTS route_marker (id int); GRANT SELECT ON route_marker TO ${t.scramUser.user};
      GRANT EXECUTE ON FUNCTION route_bump() TO ${t.scramUser.user};
      INSERT INTO route_marker VALUES (1);`,
    );
    await waitForStandbys('SELECT 1 FROM route_marker');
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), default_pool_size: 5 });
    client = new pg.Client(p.pgConfig());
    await client.connect();
    await learnFunctions(client);
  });
  after(async () => {
    await client.end();
    await p.stop();
  });

  test('with weights 0/1/1, ≥ 95 % of 1000 autocommit reads land on standbys, split by weight within 10 %', async () => {
    const hits = new Map<number, number>();
    const ports = { primary: t.primary.port, standby1: t.standbys[0]!.port, standby2: t.standbys[1]!.port };
    const began = Date.now();
    for (let i = 0; i < 1000; i++) {
      // Half simple protocol, half extended: both are balanced.
      const { rows } =
        i % 2 === 0
          ? await client.query('SELECT pg_catalog.inet_server_port() AS port')
          : await client.query('SELECT pg_catalog.inet_server_port() AS port, $1::int AS i', [i]);
      hits.set(rows[0].port, (hits.get(rows[0].port) ?? 0) + 1);
    }
    const s1 = hits.get(ports.standby1) ?? 0,
      s2 = hits.get(ports.standby2) ?? 0;
    const events = backendEvents(p, began);
    assert.ok(
      s1 + s2 >= 950,
      `only ${s1 + s2} of 1000 reads on standbys (primary ${hits.get(ports.primary) ?? 0}):\n${events}`,
    );
    assert.ok(
      Math.abs(s1 - s2) <= 100,
      `standby split ${s1}/${s2} is not within 10 % (${Date.now() - began} ms):\n${events}`,
    );
  });

  // Each row: statements run in order on one connection, and where they must run.
  const table: [string, string[], 'primary' | 'standby'][] = [
    ['plain select', ['SELECT * FROM route_t WHERE id = 1'], 'standby'],
    ['select with a join', ['SELECT a.id FROM route_t a JOIN route_t b USING (id) WHERE a.id < 3'], 'standby'],
    ['select count', ['SELECT count(*) FROM route_t'], 'standby'],
    ['select now()', ['SELECT now()'], 'standby'],
    ['values', ['VALUES (1), (2)'], 'standby'],
    ['table', ['TABLE route_marker'], 'standby'],
    ['show', ['SHOW server_version'], 'standby'],
    ['read-only CTE', ['WITH x AS (SELECT id FROM route_t) SELECT count(*) FROM x'], 'standby'],
    ['explain select', ['EXPLAIN SELECT * FROM route_t'], 'standby'],
    ['select with a string containing for update', [`SELECT 'for update' AS s`], 'standby'],
    ['select with dollar-quoted insert text', ['SELECT $$ insert into x $$ AS s'], 'standby'],
    ['parenthesised select', ['(SELECT 1)'], 'standby'],
    ['select from a catalog', ['SELECT count(*) FROM pg_catalog.pg_class'], 'standby'],
    ['union', ['SELECT 1 UNION ALL SELECT 2'], 'standby'],
    ['subquery', ['SELECT (SELECT max(id) FROM route_t) AS m'], 'standby'],
    ['coalesce and lower', [`SELECT coalesce(NULL, lower('A'))`], 'standby'],
    ['standby hint on a read', ['/* pgtide: standby */ SELECT 1'], 'standby'],
    ['BEGIN READ ONLY transaction', ['BEGIN READ ONLY', 'SELECT count(*) FROM route_t', 'COMMIT'], 'standby'],
    ['START TRANSACTION READ ONLY', ['START TRANSACTION READ ONLY', 'SELECT 1', 'ROLLBACK'], 'standby'],
    ['comment before select', ['-- a comment\nSELECT 2'], 'standby'],
    ['nested comment before select', ['/* a /* nested */ comment */ SELECT 3'], 'standby'],
    ['insert', [`INSERT INTO route_t VALUES (201, 'x')`], 'primary'],
    ['update', [`UPDATE route_t SET v = 'y' WHERE id = 201`], 'primary'],
    ['delete', ['DELETE FROM route_t WHERE id = 201'], 'primary'],
    ['insert returning', [`INSERT INTO route_t VALUES (202, 'x') RETURNING id`], 'primary'],
    ['upsert', [`INSERT INTO route_t VALUES (202, 'z') ON CONFLICT (id) DO UPDATE SET v = excluded.v`], 'primary'],
    [
      'merge',
      [
        `MERGE INTO route_t t USING (SELECT 203 AS id) s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'm')`,
      ],
      'primary',
    ],
    ['select for update', ['SELECT * FROM route_t WHERE id = 1 FOR UPDATE'], 'primary'],
    ['select for share', ['SELECT * FROM route_t WHERE id = 1 FOR SHARE'], 'primary'],
    ['select for no key update', ['SELECT * FROM route_t WHERE id = 1 FOR NO KEY UPDATE'], 'primary'],
    ['select for key share', ['SELECT * FROM route_t WHERE id = 1 FOR KEY SHARE'], 'primary'],
    ['select into', ['DROP TABLE IF EXISTS route_copy', 'SELECT * INTO route_copy FROM route_t'], 'primary'],
    [
      'data-modifying CTE with a select',
      [`WITH d AS (DELETE FROM route_t WHERE id = 203 RETURNING *) SELECT count(*) FROM d`],
      'primary',
    ],
    [
      'data-modifying CTE with an insert',
      [`WITH i AS (INSERT INTO route_t VALUES (204, 'c') RETURNING id) SELECT id FROM i`],
      'primary',
    ],
    ['nextval', [`SELECT nextval('route_seq')`], 'primary'],
    ['setval', [`SELECT setval('route_seq', 10)`], 'primary'],
    ['nextval after a comment', [`/* c */ select nextval('route_seq')`], 'primary'],
    ['currval after nextval in one statement', [`SELECT nextval('route_seq'), currval('route_seq')`], 'primary'],
    ['a volatile user function', ['SELECT route_bump()'], 'primary'],
    ['advisory lock', ['SELECT pg_advisory_lock(42)', 'SELECT pg_advisory_unlock(42)'], 'primary'],
    ['set_config', [`SELECT set_config('application_name', 'x', false)`], 'primary'],
    ['txid_current', ['SELECT txid_current()'], 'primary'],
    ['explain analyze insert', [`EXPLAIN ANALYZE INSERT INTO route_t VALUES (205, 'e')`], 'primary'],
    ['create table', ['CREATE TABLE IF NOT EXISTS route_ddl (a int)'], 'primary'],
    ['alter table', ['ALTER TABLE route_ddl ADD COLUMN IF NOT EXISTS b int'], 'primary'],
    ['create index', ['CREATE INDEX IF NOT EXISTS route_ddl_a ON route_ddl (a)'], 'primary'],
    ['comment on', [`COMMENT ON TABLE route_ddl IS 'x'`], 'primary'],
    ['truncate', ['TRUNCATE route_ddl'], 'primary'],
    ['drop table', ['DROP TABLE IF EXISTS route_ddl'], 'primary'],
    ['vacuum', ['VACUUM route_marker'], 'primary'],
    ['analyze', ['ANALYZE route_marker'], 'primary'],
    ['lock inside a transaction', ['BEGIN', 'LOCK TABLE route_t IN SHARE MODE', 'COMMIT'], 'primary'],
    ['listen', ['LISTEN route_channel', 'UNLISTEN route_channel'], 'primary'],
    ['notify', ['NOTIFY route_channel'], 'primary'],
    ['do block', ['DO $$ BEGIN PERFORM 1; END $$'], 'primary'],
    ['plain BEGIN transaction with reads', ['BEGIN', 'SELECT 1', 'COMMIT'], 'primary'],
    ['BEGIN READ WRITE', ['BEGIN READ WRITE', 'SELECT 1', 'COMMIT'], 'primary'],
    [
      'serializable read-only transaction',
      ['BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY', 'SELECT 1', 'COMMIT'],
      'primary',
    ],
    ['primary hint on a read', ['/* pgtide: primary */ SELECT 1'], 'primary'],
    ['multi-statement with a write', [`SELECT 1; INSERT INTO route_t VALUES (206, 'm')`], 'primary'],
    ['multi-statement transaction', [`BEGIN; UPDATE route_t SET v = 'q' WHERE id = 206; COMMIT`], 'primary'],
    ['garbage', ['SELEC broken syntax'], 'primary'],
    ['prepare transaction control: savepoint', ['BEGIN', 'SAVEPOINT a', 'RELEASE a', 'COMMIT'], 'primary'],
  ];

  for (const [name, statements, where] of table) {
    test(`${name} → ${where}`, async () => {
      const expected = where === 'primary' ? new Set(['primary']) : null;
      let used: Set<string>;
      try {
        used = await servedBy(p, client, statements);
      } catch (err) {
        // A statement that is meant to fail (syntax error) still must have been sent to its route.
        if (name !== 'garbage') throw err;
        used = new Set(['primary']);
        assert.equal((err as { code?: string }).code, '42601');
      }
      if (expected) assert.deepEqual(used, expected);
      else {
        assert.ok(used.size > 0 && !used.has('primary'), `${name} ran on ${[...used].join(', ')}`);
      }
    });
  }

  test('the garbage statement was sent to the primary', async () => {
    const before = lentByBackend(p).get('primary') ?? 0;
    await assert.rejects(client.query('SELEC broken syntax'));
    assert.equal(lentByBackend(p).get('primary'), before + 1);
  });

  test('a read pipelined behind another read never carries a write to a standby', async () => {
    const results = await Promise.all([
      client.query('SELECT 1 AS one'),
      client.query(`INSERT INTO route_t VALUES (300, 'pipelined') RETURNING id`),
      client.query('SELECT 2 AS two'),
    ]);
    assert.equal(results[1]!.rows[0].id, 300);
  });
});

describe('session routing controls', { timeout: 60_000 }, () => {
  test('SET pgtide.route = primary keeps reads on the primary until auto', async () => {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]) });
    try {
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      await learnFunctions(c);
      await c.query(`SET pgtide.route = 'primary'`);
      for (let i = 0; i < 10; i++) assert.equal((await c.query(PORT)).rows[0].port, t.primary.port);
      await c.query('SET pgtide.route = auto');
      for (let i = 0; i < 10; i++) assert.notEqual((await c.query(PORT)).rows[0].port, t.primary.port);
      await c.end();
    } finally {
      await p.stop();
    }
  });

  test('transaction_routing = first_statement: the first statement after BEGIN picks the server', async () => {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), transaction_routing: 'first_statement' });
    try {
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      await learnFunctions(c);
      await c.query('BEGIN');
      const readPort = (await c.query(PORT)).rows[0].port;
      assert.equal((await c.query('SELECT count(*)::int AS n FROM route_t WHERE id = 1')).rows[0].n, 1);
      await c.query('COMMIT');
      assert.notEqual(readPort, t.primary.port, 'a transaction starting with a read should run on a standby');
      await c.query('BEGIN');
      await c.query(`INSERT INTO route_t VALUES (400, 'first statement')`);
      const writePort = (await c.query(PORT)).rows[0].port;
      await c.query('COMMIT');
      assert.equal(writePort, t.primary.port);
      assert.equal((await sqlOn(t.primary, 'SELECT count(*)::int AS n FROM route_t WHERE id = 400'))[0].n, 1);
      await c.query('BEGIN');
      await c.query('ROLLBACK');
      await c.query('BEGIN');
      await c.query(`INSERT INTO route_t VALUES (401, 'rolled back')`);
      await c.query('ROLLBACK');
      assert.equal((await sqlOn(t.primary, 'SELECT count(*)::int AS n FROM route_t WHERE id = 401'))[0].n, 0);
      // A deferred BEGIN that names SERIALIZABLE runs where standbys would not refuse it.
      await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      assert.equal((await c.query('SELECT count(*)::int AS n FROM route_t WHERE id = 1')).rows[0].n, 1);
      assert.equal((await c.query(PORT)).rows[0].port, t.primary.port);
      await c.query('COMMIT');
      await c.end();
    } finally {
      await p.stop();
    }
  });

  test('a deferred BEGIN: COMMIT AND CHAIN keeps the transaction going, as it began; SET LOCAL, SET CONSTRAINTS or a savepoint first send it to the primary', async () => {
    // PostgreSQL's regression suite through pgtide: the chain was answered as a plain COMMIT, the
    // INSERT after it ran outside any transaction and stayed committed through the ROLLBACK; and
    // `BEGIN; SET LOCAL …` ran on a standby, whose next INSERT got 25006.
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), transaction_routing: 'first_statement' });
    try {
      const c = new pg.Client(p.pgConfig());
      // A failed assertion leaves it connected when pgtide stops: its error would hide the assertion's.
      c.on('error', () => undefined);
      await c.connect();
      await learnFunctions(c);
      const rows = async (id: number) =>
        (await sqlOn(t.primary, 'SELECT count(*)::int AS n FROM route_t WHERE id = $1', [id]))[0].n;
      await c.query('BEGIN READ ONLY');
      await c.query('COMMIT AND CHAIN');
      assert.equal((await c.query('SHOW transaction_read_only')).rows[0].transaction_read_only, 'on');
      await assert.rejects(c.query(`INSERT INTO route_t VALUES (403, 'chained read-only')`), { code: '25006' });
      await c.query('ROLLBACK');
      await c.query('BEGIN');
      await c.query('ROLLBACK AND CHAIN');
      await c.query(`INSERT INTO route_t VALUES (404, 'chained, rolled back')`);
      await c.query('ROLLBACK');
      assert.equal(await rows(404), 0, 'the INSERT ran outside the chained transaction');
      for (const [i, first] of [
        "SET LOCAL application_name = 'first'",
        'SET CONSTRAINTS ALL DEFERRED',
        'SAVEPOINT s',
        'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
      ].entries()) {
        await c.query('BEGIN');
        await c.query(first);
        await c.query(`INSERT INTO route_t VALUES (${405 + i}, 'after ${first.split(' ')[0]}')`);
        await c.query('COMMIT');
        assert.equal(await rows(405 + i), 1, first);
      }
      // A read-only transaction may still start on a standby with them.
      await c.query('BEGIN READ ONLY');
      await c.query("SET LOCAL application_name = 'ro'");
      assert.notEqual((await c.query(PORT)).rows[0].port, t.primary.port);
      await c.query('COMMIT');
      await c.end();
    } finally {
      await p.stop();
    }
  });

  test("local set_config calls (PostgREST's request settings) keep a read-only transaction on a standby, a read-write one on the primary", async () => {
    const SETTINGS =
      "SELECT pg_catalog.set_config('search_path', $1, true), pg_catalog.set_config('request.jwt.claims', $2, true)";
    for (const transaction_routing of ['conservative', 'first_statement'] as const) {
      const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), transaction_routing });
      try {
        const c = new pg.Client(p.pgConfig());
        await c.connect();
        await learnFunctions(c);
        // Each call had made its transaction a write: every GET of PostgREST ran on the primary.
        await c.query('BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY');
        await c.query(SETTINGS, ['public', '{"sub": "1"}']);
        assert.notEqual((await c.query(PORT)).rows[0].port, t.primary.port, transaction_routing);
        await c.query('COMMIT');
        const auto = await c.query(`${SETTINGS}, pg_catalog.inet_server_port() AS port`, ['public', '{}']);
        assert.notEqual(auto.rows[0].port, t.primary.port, transaction_routing);
        const id = transaction_routing === 'conservative' ? 410 : 411;
        await c.query('BEGIN');
        await c.query(SETTINGS, ['public', '{"sub": "2"}']);
        await c.query(`INSERT INTO route_t VALUES (${id}, current_setting('request.jwt.claims'))`);
        await c.query('COMMIT');
        const written = await sqlOn(t.primary, 'SELECT v FROM route_t WHERE id = $1', [id]);
        assert.deepEqual(written, [{ v: '{"sub": "2"}' }], transaction_routing);
        await c.end();
      } finally {
        await p.stop();
      }
    }
  });

  test('a client that starts with default_transaction_read_only=on runs its transactions on standbys', async () => {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), read_your_writes_timeout: 5 });
    try {
      const c = await connectLearned(p.pgConfig({ options: '-c default_transaction_read_only=on' }));
      await c.query('BEGIN');
      const port = (await c.query(PORT)).rows[0].port;
      await c.query('COMMIT');
      assert.notEqual(port, t.primary.port);
      // Found by SQLAlchemy's isolation_level="SERIALIZABLE" with postgresql_readonly: a standby
      // refused the block with 0A000 where PostgreSQL runs it.
      for (const begin of ['BEGIN ISOLATION LEVEL SERIALIZABLE', 'START TRANSACTION ISOLATION LEVEL SERIALIZABLE']) {
        await c.query(begin);
        assert.equal((await c.query(PORT)).rows[0].port, t.primary.port, begin);
        assert.equal((await c.query('SHOW transaction_read_only')).rows[0].transaction_read_only, 'on');
        await c.query('COMMIT');
      }
      // Rails sets a transaction's level after its BEGIN; READ WRITE lets a read-only session
      // write. A standby had run the BEGIN, then refused either with 0A000 or 25006.
      for (const mode of ['ISOLATION LEVEL SERIALIZABLE', 'READ WRITE'])
        await onPrimaryAfter(c, 'BEGIN', `SET TRANSACTION ${mode}`);
      await writesAfter(c, 'BEGIN', 'SET TRANSACTION READ WRITE', 402);
      // Reads still go to standbys once they replayed the write (read_your_writes_timeout above),
      // the empty transaction's end answered by pgtide.
      await c.query('BEGIN');
      assert.notEqual((await c.query(PORT)).rows[0].port, t.primary.port);
      await c.query('COMMIT');
      await c.query('BEGIN');
      await c.query('COMMIT');
      await c.end();
      // Any session's BEGIN READ ONLY, too.
      const d = new pg.Client(p.pgConfig());
      await d.connect();
      await learnFunctions(d);
      await d.query('BEGIN READ ONLY');
      await d.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE');
      assert.equal((await d.query(PORT)).rows[0].port, t.primary.port);
      assert.equal((await d.query('SHOW transaction_read_only')).rows[0].transaction_read_only, 'on');
      await d.query('COMMIT');
      await d.query('BEGIN READ ONLY');
      assert.notEqual((await d.query(PORT)).rows[0].port, t.primary.port);
      await d.query('COMMIT');
      await d.end();
    } finally {
      await p.stop();
    }
  });
  test("a BEGIN READ ONLY, or a read-only session's BEGIN, run by a named statement waits for the statement after it too", async () => {
    // psycopg's prepare=True (as pgx's statement cache, pgJDBC, node-postgres' named queries)
    // ran the BEGIN on a standby at once: the SET TRANSACTION after it got 0A000 there, and the
    // INSERT after READ WRITE was lost (found by a helper with PostgreSQL's regression files).
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), read_your_writes_timeout: 5 });
    try {
      // The named BEGIN, then a read: on a standby; again, then READ WRITE and an INSERT: kept.
      const readThenWrite = async (client: pg.Client, begin: pg.QueryConfig, id: number) => {
        await client.query(begin);
        assert.notEqual((await client.query(PORT)).rows[0].port, t.primary.port, begin.text);
        await client.query('COMMIT');
        await writesAfter(client, begin, 'SET TRANSACTION READ WRITE', id);
        await client.end();
      };
      const c = await connectLearned(p.pgConfig());
      const beginReadOnly = { name: 'begin_read_only', text: 'BEGIN READ ONLY' };
      // Parse, Bind and Execute in one batch first, then Binds of the statement prepared.
      for (const run of ['parsed', 'bound']) {
        await c.query(beginReadOnly);
        await c.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE');
        assert.equal((await c.query(PORT)).rows[0].port, t.primary.port, run);
        assert.equal((await c.query('SHOW transaction_isolation')).rows[0].transaction_isolation, 'serializable');
        await c.query('COMMIT');
      }
      await readThenWrite(c, beginReadOnly, 430);
      const readOnlySession = await connectLearned(p.pgConfig({ options: '-c default_transaction_read_only=on' }));
      await readThenWrite(readOnlySession, { name: 'begin', text: 'BEGIN' }, 431);
      // What the client reads is PostgreSQL's own answer, byte for byte.
      const steps = [
        [parse('ro', 'BEGIN READ ONLY'), bind('', 'ro'), describeMessage('P', ''), execute(), sync()],
        [query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')],
        [query('SHOW transaction_isolation')],
        [parse('end', 'COMMIT'), bind('', 'end'), execute(), sync()],
        [bind('', 'ro'), execute(), sync()],
        [query('SHOW transaction_read_only')],
        [bind('', 'end'), describeMessage('P', ''), execute(), sync()],
        [bind('', 'ro'), execute(), sync()],
        [bind('', 'end'), execute(), sync()],
        // A BEGIN PostgreSQL refuses is refused (42601), not answered and then failed at its replay.
        [query('BEGIN READ ONLY GARBAGE')],
        [parse('bad', 'BEGIN READ ONLY GARBAGE'), bind('', 'bad'), execute(), sync()],
        [query('SHOW transaction_read_only')],
      ];
      const answers = await sameAnswers([directLogin(t), p.wireLogin()], (w) => stepAnswers(w, steps));
      assert.deepEqual(answers[0], ['1 ', '2 ', 'n ', 'C BEGIN\\x00', 'Z T']);
    } finally {
      await p.stop();
    }
  });
});

describe('SET transaction_isolation and transaction_read_only', { timeout: 60_000 }, () => {
  // PostgreSQL's regression suite (transactions.sql) spells SET TRANSACTION so: a standby had run
  // them and refused SERIALIZABLE (0A000) or READ WRITE (25006-like), outside a block too.
  test('route as SET TRANSACTION does, and are kept by no server for the next transaction', async () => {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), read_your_writes_timeout: 5 });
    try {
      const c = await connectLearned(p.pgConfig());
      for (const sql of [
        "SET transaction_isolation = 'serializable'",
        'SET transaction_read_only = off',
        "SET SESSION transaction_isolation TO 'repeatable read'",
      ])
        await c.query(sql);
      for (const mode of ["SET LOCAL transaction_isolation = 'serializable'", 'SET transaction_read_only = false'])
        await onPrimaryAfter(c, 'BEGIN READ ONLY', mode);
      await writesAfter(c, 'BEGIN READ ONLY', 'SET transaction_read_only = off', 403);
      // Transaction-scoped: the next transactions start from the defaults wherever they run.
      await c.query('BEGIN READ ONLY');
      assert.notEqual((await c.query(PORT)).rows[0].port, t.primary.port);
      assert.equal((await c.query('SHOW transaction_isolation')).rows[0].transaction_isolation, 'read committed');
      await c.query('COMMIT');
      await c.query('BEGIN READ ONLY');
      await c.query('SET transaction_read_only = on');
      assert.notEqual((await c.query(PORT)).rows[0].port, t.primary.port);
      await c.query('COMMIT');
      await c.end();
    } finally {
      await p.stop();
    }
  });
});

describe('misrouted writes', { timeout: 60_000 }, () => {
  test('a write a standby refuses with 25006 is retried on the primary, invisibly to the client', async () => {
    // The operator wrongly lists a writing function as read-only: its calls go to standbys.
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      read_only_function_list: ['route_bump'],
    });
    try {
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      for (let i = 0; i < 3; i++) {
        const { rows } = await c.query('SELECT route_bump() AS id');
        assert.ok(Number(rows[0].id) >= 1000);
        const simple = await c.query(`SELECT route_bump() AS id -- simple ${i}`);
        assert.ok(Number(simple.rows[0].id) >= 1000);
      }
      await c.end();
      assert.ok(
        p.logs.some((l) => String(l['msg']).includes('25006')),
        'the retry should be logged',
      );
    } finally {
      await p.stop();
    }
  });
});

/** An unlogged table `name` of ids 1-3 that every user may read, known to the standbys, and a
 *  pgtide reading from them; the caller stops it and drops the table. */
async function withUnloggedTable(name: string): Promise<RunningPgtide> {
  await sqlOn(t.primary, `CREATE UNLOGGED TABLE ${name} AS SELECT g AS id FROM generate_series(1, 3) g`);
  await sqlOn(t.primary, `GRANT SELECT ON ${name} TO PUBLIC`);
  await waitForStandbys(`SELECT 1 FROM pg_class WHERE relname = '${name}'`);
  return startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), read_your_writes_timeout: 5 });
}

describe('unlogged tables', { timeout: 60_000 }, () => {
  test('a read of an unlogged table, which a standby cannot read, runs on the primary, invisibly to the client', async () => {
    const p = await withUnloggedTable('route_unlogged');
    try {
      const c = new pg.Client(p.pgConfig());
      // A failure below must show as itself, not as the client's error when pgtide stops.
      c.on('error', () => {});
      await c.connect();
      for (let i = 0; i < 3; i++) {
        const simple = await c.query(`SELECT count(*)::int AS n FROM route_unlogged -- simple ${i}`);
        assert.equal(simple.rows[0].n, 3);
        const extended = await c.query('SELECT count(*)::int AS n FROM route_unlogged WHERE id > $1', [0]);
        assert.equal(extended.rows[0].n, 3);
        const named = await c.query({
          name: 'unlogged',
          text: 'SELECT id FROM route_unlogged WHERE id = $1',
          values: [2],
        });
        assert.deepEqual(named.rows, [{ id: 2 }]);
      }
      // Tried on a standby first (pgtide cannot tell an unlogged table from its text), then the primary.
      const unlogged = await servedBy(p, c, ['SELECT count(*) FROM route_unlogged -- where']);
      assert.ok(unlogged.has('primary') && unlogged.size === 2, `served by ${[...unlogged]}`);
      // Reads of logged tables still go to the standbys alone (after the retry on the primary,
      // once the standbys replayed its position: read_your_writes_timeout above).
      const since = p.logs.length;
      const logged = await servedBy(p, c, ['SELECT 1 AS logged_read']);
      assert.ok(!logged.has('primary'), `served by ${[...logged]}; ${backendEvents(p, since)}`);
      await c.end();
    } finally {
      await p.stop();
      await sqlOn(t.primary, 'DROP TABLE route_unlogged');
    }
  });
});

describe('an unlogged table read pipelined before other batches', { timeout: 60_000 }, () => {
  test('runs on the primary with the batches after it, in order, none refused', async () => {
    const p = await withUnloggedTable('route_unlogged_pipe');
    const c = await WireClient.connect(p.wireLogin());
    try {
      for (let i = 0; i < 10; i++) {
        // Sent in one write: the later batches reach the standby before its refusal of the first.
        const simple = await c.exchange(
          query('SELECT count(*)::int FROM route_unlogged_pipe'),
          query('SELECT 2'),
          query('SHOW transaction_isolation'),
        );
        assert.deepEqual(errorCodes(simple), [], `round ${i}, simple ${JSON.stringify(simple.map((m) => m.type))}`);
        assert.deepEqual(dataRows(simple), [['3'], ['2'], ['read committed']], `round ${i}, simple`);
        const extended = await c.exchange(
          parse('', 'SELECT count(*)::int FROM route_unlogged_pipe WHERE id > $1'),
          bind('', '', ['1']),
          execute(),
          sync(),
          parse('', 'SELECT $1::int'),
          bind('', '', ['5']),
          execute(),
          sync(),
        );
        assert.deepEqual(errorCodes(extended), [], `round ${i}, extended`);
        assert.deepEqual(dataRows(extended), [['2'], ['5']], `round ${i}, extended`);
      }
    } finally {
      await c.close();
      await p.stop();
      await sqlOn(t.primary, 'DROP TABLE route_unlogged_pipe');
    }
  });
});

// The retry's replay of a read a standby refused: its bytes went once already, a named Parse
// among them gathering the rest, and run again on the primary cut where the client cut them.
describe('an unlogged table read by a named statement whose Binds were cut across reads', { timeout: 60_000 }, () => {
  test('runs again on the primary, every Bind whole and renamed', async () => {
    const p = await withUnloggedTable('route_unlogged_cut');
    try {
      for (const cut of [1, 5, 8, 16, 20]) {
        const c = await WireClient.connect(p.wireLogin());
        try {
          const name = `unlogged_cut_${cut}`;
          const prepare = parse(name, 'SELECT count(*)::int FROM route_unlogged_cut WHERE id > $1');
          const binds = Array.from({ length: 20 }, (_, i) => [bind('', name, [String(i % 3)]), execute()]).flat();
          const batch = Buffer.concat([prepare, ...binds, sync()]);
          const at = prepare.length + 10 * (binds[0]!.length + binds[1]!.length) + cut;
          const before = lentByBackend(p);
          c.send(batch.subarray(0, at));
          await sleep(30);
          c.send(batch.subarray(at));
          const answers = await c.untilReady(1);
          assert.deepEqual(errorCodes(answers), [], `cut ${cut}`);
          assert.equal(answers.filter((m) => m.type === 'D').length, 20, `cut ${cut}`);
          const lent = [...lentByBackend(p)].filter(([backend, n]) => n > (before.get(backend) ?? 0));
          assert.equal(lent.length, 2, `cut ${cut}: tried on a standby, then run on the primary`);
          const again = await c.exchange(bind('', name, ['0']), execute(), sync());
          assert.deepEqual(errorCodes(again), [], `cut ${cut}, again`);
          assert.deepEqual(dataRows(again), [['3']], `cut ${cut}, again`);
        } finally {
          await c.close();
        }
      }
    } finally {
      await p.stop();
      await sqlOn(t.primary, 'DROP TABLE route_unlogged_cut');
    }
  });
});

// Found by Bun.SQL's pipeline (named statements, each described once): a read of an unlogged
// table refused by a standby while the read pipelined after it waited there for its statement's
// shape (described on another server before) reached the client, where the primary runs it.
describe('an unlogged table read pipelined before a read that waits for its shape', { timeout: 60_000 }, () => {
  test('runs on the primary with the read after it, none refused', async () => {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]) });
    try {
      for (let round = 0; round < 5; round++) {
        const [u, n] = [`route_shape_u${round}`, `route_shape_n${round}`];
        await sqlOn(
          t.primary,
          `CREATE UNLOGGED TABLE ${u} AS SELECT 1 AS i; CREATE TABLE ${n} AS SELECT 10 AS i; GRANT SELECT ON ${u}, ${n} TO PUBLIC`,
        );
        await waitForStandbys(`SELECT 1 FROM pg_class WHERE relname = '${n}'`);
        const c = await WireClient.connect(p.wireLogin());
        try {
          // Described in a block on the primary: a copy made on a standby is checked for shape first.
          await c.exchange(query('BEGIN'));
          await c.exchange(
            parse('su', `SELECT count(*)::int FROM ${u}`),
            describeMessage('S', 'su'),
            parse('sn', `SELECT sum(i)::int FROM ${n}`),
            describeMessage('S', 'sn'),
            sync(),
          );
          await c.exchange(query('COMMIT'));
          const answers = await c.exchange(bind('', 'su'), execute(), sync(), bind('', 'sn'), execute(), sync());
          assert.deepEqual(errorCodes(answers), [], `round ${round}`);
          assert.deepEqual(dataRows(answers), [['1'], ['10']], `round ${round}`);
        } finally {
          await c.close();
          await sqlOn(t.primary, `DROP TABLE ${u}, ${n}`);
        }
      }
    } finally {
      await p.stop();
    }
  });
});

describe('a read sent message by message while it waits for its standby', { timeout: 60_000 }, () => {
  // pg-cursor writes Parse, Bind, Describe and Flush one by one, then Execute and Flush, and
  // sends no Sync until it has read the rows: the server must get every piece of the batch.
  test('reaches the server whole: its rows come before any Sync', async () => {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 0]), default_pool_size: 1 });
    const holder = new pg.Client(p.pgConfig());
    let cursor: WireClient | null = null;
    try {
      await holder.connect();
      const before = lentByBackend(p).get('standby1') ?? 0;
      // The standby's only server is busy: the cursor's first piece waits for it.
      const busy = holder.query('SELECT pg_catalog.pg_sleep(0.5)');
      cursor = await WireClient.connect(p.wireLogin());
      await sleep(100);
      for (const piece of [
        parse('', 'SELECT g FROM pg_catalog.generate_series(1, 3) g'),
        bind('', ''),
        describeMessage('P', ''),
        flush(),
        execute('', 2),
        flush(),
      ]) {
        cursor.send(piece);
        await sleep(20);
      }
      await busy;
      const got: string[] = [];
      const deadline = Date.now() + 5_000;
      while (got.at(-1) !== 's') got.push((await cursor.next(deadline)).type);
      assert.deepEqual(got, ['1', '2', 'T', 'D', 'D', 's']);
      const rest = await cursor.exchange(execute('', 0), sync());
      assert.deepEqual(
        rest.map((m) => m.type),
        ['D', 'C', 'Z'],
      );
      assert.equal((lentByBackend(p).get('standby1') ?? 0) - before, 2, 'both reads ran on the standby');
    } finally {
      await cursor?.close();
      await holder.end();
      await p.stop();
    }
  });
});

describe('redirect preference lists', { timeout: 60_000 }, () => {
  test("database_redirect_preference_list sends a database's reads where it says", async () => {
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      database_redirect_preference_list: `${t.database}:1,challenge:primary`,
    });
    try {
      const test1 = new pg.Client(p.pgConfig());
      const challenge = new pg.Client(p.pgConfig({ database: 'challenge' }));
      await Promise.all([test1.connect(), challenge.connect()]);
      await learnFunctions(test1);
      for (let i = 0; i < 20; i++) {
        assert.equal(
          (await test1.query('SELECT pg_catalog.inet_server_port() AS port')).rows[0].port,
          t.standbys[0]!.port,
        );
        assert.equal(
          (await challenge.query('SELECT pg_catalog.inet_server_port() AS port')).rows[0].port,
          t.primary.port,
        );
      }
      await Promise.all([test1.end(), challenge.end()]);
    } finally {
      await p.stop();
    }
  });

  test("the seed's challenge:standby keeps every read of challenge off the primary", async () => {
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [1, 1, 1]),
      database_redirect_preference_list: 'challenge:standby',
    });
    try {
      const c = new pg.Client(p.pgConfig({ database: 'challenge' }));
      await c.connect();
      await learnFunctions(c);
      for (let i = 0; i < 50; i++) {
        assert.notEqual((await c.query('SELECT pg_catalog.inet_server_port() AS port')).rows[0].port, t.primary.port);
      }
      await c.end();
    } finally {
      await p.stop();
    }
  });
});

describe('a write pipelined after a read in one batch', { timeout: 60_000 }, () => {
  // psycopg's pipeline in autocommit sends each statement as it comes and the Sync last: the
  // read goes to a standby before the write arrives, and the write follows it in the batch.
  test('runs with the read on the primary, the standby refusal unseen', async () => {
    await sqlOn(t.primary, 'CREATE TABLE route_pipelined (id int)');
    await sqlOn(t.primary, 'GRANT SELECT, INSERT ON route_pipelined TO PUBLIC');
    await waitForStandbys("SELECT 1 FROM pg_class WHERE relname = 'route_pipelined'");
    // route_bump writes; listed as read-only, it stays with the read on the standby, which refuses it.
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 0]),
      read_only_function_list: ['route_bump'],
    });
    let c: WireClient | null = null;
    try {
      c = await WireClient.connect(p.wireLogin());
      // Unnamed statements, then named ones prepared in the batch, then bound alone (whose copy
      // on a server connection pgtide first asks the shape of, with a Flush of its own).
      for (let i = 1; i <= 9; i++) {
        const [read, write] =
          i <= 3 ? ['', ''] : i <= 6 ? [`count_rows_${i}`, `insert_row_${i}`] : ['count_rows_6', 'insert_row_6'];
        const prepare = i <= 6;
        c.send(
          ...(prepare ? [parse(read, 'SELECT count(*) FROM route_pipelined')] : []),
          bind('', read),
          describeMessage('P', ''),
          execute(''),
        );
        await sleep(50);
        c.send(
          ...(prepare ? [parse(write, 'INSERT INTO route_pipelined VALUES ($1) RETURNING id')] : []),
          bind('', write, [String(i)]),
          describeMessage('P', ''),
          execute(''),
        );
        await sleep(50);
        c.send(sync());
        const answers: Message[] = await c.untilReady();
        const parsed = prepare ? ['1'] : [];
        assert.deepEqual(
          answers.map((m) => m.type),
          [...parsed, '2', 'T', 'D', 'C', ...parsed, '2', 'T', 'D', 'C', 'Z'],
          `round ${i}: ${answers.map((m) => m.type).join('')}`,
        );
        // The count ran on the primary with the insert: it sees the rows of the rounds before.
        assert.deepEqual(
          answers.filter((m) => m.type === 'D').map((m) => m.body.subarray(6).toString()),
          [String(i - 1), String(i)],
        );
      }
      // A write pgtide takes for a read follows the read to the standby, whose refusal comes
      // after the read's rows: the whole batch runs again on the primary, unseen.
      for (let i = 1; i <= 3; i++) {
        c.send(parse('', 'SELECT count(*) FROM route_pipelined'), bind('', ''), describeMessage('P', ''), execute(''));
        await sleep(50);
        c.send(parse('', 'SELECT route_bump() AS id'), bind('', ''), describeMessage('P', ''), execute(''), sync());
        const answers: Message[] = await c.untilReady();
        assert.deepEqual(
          answers.map((m) => m.type),
          ['1', '2', 'T', 'D', 'C', '1', '2', 'T', 'D', 'C', 'Z'],
          `misclassified round ${i}: ${answers.map((m) => m.type).join('')}`,
        );
      }
    } finally {
      await c?.close();
      await p.stop();
      await sqlOn(t.primary, 'DROP TABLE route_pipelined');
    }
  });
});

// Found by reading the code after session 30's cut-message fix: a write pipelined right behind
// a read, whose bytes the client's read from the socket cut in two (a statement longer than one
// read, 64 KiB), went with the read to its standby, whole bytes and all, and the standby refused
// it (25006) after the read had answered, so that the client got the refusal.
describe('a write cut across reads, pipelined right behind a read', { timeout: 60_000 }, () => {
  const TABLE = 'route_cut_write';
  let p: RunningPgtide;
  before(async () => {
    await sqlOn(t.primary, `CREATE TABLE ${TABLE} (id int, note text); GRANT SELECT, INSERT ON ${TABLE} TO PUBLIC`);
    await waitForStandbys(`SELECT 1 FROM pg_class WHERE relname = '${TABLE}'`);
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]) });
  });
  after(async () => {
    await p.stop();
    await sqlOn(t.primary, `DROP TABLE ${TABLE}`);
  });

  const note = 'x'.repeat(200 * 1024);
  const read = `SELECT count(*) FROM ${TABLE}`;
  const write = (id: number) => `INSERT INTO ${TABLE} VALUES (${id}, '${note}')`;
  for (const [protocol, messages] of [
    ['simple', (id: number) => [query(read), query(write(id))]],
    [
      'extended',
      (id: number) => [
        parse('', read),
        bind('', ''),
        execute(''),
        sync(),
        parse('', write(id)),
        bind('', ''),
        execute(''),
        sync(),
      ],
    ],
  ] as const) {
    test(`runs on the primary, as directly (${protocol} protocol)`, async () => {
      const c = await WireClient.connect(p.wireLogin());
      try {
        for (let round = 0; round < 5; round++) {
          const id = (protocol === 'simple' ? 1000 : 2000) + round;
          const answers = await c.exchange(...messages(id));
          assert.deepEqual(errorCodes(answers), [], `round ${round}`);
          assert.deepEqual(
            answers.filter((m) => m.type === 'C').map((m) => m.body.subarray(0, -1).toString()),
            ['SELECT 1', 'INSERT 0 1'],
            `round ${round}`,
          );
        }
      } finally {
        await c.close();
      }
    });
  }
  // Found by libpq's pipeline test (pipelined_insert): its pipeline came while a read ran on a
  // standby, so its chunks were held as they came; the first named statement among them, seen
  // when they were replayed, gathers the client's bytes into whole messages from then on, but
  // the rest of the held chunks were replayed raw: a Bind cut at a chunk's end reached the
  // server with the client's own name (26000), or the scan resumed inside a message (08P01).
  test('a named statement first prepared in bytes held behind a standby read, its Binds cut anywhere', async () => {
    const table = `${TABLE}_named`;
    await sqlOn(t.primary, `CREATE TABLE IF NOT EXISTS ${table} (id int); GRANT ALL ON ${table} TO PUBLIC`);
    for (const cut of [1, 5, 8, 16, 20]) {
      const c = await WireClient.connect(p.wireLogin());
      try {
        const binds = Array.from({ length: 50 }, (_, i) => [bind('', 'held_insert', [String(i)]), execute()]).flat();
        const batch = Buffer.concat([parse('held_insert', `INSERT INTO ${table} VALUES ($1)`), ...binds, sync()]);
        // The 26th Bind starts after the Parse and 25 Binds and Executes.
        const at =
          parse('held_insert', `INSERT INTO ${table} VALUES ($1)`).length +
          25 * (binds[0]!.length + binds[1]!.length) +
          cut;
        c.send(query('SELECT pg_catalog.pg_sleep(0.3)'));
        await sleep(50);
        c.send(batch.subarray(0, at));
        await sleep(50);
        c.send(batch.subarray(at));
        const answers = await c.untilReady(2);
        assert.deepEqual(errorCodes(answers), [], `cut ${cut}`);
        assert.equal(answers.filter((m) => m.type === 'C').length, 51, `cut ${cut}: the sleep and 50 inserts`);
      } finally {
        await c.close();
      }
    }
    const rows = await sqlOn(t.primary, `SELECT count(*)::int AS n FROM ${table}`);
    await sqlOn(t.primary, `DROP TABLE ${table}`);
    assert.equal(rows[0].n, 250);
  });
});

// Found by a helper with libpq's pipeline mode: PQsendFlushRequest after PQpipelineSync left
// the read's standby server linked, waiting for a Sync; the client's next write ran there
// (25006), and a client that then went idle held that server.
describe('a Flush after a Sync', { timeout: 60_000 }, () => {
  test('in the same write or a later one, ends nothing: the next write runs on the primary, and the server goes back', async () => {
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 0]),
      default_pool_size: 1,
      // A read after a write waits for the standby's replay (read_your_writes), not 50 ms then the primary.
      read_your_writes_timeout: 5,
    });
    const wire = await WireClient.connect(p.wireLogin());
    const other = new pg.Client(p.pgConfig());
    try {
      await other.connect();
      await sqlOn(
        t.primary,
        'CREATE TABLE IF NOT EXISTS flush_after_sync (n int); TRUNCATE flush_after_sync; GRANT ALL ON flush_after_sync TO PUBLIC',
      );
      const read = [parse('', 'SELECT pg_catalog.pg_is_in_recovery()'), bind('', ''), execute('', 0), sync()];
      const write = [parse('', 'INSERT INTO flush_after_sync VALUES (1)'), bind('', ''), execute('', 0), sync()];
      for (const apart of [false, true]) {
        if (apart) {
          wire.send(...read);
          wire.send(flush());
        } else wire.send(...read, flush());
        const rows = await wire.untilReady();
        assert.deepEqual(dataRows(rows), [['t']], 'the read ran on the standby');
        // The standby's only server is free for another client meanwhile.
        assert.equal((await other.query('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0].r, true);
        const wrote = await wire.exchange(...write);
        assert.deepEqual(errorCodes(wrote), [], `apart: ${apart}`);
      }
      // Flushes alone between transactions take no server.
      wire.send(flush(), flush());
      assert.equal((await other.query('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0].r, true);
      assert.deepEqual(errorCodes(await wire.exchange(query('SELECT 1'))), []);
    } finally {
      await wire.close();
      await other.end();
      await p.stop();
    }
  });
});
