// pool_idle_timeout: a pool held by no client, with no waiter and no connection, is dropped once
// it has been so for the timeout; what it counted stays in the totals per database.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { defaultConfig } from '../../src/config/defaults.js';
import type { BackendConfig, Config } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { PoolManager } from '../../src/pool/pool-manager.js';
import { PoolStats } from '../../src/pool/pool.js';

const BACKEND: BackendConfig = { name: 'b0', host: '127.0.0.1', port: 1, weight: 1, role: 'primary' };
const quiet = createLogger('test', 'silent', { destination: new Writable({ write: (_c, _e, done) => done() }) });

function manager(overrides: Partial<Config> = {}): PoolManager {
  return new PoolManager(
    { ...defaultConfig(), backends: [BACKEND], pool_idle_timeout: 10, ...overrides },
    new Map(),
    { mode: 'disable' },
    quiet,
  );
}

const poolCount = (m: PoolManager) => [...m.all()].length;

describe('pool settings', () => {
  // PgBouncer 1.18 starts with such a file and keeps the pool size open: a pgbouncer.ini
  // imported with it was refused (a reviewer), and a user's smaller pool_size churned.
  it('min_pool_size above the pool size keeps the pool size, whichever setting makes it smaller', () => {
    const m = manager({
      default_pool_size: 2,
      min_pool_size: 3,
      databases: { big: { dbname: 'big', pool_size: 10, min_pool_size: 4 } },
      users: { small: { pool_size: 1 } },
    });
    assert.equal(m.settingsFor('app', 'alice').minSize, 2);
    assert.equal(m.settingsFor('big', 'alice').minSize, 4);
    assert.equal(m.settingsFor('big', 'small').minSize, 1);
  });
});

describe('pool expiry', () => {
  it('drops a pool nobody holds once it has been unused for pool_idle_timeout, not before', () => {
    const m = manager();
    m.pool('app', 'alice', BACKEND);
    m.maintain(1_000);
    m.maintain(10_999);
    assert.equal(poolCount(m), 1);
    m.maintain(11_000);
    assert.equal(poolCount(m), 0);
  });

  it('a pool a client holds stays, and its wait starts when the client lets go', () => {
    const m = manager();
    const pool = m.pool('app', 'alice', BACKEND);
    pool.hold();
    m.maintain(1_000);
    m.maintain(60_000);
    assert.equal(poolCount(m), 1);
    pool.letGo();
    m.maintain(61_000);
    m.maintain(70_999);
    assert.equal(poolCount(m), 1);
    m.maintain(71_000);
    assert.equal(poolCount(m), 0);
  });

  it('pool_idle_timeout = 0 keeps every pool', () => {
    const m = manager({ pool_idle_timeout: 0 });
    m.pool('app', 'alice', BACKEND);
    m.maintain(1_000);
    m.maintain(1e9);
    assert.equal(poolCount(m), 1);
  });

  it('the counts of dropped pools stay, per (database, backend), under an empty user', () => {
    const m = manager();
    for (const user of ['alice', 'bob']) {
      const pool = m.pool('app', user, BACKEND);
      pool.lentTotal = 3;
      pool.waitTimeTotalMs = 5;
      pool.stats.queries = 7;
    }
    m.maintain(1_000);
    m.maintain(11_000);
    const counted = [...m.counted()];
    assert.equal(counted.length, 1);
    assert.deepEqual(counted[0]!.key, { database: 'app', user: '', backend: 'b0' });
    assert.equal(counted[0]!.lentTotal, 6);
    assert.equal(counted[0]!.waitTimeTotalMs, 10);
    assert.equal(counted[0]!.stats.queries, 14);
    // A returning user gets a fresh pool; the totals are the sum of both.
    const fresh = m.pool('app', 'alice', BACKEND);
    assert.equal(fresh.stats.queries, 0);
    assert.equal([...m.counted()].length, 2);
  });

  it('PoolStats.add adds every field', () => {
    const a = new PoolStats();
    const b = new PoolStats();
    for (const [i, field] of Object.keys(b).entries()) (b as unknown as Record<string, number>)[field] = i + 1;
    a.add(b);
    a.add(b);
    for (const [i, field] of Object.keys(b).entries())
      assert.equal((a as unknown as Record<string, number>)[field], 2 * (i + 1), field);
  });
});
