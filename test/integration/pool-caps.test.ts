// max_db_connections and max_user_connections shared by several pools: a pool that waits only
// on such a cap takes the place of another pool's idle server (that one is closed, and the new
// login starts once its backend has left), so its client is served at once instead of at
// query_wait_timeout; servers lent to clients or in a transaction are never taken. The cap holds
// in pg_stat_activity at every sample, with one process and with `workers = 2`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology, sqlOn, type PgNode } from '../support/topology.js';
import { clusterBackends, startPgtide, writeAuthFile, type RunningPgtide } from '../support/pgtide.js';
import { learnProbe, PROBE } from '../support/reader.js';
import { waitFor } from '../support/wait.js';
import type { Config } from '../../src/config/types.js';
import { connectTo, spawnPgtide } from '../support/pgtide-process.js';
import { allWorkersStarted, oneOnEachWorker, workerOf } from '../support/workers.js';

const t = currentTopology();
const [OTHER_DATABASE] = t.extraDatabases as [string];
/** Well under the query_wait_timeout below, which a client stuck behind the cap would wait out. */
const PROMPT_MS = 2000;
// md5: the md5 test user's auth_file entry is an md5 hash, which SCRAM cannot check.
const LIMITS = { query_wait_timeout: 6, client_login_timeout: 6, default_pool_size: 4, auth_type: 'md5' } as const;

type Login = { user: string; password: string; database: string };
// The database and the user that the caps are about. PostgreSQL enforces the same limit on them
// (CONNECTION LIMIT): a login that pgtide started before the backend it closed had left fails.
const DATABASE = OTHER_DATABASE;
const USER = t.md5User.user;
const userA: Login = { ...t.scramUser, database: DATABASE };
const userB: Login = { ...t.md5User, database: DATABASE };
const userBElsewhere: Login = { ...t.md5User, database: t.database };

/** Until `release` is called, PostgreSQL itself refuses more than `n` connections of DATABASE and USER. */
async function serverLimits(n: number): Promise<{ release(): Promise<void> }> {
  const limit = (to: number) =>
    sqlOn(t.primary, `ALTER DATABASE ${DATABASE} CONNECTION LIMIT ${to}`).then(() =>
      sqlOn(t.primary, `ALTER ROLE ${USER} CONNECTION LIMIT ${to}`),
    );
  await limit(n);
  return {
    async release() {
      await limit(-1);
    },
  };
}

/** The most server backends of the test users that pg_stat_activity showed, per database and per user. */
interface Peaks {
  database: Map<string, number>;
  user: Map<string, number>;
  /** Every server backend of DATABASE seen (its pid): how many logins the pools made. */
  backends: Set<number>;
  samples: number;
}

type Watch = ReturnType<typeof watchActivity>;

/** Samples pg_stat_activity on `node` every few ms until stopped. */
function watchActivity(node: PgNode) {
  const peaks: Peaks = { database: new Map(), user: new Map(), backends: new Set(), samples: 0 };
  const observer = new pg.Client({ host: node.socketDir, port: node.port, user: 'postgres', database: t.database });
  let running = true;
  const loop = (async () => {
    await observer.connect();
    while (running) {
      const { rows } = await observer.query(
        `SELECT datname, usename, count(*)::int AS n, array_agg(pid) AS pids FROM pg_catalog.pg_stat_activity
          WHERE usename = ANY($1) AND backend_type = 'client backend'
            AND application_name NOT LIKE 'pgtide monitor%'
          GROUP BY GROUPING SETS ((datname), (usename))`,
        [[t.scramUser.user, t.md5User.user]],
      );
      for (const r of rows) {
        const [map, key] = r.datname === null ? [peaks.user, r.usename] : [peaks.database, r.datname];
        map.set(key, Math.max(map.get(key) ?? 0, r.n));
        if (r.datname === DATABASE) for (const pid of r.pids) peaks.backends.add(pid);
      }
      peaks.samples++;
      await new Promise((r) => setTimeout(r, 5));
    }
    await observer.end();
  })();
  return {
    async stop(): Promise<Peaks> {
      running = false;
      await loop;
      return peaks;
    },
  };
}

