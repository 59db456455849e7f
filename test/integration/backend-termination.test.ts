// A backend terminated from elsewhere (pg_terminate_backend, an administrator, a shutdown) ends
// its client's session with the server's own FATAL: through pgtide the client hears exactly that
// one error, as from PostgreSQL. And the pid a client is told names no real process, so
// pg_terminate_backend(<that pid>) cannot hit an unrelated backend (pgtide ends that client
// itself: see backend-signals.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn, scramLogin } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';
import type { PoolMode } from '../../src/config/types.js';
import { copyData, directLogin, query, WireClient } from '../support/pipeline.js';

const t = currentTopology();
const LARGEST_REAL_PID = 4_194_304;

interface Outcome {
  /** SQLSTATE of every ErrorResponse the client received, in order. */
  errors: string[];
  queryError: string | undefined;
  ended: boolean;
}

/** Run a long query as `marker`, terminate its backend from a superuser session, and record
 *  what the client hears until its connection ends. */
async function terminatedMidQuery(config: pg.ClientConfig, marker: string): Promise<Outcome> {
  const c = new pg.Client(config);
  await c.connect();
  const outcome: Outcome = { errors: [], queryError: undefined, ended: false };
  (c as unknown as { connection: { on(e: string, f: (m: { code: string }) => void): void } }).connection.on(
    'errorMessage',
    (m) => outcome.errors.push(m.code),
  );
  c.on('error', () => {});
  c.on('end', () => (outcome.ended = true));
  const running = c.query(`SELECT pg_catalog.pg_sleep(30) AS ${marker}`).then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );
  await waitFor(
    `the query ${marker} to run`,
    async () =>
      (
        await sqlOn(
          t.primary,
          `SELECT pg_catalog.pg_terminate_backend(pid) AS done FROM pg_catalog.pg_stat_activity
      WHERE query LIKE '%AS ${marker}' AND pid <> pg_catalog.pg_backend_pid()`,
        )
      )[0]?.done === true,
  );
  outcome.queryError = await running;
  await waitFor('the connection to end', () => outcome.ended);
  // A second error, if any, would come right behind the first.
  await new Promise((r) => setTimeout(r, 200));
  return outcome;
}

for (const mode of ['transaction', 'session'] as PoolMode[]) {
  describe(`a backend terminated mid-query (${mode} mode)`, { timeout: 60_000 }, () => {
    let p: RunningPgtide;
    before(async () => {
      p = await startPgtide(t, { pool_mode: mode });
    });
    after(async () => {
      await p.stop();
    });

    test("the client gets exactly the server's one FATAL, as directly", async () => {
      const direct = await terminatedMidQuery(scramLogin(t, t.primary), `direct_${mode}`);
      assert.deepEqual(direct, { errors: ['57P01'], queryError: '57P01', ended: true }, 'directly');
      assert.deepEqual(await terminatedMidQuery(p.pgConfig(), `pooled_${mode}`), direct, 'through pgtide');
      // The pool replaces the server: the next client is served.
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
      await c.end();
    });

    test('pg_terminate_backend(<the pid the client was told>) ends that client alone, never a backend of another', async () => {
      const clients = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const c = new pg.Client(p.pgConfig());
          c.on('error', () => {});
          await c.connect();
          return c;
        }),
      );
      try {
        for (const [i, c] of clients.entries()) {
          const pid = (c as unknown as { processID: number }).processID;
          assert.ok(pid > LARGEST_REAL_PID && pid < 2 ** 31, `pid ${pid} may name a real process`);
          const ended = await c.query('SELECT pg_catalog.pg_terminate_backend($1) AS done', [pid]).then(
            () => 'answered',
            (e: { code?: string }) => e.code,
          );
          assert.equal(ended, '57P01', 'the client that named its own pid is ended, as by PostgreSQL');
          for (const other of clients.slice(i + 1))
            assert.equal((await other.query('SELECT 1 AS one')).rows[0].one, 1, 'the others live on');
        }
      } finally {
        await Promise.all(clients.map((c) => c.end().catch(() => {})));
      }
    });
  });
}

