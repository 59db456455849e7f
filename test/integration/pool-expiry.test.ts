// pool_idle_timeout: the pools of users who came and went are dropped once their server
// connections have closed (server_idle_timeout) and they have been unused that long; SHOW STATS
// and /metrics keep counting what they did, and a user who comes back gets a fresh pool.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AdminConsole } from '../../src/admin/console.js';
import { createMetrics } from '../../src/admin/metrics.js';
import { startPgtide, writeAuthFile, type RunningPgtide } from '../support/pgtide.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import { waitFor } from '../support/wait.js';
import { decodeAnswer, parsePrometheusText, records, total } from '../unit/admin-decode.js';

const t = currentTopology();
const USERS = ['pgtide_expiry_1', 'pgtide_expiry_2', 'pgtide_expiry_3', 'pgtide_expiry_4', 'pgtide_expiry_5'];
const password = (user: string) => `${user}-pw`;

describe('pool_idle_timeout', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  const files = mkdtempSync(join(tmpdir(), 'pgtide-expiry-'));
  const show = (item: string) => {
    const answer = decodeAnswer(new AdminConsole(p.pgtide).run({ sql: `SHOW ${item}`, user: 'ops', admin: true }));
    assert.equal(answer.error, null);
    return records(answer.results[0]!);
  };
  const expiryPools = () => show('POOLS').filter((r) => USERS.includes(r['user'] ?? ''));
  const queryCount = () => Number(show('STATS').find((r) => r['database'] === t.database)?.['total_query_count'] ?? 0);
  const metric = async (name: string) =>
    total(parsePrometheusText(await createMetrics(p.pgtide).metrics()).samples, name, { database: t.database });
  const serverConnections = async () =>
    (
      await sqlOn<{ n: number }>(
        t.primary,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename LIKE 'pgtide_expiry_%'`,
      )
    )[0]!.n;
  const runQuery = async (user: string) => {
    const c = new pg.Client(p.pgConfig({ user, password: password(user) }));
    await c.connect();
    const { rows } = await c.query('SELECT current_user AS u');
    await c.end();
    return rows[0].u as string;
  };

  before(async () => {
    await sqlOn(
      t.primary,
      USERS.map(
        (u) => `DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${u}') THEN CREATE ROLE ${u} LOGIN PASSWORD '${password(u)}'; END IF;
    END $$;`,
      ).join('\n'),
    );
    const auth_file = writeAuthFile(t, files);
    writeFileSync(auth_file, USERS.map((u) => `"${u}" "${password(u)}"\n`).join(''), { flag: 'a' });
    p = await startPgtide(t, { auth_file, server_idle_timeout: 1, pool_idle_timeout: 1 });
  });
  after(async () => {
    await p?.stop();
    rmSync(files, { recursive: true, force: true });
  });

  test('pools of users gone are dropped, their connections closed, their counts kept; a returning user gets a fresh pool', async () => {
    for (const user of USERS) assert.equal(await runQuery(user), user);
    assert.equal(expiryPools().length, USERS.length);
    const queries = queryCount();
    const queriesMetric = await metric('pgtide_queries_total');
    const assignments = await metric('pgtide_server_assignments_total');
    assert.ok(
      queries >= USERS.length && queriesMetric >= USERS.length,
      `${queries} queries, ${queriesMetric} in /metrics`,
    );

    // server_idle_timeout (1 s) closes the connections, pool_idle_timeout (1 s) then drops the pools.
    await waitFor(
      'the pools dropped',
      () => expiryPools().length === 0 && [...p.pgtide.context.pools.all()].length === 0,
      8000,
    );
    assert.equal(await serverConnections(), 0);
    assert.equal(queryCount(), queries);
    assert.equal(await metric('pgtide_queries_total'), queriesMetric);
    assert.equal(await metric('pgtide_server_assignments_total'), assignments);

    assert.equal(await runQuery(USERS[0]!), USERS[0]);
    assert.equal(expiryPools().length, 1);
    assert.ok(queryCount() > queries, 'the fresh pool counts on top of the dropped ones');
    assert.ok((await metric('pgtide_queries_total')) > queriesMetric);
  });
});
