// How the console merges what each worker of `workers = N` reports into the instance's answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  concatRows,
  mergeLists,
  mergeNamedRows,
  mergePools,
  mergeStats,
  NO_TOTALS,
  statsAverages,
  sumTotals,
  type DatabaseStats,
  type PoolRow,
  type Totals,
} from '../../src/admin/merge.js';

function pool(database: string, user: string, counts: Partial<PoolRow> = {}): PoolRow {
  return {
    database,
    user,
    clActive: 0,
    clWaiting: 0,
    svActive: 0,
    svIdle: 0,
    svLogin: 0,
    maxWaitMs: 0,
    mode: 'transaction',
    clPinned: 0,
    pins: 0,
    ...counts,
  };
}

function totals(counts: Partial<Totals>): Totals {
  return { ...NO_TOTALS, ...counts };
}

function stats(database: string, t: Partial<Totals>, seconds: number): DatabaseStats {
  const all = totals(t);
  const perSecond = totals({});
  for (const key of Object.keys(all) as (keyof Totals)[]) perSecond[key] = all[key] / seconds;
  return { database, totals: all, perSecond };
}

describe("merging the workers' reports", () => {
  test('SHOW POOLS: counts summed per (database, user), the longest wait kept, rows in order', () => {
    const merged = mergePools([
      [
        pool('app', 'u', { clActive: 3, svActive: 2, svIdle: 1, maxWaitMs: 1500, pins: 4 }),
        pool('b', 'u', { clWaiting: 1 }),
      ],
      [
        pool('a', 'x', { svLogin: 1 }),
        pool('app', 'u', { clActive: 2, clWaiting: 2, svActive: 1, maxWaitMs: 300, clPinned: 1, pins: 1 }),
      ],
    ]);
    assert.deepEqual(merged, [
      pool('a', 'x', { svLogin: 1 }),
      pool('app', 'u', { clActive: 5, clWaiting: 2, svActive: 3, svIdle: 1, maxWaitMs: 1500, clPinned: 1, pins: 5 }),
      pool('b', 'u', { clWaiting: 1 }),
    ]);
  });

  test("SHOW STATS: totals and rates summed; averages weighted by each worker's own count", () => {
    const [merged] = mergeStats([
      [
        stats(
          'app',
          { xacts: 10, xactTimeUs: 1000, queries: 30, queryTimeUs: 3000, assignments: 10, waitTimeUs: 9000 },
          10,
        ),
      ],
      [
        stats(
          'app',
          { xacts: 30, xactTimeUs: 9000, queries: 10, queryTimeUs: 5000, assignments: 30, waitTimeUs: 3000 },
          2,
        ),
      ],
    ]);
    assert.equal(merged!.totals.xacts, 40);
    assert.equal(merged!.totals.waitTimeUs, 12000);
    // Each worker's rate over its own uptime: 10/10 + 30/2.
    assert.equal(merged!.perSecond.xacts, 16);
    // 10000 us over 40 transactions, not the mean of 100 and 300; 12000 us over 40 assignments
    // (PgBouncer's avg_wait_time), those that did not wait included.
    assert.deepEqual(statsAverages(merged!.totals), [250, 200, 300]);
  });

  test('SHOW STATS: no transaction, query or wait averages to 0, not NaN', () => {
    assert.deepEqual(statsAverages(totals({ waitTimeUs: 5 })), [0, 0, 0]);
  });

  test('SHOW STATS: a database only one worker has is kept', () => {
    const merged = mergeStats([
      [stats('b', { xacts: 1 }, 1)],
      [stats('a', { xacts: 2 }, 1), stats('b', { xacts: 3 }, 1)],
    ]);
    assert.deepEqual(
      merged.map((s) => [s.database, s.totals.xacts]),
      [
        ['a', 2],
        ['b', 4],
      ],
    );
  });

  test('SHOW DATABASES and USERS: the named columns summed, the others from the first report', () => {
    const columns = ['name', 'pool_size#', 'pool_mode', 'current_connections#', 'paused#'];
    const merged = mergeNamedRows(
      columns,
      [
        [
          ['app', 10, 'transaction', 3, 0],
          ['pgtide', 0, 'statement', 0, 0],
        ],
        [
          ['app', 10, 'session', 4, 1],
          ['other', 5, null, 1, 0],
          ['pgtide', 0, 'statement', 0, 0],
        ],
      ],
      ['pool_size#', 'current_connections#'],
    );
    assert.deepEqual(merged, [
      ['app', 20, 'transaction', 7, 0],
      ['pgtide', 0, 'statement', 0, 0],
      ['other', 5, null, 1, 0],
    ]);
  });

  test('SHOW DATABASES: a null limit (not set) stays null', () => {
    assert.deepEqual(mergeNamedRows(['name', 'pool_size#'], [[['u', null]], [['u', null]]], ['pool_size#']), [
      ['u', null],
    ]);
  });

  test("SHOW TOTALS: every database's totals added up; none is all zeros", () => {
    assert.deepEqual(sumTotals([totals({ xacts: 2, sent: 10 }), totals({ xacts: 3, binds: 1 })]), {
      ...NO_TOTALS,
      xacts: 5,
      sent: 10,
      binds: 1,
    });
    assert.deepEqual(sumTotals([]), NO_TOTALS);
  });

  test('SHOW LISTS: a pool on two workers is one pool of the instance; connections summed; peers not', () => {
    const merged = mergeLists([
      {
        pools: [{ database: 'app', user: 'u' }],
        databases: ['app', 'pgbouncer'],
        users: ['u', 'w'],
        peers: 2,
        usedClients: 2,
        loginClients: 1,
        usedServers: 2,
      },
      {
        pools: [
          { database: 'app', user: 'u' },
          { database: 'app', user: 'v' },
        ],
        databases: ['app', 'paused', 'pgbouncer'],
        users: ['u', 'v', 'w'],
        peers: 2,
        usedClients: 3,
        loginClients: 0,
        usedServers: 1,
      },
    ]);
    assert.deepEqual(merged, {
      pools: [
        { database: 'app', user: 'u' },
        { database: 'app', user: 'v' },
      ],
      databases: ['app', 'paused', 'pgbouncer'],
      users: ['u', 'v', 'w'],
      peers: 2,
      usedClients: 5,
      loginClients: 1,
      usedServers: 3,
    });
  });

  test("SHOW CLIENTS and SERVERS: every worker's rows", () => {
    assert.deepEqual(
      concatRows([
        [['C', 'a']],
        [],
        [
          ['C', 'b'],
          ['C', 'c'],
        ],
      ]),
      [
        ['C', 'a'],
        ['C', 'b'],
        ['C', 'c'],
      ],
    );
  });

  test('one report (a single process, or every other worker missing) is the answer as it is', () => {
    const rows = [pool('a', 'u', { clActive: 1 })];
    assert.deepEqual(mergePools([rows]), rows);
  });
});
