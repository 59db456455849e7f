// A pool whose login the server refuses for good (28000 role may not log in, 3D000 database
// dropped, 28P01 password changed) fails its waiting clients; the clients connected meanwhile
// must still be served once the server takes logins again, also after refusals that pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { listedRole, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import { timeUntil } from '../support/faults.js';

const t = currentTopology();
const role = { user: 'pgtide_refused', password: 'refused-pw' };

describe("a pool's login refused for good, then for a while", { timeout: 60_000 }, () => {
  let made: Awaited<ReturnType<typeof listedRole>>;
  let p: RunningPgtide;
  before(async () => {
    made = await listedRole(t, role);
    p = await startPgtide(t, { auth_file: made.authFile, query_wait_timeout: 20 });
  });
  after(async () => {
    await p?.stop();
    await made?.drop();
  });

  const client = async () => {
    const c = new pg.Client({
      host: p.host,
      port: p.port,
      user: role.user,
      password: role.password,
      database: t.database,
    });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  const servers = () => {
    let n = 0;
    for (const pool of p.pgtide.context.pools.all()) if (pool.key.user === role.user) n += pool.servers.size;
    return n;
  };

  test('a client connected before the refusal is served once the role may log in again', async () => {
    const kept = await client();
    const refused = await client();
    try {
      await kept.query('SELECT 1');
      // No server left: the next query needs a login.
      for (const pool of p.pgtide.context.pools.all())
        if (pool.key.user === role.user) pool.closeIdle('the test needs a new login');
      assert.notEqual(await timeUntil(() => servers() === 0, Date.now(), 5000), Infinity);
      await sqlOn(t.primary, `ALTER ROLE ${role.user} NOLOGIN`);
      await assert.rejects(refused.query('SELECT 1'), (err: { code?: string }) => err.code === '28000');
      // Now a refusal that passes: too many connections for the role.
      await sqlOn(t.primary, `ALTER ROLE ${role.user} LOGIN CONNECTION LIMIT 0`);
      const started = Date.now();
      const answer = kept.query('SELECT 1 AS one').then(
        (r) => ({ ok: r.rows[0].one === 1, ms: Date.now() - started, code: '' }),
        (err: { code?: string }) => ({ ok: false, ms: Date.now() - started, code: err.code ?? '?' }),
      );
      await new Promise((r) => setTimeout(r, 500));
      await sqlOn(t.primary, `ALTER ROLE ${role.user} CONNECTION LIMIT -1`);
      const got = await answer;
      // The login retries after 0.1 s, doubling; before, the pool the client held had been
      // dropped, nobody retried its login, and the query waited out query_wait_timeout (57014).
      assert.deepEqual({ ok: got.ok, code: got.code }, { ok: true, code: '' }, JSON.stringify(got));
      assert.ok(got.ms < 3000, `answered after ${got.ms} ms`);
    } finally {
      await sqlOn(t.primary, `ALTER ROLE ${role.user} LOGIN CONNECTION LIMIT -1`);
      await Promise.all([kept, refused].map((c) => c.end().catch(() => {})));
    }
  });
});
