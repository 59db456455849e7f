// A drain (SIGTERM): pgtide takes no new clients but lets running transactions finish. A
// client ends its query early with its cancel key, which comes on a new connection: during the
// drain the listen ports must still serve CancelRequests, and answer a new login as PostgreSQL
// answers one during its own smart shutdown (57P03), here compared with PostgreSQL itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import pg from 'pg';
import { currentTopology, runningNow, scramLogin, type PgNode } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { startReferencePg, type ReferencePg } from '../support/reference-pg.js';
import { runAsServerUser } from '../support/server-user.js';
import { sendCancelRequest } from '../support/raw-client.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const SLEEP = 'SELECT pg_sleep(30)';

/** The SQLSTATE a new login gets (undefined when it logs in). */
async function loginError(login: pg.ClientConfig): Promise<string | undefined> {
  const c = new pg.Client(login);
  c.on('error', () => {});
  try {
    await c.connect();
    await c.end();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

/**
 * A client runs pg_sleep(30) on `server`; `drain` starts the shutdown; then a new login and a
 * CancelRequest with the client's key come, each on a new connection to `login`'s address.
 */
async function cancelDuringDrain(
  login: pg.ClientConfig,
  server: PgNode,
  drain: () => Promise<void>,
): Promise<{ login: string | undefined; query: string | undefined; cancelMs: number }> {
  const c = new pg.Client(login);
  c.on('error', () => {});
  await c.connect();
  const running = c.query(SLEEP).then(
    () => undefined,
    (err: { code?: string }) => err.code,
  );
  await waitFor('the query on the server', async () => (await runningNow(server, SLEEP)) === 1);
  await drain();
  // The postmaster acts on pg_ctl's signal a moment after pg_ctl returns.
  const refused = await waitFor('a refused login', async () => (await loginError(login)) ?? false);
  const started = Date.now();
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  await sendCancelRequest(login.host!, login.port!, processID, secretKey);
  const query = await running;
  const cancelMs = Date.now() - started;
  await c.end().catch(() => {});
  return { login: refused, query, cancelMs };
}

describe('a drain', { timeout: 60_000 }, () => {
  let reference: ReferencePg;
  before(async () => {
    reference = await startReferencePg(t);
  });
  after(async () => {
    await reference?.stop();
  });

  test('PostgreSQL in a smart shutdown serves a CancelRequest and refuses a new login with 57P03', async () => {
    const node = reference.node;
    const outcome = await cancelDuringDrain(scramLogin(t, node), node, async () => {
      await runAsServerUser(t, 'pg_ctl', ['-D', node.dataDir, 'stop', '-m', 'smart', '-W'], dirname(node.dataDir));
    });
    assert.deepEqual({ login: outcome.login, query: outcome.query }, { login: '57P03', query: '57014' });
    assert.ok(outcome.cancelMs < 5000, `${outcome.cancelMs} ms`);
  });

  test('pgtide, draining: a CancelRequest cancels the query it waits for (57014), a new login gets 57P03', async () => {
    const p: RunningPgtide = await startPgtide(t, { shutdown_timeout: 60 });
    let stopped: Promise<void> | undefined;
    try {
      const outcome = await cancelDuringDrain(p.pgConfig(), t.primary, async () => {
        stopped = p.pgtide.stop('drain');
      });
      assert.deepEqual({ login: outcome.login, query: outcome.query }, { login: '57P03', query: '57014' });
      assert.ok(outcome.cancelMs < 5000, `${outcome.cancelMs} ms`);
      // With nothing left running, the drain ends at once rather than at shutdown_timeout.
      const drainStarted = Date.now();
      await stopped;
      assert.ok(Date.now() - drainStarted < 5000, `the drain took ${Date.now() - drainStarted} ms`);
    } finally {
      await stopped;
      await p.stop();
    }
  });

  test('pgtide, draining: a stop now (SIGINT after SIGTERM) ends the drain at once, its clients told 57P01', async () => {
    const p: RunningPgtide = await startPgtide(t, { shutdown_timeout: 60 });
    const c = new pg.Client(p.pgConfig());
    const ended = new Promise<string | undefined>((resolve) =>
      c.on('error', (err: Error & { code?: string }) => resolve(err.code)),
    );
    let drained = false;
    try {
      await c.connect();
      await c.query('BEGIN');
      const drain = p.pgtide.stop('drain').then(() => {
        drained = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(drained, false, 'the drain waits for the open transaction');
      const cutAt = Date.now();
      await p.pgtide.stop('now');
      await drain;
      assert.ok(Date.now() - cutAt < 2000, `stopped ${Date.now() - cutAt} ms after the stop now`);
      assert.equal(await ended, '57P01');
    } finally {
      await c.end().catch(() => {});
      await p.stop();
    }
  });

  test('pgtide, draining under a PAUSE: a client queued for a server before the PAUSE is still served', async () => {
    // Pools still hand a server coming back to the clients already queued: the drain waits for them.
    const p: RunningPgtide = await startPgtide(t, { shutdown_timeout: 60, default_pool_size: 1 });
    const [holder, queued] = [0, 1].map(() => new pg.Client(p.pgConfig()));
    for (const c of [holder!, queued!]) c.on('error', () => {});
    let stopped: Promise<void> | undefined;
    try {
      await Promise.all([holder!.connect(), queued!.connect()]);
      await holder!.query('BEGIN');
      const answer = queued!.query('SELECT 42 AS v').then(
        (r) => r.rows[0].v as number,
        (err: { code?: string }) => err.code,
      );
      await waitFor('the query queued', async () => [...p.pgtide.context.clients].some((client) => client.isWaiting));
      p.pgtide.pause();
      stopped = p.pgtide.stop('drain');
      await new Promise((r) => setTimeout(r, 300));
      await holder!.query('COMMIT').catch(() => {});
      assert.equal(await answer, 42);
      await stopped;
    } finally {
      await stopped;
      await Promise.all([holder!, queued!].map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  test('pgtide, draining: a client queued on a paused database gets 57P01 at once, not at shutdown_timeout', async () => {
    const p: RunningPgtide = await startPgtide(t, { shutdown_timeout: 60 });
    const c = new pg.Client(p.pgConfig());
    c.on('error', () => {});
    let stopped: Promise<void> | undefined;
    try {
      await c.connect();
      p.pgtide.pause();
      const queued = c.query('SELECT 1').then(
        () => undefined,
        (err: { code?: string }) => err.code,
      );
      await waitFor('the query queued', async () => [...p.pgtide.context.clients].some((client) => client.isWaiting));
      const drainStarted = Date.now();
      stopped = p.pgtide.stop('drain');
      assert.equal(await queued, '57P01');
      await stopped;
      assert.ok(Date.now() - drainStarted < 5000, `the drain took ${Date.now() - drainStarted} ms`);
    } finally {
      await stopped;
      await c.end().catch(() => {});
      await p.stop();
    }
  });
});
