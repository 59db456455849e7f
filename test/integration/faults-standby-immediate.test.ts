// A standby stopped by an immediate shutdown (pg_ctl stop -m immediate) while it runs reads:
// PostgreSQL warns each backend's client (57P01) and closes the connection. The warning is no
// answer to the read, which runs again on the primary, as when the connection is simply lost.
// Its own topology: it stops a standby.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sqlOn, startTopology, stopNode, stopTopology, type Topology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { learnProbe, sleep } from '../support/reader.js';
import { waitFor } from '../support/wait.js';

// The second spent planning (an immutable function is run then): nothing is sent before it ends.
const READ = 'SELECT pg_catalog.pg_is_in_recovery() AS standby, public.slow_one() = 1 AS slept';

describe('faults: a standby stopped by an immediate shutdown under reads', { timeout: 90_000 }, () => {
  let t: Topology;
  let p: RunningPgtide;
  before(async () => {
    t = await startTopology({ standbys: 1 });
    await sqlOn(
      t.primary,
      'CREATE FUNCTION public.slow_one() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 FROM pg_catalog.pg_sleep(1) $$',
    );
    await waitFor('the standby to replay the function', async () => {
      const rows = await sqlOn(
        t.standbys[0]!,
        `SELECT pg_catalog.to_regprocedure('public.slow_one()') IS NOT NULL AS ok`,
      );
      return rows[0]?.['ok'] === true;
    });
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1]) });
    const probe = new pg.Client(p.pgConfig());
    await probe.connect();
    await learnProbe((q) => probe.query(q), READ);
    await probe.end();
  });
  after(async () => {
    await p?.stop();
    await stopTopology(t);
  });

  test('autocommit reads not yet answered run again on the primary: no error, the primary answers', async () => {
    const clients = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const c = new pg.Client(p.pgConfig());
        await c.connect();
        return c;
      }),
    );
    const notices: string[] = [];
    for (const c of clients) {
      c.on('notice', (n: { code?: string }) => notices.push(n.code ?? ''));
      // A connection pgtide ended is also reported by the failed read: checked there.
      c.on('error', () => {});
    }
    const since = p.logs.length;
    try {
      const reads = clients.map((c, i) =>
        c.query(i % 2 === 0 ? READ : { text: READ, values: [] }).then(
          (r) => r.rows[0] as { standby: boolean },
          (e: { code?: string }) => e.code ?? 'error',
        ),
      );
      await sleep(300);
      await stopNode(t, t.standbys[0]!, 'immediate');
      const answers = await Promise.all(reads);
      assert.deepEqual(
        answers,
        answers.map(() => ({ standby: false, slept: true })),
        `notices: ${notices.join(', ')}; pgtide logged: ${p.logs
          .slice(since)
          .map((l) => l['msg'])
          .join('; ')}`,
      );
    } finally {
      for (const c of clients) await c.end().catch(() => {});
    }
  });
});
