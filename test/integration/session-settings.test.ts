// Issue #4: in transaction pooling, a client's session settings (SET, RESET, set_config and its
// startup parameters) follow it to whichever server runs its next transaction, exactly as on a
// dedicated connection, and never reach another client.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { currentTopology, scramLogin } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { holdServer, onEveryServer } from '../support/pipeline.js';

const t = currentTopology();
const POOL_SIZE = 2;

const direct: pg.ClientConfig = scramLogin(t, t.primary);

interface Settings {
  TimeZone: string;
  application_name: string;
  search_path: string;
  statement_timeout: string;
}

const SETTINGS_QUERY = `SELECT pg_catalog.pg_backend_pid() AS pid,
  pg_catalog.current_setting('TimeZone') AS "TimeZone",
  pg_catalog.current_setting('application_name') AS application_name,
  pg_catalog.current_setting('search_path') AS search_path,
  pg_catalog.current_setting('statement_timeout') AS statement_timeout`;

async function settingsOf(c: pg.Client): Promise<Settings & { pid: number }> {
  return (await c.query(SETTINGS_QUERY)).rows[0];
}

const withoutPid = ({ pid: _, ...settings }: Settings & { pid: number }): Settings => settings;

describe('session settings follow their client in transaction pooling', { timeout: 60_000 }, () => {
  let p: RunningPgtide;

  // A pgtide of its own per test: settings one test leaves on a pooled server (as pgtide
  // without this feature does) must not fail the next test instead.
  beforeEach(async () => {
    // A client that set no application_name sees server_application_name (see
    // transaction-pooling.md); none keeps every comparison with a direct connection exact.
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE, server_application_name: '' });
  });
  afterEach(async () => {
    await p.stop();
  });

  /**
   * The client's settings as its next transaction sees them. Through pgtide both pooled
   * servers are asked (the second while another client holds the first), and must agree.
   */
  async function observe(c: pg.Client, pooled: boolean): Promise<Settings> {
    const here = await settingsOf(c);
    if (!pooled) return withoutPid(here);
    const release = await holdServer(p.pgConfig(), here.pid, POOL_SIZE);
    let there: Settings & { pid: number };
    try {
      there = await settingsOf(c);
    } finally {
      await release();
    }
    assert.notEqual(there.pid, here.pid, 'the second look must run on the other server');
    assert.deepEqual(withoutPid(there), withoutPid(here), "the two pooled servers disagree on the client's settings");
    return withoutPid(here);
  }

  /**
   * Runs the scenario on a dedicated connection to PostgreSQL, checks PostgreSQL's observations
   * with `expect`, then runs it through pgtide: the observations must be the same.
   */
  async function sameAsPostgres(
    startup: pg.ClientConfig,
    scenario: (c: pg.Client, look: () => Promise<Settings>) => Promise<void>,
    expect: (seen: Settings[]) => void,
  ): Promise<void> {
    const run = async (config: pg.ClientConfig, pooled: boolean) => {
      const c = new pg.Client({ ...config, ...startup });
      await c.connect();
      const seen: Settings[] = [];
      try {
        await scenario(c, async () => {
          const s = await observe(c, pooled);
          seen.push(s);
          return s;
        });
      } finally {
        await c.end();
      }
      return seen;
    };
    const expected = await run(direct, false);
    expect(expected);
    assert.deepEqual(await run(p.pgConfig(), true), expected);
  }

  test("SET TimeZone, application_name, search_path: in all 50 of its transactions, none of 10 churning clients'", async () => {
    const owner = new pg.Client(p.pgConfig());
    const others = Array.from({ length: 10 }, () => new pg.Client(p.pgConfig()));
    await Promise.all([owner, ...others].map((c) => c.connect()));
    try {
      await owner.query(`SET TimeZone = 'Pacific/Chatham'`);
      await owner.query(`SET application_name = 'ps_owner'`);
      await owner.query(`SET search_path = ps_owner_schema, public`);
      const mine = {
        TimeZone: 'Pacific/Chatham',
        application_name: 'ps_owner',
        search_path: 'ps_owner_schema, public',
      };
      let done = false;
      const leaks: string[] = [];
      let churned = 0;
      const churn = others.map(async (c, i) => {
        const own = withoutPid(await settingsOf(c));
        while (!done) {
          const seen = await settingsOf(c);
          churned++;
          if (JSON.stringify(withoutPid(seen)) !== JSON.stringify(own))
            leaks.push(`client ${i}: ${JSON.stringify(seen)}`);
          await c.query('SELECT pg_catalog.pg_sleep(0.001)');
        }
      });
      const pids = new Set<number>();
      const wrong: string[] = [];
      try {
        for (let i = 0; i < 50; i++) {
          const explicit = i % 2 === 1;
          if (explicit) await owner.query('BEGIN');
          const seen = await settingsOf(owner);
          if (explicit) await owner.query('COMMIT');
          pids.add(seen.pid);
          const { statement_timeout: _, ...relevant } = withoutPid(seen);
          if (JSON.stringify(relevant) !== JSON.stringify(mine))
            wrong.push(`transaction ${i}: ${JSON.stringify(seen)}`);
        }
      } finally {
        done = true;
        await Promise.all(churn);
      }
      assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of 50 transactions lost the settings`);
      assert.deepEqual(
        leaks.slice(0, 3),
        [],
        `${leaks.length} of ${churned} churning transactions saw the owner's settings`,
      );
      assert.equal(pids.size, POOL_SIZE, 'the owner should have run on both servers');
      assert.ok(churned >= 10, `only ${churned} churning transactions ran`);
    } finally {
      await Promise.all([owner, ...others].map((c) => c.end()));
    }
  });

  test("RESET name and RESET ALL restore the client's own startup values", async () => {
    await sameAsPostgres(
      { application_name: 'ps_startup_app', options: '-c statement_timeout=4321' },
      async (c, look) => {
        await c.query(`SET application_name = 'ps_changed'`);
        await c.query('SET statement_timeout = 99');
        await look();
        await c.query('RESET application_name');
        await look();
        await c.query('RESET ALL');
        await look();
      },
      (seen) =>
        assert.deepEqual(
          seen.map((s) => [s.application_name, s.statement_timeout]),
          [
            ['ps_changed', '99ms'],
            ['ps_startup_app', '99ms'],
            ['ps_startup_app', '4321ms'],
          ],
        ),
    );
  });

  // Npgsql's reset on every reuse of a pooled connection, Rails' reset!: known without a read.
  test("DISCARD ALL restores the client's startup values; refused in a transaction block, it changes nothing", async () => {
    await sameAsPostgres(
      { application_name: 'ps_discard_app', options: '-c statement_timeout=4321 -c ps.startup=s' },
      async (c, look) => {
        await c.query(`SET application_name = 'ps_changed'`);
        await c.query(`SET TimeZone = 'Asia/Tokyo'`);
        await c.query(`SET ps.custom = 'x'`);
        await c.query(`SET ps.startup = 'changed'`);
        await c.query('SET statement_timeout = 99');
        await c.query('BEGIN');
        await assert.rejects(c.query('DISCARD ALL'), { code: '25001' });
        await c.query('ROLLBACK');
        await look();
        await c.query('DISCARD ALL');
        await look();
        const customs = async () =>
          (await c.query(`SELECT current_setting('ps.custom') AS custom, current_setting('ps.startup') AS startup`))
            .rows[0];
        assert.deepEqual(await customs(), { custom: '', startup: 's' });
        // Run on another server too: the other pooled one must agree.
        await look();
        assert.deepEqual(await customs(), { custom: '', startup: 's' });
      },
      (seen) =>
        assert.deepEqual(
          seen.map((s) => [s.application_name, s.TimeZone === 'Asia/Tokyo', s.statement_timeout]),
          [
            ['ps_changed', true, '99ms'],
            ['ps_discard_app', false, '4321ms'],
            ['ps_discard_app', false, '4321ms'],
          ],
        ),
    );
  });

  // A library's own setting is no placeholder: a reset gives it its default, not ''. Taken as
  // '', it was given to the client's next server, where plpgsql refused it and the client was closed.
  test("DISCARD ALL gives a library's setting its default, on the client's other server too", async () => {
    await onEveryServer(p.pgConfig(), POOL_SIZE, 'DO $$BEGIN PERFORM 1; END$$');
    await sameAsPostgres(
      {},
      async (c, look) => {
        await c.query('DO $$BEGIN PERFORM 1; END$$');
        await c.query('SET plpgsql.print_strict_params = on');
        await c.query('DISCARD ALL');
        const strict = async () =>
          (await c.query(`SELECT current_setting('plpgsql.print_strict_params') AS v`)).rows[0].v;
        assert.equal(await strict(), 'off');
        await look();
        assert.equal(await strict(), 'off');
      },
      () => undefined,
    );
  });

  // Npgsql resets a pooled connection that keeps prepared statements with this Query at every
  // reuse: it pinned the client for good (SET SESSION AUTHORIZATION), so clients past the pool
  // size waited for ever, and each reset read pg_settings.
  test("Npgsql's reset: the startup values, its prepared statement kept, nothing pinned", async () => {
    const reset =
      'SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;SELECT pg_advisory_unlock_all();DISCARD SEQUENCES;DISCARD TEMP';
    const plusOne = (n: number) => ({ name: 'ps_npgsql_kept', text: 'SELECT $1::int + 1 AS n', values: [n] });
    await sameAsPostgres(
      { application_name: 'ps_npgsql_app', options: '-c statement_timeout=4321' },
      async (c, look) => {
        assert.equal((await c.query(plusOne(1))).rows[0].n, 2);
        await c.query(`SET application_name = 'ps_changed'`);
        await c.query('SET statement_timeout = 99');
        await look();
        await c.query(reset);
        // Held by another client meanwhile (see observe): the client keeps no server.
        await look();
        assert.equal((await c.query(plusOne(41))).rows[0].n, 42);
        await look();
      },
      (seen) =>
        assert.deepEqual(
          seen.map((s) => [s.application_name, s.statement_timeout]),
          [
            ['ps_changed', '99ms'],
            ['ps_npgsql_app', '4321ms'],
            ['ps_npgsql_app', '4321ms'],
          ],
        ),
    );
  });

  test('SET LOCAL and a SET in a rolled-back transaction are not kept; a SET in a committed one is', async () => {
    await sameAsPostgres(
      {},
      async (c, look) => {
        const initial = await look();
        await c.query('BEGIN');
        await c.query(`SET LOCAL TimeZone = 'Asia/Tokyo'`);
        await c.query('COMMIT');
        assert.equal((await look()).TimeZone, initial.TimeZone);
        await c.query('BEGIN');
        await c.query(`SET TimeZone = 'Asia/Tokyo'`);
        await c.query('ROLLBACK');
        assert.equal((await look()).TimeZone, initial.TimeZone);
        await c.query('BEGIN');
        await c.query(`SET TimeZone = 'Asia/Kolkata'`);
        await c.query('COMMIT');
        await look();
      },
      (seen) => {
        assert.equal(seen.at(-1)!.TimeZone, 'Asia/Kolkata');
        assert.notEqual(seen[0]!.TimeZone, 'Asia/Tokyo');
      },
    );
  });

  test('plain SETs (read back by name): a refused one changes nothing, quoted and non-ASCII values and a new custom setting follow', async () => {
    await sameAsPostgres(
      { options: '-c statement_timeout=4321' },
      async (c, look) => {
        const initial = await look();
        await assert.rejects(c.query(`SET statement_timeout = 'soon'`), (e: { code?: string }) => e.code === '22023');
        assert.equal((await look()).statement_timeout, initial.statement_timeout);
        // Refused, the setting stays the server's: a read by name must not make it the client's.
        await assert.rejects(
          c.query('SET session_replication_role = replica'),
          (e: { code?: string }) => e.code === '42501',
        );
        await assert.rejects(c.query(`SET shared_buffers = '1MB'`), (e: { code?: string }) => e.code === '55P02');
        // An old name for another setting: one setting, as PostgreSQL has it.
        await c.query(`SET work_mem = '2MB'; SET sort_mem = '64MB'`);
        await c.query(`SET work_mem = '3MB'`);
        assert.equal((await c.query('SHOW work_mem')).rows[0].work_mem, '3MB');
        assert.equal((await c.query(`SELECT pg_catalog.current_setting('sort_mem') AS v`)).rows[0].v, '3MB');
        await c.query(`SET search_path TO "Ténant 1", public; SET application_name = 'naïve ''app'''`);
        await look();
        await c.query('BEGIN');
        await c.query(`SET TimeZone = 'Asia/Tokyo'`);
        await assert.rejects(c.query('SELECT 1/0'));
        await c.query('ROLLBACK');
        await look();
      },
      (seen) => {
        assert.equal(seen[1]!.statement_timeout, '4321ms');
        assert.equal(seen[2]!.search_path, '"Ténant 1", public');
        // PostgreSQL keeps application_name ASCII: the rest is escaped, as directly.
        assert.equal(seen[2]!.application_name, "na\\xc3\\xafve 'app'");
        assert.notEqual(seen[3]!.TimeZone, 'Asia/Tokyo');
      },
    );
  });

  test('set_config(…, false) is kept, set_config(…, true) is not', async () => {
    await sameAsPostgres(
      {},
      async (c, look) => {
        await c.query(`SELECT pg_catalog.set_config('application_name', 'ps_set_config', false)`);
        await look();
        await c.query(`SELECT pg_catalog.set_config('application_name', 'ps_local_only', true)`);
        await look();
        await c.query('BEGIN');
        await c.query(`SELECT pg_catalog.set_config('search_path', 'ps_tx_local', true)`);
        await c.query('COMMIT');
        await look();
      },
      (seen) => {
        assert.deepEqual(
          seen.map((s) => s.application_name),
          ['ps_set_config', 'ps_set_config', 'ps_set_config'],
        );
        assert.notEqual(seen[2]!.search_path, 'ps_tx_local');
      },
    );
  });

  test('custom settings set by two set_config calls of one statement are both kept, on either server', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    try {
      await c.query(`SELECT pg_catalog.set_config('ps.one', 'a', false), pg_catalog.set_config('ps.two', 'b', false)`);
      const look = `SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.current_setting('ps.one', true) AS one,
        pg_catalog.current_setting('ps.two', true) AS two`;
      const here = (await c.query(look)).rows[0];
      const release = await holdServer(p.pgConfig(), here.pid, POOL_SIZE);
      let there: { pid: number; one: string; two: string };
      try {
        there = (await c.query(look)).rows[0];
      } finally {
        await release();
      }
      assert.notEqual(there.pid, here.pid, 'the second look must run on the other server');
      for (const seen of [here, there]) assert.deepEqual([seen.one, seen.two], ['a', 'b']);
    } finally {
      await c.end();
    }
  });

  test('startup parameters (application_name, options -c) apply to every transaction, whichever server runs it', async () => {
    const startup = { application_name: 'ps_startup', options: '-c search_path=foo -c statement_timeout=1234' };
    const otherStartup = { application_name: 'ps_other', options: '-c statement_timeout=777' };
    await sameAsPostgres(
      startup,
      async (_c, look) => void (await look()),
      ([seen]) =>
        assert.deepEqual(
          [seen!.application_name, seen!.search_path, seen!.statement_timeout],
          ['ps_startup', 'foo', '1234ms'],
        ),
    );

    // Two clients with different startup parameters take turns on the same two servers.
    const clients = [startup, otherStartup].map((s) => new pg.Client(p.pgConfig(s)));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const wrong: string[] = [];
      const pids = new Set<number>();
      await Promise.all(
        clients.map(async (c, i) => {
          const want = i === 0 ? ['ps_startup', 'foo', '1234ms'] : ['ps_other', '777ms'];
          for (let k = 0; k < 30; k++) {
            const s = await settingsOf(c);
            pids.add(s.pid);
            const got =
              i === 0
                ? [s.application_name, s.search_path, s.statement_timeout]
                : [s.application_name, s.statement_timeout];
            if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`client ${i}: ${JSON.stringify(s)}`);
            await c.query('SELECT pg_catalog.pg_sleep(0.002)'); // lets the other client take this server
          }
        }),
      );
      assert.deepEqual(
        wrong.slice(0, 3),
        [],
        `${wrong.length} of 60 transactions had another client's startup settings`,
      );
      assert.equal(pids.size, POOL_SIZE);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  // Found by lib/pq's TestRuntimeParameters: pgtide let options override the packet's own
  // parameters, where PostgreSQL applies options first. node-postgres, like lib/pq, sends
  // client_encoding=UTF8 itself: -c client_encoding=LATIN1 in options made the server read the
  // client's UTF-8 as LATIN1 ('é' came back double-encoded, no error).
  test("a startup parameter wins over the same one in options, as PostgreSQL's order has it", async () => {
    const startup = {
      application_name: 'ps_explicit',
      options: '-c application_name=ps_options -c statement_timeout=4321 -c client_encoding=LATIN1',
    };
    await sameAsPostgres(
      startup,
      async (_c, look) => void (await look()),
      ([seen]) => assert.deepEqual([seen!.application_name, seen!.statement_timeout], ['ps_explicit', '4321ms']),
    );
    for (const config of [direct, p.pgConfig()]) {
      const c = new pg.Client({ ...config, ...startup });
      await c.connect();
      try {
        const row = (await c.query("SELECT pg_catalog.current_setting('client_encoding') AS enc, 'é' AS e")).rows[0];
        assert.deepEqual(row, { enc: 'UTF8', e: 'é' });
      } finally {
        await c.end();
      }
    }
  });

  test("ParameterStatus: after SET application_name and transactions on both servers, the driver's view equals SHOW", async () => {
    const connect = (application_name: string) =>
      postgres({
        host: p.host,
        port: p.port,
        user: t.scramUser.user,
        pass: t.scramUser.password,
        database: t.database,
        max: 1,
        prepare: false,
        connection: { application_name },
        onnotice: () => undefined,
      });
    const setter = connect('ps_status_before');
    const bystander = connect('ps_bystander');
    try {
      await setter`SET application_name = 'ps_status_after'`;
      const pids = new Set<number>();
      for (let i = 0; i < 10; i++) {
        const [[a], [b]] = await Promise.all([
          setter`SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.pg_sleep(0.002)`,
          bystander`SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.pg_sleep(0.002)`,
        ]);
        pids.add(a!.pid as number).add(b!.pid as number);
      }
      assert.equal(pids.size, POOL_SIZE);
      for (const [sql, name] of [
        [setter, 'ps_status_after'],
        [bystander, 'ps_bystander'],
      ] as const) {
        const [shown] = await sql`SHOW application_name`;
        assert.equal(shown!.application_name, name);
        assert.equal(sql.parameters.application_name, name);
      }
    } finally {
      await Promise.all([setter.end({ timeout: 5 }), bystander.end({ timeout: 5 })]);
    }
  });

  test('a hostile search_path that shadows catalog functions changes nothing for pgtide or other clients', async () => {
    const admin = new pg.Client(direct);
    await admin.connect();
    const hostile = new pg.Client(p.pgConfig());
    const other = new pg.Client(p.pgConfig());
    try {
      await admin.query('DROP SCHEMA IF EXISTS ps_hostile CASCADE');
      await admin.query('CREATE SCHEMA ps_hostile');
      // Shadows of what a pooler might call unqualified to save or restore settings.
      for (const signature of [
        'current_setting(text)',
        'set_config(text, text, boolean)',
        'pg_backend_pid()',
        'now()',
        'quote_literal(text)',
        'quote_ident(text)',
      ]) {
        const returns = signature.startsWith('pg_backend_pid')
          ? 'int'
          : signature.startsWith('now')
            ? 'timestamptz'
            : 'text';
        await admin.query(`CREATE FUNCTION ps_hostile.${signature} RETURNS ${returns} LANGUAGE plpgsql
          AS $$BEGIN RAISE EXCEPTION 'hostile ${signature.replace(/\(.*/, '')} called'; END$$`);
      }
      await Promise.all([hostile.connect(), other.connect()]);
      const otherPath = (await other.query(`SELECT current_setting('search_path') AS sp`)).rows[0].sp as string;
      await hostile.query('SET search_path = ps_hostile, pg_catalog, public');
      await assert.rejects(hostile.query(`SELECT current_setting('TimeZone')`), /hostile current_setting called/);

      /** The client's search_path on both servers (unqualified calls only where `plain`). */
      const pathsOnBothServers = async (c: pg.Client, plain: boolean) => {
        const sql = plain
          ? `SELECT pg_backend_pid() AS pid, current_setting('search_path') AS sp`
          : `SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.current_setting('search_path') AS sp`;
        const here = (await c.query(sql)).rows[0];
        const release = await holdServer(p.pgConfig(), here.pid, POOL_SIZE);
        try {
          const there = (await c.query(sql)).rows[0];
          assert.notEqual(there.pid, here.pid);
          return [here.sp, there.sp];
        } finally {
          await release();
        }
      };
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await pathsOnBothServers(hostile, false), [
          'ps_hostile, pg_catalog, public',
          'ps_hostile, pg_catalog, public',
        ]);
        assert.deepEqual(await pathsOnBothServers(other, true), [otherPath, otherPath]);
        await Promise.all([hostile.query('SELECT pg_catalog.pg_sleep(0.002)'), other.query('SELECT pg_sleep(0.002)')]);
      }
      await hostile.query('RESET search_path');
      assert.equal((await hostile.query(`SELECT current_setting('search_path') AS sp`)).rows[0].sp, otherPath);
    } finally {
      await Promise.all([hostile.end(), other.end()]);
      await admin.query('DROP SCHEMA IF EXISTS ps_hostile CASCADE');
      await admin.end();
    }
  });
});
