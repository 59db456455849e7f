// Fault campaign, part 1 (issue 17, items 1, 2 and 6): the primary killed and restarted
// (no primary for a while), then killed again and a standby promoted, the other standby orphaned, the old primary restarted as a writer (split brain),
// the new primary frozen past its health checks, and pgtide restarted while it is frozen.
// Throughout, every client call must end within its timeout with an ErrorResponse, and no
// write may be acknowledged by a server other than the newest-timeline primary.
// Its own topology: it breaks nodes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';
import { promoteNode, sqlOn, startNode, startTopology, stopTopology, type Topology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { learnProbe, sleep } from '../support/reader.js';
import { freeze, kill, timeUntil } from '../support/faults.js';
import { LoadLoop, allCalls, summary, type CallRecord } from '../support/fault-load.js';

const WRITE = 'INSERT INTO fault_rows (id) VALUES ($1) RETURNING pg_catalog.inet_server_port() AS port';
const READ = 'SELECT pg_catalog.inet_server_port() AS port';
const QUERY_WAIT_TIMEOUT = 3;
/** The longest any call may take: query_wait_timeout, or a frozen server declared unhealthy
 *  (3 checks of 0.5 s), plus the janitor's tick and a margin for a loaded machine. */
const CALL_BOUND_MS = QUERY_WAIT_TIMEOUT * 1000 + 2000;

function settings(t: Topology, stateDir: string): Partial<Config> {
  return {
    backends: clusterBackends(t, [0, 1, 1]),
    sr_check_period: 0.5,
    health_check_period: 0.5,
    health_check_timeout: 0.5,
    health_check_max_retries: 2,
    query_wait_timeout: QUERY_WAIT_TIMEOUT,
    server_connect_timeout: 2,
    server_login_retry: 0.5,
    delay_threshold_by_time: 2000,
    state_dir: stateDir,
  } as Partial<Config>;
}

/** Every failed call carries a SQLSTATE and every call ended within the bound. */
function assertBounded(calls: CallRecord[], what: string): void {
  const silent = calls.filter((c) => c.code === '');
  const why = silent.map((c) => `${c.message} at +${c.startedAt - calls[0]!.startedAt} ms`).join('; ');
  assert.equal(
    silent.length,
    0,
    `${what}: ${silent.length} calls failed without an ErrorResponse: ${why} (${summary(calls)})`,
  );
  const slow = calls.filter((c) => c.ms > CALL_BOUND_MS);
  assert.equal(slow.length, 0, `${what}: calls took ${slow.map((c) => c.ms).join(', ')} ms (${summary(calls)})`);
}

describe('faults: failover, split brain, a frozen new primary, a restart of pgtide', { timeout: 180_000 }, () => {
  test('no write reaches the abandoned primary; every wait ends in time with a SQLSTATE', async () => {
    const t = await startTopology({ standbys: 2 });
    const stateDir = mkdtempSync(join(tmpdir(), 'pgtide-state-'));
    let p: RunningPgtide | null = null;
    const thaws: (() => void)[] = [];
    const loops: LoadLoop[] = [];
    const [oldPrimary, newPrimary, orphan] = [t.primary, t.standbys[0]!, t.standbys[1]!];
    try {
      await sqlOn(
        oldPrimary,
        `CREATE TABLE fault_rows (id int PRIMARY KEY); GRANT ALL ON fault_rows TO ${t.scramUser.user}`,
      );
      p = await startPgtide(t, settings(t, stateDir));
      const running = p;
      const reader = new pg.Client(running.pgConfig());
      await reader.connect();
      await learnProbe((sql) => reader.query(sql), READ);
      await reader.end();
      const writers = [1, 2, 3].map(() => new LoadLoop(running.pgConfig(), WRITE));
      const acked = (port: number, after: number) =>
        allCalls(writers).some((c) => c.port === port && c.startedAt >= after);
      const readers = [1, 2].map(() => new LoadLoop(running.pgConfig(), READ));
      loops.push(...writers, ...readers);
      await sleep(1000);

      // 0. The primary crashes and nothing is promoted (item 2): writes wait, at most
      //    query_wait_timeout, then get 57014; the restarted primary takes them again.
      const downAt = Date.now();
      await kill(oldPrimary);
      await sleep(8000);
      const noPrimary = allCalls(writers).filter(
        (c) => c.startedAt >= downAt + 2000 && c.startedAt < Date.now() - 2000,
      );
      await startNode(t, oldPrimary);
      const restartedAt = Date.now();
      const primaryBackMs = await timeUntil(() => acked(oldPrimary.port, restartedAt), restartedAt, 10_000);
      await sleep(1000);

      // 1. The primary crashes again; standby1 is promoted (timeline 2). standby2 still follows the dead one.
      const killedAt = Date.now();
      await kill(oldPrimary);
      await promoteNode(t, newPrimary);
      const promotedAt = Date.now();
      const failoverMs = await timeUntil(() => acked(newPrimary.port, promotedAt), killedAt, 15_000);

      // 2. The orphaned standby (item 6) leaves the read rotation: it falls behind the new primary.
      // It takes the new primary's first 64 KiB of WAL and delay_threshold_by_time: slower on a loaded machine.
      const orphanOutMs = await timeUntil(() => !running.pgtide.cluster!.backends[2]!.readable, promotedAt, 15_000);
      const orphanOutAt = Date.now() + 500;

      // 3. The old primary comes back as a writer on timeline 1 (no standby.signal): split brain.
      await startNode(t, oldPrimary);
      await sleep(2000);

      // 4. The new primary freezes well past its health checks (item 1: never elect the old one).
      const frozenAt = Date.now();
      thaws.push(freeze(newPrimary));
      await sleep(8000);
      thaws.pop()!();
      const thawedAt = Date.now();
      const backMs = await timeUntil(() => acked(newPrimary.port, thawedAt), thawedAt, 10_000);
      const duringFreeze = allCalls(loops).filter((c) => c.startedAt >= frozenAt && c.startedAt < thawedAt);
      for (const loop of loops) await loop.stop();
      const calls = allCalls(loops);
      await running.stop();
      p = null;

      // 5. pgtide restarts while the new primary is frozen: only the old primary answers as a
      //    writer, and it must still not be trusted (the state file remembers timeline 2).
      thaws.push(freeze(newPrimary));
      p = await startPgtide(t, settings(t, stateDir));
      const restarted = p;
      const afterRestart: CallRecord[] = [];
      const probe = async () => {
        const client = new pg.Client(restarted.pgConfig());
        client.on('error', () => {});
        const startedAt = Date.now();
        try {
          await client.connect();
          const port = (await client.query(WRITE, [1_000_000 + afterRestart.length])).rows[0].port as number;
          afterRestart.push({ startedAt, ms: Date.now() - startedAt, code: null, port, id: 0 });
        } catch (err) {
          afterRestart.push({
            startedAt,
            ms: Date.now() - startedAt,
            code: (err as { code?: string }).code ?? '',
            port: null,
            id: 0,
          });
        } finally {
          await client.end().catch(() => {});
        }
      };
      await Promise.all([probe(), probe()]);
      thaws.pop()!();
      const restartThawedAt = Date.now();
      const restartBackMs = await timeUntil(
        async () => {
          await probe();
          return afterRestart.at(-1)!.port === newPrimary.port;
        },
        restartThawedAt,
        10_000,
      );

      const diag =
        `no primary: ${summary(noPrimary)}, back ${primaryBackMs} ms; failover ${failoverMs} ms, orphan out ${orphanOutMs} ms, back after freeze ${backMs} ms, ` +
        `back after restart ${restartBackMs} ms; during freeze: ${summary(duringFreeze)}; after restart: ${summary(afterRestart)}`;
      console.log(`# ${diag}`);
      // No write acknowledged by the abandoned primary once the new one was promoted.
      const writes = allCalls(writers);
      const stranded = [...writes, ...afterRestart].filter(
        (c) => c.port === oldPrimary.port && c.startedAt >= promotedAt,
      );
      assert.equal(stranded.length, 0, `${stranded.length} writes acknowledged by the abandoned primary (${diag})`);
      const readsOnOrphan = allCalls(readers).filter((c) => c.port === orphan.port && c.startedAt >= orphanOutAt);
      assert.equal(readsOnOrphan.length, 0, `${readsOnOrphan.length} reads served by the orphaned standby (${diag})`);
      // Writes acknowledged by the new primary are all there.
      const ids = new Set((await sqlOn<{ id: number }>(newPrimary, 'SELECT id FROM fault_rows')).map((r) => r.id));
      const lost = writes.filter((c) => c.port === newPrimary.port && !ids.has(c.id));
      assert.equal(lost.length, 0, `${lost.length} acknowledged writes missing on the new primary`);
      assert.ok(
        noPrimary.length > 0 && noPrimary.every((c) => c.code === '57014'),
        `writes while no primary is known: ${diag}`,
      );
      assertBounded(calls, 'under load');
      assertBounded(afterRestart, 'after the restart');
      assert.ok(
        afterRestart.slice(0, 2).every((c) => c.code === '57014'),
        `writes while no primary is trusted: ${summary(afterRestart)}`,
      );
      assert.ok(
        primaryBackMs <= 5000 && failoverMs <= 8000 && backMs <= 5000 && restartBackMs <= 5000 && orphanOutMs <= 12_000,
        diag,
      );
    } finally {
      for (const thaw of thaws) thaw();
      await Promise.all(loops.map((l) => l.stop()));
      await p?.stop();
      await stopTopology(t);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
