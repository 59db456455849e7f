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
import { freeze, freezePostmaster, timeUntil } from '../support/faults.js';
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

/** Checks every 0.5 s; a check's answer may take 2 s, so that the kept check connection, which
 *  still answers while a postmaster is stopped, is never closed for one slow answer and made to
 *  log in again (that login would fail, and health would decide instead of the login timeout). */
const LOGIN_CHECKS: Partial<Config> = {
  sr_check_period: 0.5,
  health_check_period: 0.5,
  health_check_timeout: 2,
  server_connect_timeout: 1,
};

/** Closes `backend`'s idle server connections until only `busy` remain (none is still being
 *  released, to come back idle later), so that the next transaction there logs in anew. */
async function onlyBusyServers(p: RunningPgtide, backend: string, busy: number): Promise<void> {
  const open = () => {
    let count = 0;
    for (const pool of p.pgtide.context.pools.all()) {
      if (pool.key.backend !== backend) continue;
      pool.closeIdle('the test needs a new login');
      count += pool.servers.size;
    }
    return count;
  };
  const ms = await timeUntil(() => open() === busy, Date.now(), 5000);
  assert.ok(ms !== Infinity, `${backend} kept ${open()} server connections, expected ${busy}`);
}

/** inet_server_port() of the server that answered READ, or the SQLSTATE, and how long it took. */
async function timedRead(client: pg.Client): Promise<{ port: number | null; code: string | null; ms: number }> {
  const start = Date.now();
  try {
    const { rows } = await client.query(READ);
    return { port: rows[0].port as number, code: null, ms: Date.now() - start };
  } catch (err) {
    return { port: null, code: (err as { code?: string }).code ?? '', ms: Date.now() - start };
  }
}

const loginFailed = (p: RunningPgtide, backend: string) =>
  p.logs.some((l) => l['msg'] === 'server login failed' && (l['pool'] as { backend?: string })?.backend === backend);

