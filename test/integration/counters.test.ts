// SHOW STATS, SHOW POOLS and /metrics count what really went through pgtide: queries and
// transactions with their times, errors by SQLSTATE, pinned clients.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';
import { WireClient, bind, execute, parse, sync } from '../support/pipeline.js';
import { AdminConsole } from '../../src/admin/console.js';
import { createMetrics } from '../../src/admin/metrics.js';
import { decodeAnswer, parsePrometheusText, records, total } from '../unit/admin-decode.js';

const t = currentTopology();
/** A second client-facing name for the same database, pooled in session mode. */
const SESSION_DB = 'counters_session';
/** A third, with one server connection: a second client waits for it. */
const ONE_SERVER_DB = 'counters_one_server';

describe('traffic counters', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  const show = (item: string) => {
    const answer = decodeAnswer(new AdminConsole(p.pgtide).run({ sql: `SHOW ${item}`, user: 'ops', admin: true }));
    assert.equal(answer.error, null);
    return records(answer.results[0]!);
  };
  const stats = (database = t.database) => {
    const row = show('STATS').find((r) => r['database'] === database);
    return (column: string) => Number(row?.[column] ?? 0);
  };
  const metrics = async () => parsePrometheusText(await createMetrics(p.pgtide).metrics()).samples;
  const connect = async (database = t.database) => {
    const c = new pg.Client(p.pgConfig({ database }));
    await c.connect();
    return c;
  };

  before(async () => {
    await sqlOn(
      t.primary,
      `
      CREATE TABLE IF NOT EXISTS counters_t (id serial PRIMARY KEY);
      CREATE OR REPLACE FUNCTION counters_bump() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO counters_t DEFAULT VALUES RETURNING id';
      GRANT ALL ON counters_t, counters_t_id_seq TO ${t.scramUser.user};
      GRANT EXECUTE ON FUNCTION counters_bump() TO ${t.scramUser.user};`,
    );
    p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      databases: {
        [t.database]: { dbname: t.database },
        [SESSION_DB]: { dbname: t.database, pool_mode: 'session' },
        [ONE_SERVER_DB]: { dbname: t.database, pool_size: 1 },
      },
      // The operator wrongly lists a writing function as read-only: a standby refuses it with 25006.
      read_only_function_list: ['counters_bump'],
    });
    await waitFor('a primary', () => p.pgtide.context.router.writeBackend() !== null);
  });
  after(() => p.stop());

  test('N transactions of 3 queries each: query and transaction counts and times in SHOW STATS and /metrics', async () => {
    const N = 20;
    const before_ = stats();
    const metricsBefore = await metrics();
    const c = await connect();
    for (let i = 0; i < N; i++) {
      await c.query('BEGIN');
      // Extended protocol (a parameter), 2 ms inside the server.
      await c.query('SELECT pg_catalog.pg_sleep(0.002), $1::int AS i', [i]);
      await c.query('COMMIT');
    }
    await c.end();
    const after_ = stats();
    const delta = (column: string) => after_(column) - before_(column);
    assert.ok(delta('total_query_count') >= 3 * N, `total_query_count grew by ${delta('total_query_count')}`);
    assert.ok(delta('total_xact_count') >= N, `total_xact_count grew by ${delta('total_xact_count')}`);
    // Each transaction holds a 2 ms sleep: its queries and the transaction take at least that.
    assert.ok(delta('total_query_time') >= N * 2000, `total_query_time grew by ${delta('total_query_time')} µs`);
    assert.ok(
      delta('total_xact_time') >= delta('total_query_time') - N * 1000,
      `total_xact_time ${delta('total_xact_time')} µs covers the queries' ${delta('total_query_time')} µs`,
    );
    assert.ok(after_('avg_query_time') > 0 && after_('avg_xact_time') > 0);

    const m = await metrics();
    const grew = (name: string) =>
      total(m, name, { database: t.database }) - total(metricsBefore, name, { database: t.database });
    assert.ok(grew('pgtide_queries_total') >= 3 * N, `pgtide_queries_total grew by ${grew('pgtide_queries_total')}`);
    assert.ok(grew('pgtide_transactions_total') >= N);
    assert.ok(
      grew('pgtide_query_seconds_total') >= N * 0.002,
      `pgtide_query_seconds_total grew by ${grew('pgtide_query_seconds_total')}`,
    );
    assert.ok(grew('pgtide_transaction_seconds_total') >= N * 0.001);
  });

  test('sync points pipelined before the first answer count as one query, as in PgBouncer', async () => {
    const c = await WireClient.connect(p.wireLogin());
    const statement = (n: number) => [parse('', `SELECT ${n}`), bind('', ''), execute(), sync()];
    const count = () => stats()('total_query_count');
    const before_ = count();
    await c.exchange(...statement(1), ...statement(2), ...statement(3));
    assert.equal(count() - before_, 1, 'one round trip: one query');
    for (let n = 1; n <= 3; n++) await c.exchange(...statement(n));
    assert.equal(count() - before_, 4, 'three more round trips: three more queries');
    await c.close();
  });

  test('bytes a client sent while it waited for a server count in total_received, as those sent to a linked server', async () => {
    const insert = 'INSERT INTO counters_t DEFAULT VALUES';
    // A Query message: type byte, length, the text and its terminating zero.
    const queryBytes = (sql: string) => 1 + 4 + Buffer.byteLength(sql) + 1;
    const holder = await connect(ONE_SERVER_DB);
    const waiter = await connect(ONE_SERVER_DB);
    try {
      await holder.query('BEGIN');
      await holder.query(insert);
      const before_ = stats(ONE_SERVER_DB)('total_received');
      const waited = waiter.query(insert);
      await waitFor('the second client waiting', () =>
        show('POOLS').some((r) => r['database'] === ONE_SERVER_DB && r['cl_waiting'] === '1'),
      );
      await holder.query('COMMIT');
      await waited;
      assert.equal(stats(ONE_SERVER_DB)('total_received') - before_, queryBytes('COMMIT') + queryBytes(insert));
    } finally {
      await holder.end();
      await waiter.end();
    }
  });

  test('session pooling counts queries and transactions too', async () => {
    const before_ = stats(SESSION_DB);
    const c = await connect(SESSION_DB);
    for (let i = 0; i < 5; i++) await c.query('SELECT pg_catalog.pg_sleep(0.001)');
    await c.end();
    const after_ = stats(SESSION_DB);
    assert.ok(after_('total_xact_count') - before_('total_xact_count') >= 5, 'autocommit statements are transactions');
    assert.ok(after_('total_query_count') - before_('total_query_count') >= 5);
    assert.ok(after_('total_xact_time') - before_('total_xact_time') >= 5000);
  });

  test("errors sent to clients are counted by SQLSTATE: the server's and pgtide's own", async () => {
    const errors = async (sqlstate: string) => total(await metrics(), 'pgtide_errors_total', { sqlstate });
    const division = await errors('22012');
    const c = await connect();
    await assert.rejects(c.query('SELECT 1/0'), { code: '22012' });
    await assert.rejects(c.query('SELECT $1::int / 0', [1]), { code: '22012' });
    await c.end();
    assert.equal((await errors('22012')) - division, 2);

    // pgtide's own FATAL: a database not listed in [databases].
    const missing = await errors('3D000');
    await assert.rejects(connect('counters_nowhere'), { code: '3D000' });
    assert.equal((await errors('3D000')) - missing, 1);
  });

  test("a standby's 25006 that pgtide runs again on the primary reaches no client and is not counted", async () => {
    const errors = async () => total(await metrics(), 'pgtide_errors_total', { sqlstate: '25006' });
    const refused = await errors();
    const c = await connect();
    for (let i = 0; i < 3; i++) {
      const { rows } = await c.query('SELECT counters_bump() AS id');
      assert.ok(Number(rows[0].id) >= 1);
    }
    await c.end();
    assert.ok(
      p.logs.some((l) => String(l['msg']).includes('25006')),
      'a standby refused the write and pgtide retried it',
    );
    assert.equal(await errors(), refused);
  });

  test('a pinned client shows in SHOW POOLS (cl_pinned, pin_count) until its session state is gone', async () => {
    const pools = () => show('POOLS').find((r) => r['database'] === t.database && r['user'] === t.scramUser.user)!;
    const pinsBefore = Number(pools()['pin_count']);
    const c = await connect();
    try {
      await c.query('CREATE TEMP TABLE counters_pin (a int)');
      assert.equal(pools()['cl_pinned'], '1');
      assert.equal(Number(pools()['pin_count']), pinsBefore + 1);
      await c.query('DROP TABLE counters_pin');
      // The probe that finds the state gone runs after the client has its answer.
      await waitFor('the client to be unpinned', () => pools()['cl_pinned'] === '0');
      assert.equal(Number(pools()['pin_count']), pinsBefore + 1, 'pin_count counts pins since start');
      const m = parsePrometheusText(await createMetrics(p.pgtide).metrics()).samples;
      assert.equal(total(m, 'pgtide_pins_total', { database: t.database }), pinsBefore + 1);
    } finally {
      await c.end();
    }
  });
});
