// DROP DATABASE refuses (55006 "database is being accessed by other users") while any session
// is connected to the database, pgtide's idle pooled server connections included: PgBouncer has
// the same limit. The console's KILL (or PAUSE) closes them, and keeps them closed until RESUME,
// with min_pool_size too; docs/operations.md has the procedure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const DB = 'pgtide_dropped';

/** Sessions connected to `database` now. */
async function sessionsOf(database: string): Promise<number> {
  const [row] = await sqlOn(
    t.primary,
    'SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE datname = $1',
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
      assert.ok(
        seen.every((n) => n === 0),
        `server connections to the database after ${command}: ${seen.join(',')}`,
      );
      assert.equal(await dropDatabase(), null);
      await console_.query(`RESUME ${DB}`);
      // KILL closed it; after a PAUSE its next transaction finds the database gone.
      if (command === 'PAUSE') await assert.rejects(client.query('SELECT 1'), { code: '3D000' });
    });
  }
});