describe('a server terminated while pgtide readies it for a client', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { default_pool_size: 1 });
  });
  after(async () => {
    await p.stop();
  });

  test('the client, outside a transaction, is served on another server without an error', async () => {
    // Clients of different settings: the pool's one server is given the next client's
    // settings before its query, in pgtide's own query.
    const other = new pg.Client(p.pgConfig({ application_name: 'settings_b' }));
    const client = new pg.Client(p.pgConfig({ application_name: 'settings_a' }));
    client.on('error', () => {});
    await Promise.all([other.connect(), client.connect()]);
    try {
      await other.query('SELECT 1');
      const [row] = await sqlOn<{ pid: number }>(
        t.primary,
        `SELECT pid FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND state = 'idle'`,
        [t.scramUser.user],
      );
      const pid = row!.pid;
      // Stopped, the server reads pgtide's SET only once it has been told to terminate: it
      // ends the session with 57P01 instead of answering it.
      process.kill(pid, 'SIGSTOP');
      let answer: Promise<unknown>;
      try {
        answer = client.query('SELECT 2 AS two').then(
          (r) => r.rows[0].two,
          (e: { code?: string }) => `error ${e.code}`,
        );
        await new Promise((r) => setTimeout(r, 300));
        await sqlOn(t.primary, 'SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      assert.equal(await answer, 2);
      assert.equal((await client.query('SELECT 3 AS three')).rows[0].three, 3);
    } finally {
      await Promise.all([other.end(), client.end().catch(() => {})]);
    }
  });
});

// Found by pgJDBC's testLockReleaseOnCancelFailure: pgtide answered the FATAL, then read and
// dropped the client's COPY data until its close timer, 5 s later (343 MB); directly, the
// client's next write fails at once, the backend being gone.
describe('a COPY FROM STDIN whose backend is terminated', { timeout: 60_000 }, () => {
  const TABLE = 'copy_terminated_rows';
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, {});
    await sqlOn(t.primary, `CREATE TABLE IF NOT EXISTS ${TABLE} (n int); GRANT ALL ON ${TABLE} TO ${t.scramUser.user}`);
  });
  after(async () => {
    await p.stop();
  });

  test('a client still streaming its data is cut off soon after the FATAL, as directly', async () => {
    // Faster than PostgreSQL takes it: pgtide pauses reading the client, as it does under load.
    const row = copyData('1\n'.repeat(128 * 1024));
    for (const [where, login] of [
      ['directly', directLogin(t)],
      ['through pgtide', p.wireLogin()],
    ] as const) {
      const c = await WireClient.connect({ ...login, halfOpen: true });
      c.send(query(`COPY ${TABLE} FROM STDIN /* ${where} */`));
      await c.until('G');
      let terminatedAt = 0;
      const pump = setInterval(() => {
        // Writes the peer does not take pile up in this process: a bounded stream.
        if (terminatedAt > 0 && Date.now() - terminatedAt > 2500) return;
        try {
          c.send(row);
        } catch {}
      }, 1);
      try {
        await waitFor(
          `the COPY ${where} to be terminated`,
          async () =>
            (
              await sqlOn(
                t.primary,
                `SELECT pg_catalog.pg_terminate_backend(pid) AS done FROM pg_catalog.pg_stat_activity
                 WHERE query LIKE 'COPY ${TABLE} FROM STDIN /* ${where} */'`,
              )
            )[0]?.done === true,
        );
        terminatedAt = Date.now();
        await Promise.race([c.whenClosed(), new Promise((r) => setTimeout(r, 10_000))]);
        const took = Date.now() - terminatedAt;
        assert.ok(took < 2000, `${where}: the connection closed ${took} ms after the termination`);
      } finally {
        clearInterval(pump);
        c.drop();
      }
    }
  });
});
