// application_name of pgtide's server connections in pg_stat_activity: server_application_name
// (none by default, "pgtide" here) for a pooled connection no named client holds, the client's
// own while its transactions run, "pgtide monitor <instance_name>" for health checks. A client
// that set none is told '' at login, as PostgreSQL tells it, and by default '' after too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { WireClient } from '../support/pipeline.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const INSTANCE = 'appname-test';

describe('application_name of server connections', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    // Reads stay on the primary: one pool of one server connection.
    p = await startPgtide(t, {
      backends: clusterBackends(t, [1, 0, 0]),
      default_pool_size: 1,
      instance_name: INSTANCE,
      health_check_period: 0.5,
      server_application_name: 'pgtide',
    });
    await waitFor('a primary', () => p.pgtide.context.router.writeBackend() !== null);
  });
  after(() => p?.stop());

  /** What pg_stat_activity shows for the server connection running this client's transaction. */
  async function shownFor(c: pg.Client): Promise<{ shown: string; own: string }> {
    const { rows } =
      await c.query(`SELECT a.application_name AS shown, pg_catalog.current_setting('application_name') AS own
      FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()`);
    return rows[0];
  }

  async function client(applicationName?: string): Promise<pg.Client> {
    const c = new pg.Client(p.pgConfig(applicationName === undefined ? {} : { application_name: applicationName }));
    await c.connect();
    return c;
  }

  test('a client that set none runs on a connection named "pgtide" and is told \'\' at login', async () => {
    const c = await client();
    assert.deepEqual(await shownFor(c), { shown: 'pgtide', own: 'pgtide' });
    await c.end();
    const wire = await WireClient.connect(p.wireLogin());
    assert.equal(wire.parameters.get('application_name'), '');
    await wire.close();
  });

  test("a named client's transactions show its name; the next nameless client's show pgtide again", async () => {
    const named = await client('dashboard');
    assert.deepEqual(await shownFor(named), { shown: 'dashboard', own: 'dashboard' });
    await named.query(`SET application_name = 'dashboard-2'`);
    assert.deepEqual(await shownFor(named), { shown: 'dashboard-2', own: 'dashboard-2' });
    await named.end();
    const nameless = await client();
    assert.equal((await shownFor(nameless)).shown, 'pgtide');
    await nameless.end();
    // The pooled connection, idle now, still says whose it is.
    const idle = await sqlOn<{ n: string }>(
      t.primary,
      `SELECT count(*) AS n FROM pg_catalog.pg_stat_activity
      WHERE usename = '${t.scramUser.user}' AND application_name = 'pgtide' AND state = 'idle'`,
    );
    assert.equal(idle[0]!.n, '1');
  });

  test('health-check connections are named "pgtide monitor <instance_name>"', async () => {
    const rows = await sqlOn<{ n: string }>(
      t.primary,
      `SELECT count(*) AS n FROM pg_catalog.pg_stat_activity WHERE application_name = 'pgtide monitor ${INSTANCE}'`,
    );
    assert.equal(rows[0]!.n, '1');
  });
});

// node-postgres's own appname test ("No default application_name") expects PostgreSQL's ''.
for (const pool_mode of ['transaction', 'session'] as const) {
  describe(`application_name of a client that set none, by default, ${pool_mode} pooling`, { timeout: 60_000 }, () => {
    let p: RunningPgtide;
    before(async () => {
      p = await startPgtide(t, { backends: clusterBackends(t, [1, 0, 0]), default_pool_size: 1, pool_mode });
    });
    after(() => p?.stop());

    test("is '' as PostgreSQL answers, after a named client's transactions too", async () => {
      const show = async (c: pg.Client) => (await c.query('SHOW application_name')).rows[0].application_name;
      const nameless = new pg.Client(p.pgConfig());
      await nameless.connect();
      assert.equal(await show(nameless), '');
      await nameless.end();
      const named = new pg.Client(p.pgConfig({ application_name: 'dashboard' }));
      await named.connect();
      assert.equal(await show(named), 'dashboard');
      await named.end();
      const next = new pg.Client(p.pgConfig());
      await next.connect();
      try {
        assert.equal(await show(next), '');
        await next.query("SET application_name = 'mine'");
        await next.query('RESET application_name');
        assert.equal(await show(next), '');
      } finally {
        await next.end();
      }
    });
  });
}
