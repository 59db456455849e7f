// DROP DATABASE refuses (55006 "database is being accessed by other users") while any session
// is connected to the database, pgtide's idle pooled server connections included. Sent through
// pgtide, it (and ALTER DATABASE … RENAME, CREATE DATABASE … TEMPLATE) closes those first. Sent
// directly, it needs the console's KILL (or PAUSE), which keeps them closed until RESUME, with
// min_pool_size too; docs/operations.md has the procedure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const DB = 'pgtide_dropped';

/** Client sessions connected to `database` now. An autovacuum worker visiting the new database
 *  is not one: it shows there for a moment at its own times, and DROP DATABASE ends it. */
async function sessionsOf(database: string): Promise<number> {
  const [row] = await sqlOn(
    t.primary,
    "SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
    [database],
    'postgres',
  );
  return row.n;
}

/** DROP DATABASE from a direct superuser connection: its SQLSTATE, or null when it succeeded. */
async function dropDatabase(): Promise<string | null> {
  try {
    await sqlOn(t.primary, `DROP DATABASE ${DB}`, [], 'postgres');
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('DROP DATABASE of a database pgtide pools', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let console_: pg.Client;
  const clients: pg.Client[] = [];

  /** A client of the database that ran a transaction: its server is idle in the pool now. */
  async function pooledClient(): Promise<pg.Client> {
    const c = new pg.Client(p.pgConfig({ database: DB }));
    c.on('error', () => {});
    clients.push(c);
    await c.connect();
    await c.query('SELECT 1');
    return c;
  }

  before(async () => {
    // min_pool_size: the pool would open servers again on its own, the drop's worst case.
    p = await startPgtide(t, { admin_users: [t.scramUser.user], min_pool_size: 2 });
    console_ = new pg.Client(p.pgConfig({ database: 'pgtide' }));
    await console_.connect();
  });
  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await console_?.end();
    await p?.stop();
    await sqlOn(t.primary, `DROP DATABASE IF EXISTS ${DB}`, [], 'postgres');
  });

  for (const command of ['KILL', 'PAUSE'] as const) {
    test(`fails while pgtide holds idle server connections to it, and works after the console's ${command}`, async () => {
      // Left by a test that failed before its drop.
      await sqlOn(t.primary, `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`, [], 'postgres');
      await sqlOn(t.primary, `CREATE DATABASE ${DB}`, [], 'postgres');
      const client = await pooledClient();
      assert.equal(await dropDatabase(), '55006');
      await console_.query(`${command} ${DB}`);
      await waitFor('no server connection to the database', async () => (await sessionsOf(DB)) === 0);
      // Several janitor ticks (every 250 ms), each of which could refill min_pool_size.
      const seen: number[] = [];
      for (const until = Date.now() + 1200; Date.now() < until; ) {
        seen.push(await sessionsOf(DB));
        await new Promise((r) => setTimeout(r, 25));
      }
      try {
        assert.ok(
          seen.every((n) => n === 0),
          `server connections to the database after ${command}: ${seen.join(',')}`,
        );
        assert.equal(await dropDatabase(), null);
      } finally {
        // Else the next test's client waits for a RESUME until the suite times out.
        await console_.query(`RESUME ${DB}`);
      }
      // KILL closed it; after a PAUSE its next transaction finds the database gone.
      if (command === 'PAUSE') await assert.rejects(client.query('SELECT 1'), { code: '3D000' });
    });
  }
});

describe('DROP DATABASE and the like sent through pgtide', { timeout: 60_000 }, () => {
  const FREED = 'pgtide_freed';
  const COPY = 'pgtide_freed_copy';
  const RENAMED = 'pgtide_freed_renamed';
  let p: RunningPgtide;
  let admin: pg.Client;

  /** A client of `database` whose transaction left its server idle in the pool, then left. */
  async function leaveIdleServer(database: string): Promise<void> {
    const c = new pg.Client(p.pgConfig({ database }));
    await c.connect();
    await c.query('SELECT 1');
    await c.end();
    assert.ok((await sessionsOf(database)) > 0, 'pgtide keeps an idle connection');
  }

  before(async () => {
    p = await startPgtide(t, {});
    for (const db of [FREED, COPY, RENAMED]) await sqlOn(t.primary, `DROP DATABASE IF EXISTS ${db}`, [], 'postgres');
    admin = new pg.Client(p.pgConfig({ user: t.superuser.user, password: t.superuser.password }));
    await admin.connect();
  });
  after(async () => {
    await admin?.end();
    await p?.stop();
    for (const db of [FREED, COPY, RENAMED]) await sqlOn(t.primary, `DROP DATABASE IF EXISTS ${db}`, [], 'postgres');
  });

  test("close pgtide's idle connections to that database first, so PostgreSQL runs them", async () => {
    await sqlOn(t.primary, `CREATE DATABASE ${FREED}`, [], 'postgres');
    await leaveIdleServer(FREED);
    await admin.query(`CREATE DATABASE ${COPY} TEMPLATE ${FREED}`);
    await leaveIdleServer(FREED);
    await admin.query(`ALTER DATABASE ${FREED} RENAME TO ${RENAMED}`);
    await leaveIdleServer(RENAMED);
    // By the extended protocol (a named statement: Parse, Bind, Execute).
    await admin.query({ name: 'drop_it', text: `DROP DATABASE ${RENAMED}` });
    await leaveIdleServer(COPY);
    await admin.query(`DROP DATABASE IF EXISTS ${COPY}`);
    const left = await sqlOn(
      t.primary,
      'SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY($1) ORDER BY 1',
      [[FREED, COPY, RENAMED]],
      'postgres',
    );
    assert.deepEqual(left, []);
  });

  test('a client still in a transaction there keeps PostgreSQL refusing, as directly (55006)', async () => {
    await sqlOn(t.primary, `CREATE DATABASE ${FREED}`, [], 'postgres');
    const busy = new pg.Client(p.pgConfig({ database: FREED }));
    await busy.connect();
    try {
      await busy.query('BEGIN');
      await assert.rejects(admin.query(`DROP DATABASE ${FREED}`), { code: '55006' });
      await busy.query('COMMIT');
    } finally {
      await busy.end();
    }
    await admin.query(`DROP DATABASE ${FREED}`);
  });
});
