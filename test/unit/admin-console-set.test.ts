// The console's SET of pgtide's settings (PgBouncer's `SET default_pool_size = 5`): how the
// statement is read, which keys and values it takes, and what it changes until the next reload.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { AdminConsole } from '../../src/admin/console.js';
import { AdminSyntaxError, parseCommand, splitStatements, type AdminCommand } from '../../src/admin/commands.js';
import { parseAssignment } from '../../src/admin/console-set.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { SettingRefused } from '../../src/config/runtime-setting.js';
import type { Config } from '../../src/config/types.js';
import { workerConfig } from '../../src/config/worker-share.js';
import { createLogger } from '../../src/log.js';
import { Pgtide, type PgtideOptions } from '../../src/server.js';
import { SharedAdminState } from '../../src/workers/shared-state.js';
import { workerShare } from '../../src/workers/worker.js';
import { decodeAnswer, records } from './admin-decode.js';

const parse = (sql: string): AdminCommand[] => splitStatements(sql).map(parseCommand);

describe('console SET: reading the statement', () => {
  const good: [string, AdminCommand][] = [
    ['SET default_pool_size = 5', { kind: 'set', key: 'default_pool_size', value: '5' }],
    ['SET default_pool_size TO 5', { kind: 'set', key: 'default_pool_size', value: '5' }],
    ['set Default_Pool_Size to 5;', { kind: 'set', key: 'default_pool_size', value: '5' }],
    ['SET default_pool_size=5', { kind: 'set', key: 'default_pool_size', value: '5' }],
    ['SET default_pool_size =5', { kind: 'set', key: 'default_pool_size', value: '5' }],
    ['SET default_pool_size= 5', { kind: 'set', key: 'default_pool_size', value: '5' }],
    ["SET query_timeout = '3.5'", { kind: 'set', key: 'query_timeout', value: '3.5' }],
    ["SET query_timeout='3'", { kind: 'set', key: 'query_timeout', value: '3' }],
    ['SET "server_lifetime" = 10', { kind: 'set', key: 'server_lifetime', value: '10' }],
    // A quoted value may hold spaces, ';' and a doubled quote.
    [
      "SET server_reset_query = 'DISCARD ALL; SELECT ''x'''",
      { kind: 'set', key: 'server_reset_query', value: "DISCARD ALL; SELECT 'x'" },
    ],
    ["SET server_reset_query = ''", { kind: 'set', key: 'server_reset_query', value: '' }],
    ['SET pool_mode = Session', { kind: 'set', key: 'pool_mode', value: 'Session' }],
    ['SET log_connections = 0', { kind: 'set', key: 'log_connections', value: '0' }],
    ["SET admin_users = 'ops, dba'", { kind: 'set', key: 'admin_users', value: 'ops, dba' }],
    // PgBouncer's name of pool_idle_timeout, as pgtide import maps it.
    ['SET autodb_idle_timeout = 60', { kind: 'set', key: 'pool_idle_timeout', value: '60' }],
    // A driver's session setting is still answered "SET ignored".
    ['SET extra_float_digits = 3', { kind: 'set_setting', name: 'extra_float_digits' }],
    ["SET DateStyle = 'ISO, MDY'", { kind: 'set_setting', name: 'datestyle' }],
  ];
  for (const [sql, expected] of good) test(sql, () => assert.deepEqual(parse(sql), [expected]));

  test('a SET and another statement in one query', () => {
    assert.deepEqual(parse("SET server_reset_query = 'DISCARD ALL;' ; SHOW CONFIG"), [
      { kind: 'set', key: 'server_reset_query', value: 'DISCARD ALL;' },
      { kind: 'show', item: 'config' },
    ]);
  });

  const syntax = [
    'SET default_pool_size',
    'SET default_pool_size =',
    'SET default_pool_size 5',
    'SET default_pool_size = 5 6',
    'SET default_pool_size = = 5',
    "SET default_pool_size = 'a' 'b'",
    "SET 'default_pool_size' = 5",
    'SET = 5',
  ];
  for (const sql of syntax) {
    test(`${sql} is a syntax error`, () =>
      assert.throws(
        () => parse(sql),
        (e: unknown) => e instanceof AdminSyntaxError && e.code === '42601' && /SET name = value/.test(e.message),
      ));
  }

  test('an unterminated quoted value is a syntax error', () => {
    assert.throws(() => splitStatements("SET server_reset_query = 'DISCARD ALL"), /unterminated quoted string/);
  });

  test('parseAssignment reads the words splitStatements leaves', () => {
    assert.deepEqual(parseAssignment(["a='x y'"]), { name: 'a', value: 'x y' });
    assert.deepEqual(parseAssignment(['A', 'To', "'it''s'"]), { name: 'a', value: "it's" });
    assert.equal(parseAssignment(['a', '=', "'x'y"]), null);
    assert.equal(parseAssignment([]), null);
  });
});

