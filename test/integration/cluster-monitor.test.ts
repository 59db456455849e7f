// The cluster monitor against real servers: roles, health, lag and failover.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkLogin } from '../../src/cluster/check-login.js';
import { ClusterMonitor, type BackendState } from '../../src/cluster/monitor.js';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import {
  currentTopology,
  promoteNode,
  sqlOn,
  startNode,
  startTopology,
  stopNode,
  stopTopology,
  type PgNode,
  type Topology,
} from '../support/topology.js';
import { freezePostmaster } from '../support/faults.js';
import { sleep } from '../support/reader.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';

const PERIOD = 0.2;
const RETRIES = 1;

function monitorConfig(t: Topology, overrides: Partial<Config> = {}): Config {
  const nodes = [t.primary, ...t.standbys];
  return {
    ...defaultConfig(),
    instance_name: 'cluster-monitor-test',
    sr_check_user: t.scramUser.user,
    sr_check_database: t.database,
    sr_check_period: PERIOD,
    health_check_period: PERIOD,
    health_check_timeout: 2,
    health_check_max_retries: RETRIES,
    backends: nodes.map((node) => ({ name: node.name, host: node.host, port: node.port, weight: 1, role: 'auto' })),
    ...overrides,
  };
}

function startMonitor(t: Topology, overrides: Partial<Config> = {}): ClusterMonitor {
  const config = monitorConfig(t, overrides);
  // A non-superuser: the checks must need no privilege.
  const users = new Map([[t.scramUser.user, t.scramUser.password]]);
  return new ClusterMonitor(config, users, createLogger('test', 'silent'), (backend) =>
    checkLogin(config, users, backend, { mode: 'disable' }),
  );
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
}

function stateOf(monitor: ClusterMonitor, node: PgNode): BackendState {
  const state = monitor.backends.find((b) => b.config.name === node.name);
  assert.ok(state, `no backend ${node.name}`);
  return state;
}

