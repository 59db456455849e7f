// read_your_writes reads a write transaction's WAL position (pg_current_wal_insert_lsn(), one
// round trip on the writer's server) so that the writer's reads wait for a standby to replay it. While no
// standby serves reads every read runs on the primary: behind a lone primary, as behind a plain
// transaction pooler, a write must cost no such round trip.
import { afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';
import { WRITE_POSITION } from '../../src/proxy/own-checks.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { sleep } from '../support/reader.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const INSERT = 'INSERT INTO write_position VALUES (1)';
const READ_POSITION = WRITE_POSITION;
/** A read the lexer alone classifies (a function call would go to the primary once, as a write,
 *  while the parser looks at it) that says which server ran it. */
const PORT = 'SHOW port';

/** What the server connections of `app`'s client ran last, once pgtide's own work after the
 *  client's answer (sent at once, when there is any) has had ample time to run. */
async function lastStatements(app: string): Promise<string[]> {
  await sleep(300);
  const rows = await sqlOn(
    t.primary,
    "SELECT query FROM pg_catalog.pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend'",
    [app],
  );
  return rows.map((r: { query: string }) => r.query);
}

describe('the write position of read_your_writes', { timeout: 60_000 }, () => {
  let p: RunningPgtide | undefined;
  let client: pg.Client | undefined;
  const start = async (app: string, overrides: Partial<Config>) => {
    p = await startPgtide(t, { default_pool_size: 1, ...overrides });
    client = new pg.Client(p.pgConfig({ application_name: app }));
    await client.connect();
    return { p, c: client };
  };

  before(async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS write_position; CREATE TABLE write_position (id int); GRANT ALL ON write_position TO ${t.scramUser.user}`,
    );
  });
  afterEach(async () => {
    await client?.end();
    await p?.stop();
    client = p = undefined;
  });

  test('behind a lone primary a write transaction costs no round trip of pgtide', async () => {
    const { p: pgtide, c } = await start('wpos-lone', {});
    assert.equal(pgtide.pgtide.context.router.standbyReadable(), false);
    await c.query(INSERT);
    assert.deepEqual(await lastStatements('wpos-lone'), [INSERT]);
  });

  for (const consistency of ['read_your_writes', 'primary_only'] as const)
    test(`${consistency}: a read sent to the primary after a write does not take over the client's sequences: currval never answers another client's nextval`, async () => {
      await sqlOn(
        t.primary,
        `DROP SEQUENCE IF EXISTS wpos_seq; CREATE SEQUENCE wpos_seq; GRANT ALL ON wpos_seq TO ${t.scramUser.user}`,
      );
      const { p: pgtide, c: a } = await start('wpos-seq', { default_pool_size: 2, consistency });
      const b = new pg.Client(pgtide.pgConfig());
      const holder = new pg.Client(pgtide.pgConfig());
      await Promise.all([b.connect(), holder.connect()]);
      try {
        const own = (await a.query("SELECT nextval('wpos_seq') AS v")).rows[0].v;
        // The server that ran it is held by another client's transaction...
        await holder.query('BEGIN');
        await holder.query('SELECT 1');
        // ...so another client's nextval, then this client's read, run on the other one.
        const other = (await b.query("SELECT nextval('wpos_seq') AS v")).rows[0].v;
        await a.query('SELECT 1');
        await holder.query('COMMIT');
        // Its own value, or 55000 where its server went to another client since (transaction-pooling.md).
        const answer = await a.query("SELECT currval('wpos_seq') AS v").then(
          (r) => r.rows[0].v as string,
          (err: { code?: string }) => err.code,
        );
        assert.notEqual(answer, other, "another client's value");
        assert.ok(answer === own || answer === '55000', `currval answered ${answer}`);
      } finally {
        await Promise.all([b.end(), holder.end()]);
      }
    });

  test("behind a lone primary DDL's position is still read, on the writer's own server (the schema fence)", async () => {
    const { p: pgtide, c } = await start('wpos-ddl', { default_pool_size: 2, min_pool_size: 2 });
    // Another idle server, which a position read elsewhere would take.
    await c.query('SELECT 1');
    await waitFor('two idle servers', () => [...pgtide.pgtide.context.pools.all()].some((pool) => pool.idleCount >= 2));
    const ddl = 'CREATE TABLE IF NOT EXISTS write_position_ddl (id int)';
    await c.query(ddl);
    const last = await lastStatements('wpos-ddl');
    assert.ok(last.includes(READ_POSITION), 'the position was read');
    assert.ok(!last.includes(ddl), `the DDL's own server read the position after it: ${last.join('; ')}`);
  });

  test('while a standby serves reads, the position is read after the write', async () => {
    const { p: pgtide, c } = await start('wpos-split', {
      backends: clusterBackends(t, [0, 1, 1]),
      delay_threshold: 0,
      delay_threshold_by_time: 0,
    });
    await waitFor('a standby serving reads', () => pgtide.pgtide.context.router.standbyReadable());
    await c.query(INSERT);
    assert.deepEqual(await lastStatements('wpos-split'), [READ_POSITION]);
  });

  test('a client that wrote while no standby served reads: its next read runs on the primary once one does, with the position read after it', async () => {
    const { p: pgtide, c } = await start('wpos-later', {
      backends: clusterBackends(t, [0, 1, 1]),
      delay_threshold: 0,
      delay_threshold_by_time: 0,
      load_balance_mode: false,
    });
    await c.query(INSERT);
    pgtide.pgtide.reload({ ...pgtide.config, load_balance_mode: true });
    await waitFor('a standby serving reads', () => pgtide.pgtide.context.router.standbyReadable());
    assert.equal(Number((await c.query(PORT)).rows[0].port), t.primary.port);
    assert.deepEqual(await lastStatements('wpos-later'), [READ_POSITION]);
    // Past that position, its reads go to the standbys again.
    const standbyPorts = new Set(t.standbys.map((s) => s.port));
    await waitFor('a read on a standby', async () => standbyPorts.has(Number((await c.query(PORT)).rows[0].port)));
  });
});
