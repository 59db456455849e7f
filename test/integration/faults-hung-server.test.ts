// Fault campaign, part 2 (issue 17, items 3 and 4): servers frozen with SIGSTOP under load.
// No client may wait on a hung server longer than its timeouts allow, and a cancel the frozen
// server reads only when it wakes up must not cancel another client's query.
// Its own topology: it freezes nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';
import { startTopology, stopTopology, type Topology } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import { learnProbe, sleep } from '../support/reader.js';
import { freeze } from '../support/faults.js';
import { LoadLoop, allCalls, summary } from '../support/fault-load.js';

const READ = 'SELECT pg_catalog.inet_server_port() AS port';

describe('faults: frozen servers', { timeout: 180_000 }, () => {
  let t: Topology;
  const thaws: (() => void)[] = [];
  before(async () => {
    t = await startTopology({ standbys: 2 });
  });
  after(async () => {
    for (const thaw of thaws) thaw();
    await stopTopology(t);
  });

  /** Freezes `node` for `ms` under `clients` loops of `sql`; returns the calls made. */
  async function frozenUnderLoad(overrides: Partial<Config>, node: 'primary' | 'standby1', ms: number, clients: number, sql: string) {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), sr_check_period: 0.5, health_check_period: 0.5, health_check_timeout: 0.5, ...overrides });
    const loops: LoadLoop[] = [];
    try {
      const probe = new pg.Client(p.pgConfig());
      await probe.connect();
      await learnProbe((q) => probe.query(q), READ);
      await probe.end();
      for (let i = 0; i < clients; i++) loops.push(new LoadLoop(p.pgConfig(), sql, 5));
      await sleep(1000);
      const frozenAt = Date.now();
      thaws.push(freeze(node === 'primary' ? t.primary : t.standbys[0]!));
      await sleep(ms);
      thaws.pop()!();
      const thawedAt = Date.now();
      await sleep(2000);
      for (const loop of loops) await loop.stop();
      return { calls: allCalls(loops), frozenAt, thawedAt };
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
      await p.stop();
    }
  }

  test('a standby frozen past its health checks: reads linked to it are answered, not left waiting', async () => {
    const { calls, frozenAt } = await frozenUnderLoad({ health_check_max_retries: 1 }, 'standby1', 8000, 8, READ);
    const during = calls.filter((c) => c.startedAt + c.ms >= frozenAt);
    console.log(`# unhealthy standby: ${summary(during)}`);
    // Declared unhealthy after 2 failed checks of 0.5 s each: about 1.5 s, 3 s with a margin.
    assert.ok(during.every((c) => c.ms <= 3000), `a read waited on the frozen standby: ${summary(during)}`);
    assert.ok(during.every((c) => c.code !== ''), `an error without SQLSTATE: ${summary(during)}`);
  });

  test('query_timeout bounds a read on a frozen standby that stays in rotation (its cancel is never answered)', async () => {
    const { calls, frozenAt } = await frozenUnderLoad({ health_check_max_retries: 1000, query_timeout: 1 }, 'standby1', 10_000, 4, READ);
    const during = calls.filter((c) => c.startedAt + c.ms >= frozenAt);
    console.log(`# query_timeout on a frozen standby: ${summary(during)}`);
    // query_timeout (1 s) + 5 s for the cancel to be confirmed + the janitor's tick and a margin.
    assert.ok(during.every((c) => c.ms <= 7500), `a read waited past query_timeout + 5 s: ${summary(during)}`);
    assert.ok(during.every((c) => c.code !== ''), `an error without SQLSTATE: ${summary(during)}`);
  });

  test('a cancel the frozen primary reads only when it wakes up cancels nobody else', async () => {
    const sql = '/* pgtide: primary */ SELECT pg_catalog.inet_server_port() AS port, pg_catalog.pg_sleep(0.01)';
    const { calls, frozenAt, thawedAt } = await frozenUnderLoad(
      { health_check_max_retries: 1000, query_timeout: 1, default_pool_size: 2 }, 'primary', 7000, 6, sql);
    const during = calls.filter((c) => c.startedAt + c.ms >= frozenAt && c.startedAt < thawedAt);
    const afterThaw = calls.filter((c) => c.startedAt >= thawedAt);
    console.log(`# frozen primary: during ${summary(during)}; after ${summary(afterThaw)}`);
    const cancelled = afterThaw.filter((c) => c.code === '57014');
    assert.equal(cancelled.length, 0, `queries started after the thaw were cancelled: ${summary(afterThaw)}`);
    assert.ok(afterThaw.filter((c) => c.code === null).length > 20, `too few queries after the thaw: ${summary(afterThaw)}`);
    assert.ok(during.every((c) => c.code !== ''), `an error without SQLSTATE: ${summary(during)}`);
  });
});
