// A standby promoted while the old primary keeps running (split brain): once pgtide has elected
// the new primary, nothing may be written to the old one. Clients that hold a server there (a
// session-mode client, a transaction open at the promotion, a client pinned by a temporary
// table) would otherwise go on writing and committing there, never asking the router again.
// Its own topology: it promotes a standby.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { promoteNode, sqlOn, startTopology, stopTopology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const SESSION_DB = 'sessions';
const WRITE = 'INSERT INTO kept_rows VALUES ($1)';

// The second time, a reload rewrites every backend's host (127.0.0.1 to localhost) while those
// clients hold their servers: the pools the reload drops keep the lent servers, which the close
// of the former primary must still reach (a helper: 4,703 session writes to the old primary).
for (const reloaded of [false, true]) {
  test(`after a promotion with the old primary still up, a session, an open transaction and a pinned client write nothing more to the old primary${reloaded ? ", also after a reload changed the backends' addresses" : ''}`, {
    timeout: 120_000,
  }, async () => {
    const t = await startTopology({ standbys: 1 });
    const stateDir = mkdtempSync(join(tmpdir(), 'pgtide-state-'));
    const [oldPrimary, newPrimary] = [t.primary, t.standbys[0]!];
    let p: RunningPgtide | null = null;
    const clients: pg.Client[] = [];
    try {
      await sqlOn(oldPrimary, `CREATE TABLE kept_rows (id int); GRANT ALL ON kept_rows TO ${t.scramUser.user}`);
      p = await startPgtide(t, {
        backends: clusterBackends(t, [0, 1]),
        sr_check_period: 0.3,
        health_check_period: 0.3,
        state_dir: stateDir,
        databases: { [t.database]: { dbname: t.database }, [SESSION_DB]: { dbname: t.database, pool_mode: 'session' } },
      });
      const running = p;
      const connect = async (database?: string) => {
        const c = new pg.Client({ ...running.pgConfig(), ...(database ? { database } : {}) });
        c.on('error', () => {});
        await c.connect();
        clients.push(c);
        return c;
      };
      const session = await connect(SESSION_DB);
      const inTransaction = await connect();
      const pinned = await connect();
      await session.query(WRITE, [1]);
      await inTransaction.query('BEGIN');
      await inTransaction.query(WRITE, [2]);
      await pinned.query('CREATE TEMP TABLE pin (id int)');
      await pinned.query(WRITE, [3]);
      if (reloaded)
        running.pgtide.reload({
          ...running.config,
          backends: clusterBackends(t, [0, 1]).map((b) => ({ ...b, host: 'localhost' })),
        });

      await promoteNode(t, newPrimary);
      await waitFor(
        'the promoted standby elected',
        () => running.pgtide.context.router.writeBackend()?.port === newPrimary.port,
        15_000,
      );
      const outcome = (c: pg.Client, sql: string, id: number) =>
        c.query(sql, [id]).then(
          () => 'ok',
          (e: Error & { code?: string }) => e.code ?? e.message,
        );
      const sessionWrite = await outcome(session, WRITE, 11);
      const blockWrite = await outcome(inTransaction, WRITE, 12);
      const commit = await inTransaction.query('COMMIT').then(
        () => 'ok',
        (e: Error & { code?: string }) => e.code ?? e.message,
      );
      const pinnedWrite = await outcome(pinned, WRITE, 13);

      const onOld = (await sqlOn<{ id: number }>(oldPrimary, 'SELECT id FROM kept_rows WHERE id > 3 ORDER BY id')).map(
        (r) => r.id,
      );
      assert.deepEqual(
        onOld,
        [],
        `written to the old primary after the switch (session ${sessionWrite}, block ${blockWrite}, commit ${commit}, pinned ${pinnedWrite})`,
      );
      assert.ok(
        !(await sqlOn(oldPrimary, 'SELECT 1 FROM kept_rows WHERE id = 2')).length,
        'the open transaction committed on the old primary',
      );
      // What failed, failed as a lost connection: 08006, or node-postgres's refusal once that
      // error reached it idle. A COMMIT queued behind the write that got the 08006 meets the close
      // that follows the error instead ('Connection terminated unexpectedly'), as after a
      // pg_terminate_backend; a first failure never may, which would mean a close with no error.
      const lost = /^(ok|08006|Client has encountered a connection error and is not queryable)$/;
      const answers = JSON.stringify({ sessionWrite, blockWrite, commit, pinnedWrite });
      for (const answer of [sessionWrite, blockWrite, pinnedWrite]) assert.match(answer, lost, answers);
      assert.match(
        commit,
        blockWrite === '08006'
          ? /^(08006|Connection terminated unexpectedly|Client has encountered a connection error and is not queryable)$/
          : lost,
        answers,
      );
      assert.notEqual(commit, 'ok', answers);
      const fresh = await connect(SESSION_DB);
      await fresh.query(WRITE, [21]);
      assert.deepEqual(
        (await sqlOn<{ id: number }>(newPrimary, 'SELECT id FROM kept_rows WHERE id = 21')).map((r) => r.id),
        [21],
      );
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p?.stop();
      await stopTopology(t);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
}