const loginTimedOut = (p: RunningPgtide, backend: string) =>
  p.logs.some(
    (l) =>
      l['msg'] === 'a server login got no answer: no reads go to the backend until a new connection logs in' &&
      l['backend'] === backend,
  );

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
      for (let i = 0; i < clients; i++) loops.push(new LoadLoop(p.pgConfig(), sql, { pauseMs: 5 }));
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

  test('a standby that takes no new login leaves the read rotation at the login that timed out, and returns once one succeeds', async () => {
    const [standby1, standby2] = [t.standbys[0]!, t.standbys[1]!];
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      // Reads go to standby1 while it is readable, else to standby2.
      database_redirect_preference_list: `${t.database}:1`,
      ...LOGIN_CHECKS,
      query_wait_timeout: 10,
    });
    const client = new pg.Client(p.pgConfig());
    client.on('error', () => {});
    let thaw: (() => void) | null = null;
    try {
      await client.connect();
      await learnProbe((q) => client.query(q), READ);
      assert.equal((await timedRead(client)).port, standby1.port, 'reads do not go to standby1');
      // A reload that changes nothing keeps the pools, made with the old configuration's
      // objects (a reload from the file makes new ones): their news (the login timeout below)
      // must still reach the monitor.
      p.pgtide.reload({ ...p.config, backends: p.config.backends.map((b) => ({ ...b })) });
      await learnProbe((q) => client.query(q), READ);
      await onlyBusyServers(p, standby1.name, 0);
      // The monitor's kept connection to standby1 goes on answering its checks; the read needs a
      // new server there, whose login is never answered.
      thaw = freezePostmaster(standby1);
      const stalled = await timedRead(client);
      const next = await timedRead(client);
      const state = p.pgtide.cluster!.backends[1]!;
      console.log(`# standby taking no login: ${JSON.stringify({ stalled, next })}`);
      // server_connect_timeout (1 s), then the janitor's next tick (0.25 s) re-routes the
      // waiting read: to the primary, as a read whose standby failed. A margin for a loaded machine.
      assert.equal(stalled.code, null, `the read waited for standby1: ${JSON.stringify(stalled)}`);
      assert.equal(stalled.port, t.primary.port);
      assert.ok(stalled.ms <= 2500, `the read took ${stalled.ms} ms`);
      assert.equal(next.port, standby2.port, 'the next read did not go to the other standby');
      assert.ok(next.ms <= 1000, `the next read took ${next.ms} ms`);
      assert.ok(loginTimedOut(p, standby1.name), 'no login timeout logged for standby1');
      assert.deepEqual(
        { healthy: state.healthy, role: state.role, readable: state.readable },
        { healthy: true, role: 'standby', readable: false },
        'standby1 left the rotation for its health rather than for the login timeout',
      );
      thaw();
      thaw = null;
      const thawedAt = Date.now();
      const backMs = await timeUntil(() => state.readable, thawedAt, 10_000);
      console.log(`# standby1 readable again ${backMs} ms after its postmaster resumed`);
      // The monitor's fresh login waiting at the thaw is answered then; else the next starts
      // within health_check_period (0.5 s). A margin for a loaded machine.
      assert.ok(backMs <= 4000, `standby1 back after ${backMs} ms`);
      const back = await timedRead(client);
      assert.equal(back.port, standby1.port, `reads do not go to standby1 again: ${JSON.stringify(back)}`);
    } finally {
      thaw?.();
      await client.end().catch(() => {});
      await p.stop();
    }
  });

  test('a primary that takes no new login stays the primary: its open transaction commits, reads go to standbys', async () => {
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [1, 1, 1]),
      // Reads go to the primary while it is readable.
      database_redirect_preference_list: `${t.database}:0`,
      ...LOGIN_CHECKS,
      query_wait_timeout: 3,
    });
    const [holder, writer, reader] = [0, 1, 2].map(() => new pg.Client(p.pgConfig()));
    for (const c of [holder!, writer!, reader!]) c.on('error', () => {});
    let thaw: (() => void) | null = null;
    try {
      await Promise.all([holder!.connect(), writer!.connect(), reader!.connect()]);
      await learnProbe((q) => reader!.query(q), READ);
      assert.equal((await timedRead(reader!)).port, t.primary.port, 'reads do not go to the primary');
      await holder!.query('BEGIN');
      await holder!.query('CREATE TEMP TABLE kept (x int)');
      // The write needs a second server on the primary: only the holder's stays open.
      await onlyBusyServers(p, t.primary.name, 1);
      thaw = freezePostmaster(t.primary);
      const write = writer!.query('/* pgtide: primary */ SELECT 1').then(
        () => null,
        (err: { code?: string }) => err.code ?? '',
      );
      // server_connect_timeout (1 s) and a margin.
      const failedMs = await timeUntil(() => loginFailed(p, t.primary.name), Date.now(), 3000);
      assert.ok(failedMs !== Infinity, 'no login to the primary failed');
      const read = await timedRead(reader!);
      assert.ok(
        read.port === t.standbys[0]!.port || read.port === t.standbys[1]!.port,
        `the read did not go to a standby: ${JSON.stringify(read)}`,
      );
      assert.ok(loginTimedOut(p, t.primary.name), 'the failed login was no timeout');
      // Writes have nowhere else to go: they wait, then query_wait_timeout.
      assert.equal(await write, '57014');
      const primary = p.pgtide.cluster!.backends[0]!;
      assert.deepEqual({ role: primary.role, healthy: primary.healthy }, { role: 'primary', healthy: true });
      await holder!.query('INSERT INTO kept VALUES (1)');
      await holder!.query('COMMIT');
      thaw();
      thaw = null;
      const backMs = await timeUntil(() => primary.readable, Date.now(), 10_000);
      assert.ok(backMs <= 4000, `the primary took reads again after ${backMs} ms`);
      assert.equal((await timedRead(reader!)).port, t.primary.port);
    } finally {
      thaw?.();
      await Promise.all([holder!, writer!, reader!].map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  test('a standby that leaves a query_timeout cancel unanswered leaves the read rotation at once, and returns after the thaw', async () => {
    const [standby1, standby2] = [t.standbys[0]!, t.standbys[1]!];
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      // Reads go to standby1 while it is readable, else to standby2.
      database_redirect_preference_list: `${t.database}:1`,
      ...FAST_CHECKS,
      // The checks alone never declare it unhealthy, and a login there would wait 15 s.
      health_check_max_retries: 1000,
      query_timeout: 1,
    });
    const [stuck, next] = [0, 1].map(() => new pg.Client(p.pgConfig()));
    for (const c of [stuck!, next!]) c.on('error', () => {});
    let thaw: (() => void) | null = null;
    try {
      await Promise.all([stuck!.connect(), next!.connect()]);
      await learnProbe((q) => stuck!.query(q), READ);
      assert.equal((await timedRead(stuck!)).port, standby1.port, 'reads do not go to standby1');
      thaw = freeze(standby1);
      const stalled = await timedRead(stuck!);
      // query_timeout (1 s), 5 s for the cancel, the janitor's ticks; then 57014, or the read
      // run again elsewhere (a read whose standby failed goes to the primary).
      assert.ok(
        stalled.code === '57014' || (stalled.code === null && stalled.port !== standby1.port),
        JSON.stringify(stalled),
      );
      assert.ok(stalled.ms <= 7500, `the read took ${stalled.ms} ms`);
      const after = await timedRead(next!);
      console.log(`# hung standby: ${JSON.stringify({ stalled, after })}`);
      // Before, it went to standby1 again, needed a login there and waited out the freeze.
      assert.equal(
        after.port,
        standby2.port,
        `the next read did not go to the other standby: ${JSON.stringify(after)}`,
      );
      assert.ok(after.ms <= 1000, `the next read took ${after.ms} ms`);
      assert.ok(
        p.logs.some(
          (l) =>
            l['msg'] === 'a cancel request got no answer: no reads go to the backend until a new connection logs in' &&
            l['backend'] === standby1.name,
        ),
        'no unanswered cancel logged for standby1',
      );
      const state = p.pgtide.cluster!.backends[1]!;
      assert.deepEqual({ healthy: state.healthy, readable: state.readable }, { healthy: true, readable: false });
      thaw();
      thaw = null;
      const backMs = await timeUntil(() => state.readable, Date.now(), 10_000);
      // The monitor's login probe, retried within health_check_period; a margin for a loaded machine.
      assert.ok(backMs <= 4000, `standby1 back after ${backMs} ms`);
      assert.equal((await timedRead(next!)).port, standby1.port, 'reads do not go to standby1 again');
    } finally {
      thaw?.();
      await Promise.all([stuck!, next!].map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  test("a first login waiting for a frozen primary's server logs in on a standby once the primary is declared unhealthy", async () => {
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      ...FAST_CHECKS,
      health_check_max_retries: 1,
      client_login_timeout: 10,
    });
    const client = new pg.Client(p.pgConfig());
    client.on('error', () => {});
    let thaw: (() => void) | null = null;
    try {
      // No pool has logged in yet: the login waits for a first server, to learn the settings to report.
      thaw = freeze(t.primary);
      const started = Date.now();
      await client.connect();
      const ms = Date.now() - started;
      console.log(`# first login during a frozen primary: ${ms} ms`);
      // Declared unhealthy after 2 failed checks of 0.5 s, then the janitor's tick; before, the
      // login waited on the primary until client_login_timeout (08P01 after 10 s here).
      assert.ok(ms <= 4000, `the login took ${ms} ms`);
      // A read pgtide knows without asking the frozen primary's catalog.
      const { rows } = await client.query('SHOW port');
      const standbyPorts = t.standbys.map((n) => String(n.port));
      assert.ok(standbyPorts.includes(rows[0].port), `read on port ${rows[0].port}`);
    } finally {
      thaw?.();
      await client.end().catch(() => {});
      await p.stop();
    }
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
      for (let i = 0; i < servers * 2; i++) victims.push(new LoadLoop(p.pgConfig(), victimSql, { pauseMs: 0 }));
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
