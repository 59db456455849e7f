// pg_terminate_backend and pg_cancel_backend of the pid pgtide told a client act on that client,
// as they act on a backend of a direct connection: drivers' own suites (psycopg's test_broken and
// test_identify_closure, pgx's TestFatalRxError) end or cancel a
// connection by the pid it reports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

type Told = pg.Client & { processID: number };

interface Watched {
  c: Told;
  /** SQLSTATE of the error the connection itself reported (a FATAL while idle). */
  error: string | undefined;
  ended: boolean;
}

async function watched(config: pg.ClientConfig): Promise<Watched> {
  const w: Watched = { c: new pg.Client(config) as Told, error: undefined, ended: false };
  w.c.on('error', (e: Error & { code?: string }) => (w.error ??= e.code));
  w.c.on('end', () => (w.ended = true));
  await w.c.connect();
  return w;
}

function codeOf(running: Promise<unknown>): Promise<string | undefined> {
  return running.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );
}

/** A target client and a caller (of `callerConfig`), ended after `body` whatever became of them. */
async function withPair(
  p: RunningPgtide,
  callerConfig: pg.ClientConfig,
  body: (target: Watched, caller: Watched) => Promise<void>,
): Promise<void> {
  const target = await watched(p.pgConfig());
  const caller = await watched(p.pgConfig(callerConfig));
  try {
    await body(target, caller);
  } finally {
    await Promise.all([target.c.end().catch(() => {}), caller.c.end()]);
  }
}

/** `then` after 200 ms. */
async function sleepThen(then: () => Promise<unknown>): Promise<void> {
  await new Promise((r) => setTimeout(r, 200));
  await then();
}

/** The target runs pg_sleep(10); 200 ms in, the caller runs `sql` with the target's pid as $1.
 *  Resolves with the SQLSTATE the sleep ended with, and after how long. */
async function signalledMidSleep(target: Watched, caller: Watched, sql: string): Promise<[string | undefined, number]> {
  const started = Date.now();
  const sleeping = codeOf(target.c.query('SELECT pg_catalog.pg_sleep(10)'));
  await new Promise((r) => setTimeout(r, 200));
  await caller.c.query(sql, [target.c.processID]);
  const code = await sleeping;
  return [code, Date.now() - started];
}

describe('pg_terminate_backend and pg_cancel_backend of a pid pgtide told a client', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    // md5: the test users include one whose auth_file entry is an md5 hash.
    p = await startPgtide(t, { default_pool_size: 4, auth_type: 'md5' });
    await sqlOn(t.primary, `DROP TABLE IF EXISTS signal_rows; CREATE TABLE signal_rows (x int)`);
    await sqlOn(t.primary, `GRANT ALL ON signal_rows TO ${t.scramUser.user}`);
  });
  after(async () => {
    await p.stop();
  });

  test('terminating a client in a transaction ends it with 57P01 and rolls its work back', () =>
    withPair(p, {}, async (target, caller) => {
      await target.c.query('BEGIN');
      await target.c.query('INSERT INTO signal_rows VALUES (1)');
      const rows = await caller.c.query(`SELECT pg_catalog.pg_terminate_backend(${target.c.processID}) AS done`);
      assert.equal(rows.rows.length, 1, 'the caller gets its answer');
      await waitFor('the target to end', () => target.ended);
      assert.equal(target.error, '57P01');
      await waitFor('its transaction rolled back', async () => {
        const left = await sqlOn(
          t.primary,
          `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE state LIKE 'idle in transaction%'`,
        );
        return left[0]?.n === 0;
      });
      assert.deepEqual(await sqlOn(t.primary, 'SELECT count(*)::int AS n FROM signal_rows'), [{ n: 0 }]);
      assert.equal((await caller.c.query('SELECT 1 AS one')).rows[0].one, 1, 'the caller goes on');
    }));

  test('by a parameter: a client running pg_sleep(10) is ended at once', () =>
    withPair(p, {}, async (target, caller) => {
      const [code, ms] = await signalledMidSleep(target, caller, 'SELECT pg_catalog.pg_terminate_backend($1::int)');
      assert.equal(code, '57P01');
      assert.ok(ms < 3000, `ended after ${ms} ms`);
      await waitFor('the target to end', () => target.ended);
    }));

  test('by a named statement whose Parse and Bind come together (node-postgres), and again by its Bind alone', () =>
    withPair(p, {}, async (target, caller) => {
      const cancel = (pid: number) =>
        caller.c.query({ name: 'cancel_it', text: 'SELECT pg_cancel_backend($1)', values: [pid] });
      const [first] = await Promise.all([
        codeOf(target.c.query('SELECT pg_catalog.pg_sleep(10)')),
        sleepThen(() => cancel(target.c.processID)),
      ]);
      assert.equal(first, '57014');
      const [second] = await Promise.all([
        codeOf(target.c.query('SELECT pg_catalog.pg_sleep(10)')),
        sleepThen(() => cancel(target.c.processID)),
      ]);
      assert.equal(second, '57014');
    }));

  test('an idle client is ended too', () =>
    withPair(p, {}, async (target, caller) => {
      await caller.c.query('SELECT pg_catalog.pg_terminate_backend($1)', [target.c.processID]);
      await waitFor('the target to end', () => target.ended);
      assert.equal(target.error, '57P01');
    }));

  test('pg_cancel_backend cancels the statement the client runs, and the client goes on', () =>
    withPair(p, {}, async (target, caller) => {
      const [code, ms] = await signalledMidSleep(target, caller, 'SELECT pg_catalog.pg_cancel_backend($1)');
      assert.equal(code, '57014');
      assert.ok(ms < 3000, `cancelled after ${ms} ms`);
      assert.equal((await target.c.query('SELECT 1 AS one')).rows[0].one, 1);
      assert.equal(target.ended, false);
    }));

  test('a call in a failed transaction block does nothing, as PostgreSQL runs nothing there', () =>
    withPair(p, {}, async (target, caller) => {
      await caller.c.query('BEGIN');
      assert.equal(await codeOf(caller.c.query('SELECT 1 / 0')), '22012');
      const refused = codeOf(caller.c.query('SELECT pg_catalog.pg_terminate_backend($1)', [target.c.processID]));
      assert.equal(await refused, '25P02');
      await caller.c.query('ROLLBACK');
      assert.equal((await target.c.query('SELECT 1 AS one')).rows[0].one, 1);
      assert.equal(target.ended, false);
    }));

  test('another user may not: its call changes nothing', () =>
    withPair(p, { user: t.md5User.user, password: t.md5User.password }, async (target, other) => {
      const sleeping = codeOf(target.c.query('SELECT pg_catalog.pg_sleep(0.5)'));
      await other.c.query('SELECT pg_catalog.pg_cancel_backend($1)', [target.c.processID]);
      await other.c.query(`SELECT pg_catalog.pg_terminate_backend(${target.c.processID})`);
      assert.equal(await sleeping, undefined, 'the statement ran to its end');
      assert.equal((await target.c.query('SELECT 1 AS one')).rows[0].one, 1);
      assert.equal(target.ended, false);
    }));

  test('a superuser may', () =>
    withPair(p, { user: t.superuser.user, password: t.superuser.password }, async (target, admin) => {
      await admin.c.query(`SELECT pg_catalog.pg_terminate_backend(${target.c.processID})`);
      await waitFor('the target to end', () => target.ended);
      assert.equal(target.error, '57P01');
    }));
});
