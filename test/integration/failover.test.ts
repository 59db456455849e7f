import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { promoteNode, sqlOn, startTopology, stopNode, stopTopology, type Topology } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import { sleep } from '../support/reader.js';

describe('failover', { timeout: 120_000 }, () => {
  test('after the primary stops and a standby is promoted, writes succeed within sr_check_period + 5 s, never on a standby', async () => {
    let t: Topology | null = null;
    try {
      t = await startTopology({ standbys: 1 });
      const topo = t;
      await sqlOn(
        topo.primary,
        `CREATE TABLE failover_rows (id int PRIMARY KEY); GRANT ALL ON failover_rows TO ${topo.scramUser.user}`,
      );
      const srCheck = 1;
      const failoverSettings = {
        backends: clusterBackends(topo, [0, 1]),
        sr_check_period: srCheck,
        health_check_period: 1,
        health_check_max_retries: 1,
        health_check_timeout: 1,
      };
      const p = await startPgtide(topo, failoverSettings);
      // Session pooling: a client logged in before the failover whose first statement comes
      // after it has no server yet, and must get one on the new primary.
      const sessions = await startPgtide(topo, { ...failoverSettings, pool_mode: 'session' });
      const sessionClient = new pg.Client(sessions.pgConfig());
      sessionClient.on('error', () => {});
      await sessionClient.connect();
      const committed: number[] = [];
      const readOnlyErrors: string[] = [];
      let running = true;
      let client: pg.Client | null = null;
      const writer = (async () => {
        for (let id = 1; running; id++) {
          try {
            if (!client) {
              client = new pg.Client(p.pgConfig());
              client.on('error', () => {});
              await client.connect();
            }
            await client.query('INSERT INTO failover_rows VALUES ($1)', [id]);
            committed.push(id);
          } catch (err) {
            if ((err as { code?: string }).code === '25006') readOnlyErrors.push((err as Error).message);
            await client?.end().catch(() => {});
            client = null;
            await sleep(50);
          }
        }
      })();
      await sleep(2000);
      await stopNode(topo, topo.primary, 'immediate');
      const stoppedAt = Date.now();
      await promoteNode(topo, topo.standbys[0]!);
      const before = committed.length;
      const sessionWrite = sessionClient.query('INSERT INTO failover_rows VALUES (-1)').then(
        () => Date.now() - stoppedAt,
        (err: Error) => err,
      );
      while (committed.length === before && Date.now() - stoppedAt < 30_000) await sleep(50);
      const recovered = Date.now() - stoppedAt;
      const sessionRecovered = await Promise.race([sessionWrite, sleep(30_000).then(() => 'no answer in 30 s')]);
      await sessionClient.end().catch(() => {});
      await sessions.stop();
      await sleep(1000);
      running = false;
      await writer;
      await (client as pg.Client | null)?.end().catch(() => {});
      await p.stop();
      assert.deepEqual(readOnlyErrors, [], 'a write was sent to a standby');
      assert.ok(committed.length > before, 'no write succeeded after the promotion');
      assert.ok(recovered <= (srCheck + 5) * 1000 + 2000, `writes resumed ${recovered} ms after the primary stopped`);
      assert.ok(
        typeof sessionRecovered === 'number' && sessionRecovered <= (srCheck + 5) * 1000 + 2000,
        `the session client's first write: ${String(sessionRecovered)}`,
      );
      const rows = await sqlOn<{ id: number }>(topo.standbys[0]!, 'SELECT id FROM failover_rows');
      const onNewPrimary = new Set(rows.map((r) => r.id));
      const after = committed.slice(before);
      assert.ok(
        after.every((id) => onNewPrimary.has(id)),
        'a write acknowledged after failover is missing on the new primary',
      );
    } finally {
      if (t) await stopTopology(t);
    }
  });
});
