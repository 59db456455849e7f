import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PidTable } from '../../src/proxy/pid-table.js';
import { seededRandom } from '../../bench/fuzz-generator.js';

describe('pid table', () => {
  it('finds, replaces and forgets keys as a Map does, through growth and backward-shift removals', () => {
    const table = new PidTable<string>();
    const model = new Map<number, string>();
    const next = seededRandom(11);
    const keys: number[] = [];
    for (let step = 0; step < 50_000; step++) {
      const r = next();
      if (keys.length === 0 || r < 0.45) {
        // Keys as cancel keys make them: bit 30 set, random low bits; some collide on purpose.
        const key = ((1 << 30) | Math.floor(next() * (step % 3 === 0 ? 64 : 1 << 20))) >>> 0;
        table.set(key, `v${step}`);
        if (!model.has(key)) keys.push(key);
        model.set(key, `v${step}`);
      } else if (r < 0.9) {
        const at = Math.floor(next() * keys.length);
        const key = keys[at]!;
        keys.splice(at, 1);
        assert.equal(table.delete(key), true);
        model.delete(key);
      } else {
        const key = ((1 << 30) | Math.floor(next() * (1 << 20))) >>> 0;
        assert.equal(table.get(key), model.get(key));
        assert.equal(table.has(key), model.has(key));
      }
      assert.equal(table.size, model.size);
      if (step % 4999 === 0) for (const [key, value] of model) assert.equal(table.get(key), value);
    }
    for (const [key, value] of model) assert.equal(table.get(key), value);
  });

  it('holds no key a CancelRequest could name outside its range, and refuses to store one', () => {
    const table = new PidTable<number>();
    table.set(1, 1);
    for (const key of [0, -1, -2147483648, 2147483648, 4294967295, 1.5, Number.NaN]) {
      assert.equal(table.get(key), undefined, String(key));
      assert.equal(table.delete(key), false, String(key));
      assert.throws(() => table.set(key, 0), RangeError, String(key));
    }
    assert.equal(table.get(1), 1);
    assert.equal(table.delete(2), false);
  });
});
