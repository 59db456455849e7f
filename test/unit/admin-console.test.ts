import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { Writable } from 'node:stream';
import { AdminConsole, type AdminRequest } from '../../src/admin/console.js';
import { createMetrics } from '../../src/admin/metrics.js';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { Pgtide, type PgtideOptions } from '../../src/server.js';
import { decodeAnswer, parsePrometheusText, records, total } from './admin-decode.js';
import { PGBOUNCER_COLUMNS } from './pgbouncer-columns.js';
import type { WorkerQuestion } from '../../src/admin/across-workers.js';

const quiet = () => createLogger('test', 'silent', { destination: new Writable({ write: (_c, _e, done) => done() }) });

function config(overrides: Partial<Config> = {}): Config {
  return {
    ...defaultConfig(),
    backends: [
      { name: 'p', host: '10.0.0.1', port: 5432, weight: 1, role: 'primary' },
      { name: 's', host: '10.0.0.2', port: 5433, weight: 3, role: 'standby' },
    ],
    ...overrides,
  };
}

function setup(overrides: Partial<Config> = {}, options: PgtideOptions = {}) {
  const pgtide = new Pgtide(config(overrides), { logger: quiet(), ...options });
  const console_ = new AdminConsole(pgtide);
  const run = (sql: string, admin = true) =>
    decodeAnswer(console_.run({ sql, user: 'ops', admin } satisfies AdminRequest));
  /** For an answer that may wait for other workers. */
  const runLater = async (sql: string) => decodeAnswer(await console_.run({ sql, user: 'ops', admin: true }));
  return { pgtide, run, runLater };
}

PGBOUNCER_COLUMNS['SERVERS'] = PGBOUNCER_COLUMNS['CLIENTS']!;
PGBOUNCER_COLUMNS['STATS_AVERAGES'] = PGBOUNCER_COLUMNS['STATS_TOTALS']!;
/** pgtide's own columns, after PgBouncer's (tools read columns by name). */
const PGTIDE_COLUMNS: Record<string, string[]> = {
  POOLS: ['cl_pinned', 'pin_count'],
  PEERS: ['cancels_in_flight', 'cancels_confirmed', 'cancels_failed', 'cancels_dropped'],
  // PgBouncer's name before 1.23, which pgbouncer_exporter maps.
  DATABASES: ['reserve_pool'],
};

