import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentTopology, scramLogin, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

describe('session state pins a client to its server in transaction mode', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let other: pg.Client;
  const pid = async (c: pg.Client) =>
    (await c.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid as number;
  const pins = () => [...p.pgtide.context.pools.all()].reduce((n, pool) => n + pool.stats.pins, 0);
  const pinnedNow = () => [...p.pgtide.context.clients].filter((c) => c.pinned).length;

  before(async () => {
    p = await startPgtide(t, { default_pool_size: 3 });
    other = new pg.Client(p.pgConfig());
    await other.connect();
  });
  after(async () => {
    await other.end();
    await p.stop();
  });

  /** Three new clients in turn, any server: none finds the temporary `relation` a client that left made. */
  async function noNextClientSees(relation: string): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const n = new pg.Client(p.pgConfig());
      await n.connect();
      await assert.rejects(n.query(`SELECT * FROM ${relation}`), (e: { code?: string }) => e.code === '42P01');
      await n.end();
    }
  }

  /** Keep two other clients busy so that an unpinned client would change servers. */
  async function churn(): Promise<void> {
    await Promise.all([other.query('SELECT pg_catalog.pg_sleep(0.01)'), other.query('SELECT 1')]);
  }

  test('a temporary table pins, survives transactions, and unpins when dropped', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const before = pins();
    await c.query('CREATE TEMP TABLE pin_tmp (a int)');
    assert.equal(pins(), before + 1);
    assert.equal(pinnedNow(), 1);
    const first = await pid(c);
    for (let i = 0; i < 5; i++) {
      await churn();
      await c.query('INSERT INTO pin_tmp VALUES ($1)', [i]);
      assert.equal(await pid(c), first);
    }
    assert.equal((await c.query('SELECT count(*)::int AS n FROM pin_tmp')).rows[0].n, 5);
    await assert.rejects(other.query('SELECT * FROM pin_tmp'), (e: { code?: string }) => e.code === '42P01');
    await c.query('DROP TABLE pin_tmp');
    await c.query('SELECT 1');
    await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    await c.end();
  });

  // Helper r1: a listener's probe ran after every request, each statement Close included.
  test("a pinned client's transactions that cannot end its state run no probe after them; a DROP does", async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('CREATE TEMP TABLE pin_quiet (a int)');
    const backend = await pid(c);
    const lastQuery = async () => {
      await sleep(100);
      const rows = await sqlOn<{ query: string }>(
        t.primary,
        'SELECT query FROM pg_catalog.pg_stat_activity WHERE pid = $1',
        [backend],
      );
      return rows[0]?.query;
    };
    for (let i = 0; i < 3; i++) {
      await c.query('INSERT INTO pin_quiet VALUES ($1)', [i]);
      assert.equal(await lastQuery(), 'INSERT INTO pin_quiet VALUES ($1)');
      await c.query('SELECT count(*) FROM pin_quiet');
      assert.equal(await lastQuery(), 'SELECT count(*) FROM pin_quiet');
    }
    assert.equal(pinnedNow(), 1);
    await c.query('DROP TABLE pin_quiet');
    await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    assert.notEqual(await lastQuery(), 'DROP TABLE pin_quiet');
    await c.end();
  });

  test('a session advisory lock pins until it is released', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('SELECT pg_catalog.pg_advisory_lock(4242)');
    assert.equal(pinnedNow(), 1);
    const first = await pid(c);
    await churn();
    assert.equal(await pid(c), first);
    await c.query('SELECT pg_catalog.pg_advisory_unlock(4242)');
    await c.query('SELECT 1');
    await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    await c.end();
  });

  test("a session advisory lock taken after a set_config in the same statement pins (kysely's migration lock)", async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    for (const lock of [
      `WITH set_timeout AS (SELECT pg_catalog.set_config('lock_timeout', '3600000', true) AS config_val)
        SELECT pg_catalog.pg_advisory_lock(4243) FROM set_timeout`,
      `SELECT pg_catalog.set_config('application_name', 'migrator', false), pg_catalog.pg_advisory_lock(4243)`,
    ]) {
      await c.query(lock);
      assert.equal(pinnedNow(), 1, lock);
      // The lock was left on a server back in the pool: another client's statement there took it again.
      assert.equal((await other.query('SELECT pg_catalog.pg_try_advisory_lock(4243) AS got')).rows[0].got, false);
      assert.equal((await c.query('SELECT pg_catalog.pg_advisory_unlock(4243) AS released')).rows[0].released, true);
      await c.query('SELECT 1');
      await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    }
    await c.end();
  });

  test('a WITH HOLD cursor pins until it is closed', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('BEGIN');
    await c.query('DECLARE pin_cur CURSOR WITH HOLD FOR SELECT g FROM pg_catalog.generate_series(1, 10) g');
    await c.query('COMMIT');
    assert.equal(pinnedNow(), 1);
    await churn();
    assert.deepEqual(
      (await c.query('FETCH 3 FROM pin_cur')).rows.map((r) => r.g),
      [1, 2, 3],
    );
    await churn();
    assert.deepEqual(
      (await c.query('FETCH 2 FROM pin_cur')).rows.map((r) => r.g),
      [4, 5],
    );
    await c.query('CLOSE pin_cur');
    await c.query('SELECT 1');
    await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    await c.end();
  });

  // Found by ts-postgres' suite: a function or table made by a pg_temp name, with no TEMP,
  // neither pinned its client nor got its server reset: the client lost it at its next
  // transaction, and the next client of that server called it.
  test('an object made in pg_temp by name pins like a temporary table, and unpins when dropped', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query(`CREATE FUNCTION pg_temp.pin_fn() RETURNS text AS $$ SELECT 'mine'::text $$ LANGUAGE sql`);
    assert.equal(pinnedNow(), 1);
    const first = await pid(c);
    for (let i = 0; i < 3; i++) {
      await churn();
      assert.equal((await c.query('SELECT pg_temp.pin_fn() AS v')).rows[0].v, 'mine');
      assert.equal(await pid(c), first);
    }
    await c.query('DROP FUNCTION pg_temp.pin_fn()');
    await c.query('SELECT 1');
    await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    await c.query(`CREATE TABLE pg_temp.pin_named (a int)`);
    await churn();
    await c.query('INSERT INTO pg_temp.pin_named VALUES (1)');
    assert.equal((await c.query('SELECT count(*)::int AS n FROM pg_temp.pin_named')).rows[0].n, 1);
    await c.end();
    await noNextClientSees('pg_temp.pin_named');
  });

  test('a temporary object of any kind made where pgtide cannot see (a DO block) pins, and unpins when dropped', async () => {
    const kinds = [
      ["TYPE pg_temp.pin_k AS ENUM ('a')", 'TYPE pg_temp.pin_k'],
      ['DOMAIN pg_temp.pin_k AS int', 'DOMAIN pg_temp.pin_k'],
      ['OPERATOR pg_temp.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)', 'OPERATOR pg_temp.=== (int, int)'],
      ['SEQUENCE pg_temp.pin_k', 'SEQUENCE pg_temp.pin_k'],
      ['VIEW pg_temp.pin_k AS SELECT 1 AS a', 'VIEW pg_temp.pin_k'],
    ];
    for (const [create, drop] of kinds) {
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      await c.query(`DO $$ BEGIN EXECUTE 'CREATE ${create!.replaceAll("'", "''")}'; END $$`);
      // The probe after code pgtide cannot see into runs once the client has its answer.
      await waitFor(`the client to be pinned after CREATE ${create}`, () => pinnedNow() === 1);
      const first = await pid(c);
      await churn();
      assert.equal(await pid(c), first, create);
      await c.query(`DO $$ BEGIN EXECUTE 'DROP ${drop}'; END $$`);
      await waitFor(`the client to be unpinned after DROP ${drop}`, () => pinnedNow() === 0);
      await c.end();
    }
  });

  test('a table made by SELECT INTO pg_temp pins like a temporary table', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('SELECT 7 AS a INTO pg_temp.pin_into');
    assert.equal(pinnedNow(), 1);
    const first = await pid(c);
    await churn();
    assert.equal((await c.query('SELECT a FROM pg_temp.pin_into')).rows[0].a, 7);
    assert.equal(await pid(c), first);
    await c.end();
    await noNextClientSees('pg_temp.pin_into');
  });

  test('a pinned client that leaves does not hand its state to the next client', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('CREATE TEMP TABLE pin_left (a int)');
    await c.end();
    await noNextClientSees('pin_left');
  });

  test('a pinned client that leaves while pgtide reads its settings back does not hand its state on', async () => {
    // The SET makes pgtide read settings back right after the last statement; the client is gone
    // by the time that answer comes, so the server is no longer linked to it.
    for (let round = 0; round < 8; round++) {
      const c = new pg.Client(p.pgConfig());
      c.on('error', () => {});
      await c.connect();
      await c.query(`CREATE TEMP TABLE pin_gone_${round} (a int); SET search_path = pin_gone; SELECT 1`);
      // Gone at once, without a Terminate.
      (c as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const temp = `SELECT count(*)::int AS n FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()`;
      for (let i = 0; i < 3; i++) {
        const n = new pg.Client(p.pgConfig());
        await n.connect();
        assert.equal((await n.query(temp)).rows[0].n, 0, `round ${round}: another client sees the temporary table`);
        await n.end();
      }
    }
  });

  test("a statement_timeout that cancels pgtide's own read-back keeps the client on its server, working", async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    try {
      await c.query('SET statement_timeout = 1');
      // On a busy machine the client's own 1 ms timeout may cancel one of its own statements too
      // (PostgreSQL says "user request" when the timer fires just as the previous statement ends):
      // that statement is run again, as its application would. The server must stay the same.
      const own = async <T>(statement: () => Promise<T>): Promise<T> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await statement();
          } catch (err) {
            if ((err as { code?: string }).code !== '57014' || attempt === 20) throw err;
          }
        }
      };
      const first = await own(() => pid(c));
      for (let i = 0; i < 10; i++) {
        await churn();
        assert.equal((await own(() => c.query('SELECT 1 AS one'))).rows[0].one, 1);
        assert.equal(await own(() => pid(c)), first);
      }
      assert.equal((await own(() => c.query('SHOW statement_timeout'))).rows[0].statement_timeout, '1ms');
      assert.equal((await other.query('SHOW statement_timeout')).rows[0].statement_timeout, '0');
    } finally {
      await c.end();
    }
  });

  test('LISTEN on client A, NOTIFY from client B: delivered within 100 ms in transaction mode', async () => {
    const a = new pg.Client(p.pgConfig());
    const b = new pg.Client(p.pgConfig());
    await Promise.all([a.connect(), b.connect()]);
    await a.query('LISTEN pin_channel');
    const received = new Promise<{ payload?: string; at: number }>((resolve) =>
      a.on('notification', (n) => resolve({ payload: n.payload, at: Date.now() })),
    );
    await churn();
    const sentAt = Date.now();
    await b.query(`NOTIFY pin_channel, 'hello'`);
    const got = await received;
    assert.equal(got.payload, 'hello');
    assert.ok(got.at - sentAt <= 100, `delivered after ${got.at - sentAt} ms`);
    await a.query('UNLISTEN *');
    await a.query('SELECT 1');
    await waitFor('the listener to be unpinned', () => pinnedNow() === 0);
    await Promise.all([a.end(), b.end()]);
  });
});