describe('cluster monitor on the shared topology', { timeout: 120_000 }, () => {
  const t = currentTopology();
  let monitor: ClusterMonitor;
  before(async () => {
    monitor = startMonitor(t, { delay_threshold: 64 * 1024 });
    await monitor.start();
  });
  after(() => monitor.stop());

  test('start() discovers one primary and two readable standbys', () => {
    assert.deepEqual(
      monitor.backends.map((b) => [b.config.name, b.role, b.healthy, b.readable]),
      [
        ['primary', 'primary', true, true],
        ['standby1', 'standby', true, true],
        ['standby2', 'standby', true, true],
      ],
    );
    assert.equal(monitor.primary()?.config.name, 'primary');
    assert.deepEqual(
      monitor.readCandidates().map((b) => b.config.name),
      ['primary', 'standby1', 'standby2'],
    );
    for (const standby of monitor.backends.slice(1)) {
      assert.equal(typeof standby.lagBytes, 'number');
      assert.equal(typeof standby.lagMs, 'number');
    }
  });

  test('check connections are named after the instance and kept open', async () => {
    const count = async () =>
      (
        await sqlOn<{ n: string }>(
          t.primary,
          `SELECT count(*) AS n FROM pg_catalog.pg_stat_activity WHERE application_name = 'pgtide monitor cluster-monitor-test'`,
        )
      )[0]!.n;
    assert.equal(await count(), '1');
    await new Promise((resolve) => setTimeout(resolve, PERIOD * 3000));
    assert.equal(await count(), '1');
  });

  test('a stopped standby turns unhealthy within (retries + 1) periods, and back after a restart', async () => {
    const standby = t.standbys[1]!;
    let changes = 0;
    const unsubscribe = monitor.onChange(() => changes++);
    try {
      await stopNode(t, standby);
      // Each check may start up to a period late, and stopping itself takes a moment.
      const took = await waitFor(
        'standby2 unhealthy',
        () => !stateOf(monitor, standby).healthy,
        (RETRIES + 1) * PERIOD * 1000 + 1500,
      );
      assert.ok(took <= (RETRIES + 2) * PERIOD * 1000 + 1000, `took ${took} ms`);
      assert.equal(stateOf(monitor, standby).readable, false);
      assert.ok(!monitor.readCandidates().some((b) => b.config.name === standby.name));
      assert.equal(monitor.primary()?.config.name, 'primary', 'a standby going down does not touch the primary');
      assert.ok(changes >= 1, 'listeners hear of the change');
    } finally {
      await startNode(t, standby);
    }
    await waitFor(
      'standby2 healthy again',
      () => stateOf(monitor, standby).healthy && stateOf(monitor, standby).readable,
      10_000,
    );
    assert.equal(stateOf(monitor, standby).role, 'standby');
    unsubscribe();
  });

  test('a standby with paused replay leaves the read rotation past delay_threshold and returns on resume', async () => {
    const standby = t.standbys[0]!;
    await sqlOn(t.primary, 'CREATE TABLE IF NOT EXISTS cluster_monitor_lag (id int, pad text)');
    await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_pause()');
    try {
      await sqlOn(
        t.primary,
        `INSERT INTO cluster_monitor_lag SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g`,
      );
      await waitFor('standby1 lagging', () => !stateOf(monitor, standby).readable, 5000);
      const state = stateOf(monitor, standby);
      assert.ok(state.lagBytes! > 64 * 1024, `lagBytes ${state.lagBytes}`);
      assert.equal(state.healthy, true, 'lagging is not unhealthy');
      assert.ok(!monitor.readCandidates().includes(state));
    } finally {
      await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_resume()');
    }
    await waitFor('standby1 readable again', () => stateOf(monitor, standby).readable, 5000);
    assert.ok(stateOf(monitor, standby).lagBytes! <= 64 * 1024);
    await sqlOn(t.primary, 'DROP TABLE cluster_monitor_lag');
  });

  test('reportFailure checks at once', async () => {
    const standby = t.standbys[1]!;
    const slow = startMonitor(t, { sr_check_period: 3600, health_check_period: 0, health_check_max_retries: 0 });
    await slow.start();
    try {
      await stopNode(t, standby);
      assert.equal(stateOf(slow, standby).healthy, true, 'no periodic check would notice for an hour');
      slow.reportFailure(stateOf(slow, standby).config);
      await waitFor('unhealthy after a reported failure', () => !stateOf(slow, standby).healthy, 3000);
    } finally {
      slow.stop();
      await startNode(t, standby);
    }
  });

  test('a standby whose login got no answer returns at the first fresh login that succeeds, between check rounds', async () => {
    const standby = t.standbys[0]!;
    // Rounds 5 s apart; each fresh login waits 0.5 s for an answer.
    const slow = startMonitor(t, { sr_check_period: 5, health_check_period: 5, health_check_timeout: 0.5 });
    await slow.start();
    const state = stateOf(slow, standby);
    // New logins queue unanswered; the kept check connection still answers.
    let thaw: (() => void) | null = freezePostmaster(standby);
    try {
      slow.reportFailure(state.config, Date.now());
      assert.deepEqual({ readable: state.readable, healthy: state.healthy }, { readable: false, healthy: true });
      // Two fresh logins have timed out by now; the next one is under way or due within 0.2 s.
      await sleep(1200);
      assert.equal(state.readable, false, 'back while its postmaster was stopped');
      thaw();
      thaw = null;
      const backMs = await waitFor('standby1 readable again', () => state.readable, 6000);
      console.log(`# standby1 readable again ${backMs} ms after its postmaster resumed`);
      // One wait between fresh logins (0.2 s at this point), one login and a margin; the next
      // round would come 5 s after the first.
      assert.ok(backMs <= 1500, `standby1 back ${backMs} ms after its postmaster resumed`);
    } finally {
      thaw?.();
      slow.stop();
    }
  });

  test("a login that timed out takes a backend out only if it began after the last login that succeeded; a pool's login brings it back", async () => {
    const standby = t.standbys[0]!;
    const slow = startMonitor(t, { sr_check_period: 3600, health_check_period: 0 });
    await slow.start();
    const state = stateOf(slow, standby);
    // The fresh logins get no answer: only the pool's login below can bring it back.
    let thaw: (() => void) | null = freezePostmaster(standby);
    try {
      const timedOutAt = Date.now();
      slow.reportLogin(state.config, timedOutAt - 1, false);
      slow.reportFailure(state.config, timedOutAt);
      assert.equal(state.readable, false, 'a login that got no answer did not take it out');
      slow.reportLogin(state.config, timedOutAt - 1, false);
      assert.equal(state.readable, false, 'a login begun before the one that timed out brought it back');
      slow.reportLogin(state.config, timedOutAt + 1, false);
      assert.deepEqual(
        { readable: state.readable, takesLogins: state.takesLogins },
        { readable: true, takesLogins: true },
      );
      // That login timed out after one begun later had succeeded (it waited through a restart, say).
      slow.reportFailure(state.config, timedOutAt);
      assert.equal(state.readable, true, 'a stale login timeout took it out');
    } finally {
      thaw?.();
      thaw = null;
      slow.stop();
    }
  });
});