describe('admin console results', () => {
  for (const [item, columns] of Object.entries(PGBOUNCER_COLUMNS)) {
    test(`SHOW ${item} has PgBouncer's columns`, () => {
      const { results, error } = setup().run(`SHOW ${item}`);
      assert.equal(error, null);
      assert.deepEqual(
        results[0]!.columns.map((c) => c.name),
        [...columns, ...(PGTIDE_COLUMNS[item] ?? [])],
      );
      assert.equal(results[0]!.tag, 'SHOW');
    });
  }

  test("columns are typed as PgBouncer's: int4 counts, numeric statistics, text names; int8 for pgtide's counters", () => {
    const { results } = setup().run('SHOW POOLS; SHOW STATS_TOTALS');
    const types = Object.fromEntries(results.flatMap((r) => r.columns.map((c) => [c.name, c.typeOid])));
    assert.equal(types['cl_active'], 23);
    assert.equal(types['database'], 25);
    assert.equal(types['pin_count'], 20);
    assert.equal(types['xact_count'], 1700);
  });

  test("SHOW LISTS has PgBouncer's rows in its order, the peers among them", () => {
    const peers = [
      { id: 2, host: '10.0.0.2', port: 6432 },
      { id: 3, host: '10.0.0.3', port: 6432 },
    ];
    const [result] = setup({ peer_id: 1, peers }).run('SHOW LISTS').results;
    assert.deepEqual(
      result!.rows.map(([list]) => list),
      [
        'databases',
        'users',
        'peers',
        'pools',
        'peer_pools',
        'free_clients',
        'used_clients',
        'login_clients',
        'free_servers',
        'used_servers',
        'dns_names',
        'dns_zones',
        'dns_queries',
        'dns_pending',
      ],
    );
    assert.deepEqual(result!.rows[2], ['peers', '2']);
  });

  test('several statements are answered in order', () => {
    const { results, error } = setup().run('SHOW VERSION; show lists;');
    assert.equal(error, null);
    assert.deepEqual(
      results.map((r) => r.columns[0]!.name),
      ['version', 'list'],
    );
    assert.match(results[0]!.rows[0]![0]!, /^pgtide \d+\.\d+\.\d+/);
  });

  test('an empty query gets EmptyQueryResponse', () => {
    assert.deepEqual(setup().run(' ; '), { results: [], error: null, empty: true, notices: [] });
  });

  test('an unknown command is 42601 with a hint naming SHOW HELP, and ends the answer', () => {
    const { results, error } = setup().run('SHOW VERSION; SELECT 1; SHOW LISTS');
    assert.equal(results.length, 1);
    assert.equal(error?.code, '42601');
    assert.match(error!.hint!, /SHOW HELP/);
  });

  test('a stats user may SHOW but not PAUSE', () => {
    const { pgtide, run } = setup();
    assert.equal(run('SHOW POOLS', false).error, null);
    const denied = run('PAUSE', false);
    assert.equal(denied.error?.code, '42501');
    assert.equal(denied.error?.message, 'must be an admin user');
    assert.equal(pgtide.isPaused('app'), false);
  });

  test("SHOW VERSION names package.json's version, read once rather than at every call", () => {
    const { run } = setup();
    const manifest = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    run('SHOW VERSION');
    const read = mock.method(fs, 'readFileSync');
    syncBuiltinESMExports();
    try {
      assert.deepEqual(run('SHOW VERSION').results[0]!.rows, [[`pgtide ${manifest.version}`]]);
      assert.equal(read.mock.callCount(), 0);
    } finally {
      read.mock.restore();
      syncBuiltinESMExports();
    }
  });

  test('SHOW HELP lists every command', () => {
    const rows = setup()
      .run('SHOW HELP')
      .results[0]!.rows.map((r) => r[0]);
    for (const command of ['SHOW POOLS', 'SHOW BACKENDS', 'SHOW PEERS', 'PAUSE [db]', 'KILL_CLIENT id', 'SHUTDOWN'])
      assert.ok(rows.includes(command), command);
  });

  test('SHOW CONFIG shows values and defaults, never a password', () => {
    const { run } = setup({ sr_check_password: 'hunter2', default_pool_size: 7, admin_users: ['ops', 'root'] });
    const byKey = new Map(records(run('SHOW CONFIG').results[0]!).map((r) => [r['key'], r]));
    assert.deepEqual(byKey.get('default_pool_size'), {
      key: 'default_pool_size',
      value: '7',
      default: '20',
      changeable: 'yes',
    });
    assert.equal(byKey.get('admin_users')!['value'], 'ops,root');
    assert.equal(byKey.get('listen_port')!['changeable'], 'no');
    assert.equal(byKey.get('sr_check_password')!['value'], '********');
    assert.ok(!run('SHOW CONFIG').results[0]!.rows.flat().includes('hunter2'));
  });

  test('SHOW BACKENDS without a monitor: configured roles, read shares by weight', () => {
    const rows = records(setup().run('SHOW BACKENDS').results[0]!);
    assert.deepEqual(
      rows.map((r) => [r['name'], r['host'], r['port'], r['role'], r['status'], r['lb_share']]),
      [
        ['p', '10.0.0.1', '5432', 'primary', 'up', '0.250'],
        ['s', '10.0.0.2', '5433', 'standby', 'up', '0.750'],
      ],
    );
  });

  test('SHOW DATABASES lists configured databases and the console database', () => {
    const { run } = setup({ databases: { app: { dbname: 'app_real', pool_size: 9 } } });
    const rows = records(run('SHOW DATABASES').results[0]!);
    const app = rows.find((r) => r['name'] === 'app')!;
    assert.equal(app['database'], 'app_real');
    assert.equal(app['pool_size'], '9');
    assert.equal(app['host'], '10.0.0.1');
    assert.ok(rows.some((r) => r['name'] === 'pgtide'));
  });
});