describe('setseed() pins its client for good', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    // Reads on the standbys, one server connection to the primary.
    p = await startPgtide(t, { default_pool_size: 1, backends: clusterBackends(t, [0, 1, 1]) });
  });
  after(async () => {
    await p.stop();
  });

  /** random() after setseed(0.5), `count` times, as PostgreSQL gives them to one session. */
  async function seeded(config: pg.ClientConfig, count: number): Promise<number[]> {
    const c = new pg.Client(config);
    await c.connect();
    try {
      await c.query('SELECT setseed(0.5)');
      const values: number[] = [];
      for (let i = 0; i < count; i++) values.push((await c.query('SELECT random() AS r')).rows[0].r);
      return values;
    } finally {
      await c.end();
    }
  }

  test('random() goes on from the seed across transactions, and no later client gets it', async () => {
    const direct = await seeded(scramLogin(t, t.primary), 10);
    assert.deepEqual(await seeded(p.pgConfig(), 3), direct.slice(0, 3));
    // The next client on the one primary server: a fresh backend, not the rest of the seed's run.
    const next = new pg.Client(p.pgConfig());
    await next.connect();
    try {
      const r = (await next.query('/* pgtide: primary */ SELECT random() AS r')).rows[0].r;
      assert.ok(!direct.includes(r), `the next client's random() ${r} is in the seeded run`);
    } finally {
      await next.end();
    }
  });
});

