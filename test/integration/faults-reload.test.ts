// Fault campaign, part 3 (issue 17, item 5): reloads under load that remove a backend or change
// read weights take effect at once; one that changes listen_port says it needs a restart; one
// that lowers a pool size or a connection cap closes the servers above it, counted in
// pg_stat_activity. It breaks no node, so it runs on the shared topology.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, writeAuthFile } from '../support/pgtide.js';
import { connectTo, spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';
import { allWorkersStarted } from '../support/workers.js';
import { learnProbe } from '../support/reader.js';
import { waitFor } from '../support/wait.js';
import { freePorts } from '../support/free-ports.js';
import { freeze } from '../support/faults.js';
import { showConfig } from '../../src/admin/show-settings.js';

const READ = 'SELECT pg_catalog.inet_server_port() AS port';

describe('faults: reloads', { timeout: 60_000 }, () => {
  test('removing a backend and changing weights reach the router; the removed backend keeps no connection', async () => {
    const t = currentTopology();
    const [standby1, standby2] = t.standbys as [typeof t.primary, typeof t.primary];
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      sr_check_period: 0.5,
      health_check_period: 0.5,
    });
    const clients = Array.from({ length: 6 }, () => new pg.Client(p.pgConfig()));
    try {
      await Promise.all(clients.map((c) => c.connect()));
      const backends = p.pgtide.cluster!.backends;
      await waitFor('both standbys readable', () => backends[1]!.readable && backends[2]!.readable, 10_000);
      await learnProbe((q) => clients[0]!.query(q), READ);
      const readPorts = async (n: number) => {
        const ports = new Map<number, number>();
        for (let i = 0; i < n; i += clients.length) {
          const rows = await Promise.all(clients.map((c) => c.query(READ)));
          for (const r of rows) ports.set(r.rows[0].port, (ports.get(r.rows[0].port) ?? 0) + 1);
        }
        return ports;
      };
      const before = await readPorts(120);
      assert.ok((before.get(standby2.port) ?? 0) > 0, 'standby2 served no read before the reload');

      p.pgtide.reload({ ...p.config, backends: clusterBackends(t, [0, 1, 1]).slice(0, 2) });
      const removed = await readPorts(200);
      const connectionsToRemoved = () =>
        [...p.pgtide.context.pools.all()]
          .filter((pool) => pool.key.backend === 'standby2')
          .reduce((n, pool) => n + pool.servers.size, 0);
      await waitFor('no connection left to the removed backend', () => connectionsToRemoved() === 0, 2000);
      assert.equal(
        removed.get(standby2.port) ?? 0,
        0,
        `reads went to the removed backend: ${JSON.stringify([...removed])}`,
      );

      p.pgtide.reload({ ...p.config, backends: clusterBackends(t, [0, 0, 1]) });
      await waitFor('standby2 back in rotation', () => p.pgtide.cluster!.backends[2]?.readable, 5000);
      // A reload makes a new classifier, which learns again that the probe only reads.
      await learnProbe((q) => clients[0]!.query(q), READ);
      const reweighted = await readPorts(200);
      assert.equal(
        reweighted.get(standby1.port) ?? 0,
        0,
        `reads went to a standby of weight 0: ${JSON.stringify([...reweighted])}`,
      );
      const total = [...reweighted.values()].reduce((a, b) => a + b, 0);
      assert.equal(
        reweighted.get(standby2.port),
        total,
        `reads did not follow the new weights: ${JSON.stringify([...reweighted])}`,
      );
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  test("a reload moving a backend to another address (same name) sends its reads there and closes the old address's connections", async () => {
    const t = currentTopology();
    const [standby1, standby2] = t.standbys as [typeof t.primary, typeof t.primary];
    const backends = (port: number) => [
      { name: 'primary', host: t.primary.host, port: t.primary.port, weight: 0, role: 'primary' as const },
      { name: 'reader', host: standby1.host, port, weight: 1, role: 'standby' as const },
    ];
    const p = await startPgtide(t, {
      backends: backends(standby1.port),
      sr_check_period: 0.5,
      health_check_period: 0.5,
    });
    const clients = Array.from({ length: 3 }, () => new pg.Client(p.pgConfig()));
    try {
      await Promise.all(clients.map((c) => c.connect()));
      await waitFor('reader readable', () => p.pgtide.cluster!.backends[1]?.readable, 5000);
      await learnProbe((q) => clients[0]!.query(q), READ);
      const ports = async () =>
        new Set((await Promise.all(clients.map((c) => c.query(READ)))).map((r) => r.rows[0].port));
      assert.deepEqual(await ports(), new Set([standby1.port]));

      p.pgtide.reload({ ...p.config, backends: backends(standby2.port) });
      await waitFor('reader readable again', () => p.pgtide.cluster!.backends[1]?.readable, 5000);
      await learnProbe((q) => clients[0]!.query(q), READ);
      // Before, the pool made for the old address went on logging in there and lending its servers.
      assert.deepEqual(await ports(), new Set([standby2.port]), 'reads still reach the old address');
      const onOldAddress = async () =>
        Number(
          (
            await sqlOn(
              standby1,
              `SELECT count(*) AS n FROM pg_stat_activity WHERE usename = '${t.scramUser.user}' AND backend_type = 'client backend'`,
            )
          )[0]!.n,
        );
      await waitFor('no connection left on the old address', async () => (await onOldAddress()) === 0, 3000);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  // Found by a helper: each reload closed the check connections and dropped the round under
  // way, so reloads more often than health_check_timeout kept a frozen primary healthy, and
  // its clients waited for the whole outage instead of getting 08006.
  test('reloads more frequent than health_check_timeout still let a frozen backend be declared unhealthy', async () => {
    const t = currentTopology();
    const frozen = t.standbys[1]!;
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      sr_check_period: 0.5,
      health_check_period: 0.5,
      health_check_timeout: 1,
      health_check_max_retries: 1,
    });
    const cluster = p.pgtide.cluster!;
    let thaw: (() => void) | null = null;
    let reloads: NodeJS.Timeout | null = null;
    try {
      await waitFor('standby2 healthy', () => cluster.backends[2]!.healthy, 10_000);
      thaw = freeze(frozen);
      let weight = 1;
      reloads = setInterval(() => {
        weight = 3 - weight;
        p.pgtide.reload({ ...p.config, backends: clusterBackends(t, [0, 1, weight]) });
      }, 400);
      await waitFor('the frozen standby declared unhealthy', () => !cluster.backends[2]!.healthy, 10_000);
    } finally {
      if (reloads) clearInterval(reloads);
      thaw?.();
      await p.stop();
    }
  });

  test('a reload lowering default_pool_size closes the servers above it, also while clients keep them busy', async () => {
    const t = currentTopology();
    const p = await startPgtide(t, { default_pool_size: 4 });
    const clients = Array.from({ length: 4 }, () => new pg.Client(p.pgConfig()));
    const servers = () => [...p.pgtide.context.pools.all()].reduce((n, pool) => n + pool.servers.size, 0);
    try {
      await Promise.all(clients.map((c) => c.connect()));
      await Promise.all(clients.map((c) => c.query('SELECT pg_sleep(0.2)')));
      assert.equal(servers(), 4);
      p.pgtide.reload({ ...p.config, default_pool_size: 1 });
      // The four clients keep asking: the idle servers never wait out server_idle_timeout.
      const seen: number[] = [];
      const started = Date.now();
      while (Date.now() - started < 2000) {
        await Promise.all(clients.map((c) => c.query('SELECT pg_sleep(0.02)')));
        if (Date.now() - started > 1000) seen.push(servers());
      }
      assert.ok(Math.max(...seen) <= 1, `servers open in the second second after the reload: ${seen.join(' ')}`);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  test('a reload changing listen_port keeps serving the running port, shows it in SHOW CONFIG and warns that a restart is needed', async () => {
    const t = currentTopology();
    const [port, otherPort] = (await freePorts(2)) as [number, number];
    const p = await startPgtide(t, { listen_port: [port] });
    try {
      p.pgtide.reload({ ...p.config, listen_port: [otherPort], default_pool_size: 3 });
      // As the console sends them: a split limit's cell is a number until the workers' shares are added up.
      const config = new Map(showConfig(p.pgtide).rows.map((row) => [row[0], String(row[1])]));
      assert.equal(config.get('listen_port'), String(port), 'SHOW CONFIG shows a port nothing listens on');
      assert.equal(config.get('default_pool_size'), '3', 'the rest of the reload applies');
      const warning = p.logs.find(
        (line) => line['msg'] === 'reload: these settings change only at a restart; their running values stay in force',
      );
      assert.deepEqual(warning?.['settings'], ['listen_port']);
      const client = new pg.Client(p.pgConfig());
      await client.connect();
      assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
      await client.end();
      await assert.rejects(new pg.Client({ ...p.pgConfig(), port: otherPort }).connect(), /ECONNREFUSED/);
    } finally {
      await p.stop();
    }
  });
});

/** pgtide's pooled server connections to the test database, as the primary counts them. */
async function pooledOnPrimary(): Promise<number> {
  const t = currentTopology();
  const [row] = await sqlOn(
    t.primary,
    `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity
      WHERE usename = $1 AND datname = $2 AND application_name NOT LIKE 'pgtide monitor%'`,
    [t.scramUser.user, t.database],
  );
  return row.n;
}

/** A pgtide process whose pgtide.toml holds `key = value` among `lines`, and a way to change it. */
async function spawnWithLimit(key: string, value: number, lines: string[]) {
  const t = currentTopology();
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-reload-cap-'));
  const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
    `${key} = ${value}`,
    `admin_users = ["${t.scramUser.user}"]`,
    ...lines,
  ]);
  const file = join(dir, 'pgtide.toml');
  return {
    p,
    /** Edit the file to `key = to`, then RELOAD on the console or SIGHUP the process. */
    async reload(to: number, how: 'RELOAD' | 'SIGHUP'): Promise<void> {
      writeFileSync(file, readFileSync(file, 'utf8').replace(`${key} = ${value}`, `${key} = ${to}`));
      if (how === 'SIGHUP') return void p.child.kill('SIGHUP');
      const admin = await connectTo(t, p, 'pgtide');
      await admin.query('RELOAD');
      await admin.end();
    },
    async stop(): Promise<void> {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A client of the test database whose queries fail after 15 s instead of hanging the test. */
function clientOf(p: PgtideProcess): Promise<pg.Client> {
  return connectTo(currentTopology(), p, undefined, { query_timeout: 15_000 });
}

describe('faults: reloads lowering or raising a connection cap', () => {
  const SETTLE_MS = 1500;
  for (const key of ['max_db_connections', 'max_user_connections']) {
    for (const [workers, how] of [
      [1, 'RELOAD'],
      [2, 'SIGHUP'],
    ] as const) {
      test(`a ${how} lowering ${key} from 4 to 2 (workers = ${workers}) closes the servers above it as they become idle, not mid-transaction`, {
        timeout: 60_000,
      }, async (ctx) => {
        const run = await spawnWithLimit(key, 4, [
          `workers = ${workers}`,
          'default_pool_size = 8',
          // allWorkersStarted reads the primary's info line.
          'log_level = "info"',
          'log_connections = false',
          'log_disconnections = false',
        ]);
        ctx.after(() => run.stop());
        if (workers > 1) await allWorkersStarted(run.p);
        const clients = await Promise.all(Array.from({ length: 12 }, () => clientOf(run.p)));
        try {
          // One client is in a transaction across the reload: its server must stay its own.
          const [inTransaction, ...busy] = clients as [pg.Client, ...pg.Client[]];
          await inTransaction.query('BEGIN');
          await inTransaction.query('CREATE TEMP TABLE during_reload (n int) ON COMMIT DROP');
          let stop = false;
          // The other clients keep every server busy: none waits out server_idle_timeout.
          const answered = busy.map(() => 0);
          const load = busy.map(async (c, i) => {
            while (!stop) {
              await c.query('SELECT pg_catalog.pg_sleep(0.02)');
              answered[i]!++;
            }
          });
          await new Promise((r) => setTimeout(r, 300));
          const before = await pooledOnPrimary();
          assert.ok(before > 2, `only ${before} servers open under load before the reload`);
          const reloadedAt = Date.now();
          await run.reload(2, how);
          const samples: { at: number; n: number }[] = [];
          while (Date.now() - reloadedAt < SETTLE_MS + 1500) {
            samples.push({ at: Date.now() - reloadedAt, n: await pooledOnPrimary() });
            if (samples.length === 10) await inTransaction.query('INSERT INTO during_reload VALUES (1)');
            // Its commit frees the server the clients of its worker wait for (1 per worker with 2).
            if (samples.length === 20) await inTransaction.query('COMMIT');
            await new Promise((r) => setTimeout(r, 25));
          }
          const answeredAfter = [...answered];
          await new Promise((r) => setTimeout(r, 300));
          stop = true;
          await Promise.all(load);
          const firstAtCap = samples.find((_, i) => samples.slice(i).every((later) => later.n <= 2));
          ctx.diagnostic(
            `servers: ${before} under load before; at most 2 from the sample at ${firstAtCap?.at ?? 'never'} ms after the reload (first sample at ${samples[0]!.at} ms: ${samples[0]!.n})`,
          );
          const late = samples.filter((s) => s.at >= SETTLE_MS).map((s) => s.n);
          assert.ok(Math.max(...late) <= 2, `servers open ${SETTLE_MS} ms after the reload: ${late.join(' ')}`);
          // Every client still gets a turn on the servers that are left.
          assert.ok(
            answered.every((n, i) => n > answeredAfter[i]!),
            `a client got no server in the last 300 ms: ${answered.join(' ')}`,
          );
        } finally {
          await Promise.all(clients.map((c) => c.end().catch(() => {})));
        }
      });
    }
  }

  test('a RELOAD raising max_db_connections gives a waiting client a server at once', {
    timeout: 60_000,
  }, async (ctx) => {
    const run = await spawnWithLimit('max_db_connections', 1, ['default_pool_size = 4']);
    ctx.after(() => run.stop());
    const [holder, waiter] = [await clientOf(run.p), await clientOf(run.p)];
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1');
      let answeredAt = 0;
      const waiting = waiter.query('SELECT 2 AS two').then((r) => ((answeredAt = Date.now()), r.rows[0].two));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(answeredAt, 0, 'the second client got a server beyond max_db_connections = 1');
      const reloadedAt = Date.now();
      await run.reload(2, 'RELOAD');
      assert.equal(await waiting, 2);
      ctx.diagnostic(`answered ${answeredAt - reloadedAt} ms after RELOAD was sent`);
      assert.ok(answeredAt - reloadedAt < 1000, `the waiting client got a server ${answeredAt - reloadedAt} ms after`);
      await holder.query('COMMIT');
    } finally {
      await Promise.all([holder, waiter].map((c) => c.end().catch(() => {})));
    }
  });
});
