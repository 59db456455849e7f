import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clientCapacity,
  judgeBudget,
  openFilesNeeded,
  parseOpenFilesLimit,
  serverBudget,
} from '../../src/config/budget.js';
import { parseConfig } from '../../src/config/load.js';

const BACKENDS = '[[backends]]\nhost = "db1"\n[[backends]]\nhost = "db2"\n';

function budgetOf(toml: string, users: string[]) {
  return serverBudget(parseConfig(`${toml}\n${BACKENDS}`), users);
}

describe('serverBudget: pooled connections per backend', () => {
  const cases: { name: string; toml: string; users: string[]; pools: number; pooled: number }[] = [
    {
      name: 'defaults: one wildcard database, one user, default_pool_size 20',
      toml: '',
      users: ['app'],
      pools: 1,
      pooled: 20,
    },
    {
      name: 'pool_size + reserve_pool_size per pool',
      toml: 'default_pool_size = 10\nreserve_pool_size = 5',
      users: ['app'],
      pools: 1,
      pooled: 15,
    },
    {
      name: 'the wildcard counts one pool per auth_file user',
      toml: 'default_pool_size = 25\n[databases."*"]',
      users: ['challenge', 'monitor'],
      pools: 2,
      pooled: 50,
    },
    {
      name: 'named databases without a wildcard: only those',
      toml: 'default_pool_size = 10\n[databases.a]\n[databases.b]\npool_size = 4',
      users: ['u1', 'u2'],
      pools: 4,
      pooled: 2 * 10 + 2 * 4,
    },
    {
      name: 'named databases plus the wildcard',
      toml: 'default_pool_size = 10\n[databases.a]\npool_size = 3\n[databases."*"]\npool_size = 7',
      users: ['u'],
      pools: 2,
      pooled: 3 + 7,
    },
    {
      name: 'a database reserve overrides the global one',
      toml: 'default_pool_size = 10\nreserve_pool_size = 5\n[databases.a]\nreserve_pool_size = 1',
      users: ['u'],
      pools: 1,
      pooled: 11,
    },
    {
      name: 'a user pool_size wins over the database one',
      toml: 'default_pool_size = 10\n[databases.a]\npool_size = 8\n[users.big]\npool_size = 30',
      users: ['big', 'small'],
      pools: 2,
      pooled: 30 + 8,
    },
    {
      name: 'max_db_connections caps a database over all its users',
      toml: 'default_pool_size = 10\nmax_db_connections = 12\n[databases.a]\n[databases.b]\nmax_db_connections = 100',
      users: ['u1', 'u2'],
      pools: 4,
      pooled: 12 + 20,
    },
    {
      name: 'max_user_connections caps a user over all databases',
      toml: 'default_pool_size = 10\n[databases.a]\n[databases.b]\n[users.u1]\nmax_user_connections = 5',
      users: ['u1', 'u2'],
      pools: 4,
      pooled: 5 + 20,
    },
    {
      name: 'with both caps the smaller sum bounds it',
      toml: 'default_pool_size = 10\nmax_db_connections = 15\nmax_user_connections = 12\n[databases.a]\n[databases.b]',
      users: ['u1', 'u2'],
      pools: 4,
      pooled: Math.min(15 + 15, 12 + 12),
    },
    {
      name: 'users of the [users] table count even without auth_file',
      toml: 'default_pool_size = 3\n[users.x]\n[users.y]',
      users: [],
      pools: 2,
      pooled: 6,
    },
    {
      name: 'a user in both auth_file and [users] counts once',
      toml: 'default_pool_size = 3\n[users.x]',
      users: ['x'],
      pools: 1,
      pooled: 3,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const budget = budgetOf(c.toml, c.users);
      assert.equal(budget.pools, c.pools);
      assert.equal(budget.pooled, c.pooled);
    });
  }
});

describe('serverBudget: totals and assumptions', () => {
  test('the pooled connections plus one check connection; cancel requests take no slot', () => {
    const budget = budgetOf('default_pool_size = 8', ['u']);
    assert.deepEqual(
      { ...budget, assumptions: [] },
      { pools: 1, pooled: 8, pooledPerWorker: 8, check: 1, workers: 1, total: 9, assumptions: [] },
    );
  });

  test('workers split the pools among them; each has its own check connection', () => {
    const budget = budgetOf('workers = 3\ndefault_pool_size = 8', ['u']);
    assert.equal(budget.total, 8 + 3 * 1);
    // 8 over 3 workers: 3, 3, 2.
    assert.equal(budget.pooledPerWorker, 3);
  });

  test('the largest share counts every remainder: worker 0 gets one more in each pool', () => {
    const budget = budgetOf('workers = 2\ndefault_pool_size = 3\n[databases.a]\n[databases.b]\n[databases.c]', ['u']);
    assert.equal(budget.pooled, 9);
    assert.equal(budget.pooledPerWorker, 3 * 2);
  });

  test('names the wildcard and unknown-user assumptions', () => {
    const budget = budgetOf('auth_type = "trust"', []);
    assert.equal(budget.assumptions.length, 2);
    assert.match(budget.assumptions[0]!, /counted as one database/);
    assert.match(budget.assumptions[1]!, /counted as one user/);
  });

  test('no assumptions when databases and users are listed', () => {
    assert.deepEqual(budgetOf('[databases.a]', ['u']).assumptions, []);
  });
});

