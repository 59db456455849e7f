// Session state made by running a named prepared statement again (a Bind, with no Parse: the
// driver prepared it in an earlier transaction) is seen exactly as through a Query: it pins the
// client, and settings follow it to every server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

describe('session state made by re-executed prepared statements, transaction pooling', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  const pinnedNow = () => [...p.pgtide.context.clients].filter((c) => c.pinned).length;
  // A pinned client keeps one server: the others go on with the rest.
  before(async () => {
    p = await startPgtide(t, { default_pool_size: 2 });
  });
  after(() => p.stop());

  test('postgres.js: LISTEN again after UNLISTEN (its cached `listen "channel"` statement) pins and gets notifications', async () => {
    const sql = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    const notifier = new pg.Client(p.pgConfig());
    await notifier.connect();
    try {
      const got: string[] = [];
      const first = await sql.listen('prep_chan', (payload) => got.push(payload));
      assert.equal(pinnedNow(), 1);
      await first.unlisten();
      // After the UNLISTEN's transaction pgtide finds no state left: the listener is unpinned.
      await waitFor('the listener to be unpinned', () => pinnedNow() === 0);
      // The same text on the same connection: postgres.js sends only Bind/Execute.
      await sql.listen('prep_chan', (payload) => got.push(payload));
      assert.equal(pinnedNow(), 1, 'a LISTEN run by Bind did not pin its client');
      for (let i = 0; i < 3; i++) await notifier.query(`NOTIFY prep_chan, 'n${i}'`);
      await waitFor('the notifications', () => got.length === 3);
      assert.deepEqual(got, ['n0', 'n1', 'n2']);
      // No pooled server listens: the listener's server is not lent to anyone else.
      const listening = await notifier.query('SELECT count(*)::int AS n FROM pg_catalog.pg_listening_channels()');
      assert.equal(listening.rows[0].n, 0);
    } finally {
      await notifier.end();
      await sql.end();
    }
  });

  test('node-postgres: a named advisory-lock statement run again pins again', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const lock = { name: 'lock', text: 'SELECT pg_catalog.pg_advisory_lock($1)', values: [4343] };
    try {
      await c.query(lock);
      assert.equal(pinnedNow(), 1);
      await c.query('SELECT pg_catalog.pg_advisory_unlock(4343)');
      await waitFor('the client to be unpinned', () => pinnedNow() === 0);
      await c.query(lock);
      assert.equal(pinnedNow(), 1, 'an advisory lock taken by Bind did not pin its client');
      await c.query('SELECT pg_catalog.pg_advisory_unlock(4343)');
    } finally {
      await c.end();
    }
  });

  test('node-postgres: a named SET run again follows the client to other servers', async () => {
    const c = new pg.Client(p.pgConfig());
    const busy = new pg.Client(p.pgConfig());
    await Promise.all([c.connect(), busy.connect()]);
    const set = { name: 'set', text: "SET statement_timeout = '4321ms'" };
    try {
      await c.query(set);
      await c.query('RESET statement_timeout');
      await c.query(set);
      // Whichever server runs its next transactions, the client's setting is there.
      for (let i = 0; i < 6; i++) {
        const [shown] = await Promise.all([
          c.query('SHOW statement_timeout'),
          busy.query('SELECT pg_catalog.pg_sleep(0.005)'),
        ]);
        assert.equal(shown.rows[0].statement_timeout, '4321ms');
      }
    } finally {
      await Promise.all([c.end(), busy.end()]);
    }
  });
});
