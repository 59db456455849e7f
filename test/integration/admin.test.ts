import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { waitFor } from '../support/wait.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { psql } from '../support/psql.js';
import { AdminConsole } from '../../src/admin/console.js';
import { decodeAnswer, parsePrometheusText, records, total } from '../unit/admin-decode.js';

const t = currentTopology();

describe('admin console and metrics', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let admin: AdminConsole;
  const show = (item: string) => {
    const answer = decodeAnswer(admin.run({ sql: `SHOW ${item}`, user: t.scramUser.user, admin: true }));
    assert.equal(answer.error, null);
    return records(answer.results[0]!);
  };
  const command = (sql: string) => decodeAnswer(admin.run({ sql, user: t.scramUser.user, admin: true }));
  const http = async (path: string) => {
    const { host, port } = p.pgtide.adminHttpAddress()!;
    const res = await fetch(`http://${host}:${port}${path}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  };
  const scrape = async () => {
    const res = await http('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(res.body).samples;
  };

  before(async () => {
    p = await startPgtide(t, {
      default_pool_size: 4,
      admin_users: [t.scramUser.user],
      stats_users: [t.superuser.user],
      admin_http_listen: '127.0.0.1:0',
      backends: clusterBackends(t, [1, 1, 1]),
      sr_check_period: 0.5,
    });
    admin = new AdminConsole(p.pgtide);
  });
  after(() => p.stop());

  test('/healthz and /readyz answer 200 once a primary is known; other paths 404', async () => {
    assert.equal((await http('/healthz')).status, 200);
    await waitFor('a primary', () => p.pgtide.context.router.writeBackend() !== null);
    assert.equal((await http('/readyz')).status, 200);
    assert.equal((await http('/nope')).status, 404);
  });

  test('under load, SHOW POOLS, SHOW STATS_TOTALS and /metrics show the work', async () => {
    const before_ = await scrape();
    const clients = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const c = new pg.Client(p.pgConfig());
        await c.connect();
        return c;
      }),
    );
    let sawBusy = false;
    let running = true;
    const load = Promise.all(
      clients.map(async (c, i) => {
        for (let n = 0; n < 30; n++) {
          await c.query('BEGIN');
          await c.query('SELECT pg_catalog.pg_sleep(0.002), $1::int AS v', [i]);
          await c.query('COMMIT');
        }
      }),
    ).finally(() => {
      running = false;
    });
    while (running) {
      const pools = show('POOLS').filter((r) => r['database'] === t.database && r['user'] === t.scramUser.user);
      assert.equal(pools.length, 1, 'one row per (database, user), summed over backends');
      const row = pools[0]!;
      assert.equal(Number(row['cl_active']) + Number(row['cl_waiting']), 12);
      if (Number(row['sv_active']) > 0) sawBusy = true;
      assert.ok(Number(row['sv_active']) <= 4 * 3);
      await new Promise((r) => setTimeout(r, 5));
    }
    await load;
    assert.ok(sawBusy, 'SHOW POOLS never saw an active server');
    const clientRows = show('CLIENTS').filter((r) => r['database'] === t.database);
    assert.equal(clientRows.length, 12);
    // Between transactions, with no server: idle, as PgBouncer shows them.
    assert.ok(clientRows.every((r) => Number(r['id']) > 0 && r['state'] === 'idle' && r['addr'] === '127.0.0.1'));

    const totals = show('STATS_TOTALS').find((r) => r['database'] === t.database)!;
    assert.ok(
      Number(totals['server_assignment_count']) >= 12 * 30,
      `server_assignment_count ${totals['server_assignment_count']}`,
    );

    const after_ = await scrape();
    const assigned = (s: typeof after_) => total(s, 'pgtide_server_assignments_total', { database: t.database });
    assert.ok(assigned(after_) - assigned(before_) >= 12 * 30, 'pgtide_server_assignments_total moved with the load');
    assert.equal(total(after_, 'pgtide_clients', { state: 'active' }), 12);
    assert.equal(total(after_, 'pgtide_backend_primary', { backend: 'primary' }), 1);
    assert.equal(total(after_, 'pgtide_backend_healthy'), 3);
    // SHOW MEM's hint sends the operator here.
    assert.ok(total(after_, 'process_resident_memory_bytes') > 10 * 1024 * 1024);
    assert.ok(total(after_, 'nodejs_heap_size_used_bytes') > 1024 * 1024);
    await Promise.all(clients.map((c) => c.end()));
  });

  test('SHOW SERVERS reports the server pids PostgreSQL reports', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('BEGIN');
    const { rows } = await c.query('SELECT pg_catalog.pg_backend_pid() AS pid');
    const mine = show('SERVERS').find((r) => r['remote_pid'] === String(rows[0].pid));
    assert.ok(mine, 'the linked server is listed');
    assert.equal(mine['state'], 'active');
    assert.equal(mine['database'], t.database);
    assert.notEqual(mine['link'], null);
    await c.query('COMMIT');
    await c.end();
  });

  test('SHOW CLIENTS and SERVERS fill state, link and replication as PgBouncer does', async () => {
    const c = new pg.Client(p.pgConfig({ application_name: 'shown' }));
    await c.connect();
    try {
      const mine = () => show('CLIENTS').find((r) => r['application_name'] === 'shown')!;
      // Logged in, between transactions: no server.
      assert.deepEqual([mine()['state'], mine()['link'], mine()['replication']], ['idle', '', 'none']);
      await c.query('BEGIN');
      const { rows } = await c.query('SELECT pg_catalog.pg_backend_pid() AS pid');
      const server = show('SERVERS').find((r) => r['remote_pid'] === String(rows[0].pid))!;
      assert.deepEqual([mine()['state'], mine()['link']], ['active', server['ptr']]);
      assert.deepEqual([server['link'], server['replication']], [mine()['ptr'], 'none']);
      await c.query('COMMIT');
      const released = () => show('SERVERS').find((r) => r['remote_pid'] === String(rows[0].pid))!;
      await waitFor('the server back in its pool', () => released()['state'] === 'idle');
      assert.equal(released()['link'], '');
    } finally {
      await c.end();
    }
  });

  test("SHOW CLIENTS' wait of an active client is how long its query has run, as PgBouncer's", async () => {
    const c = new pg.Client(p.pgConfig({ application_name: 'sleeper' }));
    await c.connect();
    try {
      const sleeping = c.query('SELECT pg_catalog.pg_sleep(1.5)');
      const waited = () => {
        const row = show('CLIENTS').find((r) => r['application_name'] === 'sleeper')!;
        return row['state'] === 'active' ? Number(row['wait']) * 1e6 + Number(row['wait_us']) : 0;
      };
      await new Promise((r) => setTimeout(r, 600));
      const us = waited();
      assert.ok(us >= 500_000 && us < 1_500_000, `wait ${us} µs, 600 ms into the query`);
      await sleeping;
      const row = show('CLIENTS').find((r) => r['application_name'] === 'sleeper')!;
      assert.deepEqual([row['state'], row['wait'], row['wait_us']], ['idle', '0', '0'], 'no query, no wait');
    } finally {
      await c.end();
    }
  });

  test('SHOW BACKENDS shows each server with its discovered role', async () => {
    const rows = await waitFor('roles to be discovered', () => {
      const r = show('BACKENDS');
      return r.every((b) => b['status'] === 'up') && r;
    });
    assert.deepEqual(
      rows.map((r) => [r['name'], r['role']]),
      [['primary', 'primary'], ...t.standbys.map((s) => [s.name, 'standby'])],
    );
    assert.equal(rows[0]!['port'], String(t.primary.port));
  });

  test('KILL_CLIENT drops that client with 57P01', async () => {
    const c = new pg.Client(p.pgConfig({ application_name: 'kill-me' }));
    await c.connect();
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    const id = show('CLIENTS').find((r) => r['application_name'] === 'kill-me')!['id']!;
    assert.equal(command(`KILL_CLIENT ${id}`).results[0]!.tag, 'KILL_CLIENT');
    await waitFor('the client to be told', () => errors.length > 0);
    assert.equal((errors[0] as Error & { code?: string }).code, '57P01');
    assert.equal(
      show('CLIENTS').some((r) => r['application_name'] === 'kill-me'),
      false,
    );
  });

  test('RECONNECT replaces server connections once they are idle', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const pid = async () => (await c.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid as number;
    const before_ = new Set(show('SERVERS').map((r) => r['remote_pid']));
    await pid();
    command('RECONNECT');
    assert.equal(show('SERVERS').filter((r) => r['state'] === 'idle').length, 0, 'idle servers closed at once');
    assert.ok(!before_.has(String(await pid())), 'a new server connection served the next transaction');
    await c.end();
  });

  /**
   * While a client holds a transaction open, runs `setUp` then `sql` on a console: `sql` must not
   * be answered 600 ms in (the transaction goes on), and must be within 1 s of its COMMIT.
   * Returns the answer's command tag (node-postgres keeps its first word).
   */
  async function answeredAtCommit(sql: string, setUp: (console_: pg.Client) => Promise<void>): Promise<string> {
    const c = new pg.Client(p.pgConfig());
    const console_ = new pg.Client(p.pgConfig({ database: 'pgbouncer' }));
    await Promise.all([c.connect(), console_.connect()]);
    try {
      await c.query('BEGIN');
      await c.query("SELECT 'held'");
      await setUp(console_);
      let answered = false;
      const waited = console_.query(sql).then((r) => {
        answered = true;
        return r.command;
      });
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(answered, false, `${sql} answered while a transaction still ran`);
      await c.query("SELECT 'still served'");
      const committed = Date.now();
      await c.query('COMMIT');
      const tag = await waited;
      assert.ok(Date.now() - committed < 1000, `answered ${Date.now() - committed} ms after the COMMIT`);
      return tag;
    } finally {
      await Promise.all([c.end(), console_.end()]);
    }
  }

  test('WAIT_CLOSE after RECONNECT answers once the server connections opened before it are closed', async () => {
    const closeNeeded = () =>
      show('SERVERS').filter((r) => r['database'] === t.database && r['close_needed'] === '1').length;
    const tag = await answeredAtCommit(`WAIT_CLOSE ${t.database}`, async (console_) => {
      await console_.query(`RECONNECT ${t.database}`);
      assert.equal(closeNeeded(), 1, 'the server in the transaction closes once released');
    });
    // The tag is WAIT_CLOSE, as PgBouncer's.
    assert.equal(tag, 'WAIT');
    assert.equal(closeNeeded(), 0);
    assert.equal(command('WAIT_CLOSE').error, null, 'nothing to wait for: at once');
  });

  test("PAUSE answers once the transactions running then have ended, as PgBouncer's does", async () => {
    try {
      // An operator restarts PostgreSQL once PAUSE answers: it must not answer over a transaction.
      assert.equal(await answeredAtCommit('PAUSE', async () => {}), 'PAUSE');
      assert.equal(show('SERVERS').filter((r) => r['database'] === t.database).length, 0);
    } finally {
      command('RESUME');
    }
  });

  test('PAUSE closes idle server connections; RESUME lets them return', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('SELECT 1');
    assert.ok(show('SERVERS').some((r) => r['database'] === t.database && r['state'] === 'idle'));
    command(`PAUSE ${t.database}`);
    assert.equal(show('DATABASES').find((r) => r['name'] === t.database)?.['paused'], '1');
    assert.equal(show('SERVERS').filter((r) => r['database'] === t.database && r['state'] === 'idle').length, 0);
    command(`RESUME ${t.database}`);
    await c.query('SELECT 1');
    assert.equal(show('DATABASES').find((r) => r['name'] === t.database)?.['paused'], '0');
    await c.end();
  });

  test('PAUSE holds new transactions until RESUME', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    command('PAUSE');
    // As PgBouncer: SHOW DATABASES' paused is PAUSE db's; a PAUSE of all shows in SHOW STATE
    // (an alert on the exporter's per-database paused fired on pgtide only).
    assert.equal(show('DATABASES').find((r) => r['name'] === t.database)?.['paused'], '0');
    assert.equal(show('STATE').find((r) => r['key'] === 'paused')?.['value'], 'yes');
    let done = false;
    const q = c.query('SELECT 1').then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    const heldWhilePaused = !done;
    command('RESUME');
    await q;
    await c.end();
    assert.ok(heldWhilePaused, 'the transaction ran while paused');
  });

  test('a mixed-case database name is taken as written: PAUSE, RESUME, DISABLE and KILL act on it, as in PgBouncer', async () => {
    // pgtide folded unquoted names to lower case: PAUSE Mixed answered PAUSE and paused nothing.
    const name = 'AdminMixed';
    await sqlOn(t.primary, `DROP DATABASE IF EXISTS "${name}"`);
    await sqlOn(t.primary, `CREATE DATABASE "${name}"`);
    const c = new pg.Client(p.pgConfig({ database: name }));
    const ended: string[] = [];
    c.on('error', (e: Error & { code?: string }) => ended.push(e.code ?? e.message));
    try {
      assert.equal(command(`PAUSE ${name}`).error, null);
      // Named before any client came, it is listed, paused, so that the operator sees it hold.
      assert.equal(show('DATABASES').find((r) => r['name'] === name)?.['paused'], '1');
      await c.connect();
      let done = false;
      const q = c.query('SELECT 1').then(() => {
        done = true;
      });
      // A PAUSE and RESUME of all leave a database paused by name paused, and say so.
      command('PAUSE');
      const resumed = command('RESUME');
      assert.equal(resumed.error, null);
      assert.match(resumed.notices.join(' '), new RegExp(`still paused by name: "${name}"`));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, 'the query ran while its database was paused by name');
      command(`RESUME ${name}`);
      await q;
      assert.equal(show('DATABASES').find((r) => r['name'] === name)?.['paused'], '0');

      command(`DISABLE ${name}`);
      const refused = new pg.Client(p.pgConfig({ database: name }));
      refused.on('error', () => {});
      await assert.rejects(refused.connect(), (e: { code?: string }) => e.code === '57P03');
      command(`ENABLE ${name}`);

      command(`KILL ${name}`);
      await waitFor('the client killed', () => ended.length > 0);
      assert.equal(ended[0], '57P01');
      assert.ok(p.pgtide.isPaused(name), 'KILL holds the database until RESUME names it');
      command(`RESUME ${name}`);
    } finally {
      command(`RESUME ${name}`);
      command(`ENABLE ${name}`);
      await c.end().catch(() => {});
      await sqlOn(t.primary, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  });

  test("SHOW LISTS counts SHOW DATABASES' and SHOW USERS' rows; avg_wait_time is per server assignment; SHOW CONFIG booleans are 1 or 0", () => {
    const lists = new Map(show('LISTS').map((r) => [r['list'], Number(r['items'])]));
    assert.equal(lists.get('databases'), show('DATABASES').length);
    assert.equal(lists.get('users'), show('USERS').length);
    // As PgBouncer 1.23 averages it; pgtide averaged over the clients that queued, far higher.
    const stats = show('STATS').find((r) => r['database'] === t.database)!;
    const assignments = Number(stats['total_server_assignment_count']);
    assert.ok(assignments > 0);
    const expected = Number(stats['total_wait_time']) / assignments;
    assert.ok(Math.abs(Number(stats['avg_wait_time']) - expected) <= 1, `${stats['avg_wait_time']} vs ${expected}`);
    const config = new Map(show('CONFIG').map((r) => [r['key'], r['value']]));
    assert.equal(config.get('log_connections'), p.pgtide.config.log_connections ? '1' : '0');
    assert.equal(config.get('tcp_keepalive'), p.pgtide.config.tcp_keepalive ? '1' : '0');
  });

  test("SHOW CLIENTS shows a console client active, under its application_name, as PgBouncer's", async () => {
    const console_ = new pg.Client(p.pgConfig({ database: 'pgbouncer', application_name: 'myconsole' }));
    await console_.connect();
    try {
      const rows = (await console_.query('SHOW CLIENTS')).rows as Record<string, string>[];
      const own = rows.filter((r) => r['database'] === 'pgbouncer');
      assert.deepEqual(
        own.map((r) => [r['state'], r['application_name']]),
        [['active', 'myconsole']],
      );
      // Its request_time is its last command's, as PgBouncer's (it stayed at its login's); to the second.
      await new Promise((r) => setTimeout(r, 1100));
      const later = (await console_.query('SHOW CLIENTS')).rows as Record<string, string>[];
      const again = later.find((r) => r['database'] === 'pgbouncer')!;
      const at = (v: unknown) => new Date(v as string).getTime();
      assert.ok(
        at(again['request_time']) > at(again['connect_time']),
        `request_time ${again['request_time']}, connect_time ${again['connect_time']}`,
      );
    } finally {
      await console_.end();
    }
  });

  test('SHOW DATABASES lists each console database once, also while a console client is connected', async () => {
    const console_ = new pg.Client(p.pgConfig({ database: 'pgbouncer' }));
    await console_.connect();
    try {
      const names = show('DATABASES').map((r) => r['name']);
      assert.deepEqual(
        names.filter((n) => n === 'pgbouncer' || n === 'pgtide'),
        ['pgtide', 'pgbouncer'],
      );
      // One statement at a time, as PgBouncer shows its console: in SHOW POOLS as in SHOW DATABASES.
      const modes = ['POOLS', 'DATABASES'].map(
        (item) => show(item).find((r) => r['database'] === 'pgbouncer' || r['name'] === 'pgbouncer')!['pool_mode'],
      );
      assert.deepEqual(modes, ['statement', 'statement']);
      // A database without a mode of its own: NULL, as PgBouncer shows it (not the global mode).
      const pooled = show('DATABASES').find((r) => r['name'] === t.database);
      assert.ok(pooled, 'the test database is listed');
      assert.equal(pooled['pool_mode'], null);
    } finally {
      await console_.end();
    }
  });

  test("column types are PgBouncer's: int4 counts, numeric statistics, so a driver reads counts as numbers", async () => {
    const [TEXT, INT4, NUMERIC] = [25, 23, 1700];
    const ints = (...names: string[]) => names.map((n): [string, number] => [n, INT4]);
    const numerics = (...names: string[]) => names.map((n): [string, number] => [n, NUMERIC]);
    const socket = [
      ['state', TEXT] as [string, number],
      ...ints('port', 'local_port', 'wait', 'wait_us', 'close_needed', 'remote_pid', 'prepared_statements'),
    ];
    const stats = ['xact_count', 'query_count', 'xact_time', 'query_time', 'wait_time'];
    const expected: Record<string, [string, number][]> = {
      POOLS: [
        ['pool_mode', TEXT],
        ...ints('cl_active', 'cl_waiting', 'cl_active_cancel_req', 'sv_active', 'sv_idle', 'sv_login', 'maxwait'),
        ...ints('maxwait_us'),
      ],
      LISTS: [['list', TEXT], ...ints('items')],
      DATABASES: [['name', TEXT], ...ints('port', 'pool_size', 'reserve_pool_size', 'max_connections', 'paused')],
      USERS: ints('max_user_connections', 'current_connections', 'current_client_connections'),
      CLIENTS: socket,
      SERVERS: socket,
      PEERS: ints('peer_id', 'port', 'pool_size'),
      STATS: numerics('total_xact_count', 'total_received', 'avg_query_time', 'avg_recv'),
      STATS_TOTALS: numerics(...stats, 'bytes_received'),
      STATS_AVERAGES: numerics(...stats, 'bytes_sent'),
      CONFIG: [['value', TEXT]],
    };
    const console_ = new pg.Client(p.pgConfig({ database: 'pgbouncer' }));
    await console_.connect();
    try {
      for (const [item, columns] of Object.entries(expected)) {
        const result = await console_.query(`SHOW ${item}`);
        const types = new Map(result.fields.map((f) => [f.name, f.dataTypeID]));
        for (const [name, oid] of columns) assert.equal(types.get(name), oid, `SHOW ${item}: ${name}`);
      }
      const [pools] = (await console_.query('SHOW POOLS')).rows;
      assert.equal(typeof pools.cl_active, 'number', 'node-postgres parses int4, not int8');
    } finally {
      await console_.end();
    }
  });

  test("PgBouncer's other SHOW items, a driver's session settings, and what pgtide has not: a clear 0A000", async () => {
    const console_ = new pg.Client(p.pgConfig({ database: 'pgbouncer' }));
    const notices: string[] = [];
    console_.on('notice', (n) => notices.push(n.message ?? ''));
    await console_.connect();
    const rows = async (sql: string) => (await console_.query(sql)).rows as Record<string, string | number>[];
    const failure = async (sql: string) => {
      const err = (await console_.query(sql).then(
        () => assert.fail(`${sql} succeeded`),
        (e: unknown) => e,
      )) as { code?: string; message: string; hint?: string };
      return [err.code, err.message, err.hint ?? ''];
    };
    try {
      const state = async () => Object.fromEntries((await rows('SHOW STATE')).map((r) => [r['key'], r['value']]));
      assert.deepEqual(await state(), { active: 'yes', paused: 'no', suspended: 'no' });
      await console_.query('PAUSE');
      try {
        assert.deepEqual(await state(), { active: 'no', paused: 'yes', suspended: 'no' });
      } finally {
        await console_.query('RESUME');
      }

      const totals = await console_.query('SHOW TOTALS');
      assert.deepEqual(
        totals.fields.map((f) => [f.name, f.dataTypeID]),
        [
          ['name', 25],
          ['value', 1700],
        ],
      );
      const total = new Map(totals.rows.map((r) => [r.name, Number(r.value)]));
      const xacts = (await rows('SHOW STATS_TOTALS')).reduce((n, r) => n + Number(r['xact_count']), 0);
      assert.equal(total.get('total_xact_count'), xacts);
      assert.ok(total.has('avg_query_time') && total.has('total_client_bytes'), [...total.keys()].join());

      for (const [item, columns] of [
        ['DNS_HOSTS', ['hostname', 'ttl', 'addrs']],
        ['DNS_ZONES', ['zonename', 'serial', 'count']],
        ['PEER_POOLS', ['peer_id', 'cl_active_cancel_req', 'cl_waiting_cancel_req', 'sv_active_cancel', 'sv_login']],
      ] as const) {
        const result = await console_.query(`SHOW ${item}`);
        assert.deepEqual(
          result.fields.map((f) => f.name),
          columns,
        );
        assert.equal(result.rows.length, 0, `SHOW ${item}`);
      }

      assert.deepEqual(await rows('SHOW client_encoding'), [{ client_encoding: 'UTF8' }]);
      assert.equal((await console_.query('SET extra_float_digits = 3')).command, 'SET');
      assert.deepEqual(notices, ['SET ignored']);

      const [code, message, hint] = await failure('SHOW MEM');
      assert.deepEqual([code, message], ['0A000', 'SHOW MEM is not available in pgtide']);
      assert.match(hint!, /metrics/);
      assert.deepEqual((await failure('SUSPEND')).slice(0, 2), ['0A000', 'SUSPEND is not available in pgtide']);
      // A SET of a setting is the console's own (admin-set.test.ts); one of a start-only key is refused.
      assert.equal((await failure('SET listen_port = 7'))[0], '55P02');
      assert.deepEqual(await rows('SHOW VERSION').then((r) => r.length), 1, 'the console goes on');
    } finally {
      await console_.end();
    }
  });

  test('KILL without a database drops the clients of every pooled database and holds them; the console stays', async () => {
    const console_ = new pg.Client(p.pgConfig({ database: 'pgbouncer' }));
    const clients = [t.database, ...t.extraDatabases].map((database) => new pg.Client(p.pgConfig({ database })));
    const ended: string[] = [];
    for (const c of clients) c.on('error', (e: Error & { code?: string }) => ended.push(e.code ?? e.message));
    await Promise.all([console_.connect(), ...clients.map((c) => c.connect())]);
    try {
      for (const c of clients) await c.query('SELECT 1');
      assert.equal((await console_.query('KILL')).command, 'KILL');
      await waitFor('every client told', () => ended.length === clients.length);
      assert.deepEqual(
        ended,
        clients.map(() => '57P01'),
      );
      assert.ok(p.pgtide.isPausedEverywhere, 'every database held until RESUME');
      assert.equal((await console_.query('SHOW VERSION')).rows.length, 1);
      // The RESUME of all ends it: no database stays paused by name.
      await console_.query('RESUME');
      assert.deepEqual(
        [t.database, ...t.extraDatabases].filter((database) => p.pgtide.isPaused(database)),
        [],
      );
    } finally {
      await console_.query('RESUME').catch(() => {});
      await Promise.all([console_, ...clients].map((c) => c.end().catch(() => {})));
    }
  });

  test('KILL, PAUSE, DISABLE … of a console database are refused: the consoles stay', async () => {
    const [issuer, other] = [0, 1].map(() => new pg.Client(p.pgConfig({ database: 'pgbouncer' })));
    const lost: unknown[] = [];
    for (const c of [issuer!, other!]) {
      c.on('error', (e) => lost.push(e));
      await c.connect();
    }
    try {
      for (const sql of ['KILL pgbouncer', 'KILL pgtide', 'PAUSE pgbouncer', 'DISABLE pgtide', 'RECONNECT pgbouncer']) {
        await assert.rejects(issuer!.query(sql), (e: { code?: string; message: string }) => {
          assert.equal(e.code, '0A000', `${sql}: ${e.message}`);
          assert.match(e.message, /console/);
          return true;
        });
      }
      for (const c of [issuer!, other!]) assert.equal((await c.query('SHOW VERSION')).rows.length, 1);
      assert.deepEqual(lost, []);
      assert.equal(p.pgtide.isPaused('pgbouncer'), false);
    } finally {
      await Promise.all([issuer!.end(), other!.end()].map((e) => e.catch(() => {})));
    }
  });

  test('psql: SHOW POOLS on the pgtide database', async () => {
    const out = await psql(t, { host: p.host, port: p.port, database: 'pgtide' }, 'SHOW POOLS');
    assert.ok(
      out.split('\n').some((line) => line.startsWith(`${t.database}|${t.scramUser.user}|`)),
      out,
    );
  });

  test('psql: a stats user may not PAUSE', async () => {
    await assert.rejects(
      psql(
        t,
        { host: p.host, port: p.port, database: 'pgbouncer', user: t.superuser.user, password: t.superuser.password },
        'PAUSE',
      ),
      /must be an admin user/,
    );
  });
});

test('SHOW CLIENTS names an IPv4 client of a `*` listener as PostgreSQL does, without the IPv4-mapped prefix', {
  timeout: 30_000,
}, async () => {
  const p = await startPgtide(t, { listen_addr: ['*'], admin_users: [t.scramUser.user] });
  const c = new pg.Client({ ...p.pgConfig(), host: '127.0.0.1' });
  try {
    await c.connect();
    const admin = new AdminConsole(p.pgtide);
    const answer = decodeAnswer(admin.run({ sql: 'SHOW CLIENTS', user: t.scramUser.user, admin: true }));
    const rows = records(answer.results[0]!).filter((r) => r['database'] === t.database);
    assert.deepEqual(
      rows.map((r) => [r['addr'], r['local_addr']]),
      [['127.0.0.1', '127.0.0.1']],
    );
  } finally {
    await c.end().catch(() => {});
    await p.stop();
  }
});