describe('judgeBudget', () => {
  const budget = budgetOf('default_pool_size = 8', ['u']); // total 9
  const cases = [
    { max: 12, reserved: 3, pg16: 0, available: 9, over: false },
    { max: 12, reserved: 4, pg16: 0, available: 8, over: true },
    { max: 12, reserved: 2, pg16: 1, available: 9, over: false },
    { max: 12, reserved: 2, pg16: 2, available: 8, over: true },
    { max: 100, reserved: 3, pg16: 0, available: 97, over: false },
    { max: 8, reserved: 0, pg16: 0, available: 8, over: true },
  ];
  for (const c of cases) {
    test(`max_connections ${c.max}, superuser_reserved_connections ${c.reserved}, reserved_connections ${c.pg16}`, () => {
      const limits = {
        max_connections: c.max,
        superuser_reserved_connections: c.reserved,
        reserved_connections: c.pg16,
      };
      assert.deepEqual(judgeBudget(budget, limits), { available: c.available, over: c.over });
    });
  }
});

describe('open files', () => {
  test('max_client_conn + servers to every backend + 100', () => {
    const config = parseConfig(`max_client_conn = 1000\ndefault_pool_size = 8\n${BACKENDS}`);
    assert.equal(openFilesNeeded(config, serverBudget(config, ['u'])), 1000 + 2 * 9 + 100);
  });

  test('clients admitted: max_client_conn when the limit holds everything, fewer when it does not', () => {
    const config = parseConfig(`max_client_conn = 1000\ndefault_pool_size = 8\n${BACKENDS}`);
    const budget = serverBudget(config, ['u']);
    assert.equal(clientCapacity(config, budget, undefined), 1000);
    assert.equal(clientCapacity(config, budget, Infinity), 1000);
    assert.equal(clientCapacity(config, budget, openFilesNeeded(config, budget)), 1000);
    // 1024 - 100 spare - 2 backends x 9 servers.
    assert.equal(clientCapacity(config, budget, 1024 - 1), 1024 - 1 - 100 - 18);
    // Too small for the spare and the servers: half of what the runtime's 32 leave.
    assert.equal(clientCapacity(config, budget, 64), 16);
    assert.equal(clientCapacity(config, budget, 10), 1);
  });

  test('and 32 for each peer, the cancels that may be forwarded to it at once', () => {
    const config = parseConfig(
      `max_client_conn = 1000\ndefault_pool_size = 8\npeer_id = 1\n${BACKENDS}[[peers]]\nid = 2\nhost = "b"\n[[peers]]\nid = 3\nhost = "c"\n`,
    );
    const budget = serverBudget(config, ['u']);
    assert.equal(openFilesNeeded(config, budget), 1000 + 2 * 9 + 2 * 32 + 100);
    assert.equal(clientCapacity(config, budget, 1024 - 1), 1024 - 1 - 100 - 18 - 2 * 32);
    const shared = parseConfig(
      `max_client_conn = 1000\ndefault_pool_size = 8\npeer_id = 1\n${BACKENDS}[[peers]]\nid = 1\nhost = "a"\n[[peers]]\nid = 2\nhost = "b"\n`,
    );
    assert.equal(openFilesNeeded(shared, budget), 1000 + 2 * 9 + 32 + 100, 'its own entry is no peer to forward to');
  });

  test('per process: a worker holds its share of clients and servers, and admits only its share', () => {
    const config = parseConfig(`workers = 4\nmax_client_conn = 1001\ndefault_pool_size = 8\n${BACKENDS}`);
    const budget = serverBudget(config, ['u']);
    assert.equal(openFilesNeeded(config, budget), 251 + 2 * (2 + 1) + 100);
    assert.equal(clientCapacity(config, budget, undefined), 251);
  });

  const limits = [
    {
      text: 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n',
      want: 1024,
    },
    { text: 'Max open files            unlimited            unlimited            files\n', want: Infinity },
    { text: 'Max processes             63432                63432                processes\n', want: undefined },
    { text: 'Max open files            lots                 lots                 files\n', want: undefined },
    { text: '', want: undefined },
  ];
  for (const { text, want } of limits) {
    test(`parseOpenFilesLimit → ${want}`, () => assert.equal(parseOpenFilesLimit(text), want));
  }
});
