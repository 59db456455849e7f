import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn, standbysCaughtUp } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import { PROBE, learnProbe, sleep } from '../support/reader.js';
import { waitFor } from '../support/wait.js';

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

describe('replay lag by time', { timeout: 60_000 }, () => {
  test('a standby that keeps up stays in the rotation through a long transaction after a quiet spell; one that stops replaying leaves', async () => {
    const t = currentTopology();
    const [stopped, keepsUp] = t.standbys as [(typeof t.standbys)[0], (typeof t.standbys)[0]];
    await sqlOn(t.primary, 'CREATE TABLE IF NOT EXISTS lag_by_time (id int, pad text)');
    await standbysCaughtUp(t);
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      sr_check_period: 0.1,
      health_check_period: 0.5,
      delay_threshold: 0,
      delay_threshold_by_time: 1000,
    });
    const backends = p.pgtide.cluster!.backends;
    const left = new Set<string>();
    const watch = setInterval(() => {
      for (const b of backends.slice(1)) if (!b.readable) left.add(b.config.name);
    }, 5);
    // A transaction writing for about two seconds, committing nothing until its end: the last
    // replayed commit is older than the limit all along, though the standbys replay as it writes.
    const longWrite = `DO $$ BEGIN FOR i IN 1..40 LOOP
        INSERT INTO lag_by_time SELECT g, repeat('x', 200) FROM pg_catalog.generate_series(1, 1000) AS g;
        PERFORM pg_catalog.pg_sleep(0.05);
      END LOOP; END $$`;
    try {
      await waitFor('both standbys readable', () => backends[1]!.readable && backends[2]!.readable, 10_000);
      left.clear();
      await sleep(1500);
      await sqlOn(t.primary, longWrite);
      await sleep(300);
      assert.deepEqual([...left], [], 'a standby keeping up left the read rotation');

      await sqlOn(stopped!, 'SELECT pg_catalog.pg_wal_replay_pause()', [], 'postgres');
      const pausedAt = Date.now();
      await sqlOn(t.primary, 'INSERT INTO lag_by_time VALUES (0, NULL)');
      await waitFor('the stopped standby leaves', () => !backends[1]!.readable, 5000);
      const outAfter = Date.now() - pausedAt;
      assert.ok(outAfter >= 900, `left after ${outAfter} ms, before delay_threshold_by_time`);
      assert.ok(!left.has(keepsUp!.name), 'the standby that replays left the rotation');
      await sqlOn(stopped!, 'SELECT pg_catalog.pg_wal_replay_resume()', [], 'postgres');
      await waitFor('the stopped standby returns', () => backends[1]!.readable, 5000);
    } finally {
      clearInterval(watch);
      await sqlOn(stopped!, 'SELECT pg_catalog.pg_wal_replay_resume()', [], 'postgres').catch(() => {});
      await p.stop();
    }
  });
});