describe('console SET: keys and values', () => {
  const refused: [string, SettingRefused['reason'], RegExp][] = [
    ['SET no_such_key = 1', 'unknown', /unknown setting: no_such_key/],
    ['SET backends = 1', 'unknown', /table of the configuration file/],
    ['SET listen_port = 7000', 'start-only', /listen_port cannot be changed while pgtide runs/],
    ['SET workers = 4', 'start-only', /used once, at start/],
    ['SET log_level = debug', 'start-only', /log_level/],
    ['SET client_tls_sslmode = require', 'start-only', /client_tls_sslmode/],
    ['SET default_pool_size = abc', 'invalid', /default_pool_size must be a number/],
    ['SET default_pool_size = 0', 'invalid', /from 1 to/],
    ['SET query_timeout = -1', 'invalid', /query_timeout must be a number from 0/],
    ['SET pool_mode = bad', 'invalid', /pool_mode must be one of/],
    ['SET log_connections = maybe', 'invalid', /on\/off/],
  ];
  for (const [sql, reason, message] of refused) {
    test(`${sql} is refused (${reason})`, () =>
      assert.throws(
        () => parse(sql),
        (e: unknown) => e instanceof SettingRefused && e.reason === reason && message.test(e.message),
      ));
  }

  test('a misspelt key is answered with the key meant', () => {
    assert.throws(
      () => parse('SET default_pool_sise = 5'),
      (e: unknown) => e instanceof SettingRefused && e.hint === 'Did you mean default_pool_size?',
    );
  });
});

const quiet = () => createLogger('test', 'silent', { destination: new Writable({ write: (_c, _e, done) => done() }) });

function config(overrides: Partial<Config> = {}): Config {
  return {
    ...defaultConfig(),
    backends: [{ name: 'p', host: '10.0.0.1', port: 5432, weight: 1, role: 'primary' }],
    ...overrides,
  };
}

function setup(overrides: Partial<Config> = {}, options: PgtideOptions = {}) {
  const pgtide = new Pgtide(config(overrides), { logger: quiet(), ...options });
  const console_ = new AdminConsole(pgtide);
  const run = (sql: string, admin = true) => decodeAnswer(console_.run({ sql, user: 'ops', admin }));
  const shown = (key: string) => records(run('SHOW CONFIG').results[0]!).find((r) => r['key'] === key)?.['value'];
  return { pgtide, run, shown };
}

