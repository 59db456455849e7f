import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, startNode, stopNode } from '../support/topology.js';
import { backendEvents, clusterBackends, startPgtide } from '../support/pgtide.js';
import { Reader, learnProbe, sleep } from '../support/reader.js';

describe('a standby stops and comes back during a read load', { timeout: 120_000 }, () => {
  test('at most 1 error per client; back in rotation within 2 health_check_periods', async () => {
    const t = currentTopology();
    const standby = t.standbys[0]!;
    const healthPeriod = 1;
    const p = await startPgtide(t, {
      backends: clusterBackends(t, [0, 1, 1]),
      health_check_period: healthPeriod,
      health_check_timeout: 1,
      health_check_max_retries: 1,
      sr_check_period: 1,
    });
    const readers = Array.from({ length: 8 }, () => new Reader(p.pgConfig()));
    try {
      await learnProbe(() => readers[0]!.port());
      let running = true;
      let backAt = 0;
      let firstReadAfterRestart = 0;
      const load = Promise.all(
        readers.map(async (r) => {
          while (running) {
            const port = await r.port();
            if (port === standby.port && backAt && !firstReadAfterRestart) firstReadAfterRestart = Date.now();
          }
        }),
      );
      await sleep(2000);
      await stopNode(t, standby, 'fast');
      // Long enough for several health checks to fail and for every reader to meet the outage.
      await sleep(5000);
      await startNode(t, standby);
      backAt = Date.now();
      // The load runs on for 2 s after the standby's first read, so errors met on its return count.
      const deadline = backAt + 15_000;
      while (!firstReadAfterRestart && Date.now() < deadline) await sleep(100);
      await sleep(2000);
      running = false;
      await load;
      const worst = Math.max(...readers.map((r) => r.errors));
      assert.ok(worst <= 1, `a client saw ${worst} errors`);
      assert.ok(firstReadAfterRestart > 0, 'the restarted standby never served a read again');
      // Other test files write to the primary meanwhile: a standby that comes back behind by more
      // than delay_threshold takes reads only once it has replayed that (routing.md). Then the
      // clock starts when pgtide says it takes reads again.
      const event = (msg: string) =>
        p.logs.find(
          (l) => Number(l['time']) >= backAt && l['backend'] === standby.name && String(l['msg']).startsWith(msg),
        );
      const heldForLag = event('backend is healthy but takes no reads yet') !== undefined;
      const from = heldForLag ? Number(event('backend takes reads again')?.['time'] ?? backAt) : backAt;
      const delay = firstReadAfterRestart - from;
      assert.ok(
        delay <= 2 * healthPeriod * 1000 + 500,
        `the standby came back after ${delay} ms${heldForLag ? ' from the end of its lag' : ''}:\n${backendEvents(p, backAt)}`,
      );
    } finally {
      await Promise.all(readers.map((r) => r.end()));
      await p.stop();
      await startNode(t, standby).catch(() => {});
    }
  });
});
