// Fault campaign, part 3 (issue 17, item 5): reloads under load that remove a backend or change
// read weights take effect at once; one that changes listen_port says it needs a restart. It breaks no node, so it runs on the shared topology.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import { learnProbe } from '../support/reader.js';
import { waitFor } from '../support/wait.js';
import { freePorts } from '../support/free-ports.js';
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
