// libpq's PQprepare then PQexecPrepared, as PHP's PDO (native prepares, its default for pgsql)
// sends them: Parse, Sync once; then Bind, Describe portal, Execute, Sync for every execution.
// PDO reads the columns from the first execution's RowDescription and keeps them for the
// statement's life, trusting PostgreSQL's promise that a prepared statement's result never
// changes shape: after a table change PostgreSQL fails the Bind with 0A000 "cached plan must not
// change result type". pgtide ran the statement again, prepared afresh, because the client asks
// for the portal's shape: PDO then read three columns with two descriptions and PHP crashed
// (SIGSEGV), or named a column after another statement's value (found by a soak of every
// driver under an ALTER TABLE now and then).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, scramLogin, sqlOn, standbysCaughtUp } from '../support/topology.js';
import { clusterBackends } from '../support/pgtide.js';
import {
  WireClient,
  bind,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  parse,
  query,
  sync,
  useWirePgtide,
} from '../support/pipeline.js';

const t = currentTopology();

/** PQexecPrepared: Bind, Describe portal, Execute, Sync. */
const execPrepared = (statement: string) => [bind('', statement), describeMessage('P', ''), execute(), sync()];

/** A table of one row, a statement reading all of its columns, run once: the client holds two columns. */
async function prepareAndRun(c: WireClient, table: string): Promise<void> {
  await c.exchange(
    query(
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int, a text); INSERT INTO ${table} VALUES (1, 'a')`,
    ),
  );
  await c.exchange(parse('pdo_stmt_00000001', `SELECT * FROM ${table}`), sync());
  assert.deepEqual(dataRows(await c.exchange(...execPrepared('pdo_stmt_00000001'))), [['1', 'a']]);
}

/** After the table gained a column: PostgreSQL's 0A000 at every execution of the statement
 *  (`thenCheck` runs after them); prepared again under a new name (PDO's next prepare()), it
 *  has the new shape. */
async function refusedThenPreparedAgain(c: WireClient, table: string, thenCheck?: () => Promise<void>): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const got = await c.exchange(...execPrepared('pdo_stmt_00000001'));
    assert.deepEqual(
      { errors: errorCodes(got), rows: dataRows(got) },
      { errors: ['0A000'], rows: [] },
      `run ${i} after the change`,
    );
  }
  await thenCheck?.();
  await c.exchange(parse('pdo_stmt_00000002', `SELECT * FROM ${table}`), sync());
  assert.deepEqual(dataRows(await c.exchange(...execPrepared('pdo_stmt_00000002'))), [['1', 'a', 'b']]);
}

describe('a prepared statement whose table changed, executed with a Describe of its portal', {
  timeout: 60_000,
}, () => {
  const one = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  for (const [name, login, table] of [
    ['direct', () => scramLogin(t, t.primary), 'portal_stale_direct'],
    ['through pgtide, one server', () => one.login(), 'portal_stale_one'],
  ] as const) {
    test(`${name}: 0A000 after an ADD COLUMN, as long as the statement lives`, async () => {
      const c = await WireClient.connect(login());
      const other = await WireClient.connect(login());
      try {
        await prepareAndRun(c, table);
        await other.exchange(query(`ALTER TABLE ${table} ADD COLUMN b text DEFAULT 'b'`));
        await refusedThenPreparedAgain(c, table);
      } finally {
        await c.exchange(query(`DROP TABLE IF EXISTS ${table}`)).catch(() => undefined);
        await c.close();
        await other.close();
      }
    });
  }

  // The client's next execution lands on a server connection that never had the statement: the
  // copy prepared there afresh has the new shape, and the client still holds the old one.
  const three = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 3 });

  /** Holds a server connection of the pool in a transaction block, so that the client's next
   *  transaction takes another one (a new one, once those before are held). */
  async function holdServer(): Promise<WireClient> {
    const h = await WireClient.connect(three.login());
    await h.exchange(query('BEGIN; SELECT 1'));
    return h;
  }

  test('through pgtide, on a server the statement was never prepared on: its shape as it is there', async () => {
    const table = 'portal_stale_three';
    const c = await WireClient.connect(three.login());
    const direct = await WireClient.connect(scramLogin(t, t.primary));
    const held: WireClient[] = [];
    try {
      await prepareAndRun(c, table);
      // Unchanged, the statement prepared afresh on a second server has the shape the client holds.
      held.push(await holdServer());
      assert.deepEqual(dataRows(await c.exchange(...execPrepared('pdo_stmt_00000001'))), [['1', 'a']]);
      held.push(await holdServer());
      await direct.exchange(query(`ALTER TABLE ${table} ADD COLUMN b text DEFAULT 'b'`));
      // Both servers the client used are held: its next executions run on a third, new one.
      await refusedThenPreparedAgain(c, table, async () => {
        const pools = [...three.pgtide().pgtide.context.pools.all()];
        assert.equal(
          pools.reduce((n, pool) => n + pool.idleCount + pool.activeCount, 0),
          3,
          'the client did not run on a third server connection',
        );
      });
    } finally {
      for (const h of held) await h.close();
      await direct.exchange(query(`DROP TABLE IF EXISTS ${table}`)).catch(() => undefined);
      await c.close();
      await direct.close();
    }
  });
});

// Reads go to standbys. A standby that has not replayed the table change yet gives a copy
// prepared there the old shape: a client told the new one (by the primary) gets its rows from
// the primary, as a read the standby refuses does, not PostgreSQL's 0A000 for a change it made
// no mistake about.
describe('a statement whose shape the client got from the primary, on a standby that lags behind a table change', {
  timeout: 60_000,
}, () => {
  const cluster = useWirePgtide(t, {
    pool_mode: 'transaction',
    backends: clusterBackends(t, [0, 1, 1]),
    // The first run, on the primary, must not make the next ones wait for the standbys to replay it.
    consistency: 'eventual',
  });

  test('runs on the primary: the rows of the shape the client holds', async () => {
    const table = 'portal_stale_lag';
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int, a text); INSERT INTO ${table} VALUES (1, 'a'); GRANT ALL ON ${table} TO ${t.scramUser.user}`,
    );
    await standbysCaughtUp(t);
    const c = await WireClient.connect(cluster.login());
    try {
      for (const standby of t.standbys) await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_pause()', [], 'postgres');
      await sqlOn(t.primary, `ALTER TABLE ${table} ADD COLUMN b text DEFAULT 'b'`);
      for (const standby of t.standbys) {
        const rows = await sqlOn(standby, `SELECT * FROM ${table}`);
        assert.deepEqual(Object.keys(rows[0]!), ['id', 'a'], `${standby.name} replayed the change`);
      }
      await c.exchange(query(`SET pgtide.route = 'primary'`));
      await c.exchange(parse('pdo_stmt_00000001', `SELECT * FROM ${table}`), sync());
      assert.deepEqual(dataRows(await c.exchange(...execPrepared('pdo_stmt_00000001'))), [['1', 'a', 'b']]);
      await c.exchange(query(`SET pgtide.route = 'standby'`));
      const pools = () => [...cluster.pgtide().pgtide.context.pools.all()];
      const lentOnStandbys = () =>
        pools()
          .filter((pool) => pool.key.backend !== t.primary.name)
          .reduce((n, pool) => n + pool.lentTotal, 0);
      const lentBefore = lentOnStandbys();
      for (let i = 0; i < 3; i++) {
        const got = await c.exchange(...execPrepared('pdo_stmt_00000001'));
        assert.deepEqual(
          { errors: errorCodes(got), rows: dataRows(got) },
          { errors: [], rows: [['1', 'a', 'b']] },
          `run ${i}`,
        );
      }
      assert.ok(lentOnStandbys() >= lentBefore + 3, 'the runs were not sent to the standbys first');
    } finally {
      for (const standby of t.standbys)
        await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_resume()', [], 'postgres').catch(() => {});
      await c.close();
      await sqlOn(t.primary, `DROP TABLE IF EXISTS ${table}`).catch(() => {});
    }
  });
});
