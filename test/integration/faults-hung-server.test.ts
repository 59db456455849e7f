// Fault campaign, part 2 (issue 17, items 3 and 4): servers frozen with SIGSTOP under load.
// No client may wait on a hung server longer than its timeouts allow, and a cancel the frozen
// server reads only when it wakes up must not cancel another client's query.
// Its own topology: it freezes nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';
import { startTopology, stopTopology, type Topology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { learnProbe, sleep } from '../support/reader.js';
import { freeze } from '../support/faults.js';
import { LoadLoop, allCalls, summary } from '../support/fault-load.js';

const READ = 'SELECT pg_catalog.inet_server_port() AS port';

/** Checks every 0.5 s that give up after 0.5 s: a frozen backend is noticed within seconds. */
const FAST_CHECKS: Partial<Config> = { sr_check_period: 0.5, health_check_period: 0.5, health_check_timeout: 0.5 };

/** Runs READ once, so that the classifier knows it for a read from then on. */
async function learnRead(p: RunningPgtide): Promise<void> {
  const probe = new pg.Client(p.pgConfig());
  await probe.connect();
  await learnProbe((q) => probe.query(q), READ);
  await probe.end();
}

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
  async function frozenUnderLoad(
    overrides: Partial<Config>,
    node: 'primary' | 'standby1',
    ms: number,
    clients: number,
    sql: string,
  ) {
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), ...FAST_CHECKS, ...overrides });
    const loops: LoadLoop[] = [];
    try {
      await learnRead(p);
      for (let i = 0; i < clients; i++) loops.push(new LoadLoop(p.pgConfig(), sql, 5));
      await sleep(1000);
      const frozenAt = Date.now();
      thaws.push(freeze(node === 'primary' ? t.primary : t.standbys[0]!));
      await sleep(ms);
      thaws.pop()!();
      const thawedAt = Date.now();
      await sleep(2000);
      for (const loop of loops) await loop.stop();
      return { calls: allCalls(loops), frozenAt, thawedAt, logs: p.logs };
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
      await p.stop();
    }
  }

  test('a standby frozen past its health checks: reads linked to it are answered, not left waiting', async () => {
    const { calls, frozenAt, logs } = await frozenUnderLoad({ health_check_max_retries: 1 }, 'standby1', 8000, 8, READ);
    // The first failed check says why at warn level (it was debug only), once per series.
    const failedChecks = logs.filter((l) => l['msg'] === 'backend check failed' && l['backend'] === 'standby1');
    assert.ok(
      failedChecks.some((l) => l['level'] === 40),
      'no failed check logged at warn level',
    );
    const during = calls.filter((c) => c.startedAt + c.ms >= frozenAt);
    console.log(`# unhealthy standby: ${summary(during)}`);
    // Declared unhealthy after 2 failed checks of 0.5 s each: about 1.5 s, 3 s with a margin.
    assert.ok(
      during.every((c) => c.ms <= 3000),
      `a read waited on the frozen standby: ${summary(during)}`,
    );
    assert.ok(
      during.every((c) => c.code !== ''),
      `an error without SQLSTATE: ${summary(during)}`,
    );
  });

  test('query_timeout bounds a read on a frozen standby that stays in rotation (its cancel is never answered)', async () => {
    const { calls, frozenAt } = await frozenUnderLoad(
      { health_check_max_retries: 1000, query_timeout: 1 },
      'standby1',
      10_000,
      4,
      READ,
    );
    const during = calls.filter((c) => c.startedAt + c.ms >= frozenAt);
    console.log(`# query_timeout on a frozen standby: ${summary(during)}`);
    // query_timeout (1 s) + 5 s for the cancel to be confirmed + the janitor's tick and a margin.
    assert.ok(
      during.every((c) => c.ms <= 7500),
      `a read waited past query_timeout + 5 s: ${summary(during)}`,
    );
    assert.ok(
      during.every((c) => c.code !== ''),
      `an error without SQLSTATE: ${summary(during)}`,
    );
  });

  test('a cancel the frozen primary reads only when it wakes up cancels nobody else', async () => {
    const servers = 4;
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      ...FAST_CHECKS,
      health_check_max_retries: 1000,
      query_timeout: 1,
      default_pool_size: servers,
    });
    const clients = Array.from({ length: servers }, () => new pg.Client(p.pgConfig()));
    const victims: LoadLoop[] = [];
    try {
      for (const c of clients) c.on('error', () => {});
      await Promise.all(clients.map((c) => c.connect()));
      // Instant: the frozen statements end at the thaw, before the cancels meant for them arrive.
      const onPrimary = '/* pgtide: primary */ SELECT 1';
      await Promise.all(clients.map((c) => c.query(onPrimary)));
      // Each pooled server runs a statement when the primary freezes; query_timeout cancels
      // them, but the frozen server can read the cancels only once it wakes up.
      const thaw = freeze(t.primary);
      thaws.push(thaw);
      const frozen = clients.map((c) =>
        c.query(onPrimary).then(
          () => 'ok',
          (err: { code?: string }) => err.code ?? '',
        ),
      );
      await sleep(6700);
      // Other clients queue for those servers just before the thaw and run on them right after
      // it, each statement well under query_timeout: a cancel that reaches one of them was
      // meant for someone else.
      const victimSql = '/* pgtide: primary */ SELECT pg_catalog.inet_server_port() AS port, pg_catalog.pg_sleep(0.2)';
      for (let i = 0; i < servers * 2; i++) victims.push(new LoadLoop(p.pgConfig(), victimSql, 0));
      await sleep(300);
      thaws.pop()!();
      const frozenOutcomes = await Promise.all(frozen);
      await sleep(2000);
      for (const v of victims) await v.stop();
      const calls = allCalls(victims);
      console.log(
        `# late cancels: frozen clients ${JSON.stringify(frozenOutcomes)}; others after the thaw ${summary(calls)}`,
      );
      const cancelled = calls.filter((c) => c.code === '57014');
      assert.equal(cancelled.length, 0, `statements of other clients were cancelled: ${summary(calls)}`);
      assert.ok(
        calls.filter((c) => c.code === null).length >= servers,
        `too few statements after the thaw: ${summary(calls)}`,
      );
      assert.ok(
        frozenOutcomes.every((code) => code !== ''),
        `a frozen client got no SQLSTATE: ${JSON.stringify(frozenOutcomes)}`,
      );
    } finally {
      await Promise.all(victims.map((v) => v.stop()));
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });
});
