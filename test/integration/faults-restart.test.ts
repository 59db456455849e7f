// Fault campaign: the primary restarted (`pg_ctl restart -m fast`, as an operator applies a
// setting) under load, pgtide with its defaults. A restart takes well under a second; the
// clients that wait for a server meanwhile must be served once it is back, not after
// server_login_retry (15 s by default) counted from a login refused while it was down.
// Its own topology: it restarts the primary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, startTopology, stopNode, stopTopology, type Topology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { sleep } from '../support/reader.js';
import { LoadLoop, allCalls, summary } from '../support/fault-load.js';

const READ = 'SELECT pg_catalog.inet_server_port() AS port';
/** After the server is back: the pool's first retry, the janitor's tick, a loaded machine. */
const BACK_WITHIN_MS = 3000;

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
      await sleep(1000);
      const stoppedAt = Date.now();
      await stopNode(t, t.primary, 'fast');
      // Long enough for the clients' logins to be refused while it is down.
      await sleep(300);
      await startNode(t, t.primary);
      const restartedAt = Date.now();
      await sleep(BACK_WITHIN_MS + 1000);
      for (const loop of loops) await loop.stop();
      const calls = allCalls(loops).filter((c) => c.startedAt + c.ms >= stoppedAt);
      const diag = `down ${restartedAt - stoppedAt} ms; ${summary(calls)}`;
      const silent = calls.filter((c) => c.code === '');
      assert.equal(
        silent.length,
        0,
        `calls failed without a SQLSTATE: ${silent.map((c) => c.message).join('; ')} (${diag})`,
      );
      const served = loops.map((loop) => loop.calls.find((c) => c.code === null && c.startedAt + c.ms >= restartedAt));
      const lateness = served.map((c) => (c ? c.startedAt + c.ms - restartedAt : Infinity));
      console.log(`# first answers ${lateness.join(', ')} ms after the restart; ${diag}`);
      assert.ok(
        lateness.every((ms) => ms <= BACK_WITHIN_MS),
        `each client's first answer after the restart came ${lateness.join(', ')} ms after it (${diag})`,
      );
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
    }
  });
});
