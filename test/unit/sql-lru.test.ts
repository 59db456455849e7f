import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../../src/sql/lru.js';

describe('LruCache', () => {
  it('evicts the least recently used entry when full by count', () => {
    const lru = new LruCache<number>(2, 1 << 20);
    lru.set('a', 1, 0);
    lru.set('b', 2, 0);
    assert.equal(lru.get('a'), 1); // a is now the most recent
    lru.set('c', 3, 0);
    assert.equal(lru.get('b'), undefined);
    assert.equal(lru.get('a'), 1);
    assert.equal(lru.get('c'), 3);
    assert.equal(lru.size, 2);
  });

  it('evicts by estimated bytes (keys count 2 bytes per char)', () => {
    const lru = new LruCache<string>(100, 100);
    lru.set('k1', 'x', 40); // 44 bytes
    lru.set('k2', 'y', 40); // 88
    lru.set('k3', 'z', 40); // would be 132: k1 goes
    assert.equal(lru.get('k1'), undefined);
    assert.equal(lru.bytes, 88);
  });

  it('refuses an entry larger than the whole budget and replaces existing keys', () => {
    const lru = new LruCache<string>(10, 50);
    lru.set('big', 'v', 100);
    assert.equal(lru.size, 0);
    lru.set('k', 'v1', 10);
    lru.set('k', 'v2', 20);
    assert.equal(lru.get('k'), 'v2');
    assert.equal(lru.bytes, 22);
    lru.clear();
    assert.equal(lru.bytes, 0);
  });

  it('rejects negative limits', () => {
    assert.throws(() => new LruCache(-1, 10), RangeError);
  });

  it('matches a plain model of least-recently-used over random gets, sets and evictions', () => {
    const lru = new LruCache<number>(8, 1 << 20);
    const model: Array<[key: string, value: number]> = []; // least recently used first
    let seed = 7;
    // The high bits: an LCG's low bits repeat with a short period.
    const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % n;
    for (let i = 0; i < 5000; i++) {
      const key = `k${rand(12)}`;
      const at = model.findIndex(([k]) => k === key);
      if (rand(2) === 0) {
        assert.equal(lru.get(key), model[at]?.[1]);
        if (at >= 0) model.push(...model.splice(at, 1));
      } else {
        lru.set(key, i, 0);
        if (at >= 0) model.splice(at, 1);
        else if (model.length === 8) model.shift();
        model.push([key, i]);
      }
      assert.equal(lru.size, model.length);
    }
    assert.equal(model.length, 8);
    // New keys evict the rest in the model's order, least recently used first (a get would
    // touch the survivors, so only the evicted one is looked at).
    for (const [n, [key]] of model.entries()) {
      lru.set(`new${n}`, 0, 0);
      assert.equal(lru.get(key), undefined, key);
    }
  });

  it('hits leave nothing behind that later lookups walk past', () => {
    const lru = new LruCache<number>(10_000, 1 << 30);
    for (let i = 0; i < 10_000; i++) lru.set(`SELECT * FROM t WHERE id = ${i}`, i, 0);
    const hot = 'SELECT * FROM t WHERE id = 9999';
    const start = process.hrtime.bigint();
    for (let i = 0; i < 20_000; i++) lru.get(hot);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // About 1 ms; a cache that deleted and re-inserted each hit in its Map took about 500 ms.
    assert.ok(ms < 100, `20,000 hits took ${ms.toFixed(1)} ms`);
  });
});
