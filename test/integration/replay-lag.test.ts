import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import { PROBE, learnProbe, sleep } from '../support/reader.js';

describe('replay paused on a standby', { timeout: 60_000 }, () => {
  test('leaves the rotation once over delay_threshold and returns after resume', async () => {
    const t = currentTopology();
    const [paused, other] = t.standbys as [(typeof t.standbys)[0], (typeof t.standbys)[0]];
    await sqlOn(t.primary, 'CREATE TABLE IF NOT EXISTS lag_load (id serial, pad text)');
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      sr_check_period: 0.3,
      health_check_period: 0.3,
      delay_threshold: 64 * 1024,
    });
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    try {
      await learnProbe((sql) => c.query(sql));
      await sqlOn(paused!, 'SELECT pg_catalog.pg_wal_replay_pause()', [], 'postgres');
      await sqlOn(
        t.primary,
        `INSERT INTO lag_load (pad) SELECT repeat('x', 1000) FROM pg_catalog.generate_series(1, 2000)`,
      );
      await sleep(1000);
      for (let i = 0; i < 30; i++)
        assert.equal((await c.query(PROBE)).rows[0].port, other!.port, 'a lagging standby served a read');
      await sqlOn(paused!, 'SELECT pg_catalog.pg_wal_replay_resume()', [], 'postgres');
      const deadline = Date.now() + 5000;
      let seen = false;
      while (!seen && Date.now() < deadline) {
        seen = (await c.query(PROBE)).rows[0].port === paused!.port;
        if (!seen) await sleep(50);
      }
      assert.ok(seen, 'the standby did not return to the rotation after resume');
    } finally {
      await sqlOn(paused!, 'SELECT pg_catalog.pg_wal_replay_resume()', [], 'postgres').catch(() => {});
      await c.end();
      await p.stop();
    }
  });
});