/** The time `client` takes to connect and answer a query, in ms. */
async function servedIn(client: pg.Client, sql = 'SELECT 1 AS one'): Promise<number> {
  const started = Date.now();
  await client.connect();
  await client.query(sql);
  return Date.now() - started;
}

/** A pgtide in front of DATABASE and USER with `cap` = 2, PostgreSQL enforcing the same limit, and
 *  pg_stat_activity watched; `client` makes clients that are closed with everything after `run`. */
async function underCap(
  cap: 'max_db_connections' | 'max_user_connections',
  run: (fixture: { client(who: Login): pg.Client; watch: Watch; p: RunningPgtide }) => Promise<void>,
  overrides: Partial<Config> = {},
): Promise<void> {
  const limits = await serverLimits(2);
  const p = await startPgtide(t, { ...LIMITS, [cap]: 2, ...overrides });
  const clients: pg.Client[] = [];
  const watch = watchActivity(t.primary);
  const client = (who: Login) => {
    const c = new pg.Client(p.pgConfig(who));
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  try {
    await run({ client, watch, p });
  } finally {
    await watch.stop();
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await p.stop();
    await limits.release();
  }
}

describe('pools sharing max_db_connections / max_user_connections', { timeout: 60_000 }, () => {
  for (const [cap, first, second, key] of [
    ['max_db_connections', userA, userB, DATABASE],
    ['max_user_connections', userB, userBElsewhere, USER],
  ] as const) {
    test(`${cap} = 2 full of another pool's idle servers: a new pool's client is served at once, and the cap holds`, (ctx) =>
      underCap(cap, async ({ client, watch }) => {
        const holders = [client(first), client(first)];
        // Both servers are open at once, then idle in their pool with their clients still connected.
        await Promise.all(holders.map((c) => c.connect()));
        await Promise.all(holders.map((c) => c.query('SELECT pg_catalog.pg_sleep(0.2)')));
        const ms = await servedIn(client(second));
        assert.ok(ms < PROMPT_MS, `the other pool's client waited ${ms} ms for a server`);
        // The pool that gave up a server still serves its clients (within the cap).
        await Promise.all(holders.map((c) => c.query('SELECT 2')));
        const peaks = await watch.stop();
        const peak = (cap === 'max_db_connections' ? peaks.database : peaks.user).get(key);
        ctx.diagnostic(`served in ${ms} ms; peak ${peak} servers of ${key} in ${peaks.samples} samples`);
        assert.equal(peak, 2, `pg_stat_activity showed at most ${peak} servers of ${key} in ${peaks.samples} samples`);
      }));
  }

  test("a pool whose login was refused for a while (53300) takes another pool's idle server once the refusal ends", (ctx) =>
    underCap(
      'max_db_connections',
      async ({ client, p }) => {
        const b = client(userB);
        await b.connect();
        await b.query('SELECT 1');
        const poolsOf = (user: string) => [...p.pgtide.context.pools.all()].filter((pool) => pool.key.user === user);
        const serversOf = (user: string) => poolsOf(user).reduce((n, pool) => n + pool.servers.size, 0);
        for (const pool of poolsOf(USER)) pool.closeIdle('the test needs a new login');
        await waitFor('no server of the md5 user', () => serversOf(USER) === 0, 5000);
        await sqlOn(t.primary, `ALTER ROLE ${USER} CONNECTION LIMIT 0`);
        const started = Date.now();
        const answer = b.query('SELECT 2 AS two').then(
          () => ({ code: '', ms: Date.now() - started }),
          (err: { code?: string }) => ({ code: err.code ?? '?', ms: Date.now() - started }),
        );
        // Meanwhile the other pool fills the cap with servers that then sit idle (the retries
        // now take one of them each: no moment with both idle is waited for).
        const holders = [client(userA), client(userA)];
        await Promise.all(holders.map((c) => c.connect()));
        await Promise.all(holders.map((c) => c.query('SELECT pg_catalog.pg_sleep(0.2)')));
        await sqlOn(t.primary, `ALTER ROLE ${USER} CONNECTION LIMIT 2`);
        const liftedAt = Date.now();
        const got = await answer;
        ctx.diagnostic(`served ${Date.now() - liftedAt} ms after the refusal ended (${JSON.stringify(got)})`);
        // Before, the pool retrying after its refusal never closed another pool's server to make
        // room, and its client waited out query_wait_timeout (57014).
        assert.equal(got.code, '', JSON.stringify(got));
        assert.ok(Date.now() - liftedAt < 5000, `served ${Date.now() - liftedAt} ms after the refusal ended`);
      },
      { query_wait_timeout: 15 },
    ));

  test('servers lent to clients in a transaction are never taken: the other pool is served when one commits', (ctx) =>
    underCap('max_db_connections', async ({ client, watch }) => {
      const holders = [client(userA), client(userA)];
      await Promise.all(holders.map((c) => c.connect()));
      await Promise.all(holders.map((c) => c.query('BEGIN')));
      await Promise.all(holders.map((c) => c.query('SELECT pg_catalog.txid_current()')));
      let answeredAt = 0;
      const served = servedIn(client(userB)).then(() => (answeredAt = Date.now()));
      served.catch(() => {});
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(answeredAt, 0, 'the newcomer got a server while both were in a transaction');
      // Both transactions are intact: their servers were not closed under them.
      for (const c of holders) assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
      const committedAt = Date.now();
      await holders[0]!.query('COMMIT');
      await served;
      ctx.diagnostic(`served ${answeredAt - committedAt} ms after the COMMIT`);
      assert.ok(answeredAt - committedAt < PROMPT_MS, `served ${answeredAt - committedAt} ms after the COMMIT`);
      await holders[1]!.query('COMMIT');
      const peaks = await watch.stop();
      assert.equal(peaks.database.get(DATABASE), 2, `pg_stat_activity peak ${peaks.database.get(DATABASE)}`);
    }));

  test('two busy pools under one cap share it evenly, and no server goes back and forth between them', (ctx) =>
    underCap('max_db_connections', async ({ client, watch }) => {
      const a = [client(userA), client(userA)];
      const b = [client(userB), client(userB)];
      const answered = new Map<pg.Client, number>();
      let running = true;
      const loads: Promise<void>[] = [];
      const load = async (c: pg.Client) => {
        while (running) {
          await c.query('SELECT pg_catalog.pg_sleep(0.01)');
          answered.set(c, (answered.get(c) ?? 0) + 1);
        }
      };
      try {
        await Promise.all(a.map((c) => c.connect()));
        loads.push(...a.map(load));
        await new Promise((r) => setTimeout(r, 300));
        // User A's two clients keep both servers busy, with a moment idle between transactions.
        const started = Date.now();
        const waited = await Promise.all(
          b.map(async (c) => {
            await c.connect();
            await c.query('SELECT 1');
            loads.push(load(c));
            return Date.now() - started;
          }),
        );
        await new Promise((r) => setTimeout(r, 3000));
        running = false;
        await Promise.all(loads);
        const peaks = await watch.stop();
        const counts = [...a, ...b].map((c) => answered.get(c) ?? 0);
        ctx.diagnostic(
          `user B first answered after ${waited.join(' and ')} ms; transactions per client (A, A, B, B): ${counts.join(' ')}; ` +
            `${peaks.backends.size} server backends seen, at most ${peaks.database.get(DATABASE)} at once`,
        );
        for (const ms of waited) assert.ok(ms < PROMPT_MS, `user B waited ${ms} ms`);
        for (const n of counts) assert.ok(n > 20, `a client got only ${n} transactions in 3 s: ${counts.join(' ')}`);
        // A's two, then one of them closed for B: a server that went back and forth would be more.
        assert.ok(peaks.backends.size <= 4, `${peaks.backends.size} server logins for 2 slots`);
        assert.equal(peaks.database.get(DATABASE), 2);
      } finally {
        running = false;
        await Promise.all(loads.map((l) => l.catch(() => {})));
      }
    }));

  test("each backend holds max_db_connections on its own: a transaction holding the primary's only slot leaves reads served by a standby", (ctx) =>
    underCap(
      'max_db_connections',
      async ({ client, p }) => {
        await waitFor(
          'both standbys readable',
          () => p.pgtide.cluster?.backends.slice(1).every((b) => b.readable),
          10_000,
        );
        const [writer, reader] = [client(userA), client(userA)];
        await reader.connect();
        // Its first probe goes to the primary, while pgtide learns that the function only reads.
        await learnProbe((sql) => reader.query(sql));
        await writer.connect();
        await writer.query('BEGIN');
        await writer.query('SELECT pg_catalog.txid_current()');
        const watches = [t.primary, ...t.standbys].map(watchActivity);
        const started = Date.now();
        const port = (await reader.query(PROBE)).rows[0].port;
        const ms = Date.now() - started;
        await writer.query('COMMIT');
        const peaks = await Promise.all(watches.map((w) => w.stop()));
        ctx.diagnostic(
          `read served by port ${port} in ${ms} ms; peaks per node: ${peaks.map((k) => k.database.get(DATABASE) ?? 0).join(' ')}`,
        );
        assert.notEqual(port, t.primary.port, 'the read went to the primary');
        assert.ok(ms < PROMPT_MS, `the read waited ${ms} ms`);
        for (const k of peaks) assert.ok((k.database.get(DATABASE) ?? 0) <= 1, 'a node held more than the cap');
      },
      { max_db_connections: 1, backends: clusterBackends(t, [0, 1, 1]) },
    ));

  test('workers = 2: each worker takes an idle server of its own share, and the instance holds max_db_connections', async (ctx) => {
    const limits = await serverLimits(2);
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-pool-caps-'));
    const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
      'workers = 2',
      'max_db_connections = 2',
      'default_pool_size = 4',
      'query_wait_timeout = 6',
      'client_login_timeout = 6',
      'auth_type = "md5"',
      'log_level = "info"',
      'log_connections = false',
      'log_disconnections = false',
    ]);
    const clients: pg.Client[] = [];
    const connect = (who: Login) => async () => {
      const c = await connectTo(t, p, who.database, { user: who.user, password: who.password });
      clients.push(c);
      return c;
    };
    const watch = watchActivity(t.primary);
    try {
      await allWorkersStarted(p);
      // User A's clients on both workers fill both shares (1 each) with servers left idle.
      const holders = await oneOnEachWorker(connect(userA));
      await Promise.all(holders.map((c) => c.query('SELECT pg_catalog.pg_sleep(0.2)')));
      const newcomers = await oneOnEachWorker(connect(userB));
      const times = await Promise.all(
        newcomers.map(async (c) => {
          const started = Date.now();
          await c.query('SELECT 1');
          return { worker: workerOf(c), ms: Date.now() - started };
        }),
      );
      ctx.diagnostic(`user B served in ${times.map(({ worker, ms }) => `${ms} ms on worker ${worker}`).join(', ')}`);
      for (const { worker, ms } of times) assert.ok(ms < PROMPT_MS, `worker ${worker}: user B waited ${ms} ms`);
      await Promise.all(holders.map((c) => c.query('SELECT 2')));
      const peaks = await watch.stop();
      assert.equal(peaks.database.get(DATABASE), 2, `pg_stat_activity peak ${peaks.database.get(DATABASE)}`);
    } finally {
      await watch.stop();
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
      await limits.release();
    }
  });
});
