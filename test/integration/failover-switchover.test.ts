// A switchover under load: the primary stopped (fast), the standby promoted, the old primary
// started again as a standby of the new one (test/support/topology.ts rejoinAsStandby). Clients
// write all along through a session-mode and a transaction-mode database. Before commit 49b6048,
// session-mode clients that waited in the old primary's pool while it was down got a server of
// it once it was back as a standby, and had every write refused with 25006 for as long as they
// stayed connected. Now: once pgtide has elected the new primary, every writer's writes succeed
// there within WRITES_BACK_MS; nothing is acknowledged by the old primary after its stop; and
// reads reach the old primary again once it streams as a standby.
// What a client sees on the way (measured): a write under way at the stop gets 57P01 (the fast
// shutdown's FATAL) and the writer reconnects. A write that waited for the old primary is never
// sent to it once it is back as a standby, even before pgtide's check has seen it so: the first
// server login there reports in_hot_standby = on and the backend loses its role at once (before,
// such a write got 25006, one in most writers of every run). Not tolerated: a 25006, or a
// failure or a write anywhere but on the new primary once WRITES_BACK_MS have passed since the
// election.
// Its own topology: it promotes a standby and rebuilds the old primary as one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promoteNode, rejoinAsStandby, sqlOn, startTopology, stopNode, stopTopology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';
import { LoadLoop, summary, type CallRecord } from '../support/fault-load.js';

const SESSION_DB = 'sessions';
const WRITERS_PER_MODE = 5;
const WRITE = 'INSERT INTO switch_rows (id, via) VALUES ($1, $2) RETURNING pg_catalog.inet_server_port() AS port';
const READ = 'SELECT pg_catalog.inet_server_port() AS port';
/** From the election on, every writer's writes succeed on the new primary within this. */
const WRITES_BACK_MS = 10_000;
/** Reads reach the rejoined old primary within this after it streams. */
const READS_BACK_MS = 10_000;