describe('admin console commands', () => {
  test('PAUSE and RESUME of one database, and of all', () => {
    const { pgtide, run } = setup();
    let resumed = 0;
    pgtide.onResume(() => resumed++);
    assert.equal(run('PAUSE app').results[0]!.tag, 'PAUSE');
    assert.equal(pgtide.isPaused('app'), true);
    assert.equal(pgtide.isPaused('other'), false);
    assert.equal(records(run('SHOW DATABASES').results[0]!).length >= 2, true);
    run('RESUME app');
    assert.equal(pgtide.isPaused('app'), false);
    run('PAUSE');
    assert.equal(pgtide.isPaused('other'), true);
    assert.equal(run('RESUME').results[0]!.tag, 'RESUME');
    assert.equal(pgtide.isPaused('other'), false);
    assert.equal(resumed, 2);
  });

  test('DISABLE and ENABLE', () => {
    const { pgtide, run } = setup();
    run('DISABLE app');
    assert.equal(pgtide.isDisabled('app'), true);
    run('ENABLE app');
    assert.equal(pgtide.isDisabled('app'), false);
  });

  test('a database the [databases] table does not list is refused', () => {
    const { pgtide, run } = setup({ databases: { app: { dbname: 'app' } } });
    const { error } = run('PAUSE nosuch');
    assert.equal(error?.code, '3D000');
    assert.equal(pgtide.isPaused('nosuch'), false);
  });

  test('KILL_CLIENT of an unknown id is 42704', () => {
    assert.equal(setup().run('KILL_CLIENT 42').error?.code, '42704');
  });

  test('RELOAD without a configuration source fails and keeps the configuration', () => {
    const { pgtide, run } = setup({ default_pool_size: 5 });
    const { error } = run('RELOAD');
    assert.equal(error?.code, '57000');
    assert.match(error!.message, /without a configuration file/);
    assert.equal(pgtide.config.default_pool_size, 5);
  });

  test('RELOAD rereads the configuration', () => {
    const { pgtide, run } = setup({ default_pool_size: 5 }, { reloadConfig: () => config({ default_pool_size: 8 }) });
    assert.equal(run('RELOAD').results[0]!.tag, 'RELOAD');
    assert.equal(pgtide.config.default_pool_size, 8);
  });

  test('a failing RELOAD reports why', () => {
    const { run } = setup(
      {},
      {
        reloadConfig: () => {
          throw new Error('line 3: bad key');
        },
      },
    );
    assert.match(run('RELOAD').error!.message, /RELOAD failed.*line 3: bad key/);
  });

  test('RECONNECT marks every pool so its servers close when released', () => {
    const { pgtide, run } = setup();
    const pool = pgtide.context.pools.pool('app', 'u', pgtide.config.backends[0]!);
    assert.equal(pool.reconnectBefore, 0);
    run('RECONNECT');
    assert.ok(pool.reconnectBefore > 0);
  });
});

describe('metrics of an idle instance', () => {
  test('parse as Prometheus text and describe the backends', async () => {
    const { pgtide } = setup();
    pgtide.context.pools.pool('app', 'u', pgtide.config.backends[1]!);
    pgtide.context.pools.countError('53300');
    pgtide.context.pools.countError('not a code');
    const { samples, types } = parsePrometheusText(await createMetrics(pgtide).metrics());
    assert.equal(types.get('pgtide_transactions_total'), 'counter');
    assert.equal(total(samples, 'pgtide_backend_primary', { backend: 'p' }), 1);
    assert.equal(total(samples, 'pgtide_backend_primary', { backend: 's' }), 0);
    assert.equal(total(samples, 'pgtide_pool_servers', { backend: 's', state: 'idle' }), 0);
    assert.ok(samples.some((s) => s.name === 'pgtide_pool_servers' && s.labels['database'] === 'app'));
    assert.equal(total(samples, 'pgtide_errors_total', { sqlstate: '53300' }), 1);
    assert.equal(total(samples, 'pgtide_errors_total', { sqlstate: 'other' }), 1);
  });

  test('the strict parser rejects malformed lines', () => {
    assert.throws(() => parsePrometheusText('x 1\n'), /before its TYPE/);
    assert.throws(() => parsePrometheusText('# TYPE x gauge\nx{a="b} 1\n'), /not a sample line|bad labels/);
    assert.throws(() => parsePrometheusText('# TYPE x counter\nx -1\n'), /negative counter/);
  });
});