describe('pin_on_session_state = error', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { default_pool_size: 2, pin_on_session_state: 'error' });
  });
  after(async () => {
    await p.stop();
  });

  test('a simple-protocol statement that would pin fails with 0A000 and is not run; the session goes on', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    for (const sql of [
      'CREATE TEMP TABLE refused_tmp (a int)',
      'SELECT pg_catalog.pg_advisory_lock(77)',
      'LISTEN refused_channel',
      'SELECT setseed(0.5)',
    ]) {
      await assert.rejects(
        c.query(sql),
        (e: { code?: string; message?: string }) =>
          e.code === '0A000' && /pin_on_session_state = error/.test(e.message ?? ''),
        sql,
      );
    }
    assert.equal([...p.pgtide.context.clients].filter((s) => s.pinned || s.pinnedForGood).length, 0);
    // Nothing ran: no table, no lock held by anyone.
    await assert.rejects(c.query('SELECT * FROM refused_tmp'), (e: { code?: string }) => e.code === '42P01');
    const locks = await c.query(
      `SELECT count(*)::int AS n FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND objid = 77`,
    );
    assert.equal(locks.rows[0].n, 0);
    // Inside a transaction the refusal aborts it, as any failed statement does.
    await c.query('BEGIN');
    await assert.rejects(
      c.query('CREATE TEMP TABLE refused_tmp (a int)'),
      (e: { code?: string }) => e.code === '0A000',
    );
    await assert.rejects(c.query('SELECT 1'), (e: { code?: string }) => e.code === '25P02');
    await c.query('ROLLBACK');
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.end();
  });
});
