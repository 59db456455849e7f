// A read_your_writes read whose standby has not replayed the client's last write goes to the
// primary. With the primary crashed and nothing promoted, it must wait for one at most
// query_wait_timeout, as a write does, and get 57014: it waited until a primary came back (the
// faults audit: 39 s, as long as the primary was down), each lap back to the lagging standby
// restarting its wait. Its own topology: it kills the primary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sqlOn, startTopology, stopTopology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { kill, timeUntil } from '../support/faults.js';

const QUERY_WAIT_TIMEOUT = 2;

test('a read behind its own write on a lagging standby, no primary known: 57014 after query_wait_timeout', {
  timeout: 120_000,
}, async () => {
  const t = await startTopology({ standbys: 1 });
  const standby = t.standbys[0]!;
  let p: RunningPgtide | null = null;
  let c: pg.Client | null = null;
  try {
    await sqlOn(t.primary, `CREATE TABLE lagging_read (id int); GRANT ALL ON lagging_read TO ${t.scramUser.user}`);
    p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1]),
      health_check_period: 0.5,
      health_check_timeout: 0.5,
      health_check_max_retries: 1,
      sr_check_period: 0.5,
      query_wait_timeout: QUERY_WAIT_TIMEOUT,
      server_connect_timeout: 1,
    });
    const running = p;
    c = new pg.Client(running.pgConfig());
    c.on('error', () => {});
    await c.connect();
    await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_pause()');
    await c.query('INSERT INTO lagging_read VALUES (1)');
    await kill(t.primary);
    const downAt = Date.now();
    const noPrimaryMs = await timeUntil(() => running.pgtide.context.router.writeBackend() === null, downAt, 20_000);
    assert.ok(noPrimaryMs < Infinity, 'pgtide still takes the killed primary for one');

    const started = Date.now();
    const answer = await Promise.race([
      c.query('SELECT count(*) FROM lagging_read').then(
        () => 'answered',
        (e: Error & { code?: string }) => e.code ?? e.message,
      ),
      new Promise<string>((r) => setTimeout(() => r('still waiting'), QUERY_WAIT_TIMEOUT * 1000 + 8000)),
    ]);
    const ms = Date.now() - started;
    assert.equal(answer, '57014', `after ${ms} ms`);
    assert.ok(ms < QUERY_WAIT_TIMEOUT * 1000 + 3000, `the read waited ${ms} ms`);
  } finally {
    await c?.end().catch(() => {});
    await p?.stop();
    await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_resume()').catch(() => {});
    await stopTopology(t);
  }
});