test('a login that reports the primary in hot standby demotes it at once; only a check begun after that elects it again', async () => {
  const t = currentTopology();
  // A backend that takes the TCP connection and never answers: every round lasts health_check_timeout.
  const hung = net.createServer(() => {});
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  const port = (hung.address() as net.AddressInfo).port;
  const timeoutMs = 2000;
  const nodes = monitorConfig(t).backends;
  const monitor = startMonitor(t, {
    health_check_timeout: timeoutMs / 1000,
    backends: [...nodes, { name: 'hung', host: '127.0.0.1', port, weight: 1, role: 'auto' }],
  });
  try {
    await monitor.start();
    const primary = stateOf(monitor, t.primary);
    assert.equal(primary.role, 'primary');
    // A round is under way (each lasts 2 s), its check of the primary answered or not yet.
    await sleep(500);
    const demotedAt = Date.now();
    monitor.reportLogin(primary.config, demotedAt, true);
    assert.equal(primary.role, 'unknown');
    // Before, the round under way elected it again at its end with its check from before.
    const back = await waitFor('the primary elected again', () => primary.role === 'primary', 4 * timeoutMs);
    assert.ok(back >= timeoutMs - 100, `elected again ${back} ms after the demotion, by a check begun before it`);
    // A login begun before the check that saw it a writer says nothing of its role now.
    monitor.reportLogin(primary.config, demotedAt, true);
    assert.equal(primary.role, 'primary');
  } finally {
    monitor.stop();
    hung.close();
  }
});

test('several backends and no user to check them as: pgtide says the checks are off', async () => {
  const t = currentTopology();
  const p = await startPgtide(t, { backends: clusterBackends(t, [1, 1, 1]), auth_file: '', sr_check_user: '' });
  try {
    assert.equal(p.pgtide.cluster, null);
    assert.ok(
      p.logs.some((l) => String(l['msg']).startsWith('no user to check the backends as') && l['backends'] === 3),
      JSON.stringify(p.logs),
    );
  } finally {
    await p.stop();
  }
});

describe('cluster monitor through a failover', { timeout: 120_000 }, () => {
  let t: Topology;
  let monitor: ClusterMonitor;
  before(async () => {
    t = await startTopology({ standbys: 1 });
    monitor = startMonitor(t, { sr_check_period: 0.5, health_check_period: 0 });
    await monitor.start();
  });
  after(async () => {
    monitor.stop();
    await stopTopology(t);
  });

  test('the promoted standby becomes the primary; the old one is never written to', async () => {
    const [standby] = t.standbys;
    assert.equal(monitor.primary()?.config.name, 'primary');
    await stopNode(t, t.primary);
    await promoteNode(t, standby!);
    await waitFor('standby1 primary', () => monitor.primary()?.config.name === 'standby1', 0.5 * 1000 + 1500);
    assert.notEqual(stateOf(monitor, t.primary).role, 'primary');
    assert.equal(stateOf(monitor, standby!).lagBytes, 0);
  });

  test('split brain: the old primary coming back is not trusted (older timeline)', async () => {
    await startNode(t, t.primary);
    await waitFor('old primary seen again', () => stateOf(monitor, t.primary).healthy, 5000);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal(monitor.primary()?.config.name, 'standby1');
    assert.equal(stateOf(monitor, t.primary).role, 'unknown');
    assert.equal(stateOf(monitor, t.primary).readable, false);
  });
});