describe('the console of one worker of several', () => {
  /** Other workers that answer each question with `answers` (and `missing` do not answer). */
  function workers(answer: (question: WorkerQuestion) => unknown[], missing: number[] = []) {
    const asked: WorkerQuestion[] = [];
    const askOtherWorkers = async (question: WorkerQuestion) => (
      asked.push(question), { answers: answer(question), missing }
    );
    return { asked, askOtherWorkers };
  }

  test("SHOW POOLS adds the other workers' reports to its own", async () => {
    const other = {
      database: 'app',
      user: 'u',
      clActive: 2,
      clWaiting: 1,
      svActive: 1,
      svIdle: 1,
      svLogin: 0,
      maxWaitMs: 2500,
      mode: 'transaction',
      clPinned: 0,
      pins: 3,
    };
    const { asked, askOtherWorkers } = workers(() => [[other], [{ ...other, maxWaitMs: 0 }]]);
    const { pgtide, runLater } = setup({}, { askOtherWorkers });
    pgtide.context.pools.pool('app', 'u', pgtide.config.backends[0]!);
    const answer = await runLater('SHOW POOLS');
    assert.deepEqual(asked, [{ kind: 'show', item: 'pools' }]);
    assert.deepEqual(answer.notices, []);
    const [row] = records(answer.results[0]!);
    assert.deepEqual(
      [
        row!['cl_active'],
        row!['cl_waiting'],
        row!['sv_active'],
        row!['sv_idle'],
        row!['maxwait'],
        row!['maxwait_us'],
        row!['pin_count'],
      ],
      ['4', '2', '2', '2', '2', '500000', '6'],
    );
  });

  test('a worker that does not answer in time: the answer comes with what arrived, and a WARNING naming it', async () => {
    const { askOtherWorkers } = workers(() => [[]], [2]);
    const answer = await setup({}, { askOtherWorkers }).runLater('SHOW CLIENTS; SHOW VERSION');
    assert.equal(answer.error, null);
    assert.equal(answer.results.length, 2);
    assert.deepEqual(answer.notices, ['worker 2 did not answer within 1000 ms: SHOW CLIENTS lacks their part']);
  });

  test('statements after one that waited run in order; the first failure ends the answer', async () => {
    const { askOtherWorkers } = workers(() => []);
    const answer = await setup({}, { askOtherWorkers }).runLater('SHOW LISTS; SHOW DATABASES; NONSENSE; SHOW VERSION');
    assert.deepEqual(
      answer.results.map((r) => r.columns[0]!.name),
      ['list', 'name'],
    );
    assert.equal(answer.error?.code, '42601');
  });

  test("SHOW CONFIG adds the other workers' shares of a split limit to its own; other settings are its own", async () => {
    const other = [
      ['max_client_conn', 50, '10000', 'yes'],
      ['pool_mode', 'session', 'transaction', 'yes'],
    ];
    const { asked, askOtherWorkers } = workers(() => [other]);
    const answer = await setup({ max_client_conn: 51, pool_mode: 'transaction' }, { askOtherWorkers }).runLater(
      'SHOW CONFIG',
    );
    assert.deepEqual(asked, [{ kind: 'show', item: 'config' }]);
    const value = new Map(records(answer.results[0]!).map((r) => [r['key'], r['value']]));
    assert.equal(value.get('max_client_conn'), '101');
    assert.equal(value.get('pool_mode'), 'transaction');
  });

  test('WAIT_CLOSE asks the other workers again until none has a server left to close', async () => {
    const left = [2, 1, 0];
    const { asked, askOtherWorkers } = workers(() => [left.shift()]);
    const answer = await setup({}, { askOtherWorkers }).runLater('WAIT_CLOSE');
    assert.equal(answer.error, null);
    assert.equal(answer.results[0]!.tag, 'WAIT_CLOSE');
    assert.deepEqual(
      asked,
      [0, 1, 2].map(() => ({ kind: 'close_needed', database: null })),
    );
  });

  test("items that are one process's view (VERSION, HELP) do not ask the other workers", () => {
    const { asked, askOtherWorkers } = workers(() => []);
    const { run } = setup({}, { askOtherWorkers });
    assert.equal(run('SHOW VERSION; SHOW HELP').results.length, 2);
    assert.deepEqual(asked, []);
  });

  test('KILL_CLIENT of a client on another worker: that worker drops it', async () => {
    const { asked, askOtherWorkers } = workers(() => [false, true]);
    const answer = await setup({}, { askOtherWorkers }).runLater('KILL_CLIENT 1048577');
    assert.equal(answer.error, null);
    assert.equal(answer.results[0]!.tag, 'KILL_CLIENT');
    assert.deepEqual(asked, [{ kind: 'kill_client', id: 1048577, user: 'ops' }]);
  });

  test('KILL_CLIENT of an id no worker has is 42704; with a worker missing, the hint says so', async () => {
    const none = await setup({}, { askOtherWorkers: workers(() => [false]).askOtherWorkers }).runLater('KILL_CLIENT 7');
    assert.equal(none.error?.code, '42704');
    assert.match(none.error!.hint!, /SHOW CLIENTS/);
    const unsure = await setup({}, { askOtherWorkers: workers(() => [], [1]).askOtherWorkers }).runLater(
      'KILL_CLIENT 7',
    );
    assert.equal(unsure.error?.code, '42704');
    assert.match(unsure.error!.hint!, /Worker 1 did not answer/);
  });
});
