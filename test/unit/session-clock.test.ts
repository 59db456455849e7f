import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TICK_MS, fromTicks, toTicks } from '../../src/proxy/session/clock.js';

/** The smallest small-integer range of V8 builds (31 bits, with pointer compression). */
const SMALL_INTEGER_MAX = 2 ** 30 - 1;

describe('a session time in ticks', () => {
  it('reads back at most one tick later than stored, never earlier', () => {
    const now = Date.now();
    for (const ms of [now, now + 1, now + TICK_MS - 1, now + TICK_MS, now + 123_456]) {
      const back = fromTicks(toTicks(ms));
      assert.ok(back >= ms && back - ms < TICK_MS, `${ms} read back as ${back}`);
    }
  });

  it('is 0, not -0, just before the epoch (a clock set back)', () => {
    assert.ok(Object.is(toTicks(fromTicks(0) - 1), 0));
  });

  it('stays a small integer for three years', () => {
    const threeYears = 3 * 366 * 24 * 3600 * 1000;
    const ticks = toTicks(Date.now() + threeYears);
    assert.ok(Number.isInteger(ticks) && ticks <= SMALL_INTEGER_MAX, `${ticks} ticks`);
  });
});