describe('console SET: what it changes', () => {
  test('SET changes the running value and SHOW CONFIG, until RELOAD reads the file again', () => {
    const file = config({ default_pool_size: 20 });
    const { pgtide, run, shown } = setup({ default_pool_size: 20 }, { reloadConfig: () => file });
    const answer = run('SET default_pool_size = 5');
    assert.equal(answer.error, null);
    assert.equal(answer.results[0]!.tag, 'SET');
    assert.equal(pgtide.config.default_pool_size, 5);
    assert.equal(shown('default_pool_size'), '5');
    assert.equal(run("SET query_timeout TO '3'; SET pool_mode = Session").error, null);
    assert.equal(pgtide.config.query_timeout, 3);
    assert.equal(pgtide.config.pool_mode, 'session');
    assert.equal(run('RELOAD').error, null);
    assert.equal(shown('default_pool_size'), '20');
    assert.equal(pgtide.config.query_timeout, 0);
  });

  const codes: [string, string, RegExp][] = [
    ['SET default_pool_size = abc', '22023', /default_pool_size must be a number/],
    ['SET listen_port = 7000', '55P02', /listen_port cannot be changed/],
    ['SET no_such_key = 1', '42704', /unknown setting/],
    ['SET default_pool_size 5', '42601', /SET name = value/],
  ];
  for (const [sql, code, message] of codes) {
    test(`${sql}: ${code}, and nothing changes`, () => {
      const { pgtide, run } = setup();
      const before = pgtide.config;
      const { error } = run(sql);
      assert.equal(error?.code, code);
      assert.match(error?.message ?? '', message);
      assert.equal(pgtide.config, before);
    });
  }

  test('a value the configuration as a whole refuses changes nothing', () => {
    // An auth_query without $1 is refused with an auth_user (validate.ts), as in a file.
    const { pgtide, run } = setup({ auth_user: 'lookup' });
    const before = pgtide.config;
    const { error } = run("SET auth_query = 'SELECT 1'");
    assert.equal(error?.code, '22023');
    assert.match(error?.message ?? '', /auth_query: must use \$1/);
    assert.equal(pgtide.config, before);
  });

  test('an auth_file that cannot be read is refused, and nothing changes', () => {
    const { pgtide, run } = setup();
    const { error } = run("SET auth_file = '/nonexistent/users.txt'");
    assert.equal(error?.code, '22023');
    assert.match(error?.message ?? '', /auth_file: cannot read \/nonexistent\/users.txt/);
    assert.equal(pgtide.config.auth_file, '');
  });

  test('a stats user may not SET', () => {
    const { pgtide, run } = setup();
    const { error } = run('SET default_pool_size = 5', false);
    assert.equal(error?.code, '42501');
    assert.equal(pgtide.config.default_pool_size, defaultConfig().default_pool_size);
  });

  test("a driver's session SET is still ignored, with a notice", () => {
    const { pgtide, run } = setup();
    const before = pgtide.config;
    const answer = run('SET extra_float_digits = 3');
    assert.deepEqual(answer.notices, ['SET ignored']);
    assert.equal(pgtide.config, before);
  });

  test("with workers, a SET of a split limit takes this worker's share again", () => {
    const share = (instance: Config) => workerConfig(instance, 1);
    const { pgtide, run } = setup({ workers: 2, default_pool_size: 20, max_client_conn: 100 }, { workerShare: share });
    assert.equal(pgtide.config.default_pool_size, 10);
    assert.equal(run('SET default_pool_size = 5').error, null);
    // 5 among 2 workers: worker 0 runs 3, worker 1 runs 2.
    assert.equal(pgtide.config.default_pool_size, 2);
    assert.equal(pgtide.config.max_client_conn, 50);
    // Each worker needs at least 1: refused as a file saying so would be.
    const { error } = run('SET default_pool_size = 1');
    assert.equal(error?.code, '22023');
    assert.match(error?.message ?? '', /below workers/);
    assert.equal(pgtide.config.default_pool_size, 2);
  });

  test('with workers, a reload of a file edited to fewer workers is checked against the running count', () => {
    // workers is start-only: the reload keeps 2, under which a pool size of 1 leaves worker 1 none.
    const share = (instance: Config) => workerShare(instance, { id: 1, count: 2 });
    const { pgtide } = setup({ workers: 2, default_pool_size: 20 }, { workerShare: share });
    assert.throws(
      () => pgtide.reload(config({ workers: 1, default_pool_size: 1 })),
      /default_pool_size.*below workers \(2\)/,
    );
    assert.equal(pgtide.config.default_pool_size, 10);
  });

  test('with workers, a SET that ran is passed to the others; one refused is not', () => {
    const shared: AdminCommand[] = [];
    const { run } = setup({}, { shareAdminCommand: (command) => shared.push(command) });
    run('SET default_pool_size = 5');
    run('SET default_pool_size = abc');
    run('SET listen_port = 1');
    assert.deepEqual(shared, [{ kind: 'set', key: 'default_pool_size', value: '5' }]);
  });
});

describe('SharedAdminState: SET', () => {
  const replayed = (...commands: AdminCommand[]) => {
    const state = new SharedAdminState();
    for (const command of commands) state.apply(command);
    return state.replay();
  };

  test('a worker started again is told the last SET of each key, before a PAUSE', () => {
    assert.deepEqual(
      replayed(
        { kind: 'set', key: 'default_pool_size', value: '5' },
        { kind: 'pause', database: null },
        { kind: 'set', key: 'query_timeout', value: '3' },
        { kind: 'set', key: 'default_pool_size', value: '7' },
      ),
      [
        { kind: 'set', key: 'default_pool_size', value: '7' },
        { kind: 'set', key: 'query_timeout', value: '3' },
        { kind: 'pause', database: null },
      ],
    );
  });

  test('a RELOAD drops the SETs (the file is read again); a PAUSE stays', () => {
    assert.deepEqual(
      replayed(
        { kind: 'set', key: 'default_pool_size', value: '5' },
        { kind: 'pause', database: 'a' },
        { kind: 'reload' },
      ),
      [{ kind: 'pause', database: 'a' }],
    );
  });
});
