// Fault campaign: the primary restarted (`pg_ctl restart -m fast`, as an operator applies a
// setting) under load, pgtide with its defaults. A restart takes well under a second; the
// clients that wait for a server meanwhile must be served once it is back, not after
// server_login_retry (15 s by default) counted from a login refused while it was down. With a
// standby, the cluster monitor judges the primary too: the pools' refused logins must not make
// it declare the primary unhealthy and leave the writes waiting for its next check round.
// Its own topologies: they restart the primary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sqlOn, startNode, startTopology, stopNode, stopTopology, type Topology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { sleep } from '../support/reader.js';
import { LoadLoop, allCalls, summary } from '../support/fault-load.js';

const READ = 'SELECT pg_catalog.inet_server_port() AS port';
const WRITE = 'INSERT INTO restart_rows (id) VALUES ($1) RETURNING pg_catalog.inet_server_port() AS port';
/** After the server is back: the pool's first retry, the janitor's tick, a loaded machine. */
const BACK_WITHIN_MS = 3000;
/** With a standby, the cluster monitor judges the primary too: a restart may cost writes the
 *  restart itself and a short bounded wait, not a whole health_check_period (5 s). */
const WRITES_BACK_WITHIN_MS = 1000;

/**
 * Restarts the primary while `loops` run, watches them for `watchMs` more, then stops them.
 * Every call that failed must carry a SQLSTATE; returns each loop's first answer after
 * `pg_ctl start` returned, in ms (Infinity: none).
 */
async function restartUnder(
  t: Topology,
  loops: LoadLoop[],
  watchMs: number,
): Promise<{ lateness: number[]; diag: string }> {
  await sleep(1000);
  const stoppedAt = Date.now();
  await stopNode(t, t.primary, 'fast');
  // Long enough for the clients' logins to be refused while it is down.
  await sleep(300);
  await startNode(t, t.primary);
  const restartedAt = Date.now();
  await sleep(watchMs);
  for (const loop of loops) await loop.stop();
  const calls = allCalls(loops).filter((c) => c.startedAt + c.ms >= stoppedAt);
  const lateness = loops.map((loop) => {
    const served = loop.calls.find((c) => c.code === null && c.startedAt + c.ms >= restartedAt);
    return served ? served.startedAt + served.ms - restartedAt : Infinity;
  });
  const diag = `down ${restartedAt - stoppedAt} ms; first answers ${lateness.join(', ')} ms after the restart; ${summary(calls)}`;
  console.log(`# ${diag}`);
  const silent = calls.filter((c) => c.code === '');
  assert.equal(
    silent.length,
    0,
    `calls failed without a SQLSTATE: ${silent.map((c) => c.message).join('; ')} (${diag})`,
  );
  return { lateness, diag };
}

describe('faults: the primary restarted under load', { timeout: 60_000 }, () => {
  let t: Topology;
  let p: RunningPgtide;
  before(async () => {
    t = await startTopology({ standbys: 0 });
    p = await startPgtide(t);
  });
  after(async () => {
    await p?.stop();
    if (t) await stopTopology(t);
  });

  test('clients waiting for a server meanwhile are served once it is back, not after server_login_retry', async () => {
    const loops = Array.from({ length: 4 }, () => new LoadLoop(p.pgConfig(), READ));
    try {
      const { lateness, diag } = await restartUnder(t, loops, BACK_WITHIN_MS + 1000);
      assert.ok(
        lateness.every((ms) => ms <= BACK_WITHIN_MS),
        `each client's first answer after the restart came ${lateness.join(', ')} ms after it (${diag})`,
      );
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
    }
  });
});

describe('faults: the primary restarted under write load, with a standby', { timeout: 60_000 }, () => {
  let t: Topology;
  let p: RunningPgtide;
  before(async () => {
    t = await startTopology({ standbys: 1 });
    for (const db of [t.database, t.extraDatabases[0]!]) {
      await sqlOn(
        t.primary,
        `CREATE TABLE restart_rows (id int PRIMARY KEY); GRANT ALL ON restart_rows TO ${t.scramUser.user}`,
        [],
        db,
      );
    }
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1]) });
  });
  after(async () => {
    await p?.stop();
    if (t) await stopTopology(t);
  });

  test('writes are served within a second of the primary taking connections again', async () => {
    // Two databases: several pools, each reporting its refused logins to the monitor.
    const logins = [p.pgConfig(), p.pgConfig({ database: t.extraDatabases[0]! })];
    const loops = logins.flatMap((login) => [new LoadLoop(login, WRITE), new LoadLoop(login, WRITE)]);
    try {
      const { lateness, diag } = await restartUnder(t, loops, 6000);
      assert.ok(
        lateness.every((ms) => ms <= WRITES_BACK_WITHIN_MS),
        `writes came back later than ${WRITES_BACK_WITHIN_MS} ms after the restart (${diag})`,
      );
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
    }
  });
});
