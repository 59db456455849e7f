import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBits, randomBuffer, takeRandom } from '../../src/auth/random-pool.js';

describe('random bytes drawn from a pooled block', () => {
  it('never hands out the same bytes twice, across refills', () => {
    // 1,000 draws of 18 bytes span several 4 KiB blocks; a repeat of 18 random bytes would mean reuse.
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(takeRandom(18).toString('hex'));
    assert.equal(seen.size, 1000);
  });

  it('leaves a Buffer already handed out unchanged when the block is refilled', () => {
    const kept = takeRandom(16);
    const copy = Buffer.from(kept);
    const own = randomBuffer(4);
    const ownCopy = Buffer.from(own);
    for (let i = 0; i < 600; i++) takeRandom(16);
    assert.deepEqual(kept, copy);
    assert.deepEqual(own, ownCopy);
  });

  it('gives a kept Buffer of its own, not a view of the block', () => {
    const own = randomBuffer(4);
    assert.equal(own.length, 4);
    assert.notEqual(own.buffer, takeRandom(4).buffer);
  });

  it('draws integers over the whole range asked for, and refuses more than a block', () => {
    let max = 0;
    let min = 2 ** 20;
    for (let i = 0; i < 5000; i++) {
      const n = randomBits(20);
      assert.ok(Number.isInteger(n) && n >= 0 && n < 2 ** 20, `${n}`);
      max = Math.max(max, n);
      min = Math.min(min, n);
    }
    assert.ok(max > 2 ** 19 && min < 2 ** 19, `${min}..${max}`);
    assert.throws(() => takeRandom(4097), RangeError);
  });
});
