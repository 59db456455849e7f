import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig, validateConfig } from '../../src/config/load.js';
import { shareOf, workerConfig } from '../../src/config/worker-share.js';
import type { Config } from '../../src/config/types.js';
import { workerShare } from '../../src/workers/worker.js';

const BACKEND = '[[backends]]\nhost = "db1"\n';

/** A configuration as `pgtide start` would accept it (the checks across keys included). */
function configOf(toml: string): Config {
  const config = parseConfig(`${toml}\n${BACKEND}`);
  validateConfig(config);
  return config;
}

function shares(config: Config): Config[] {
  return Array.from({ length: config.workers }, (_, id) => workerConfig(config, id));
}

describe('shareOf: floor division, the remainder to the lowest ids', () => {
  const cases = [
    { total: 20, workers: 2, want: [10, 10] },
    { total: 20, workers: 3, want: [7, 7, 6] },
    { total: 5, workers: 4, want: [2, 1, 1, 1] },
    { total: 3, workers: 3, want: [1, 1, 1] },
    { total: 0, workers: 3, want: [0, 0, 0] },
    { total: 1, workers: 2, want: [1, 0] },
  ];
  for (const c of cases) {
    test(`${c.total} over ${c.workers}`, () => {
      const got = c.want.map((_, id) => shareOf(c.total, id, c.workers));
      assert.deepEqual(got, c.want);
    });
  }

  test('the shares add up to the total and differ by at most one, for every split up to 32 workers', () => {
    for (let workers = 1; workers <= 32; workers++) {
      for (const total of [0, 1, workers - 1, workers, workers + 1, 20, 97, 10_000]) {
        const parts = Array.from({ length: workers }, (_, id) => shareOf(total, id, workers));
        assert.equal(
          parts.reduce((a, b) => a + b, 0),
          total,
          `${total} over ${workers}`,
        );
        assert.ok(Math.max(...parts) - Math.min(...parts) <= 1, `${total} over ${workers}`);
      }
    }
  });
});

describe('workerConfig', () => {
  test('one worker runs the configuration as it is', () => {
    const config = configOf('default_pool_size = 7');
    assert.equal(workerConfig(config, 0), config);
  });

  test('every instance-wide limit is split and the parts add up to the configured value', () => {
    const config = configOf(
      [
        'workers = 3',
        'default_pool_size = 20',
        'min_pool_size = 4',
        'reserve_pool_size = 2',
        'max_client_conn = 1000',
        'max_db_connections = 10',
        'max_user_connections = 11',
        '[databases.a]',
        'pool_size = 9',
        'min_pool_size = 5',
        'reserve_pool_size = 1',
        'max_db_connections = 8',
        '[users.u]',
        'pool_size = 6',
        'max_user_connections = 7',
      ].join('\n'),
    );
    const parts = shares(config);
    const sum = (pick: (c: Config) => number | undefined) => parts.reduce((total, c) => total + (pick(c) ?? 0), 0);
    assert.deepEqual(
      parts.map((c) => c.default_pool_size),
      [7, 7, 6],
    );
    assert.equal(
      sum((c) => c.default_pool_size),
      20,
    );
    assert.equal(
      sum((c) => c.min_pool_size),
      4,
    );
    assert.equal(
      sum((c) => c.reserve_pool_size),
      2,
    );
    assert.equal(
      sum((c) => c.max_client_conn),
      1000,
    );
    assert.equal(
      sum((c) => c.max_db_connections),
      10,
    );
    assert.equal(
      sum((c) => c.max_user_connections),
      11,
    );
    assert.equal(
      sum((c) => c.databases['a']!.pool_size),
      9,
    );
    assert.equal(
      sum((c) => c.databases['a']!.min_pool_size),
      5,
    );
    assert.equal(
      sum((c) => c.databases['a']!.reserve_pool_size),
      1,
    );
    assert.equal(
      sum((c) => c.databases['a']!.max_db_connections),
      8,
    );
    assert.equal(
      sum((c) => c.users['u']!.pool_size),
      6,
    );
    assert.equal(
      sum((c) => c.users['u']!.max_user_connections),
      7,
    );
    // Each worker's minimum stays within its pool size.
    for (const c of parts) assert.ok(c.databases['a']!.min_pool_size! <= c.databases['a']!.pool_size!);
  });

  test('a cap of 0 (no cap) stays 0 in every worker, not a share of nothing', () => {
    for (const c of shares(configOf('workers = 2\n[databases.a]\nmax_db_connections = 0'))) {
      assert.equal(c.max_db_connections, 0);
      assert.equal(c.max_user_connections, 0);
      assert.equal(c.databases['a']!.max_db_connections, 0);
    }
  });

  test('an override absent from the file stays absent (the global share applies)', () => {
    const [first] = shares(configOf('workers = 2\n[databases.a]\npool_size = 4'));
    assert.equal(Object.hasOwn(first!.databases['a']!, 'reserve_pool_size'), false);
    assert.equal(first!.databases['a']!.pool_size, 2);
  });

  test('the unix sockets and admin_http_listen stay with worker 0', () => {
    const config = configOf(
      'workers = 2\nunix_socket_dir = "/tmp"\nadmin_socket_dir = "/run/pgtide"\nadmin_http_listen = "127.0.0.1:9127"',
    );
    const [first, second] = shares(config);
    assert.equal(first!.unix_socket_dir, '/tmp');
    assert.equal(first!.admin_socket_dir, '/run/pgtide');
    assert.equal(first!.admin_http_listen, '127.0.0.1:9127');
    assert.equal(second!.unix_socket_dir, '');
    assert.equal(second!.admin_socket_dir, '');
    assert.equal(second!.admin_http_listen, '');
  });
});