// Checks every 0.3 s: pgtide sees the promotion before the old primary is back, or in the same
// check (in about a third of the runs). Every 2 s: no round falls in between, and pgtide learns of
// both in one check, the one that a pool's first login to the returned old primary starts: clients
// waiting for the old primary get its servers while it is still taken for the primary, and only
// its close, once that check sees it a standby, frees the session-mode ones.
for (const checkPeriod of [0.3, 2]) {
  test(`a switchover (primary stopped, standby promoted, old primary back as a standby), checks every ${checkPeriod} s, under session and transaction writers: writes resume on the new primary, none refused for good, reads reach the old primary`, {
    timeout: 60_000,
  }, async (ctx) => {
    const t = await startTopology({ standbys: 1 });
    const stateDir = mkdtempSync(join(tmpdir(), 'pgtide-state-'));
    const [oldPrimary, newPrimary] = [t.primary, t.standbys[0]!];
    let p: RunningPgtide | null = null;
    const loops: LoadLoop[] = [];
    try {
      await sqlOn(
        oldPrimary,
        `CREATE TABLE switch_rows (id int PRIMARY KEY, via text); GRANT ALL ON switch_rows TO ${t.scramUser.user}`,
      );
      p = await startPgtide(t, {
        backends: clusterBackends(t, [1, 1]),
        sr_check_period: checkPeriod,
        health_check_period: checkPeriod,
        state_dir: stateDir,
        databases: {
          [t.database]: { dbname: t.database, pool_mode: 'transaction' },
          [SESSION_DB]: { dbname: t.database, pool_mode: 'session' },
        },
      });
      const running = p;
      const router = running.pgtide.context.router;
      // query_timeout: a call pgtide never answered fails the loop's call instead of hanging it.
      const config = (database: string) => running.pgConfig({ database, query_timeout: 15_000 });
      for (let i = 0; i < WRITERS_PER_MODE; i++) {
        loops.push(new LoadLoop(config(SESSION_DB), WRITE, { name: `session${i}`, keepAfterRefusal: true }));
        loops.push(new LoadLoop(config(t.database), WRITE, { name: `transaction${i}`, keepAfterRefusal: true }));
      }
      const writers = [...loops];
      const readers = [0, 1].map(
        (i) => new LoadLoop(config(t.database), READ, { name: `reader${i}`, keepAfterRefusal: true }),
      );
      loops.push(...readers);
      await waitFor(
        'every writer writing on the old primary',
        () => writers.every((w) => w.okOn(oldPrimary.port, 0).length >= 3),
        10_000,
      );

      // The switchover, as an operator (or an orchestrator) runs it: no wait for pgtide.
      const stopAt = Date.now();
      await stopNode(t, oldPrimary, 'fast');
      const stoppedAt = Date.now();
      await promoteNode(t, newPrimary);
      const promotedAt = Date.now();
      let electedAt = 0;
      const elected = waitFor(
        'the promoted standby elected',
        () => router.writeBackend()?.port === newPrimary.port && (electedAt = Date.now()),
        15_000,
      );
      const how = await rejoinAsStandby(t, oldPrimary, newPrimary);
      const rejoinedAt = Date.now();
      await elected;

      await waitFor(
        'a read on the old primary, now a standby',
        () => readers.some((r) => r.okOn(oldPrimary.port, rejoinedAt).length > 0),
        READS_BACK_MS,
      );
      // The writes of the bound's last second: the window where every write must succeed.
      const settledAt = electedAt + WRITES_BACK_MS;
      await waitFor(
        'a second of writes after the bound',
        () =>
          writers.every((w) => w.okOn(newPrimary.port, settledAt + 1000).length > 0) || Date.now() > settledAt + 5000,
        settledAt + 6000 - Date.now(),
      );
      await Promise.all(loops.map((l) => l.stop()));

      const at = (ms: number) => `+${ms - stopAt} ms`;
      const outcome = (calls: CallRecord[]) => summary(calls.filter((c) => c.startedAt >= stopAt));
      const report = [
        `stop ${at(stopAt)}..${at(stoppedAt)}, promoted ${at(promotedAt)}, elected ${at(electedAt)}, old primary streaming (${how}) ${at(rejoinedAt)}`,
        ...loops.map((l) => `${l.name}: ${outcome(l.calls)}`),
        ...running.logs
          .filter((l) => typeof l['backend'] === 'string' && Number(l['time']) >= stopAt)
          .map((l) => `${at(Number(l['time']))} ${JSON.stringify(l)}`),
      ].join('\n');
      ctx.diagnostic(report);

      for (const w of writers) {
        // Every write begun once the bound is over succeeded, on the new primary.
        const late = w.calls.filter((c) => c.startedAt >= settledAt);
        assert.ok(late.length > 0, `${w.name} wrote nothing after the bound\n${report}`);
        const wrong = late.filter((c) => c.code !== null || c.port !== newPrimary.port);
        assert.deepEqual(
          wrong.map((c) => c.code ?? `ok on ${c.port}`),
          [],
          `${w.name}: writes ${WRITES_BACK_MS} ms after the election that failed or went elsewhere\n${report}`,
        );
        // Nothing acknowledged by the old primary once its stop was over (a write answered while
        // the fast shutdown ran was in its WAL before the shutdown checkpoint, which the standby got).
        const onOld = w.calls.filter(
          (c) => c.code === null && c.port === oldPrimary.port && c.startedAt + c.ms > stoppedAt,
        );
        assert.deepEqual(onOld, [], `${w.name}: a write acknowledged by the old primary after its stop\n${report}`);
        // No write ever ran on a standby: the old primary's first server, back in recovery,
        // says so at its login (in_hot_standby), before any write is sent there.
        const refused = w.calls.filter((c) => c.code === '25006');
        assert.deepEqual(refused, [], `${w.name}: writes refused by a standby\n${report}`);
      }

      // Every acknowledged write is on the new primary (those of the old one came over before its
      // stop ended), and the old primary, its standby now, has replayed them.
      const acked = writers.flatMap((w) => w.calls.filter((c) => c.code === null).map((c) => c.id));
      const ids = async (node: typeof oldPrimary) =>
        new Set((await sqlOn<{ id: number }>(node, 'SELECT id FROM switch_rows')).map((r) => r.id));
      const onNew = await ids(newPrimary);
      assert.deepEqual(
        acked.filter((id) => !onNew.has(id)),
        [],
        `acknowledged writes missing on the new primary\n${report}`,
      );
      const [{ lsn }] = (await sqlOn<{ lsn: string }>(newPrimary, 'SELECT pg_current_wal_lsn()::text AS lsn')) as [
        { lsn: string },
      ];
      await waitFor('the old primary replays the new one', async () => {
        const [r] = await sqlOn<{ done: boolean }>(
          oldPrimary,
          'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
          [lsn],
        );
        return r!.done;
      });
      const onOld = await ids(oldPrimary);
      assert.equal(onOld.size, onNew.size, 'the old primary, a standby now, differs from the new primary');
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
      await p?.stop();
      await stopTopology(t);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
}
