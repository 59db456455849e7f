import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminSyntaxError, parseCommand, splitStatements, type AdminCommand } from '../../src/admin/commands.js';

const parse = (sql: string): AdminCommand[] => splitStatements(sql).map(parseCommand);

describe('splitting a console query', () => {
  const cases: [string, string[][]][] = [
    ['SHOW POOLS', [['SHOW', 'POOLS']]],
    ['  show\tPools ;', [['show', 'Pools']]],
    [
      'SHOW POOLS;SHOW STATS',
      [
        ['SHOW', 'POOLS'],
        ['SHOW', 'STATS'],
      ],
    ],
    [';;  ;', []],
    ['', []],
    ['PAUSE "My;Db"', [['PAUSE', 'My;Db']]],
    ['PAUSE "say ""hi"""', [['PAUSE', 'say "hi"']]],
    ['PAUSE MyDb', [['PAUSE', 'MyDb']]],
  ];
  for (const [sql, expected] of cases) {
    test(JSON.stringify(sql), () => assert.deepEqual(splitStatements(sql), expected));
  }

  test('an unterminated quoted identifier is a syntax error', () => {
    assert.throws(
      () => splitStatements('PAUSE "db'),
      (e: unknown) => e instanceof AdminSyntaxError && /unterminated/.test(e.message),
    );
  });
  test('an empty quoted identifier is a syntax error', () => {
    assert.throws(() => splitStatements('PAUSE ""'), /zero-length/);
  });
  test('a huge query is refused before it is scanned', () => {
    assert.throws(() => splitStatements('SHOW POOLS;'.repeat(10_000)), /longer than/);
  });
  test('too many statements are refused', () => {
    assert.throws(() => splitStatements('SHOW POOLS;'.repeat(100)), /more than 64 statements/);
  });
});

describe('parsing console commands', () => {
  const good: [string, AdminCommand][] = [
    ['SHOW POOLS', { kind: 'show', item: 'pools' }],
    ['show stats_totals;', { kind: 'show', item: 'stats_totals' }],
    ['SHOW BACKENDS', { kind: 'show', item: 'backends' }],
    ['show peers', { kind: 'show', item: 'peers' }],
    ['SHOW HELP', { kind: 'show', item: 'help' }],
    ['SHOW "VERSION"', { kind: 'show', item: 'version' }],
    ['show totals', { kind: 'show', item: 'totals' }],
    ['SHOW STATE', { kind: 'show', item: 'state' }],
    ['SHOW DateStyle', { kind: 'show_setting', name: 'datestyle' }],
    ['SET client_encoding TO UTF8', { kind: 'set_setting', name: 'client_encoding' }],
    ['set TimeZone=UTC', { kind: 'set_setting', name: 'timezone' }],
    ['PAUSE', { kind: 'pause', database: null }],
    ['pause app', { kind: 'pause', database: 'app' }],
    ['RESUME "App"', { kind: 'resume', database: 'App' }],
    // A database name is PgBouncer's: as written, quoted or not.
    ['PAUSE MyDb', { kind: 'pause', database: 'MyDb' }],
    ['kill Mixed', { kind: 'kill', database: 'Mixed' }],
    ['Disable Mixed', { kind: 'disable', database: 'Mixed' }],
    ['SHUTDOWN', { kind: 'shutdown' }],
    ['RECONNECT', { kind: 'reconnect', database: null }],
    ['WAIT_CLOSE', { kind: 'wait_close', database: null }],
    ['wait_close app', { kind: 'wait_close', database: 'app' }],
    ['KILL app', { kind: 'kill', database: 'app' }],
    ['KILL', { kind: 'kill', database: null }],
    ['KILL_CLIENT 12345', { kind: 'kill_client', id: 12345 }],
    ['DISABLE app', { kind: 'disable', database: 'app' }],
    ['ENABLE app', { kind: 'enable', database: 'app' }],
    ['RELOAD', { kind: 'reload' }],
    ['Shutdown;', { kind: 'shutdown' }],
  ];
  for (const [sql, expected] of good) {
    test(sql, () => assert.deepEqual(parse(sql), [expected]));
  }

  const bad: [string, RegExp, boolean][] = [
    ['SELECT 1', /unknown command: SELECT 1/, true],
    ['SHOW', /SHOW needs one of: POOLS, CLIENTS/, true],
    ['SHOW FOO', /unknown SHOW item: foo/, true],
    ['SHOW POOLS EXTRA', /SHOW needs one of/, true],
    ['KILL a b', /KILL takes at most one database name/, false],
    ['DISABLE a b', /DISABLE needs a database name/, true],
    ['PAUSE a b', /at most one database name/, false],
    ['KILL_CLIENT abc', /not a client id: abc/, false],
    ['KILL_CLIENT -1', /not a client id/, false],
    ['KILL_CLIENT 99999999999', /not a client id/, false],
    ['KILL_CLIENT 4294967295', /not a client id/, false],
    ['RELOAD now', /RELOAD takes no arguments/, false],
    ['SET', /SET needs a setting name/, true],
  ];
  for (const [sql, message, hinted] of bad) {
    test(`${sql} is refused`, () => {
      assert.throws(
        () => parse(sql),
        (e: unknown) => {
          assert.ok(e instanceof AdminSyntaxError);
          assert.match(e.message, message);
          assert.equal(e.hint !== undefined && /SHOW HELP/.test(e.hint), hinted);
          return true;
        },
      );
    });
  }

  const missing: [string, RegExp][] = [
    ['SHOW MEM', /metrics/],
    ['show fds', /SHOW CLIENTS/],
    ['SHOW SOCKETS', /SHOW CLIENTS/],
    ['SHOW ACTIVE_SOCKETS', /SHOW CLIENTS/],
    ['SUSPEND', /PAUSE/],
    ['SHUTDOWN WAIT_FOR_CLIENTS', /SIGTERM/],
    ['shutdown wait_for_servers', /shutdown_timeout/],
  ];
  for (const [sql, hint] of missing) {
    test(`${sql}, which pgtide has not, is 0A000 saying what to use`, () => {
      assert.throws(
        () => parse(sql),
        (e: unknown) => e instanceof AdminSyntaxError && e.code === '0A000' && hint.test(e.hint ?? ''),
      );
    });
  }
});
