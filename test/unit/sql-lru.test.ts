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
});