describe('validation: each worker needs at least one of every limit', () => {
  const cases = [
    { toml: 'workers = 4\ndefault_pool_size = 3', key: /default_pool_size/ },
    { toml: 'workers = 2\nmax_client_conn = 1', key: /max_client_conn/ },
    { toml: 'workers = 3\nmax_db_connections = 2', key: /max_db_connections/ },
    { toml: 'workers = 3\n[databases.a]\npool_size = 2', key: /databases\.a\.pool_size/ },
    { toml: 'workers = 3\n[users.u]\nmax_user_connections = 1', key: /users\.u\.max_user_connections/ },
  ];
  for (const c of cases) {
    test(c.toml.replaceAll('\n', ', '), () => {
      assert.throws(
        () => configOf(c.toml),
        (err: Error) => c.key.test(err.message) && /below workers/.test(err.message),
      );
    });
  }

  test('caps of 0 and limits equal to workers are fine', () => {
    assert.doesNotThrow(() =>
      configOf('workers = 4\ndefault_pool_size = 4\nmax_db_connections = 0\n[users.u]\npool_size = 4'),
    );
  });

  test('workers is 1 to 32: a cancel key has 5 bits for the worker', () => {
    assert.throws(() => configOf('workers = 0'), /workers/);
    assert.throws(() => configOf('workers = 33'), /workers/);
    assert.equal(configOf('workers = 32\ndefault_pool_size = 32').workers, 32);
  });
});

describe('workerShare: a worker splits by the running worker count', () => {
  test("a file edited to another workers value still splits by the primary's count", () => {
    const config = configOf('workers = 4\ndefault_pool_size = 8');
    assert.equal(workerShare(config, { id: 0, count: 2 }).default_pool_size, 4);
  });

  test('a file whose limits cannot be split by the running count is refused', () => {
    const config = configOf('workers = 1\ndefault_pool_size = 1');
    assert.throws(() => workerShare(config, { id: 1, count: 2 }), /default_pool_size.*below workers \(2\)/);
  });
});
