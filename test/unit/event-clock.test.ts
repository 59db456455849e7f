import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beginRead, endRead, eventNow } from '../../src/event-clock.js';

function waitMs(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {}
}

test('inside a read the first eventNow() reads the clock and the rest reuse it; outside, the clock is read afresh', () => {
  const before = Date.now();
  beginRead();
  let first: number;
  try {
    waitMs(5);
    first = eventNow();
    assert.ok(first >= before + 5, 'the clock is read when first asked, not when the read began');
    waitMs(5);
    assert.equal(eventNow(), first, 'the same time all through the read');
  } finally {
    endRead();
  }
  assert.ok(eventNow() >= first + 5, 'the clock again once the read is handled');
});
