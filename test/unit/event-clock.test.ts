import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clearStamp, eventNow, stampRead } from '../../src/event-clock.js';

function waitMs(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {}
}

test('outside a read the clock is read afresh; inside, it is the read stamp; cleared, afresh again', () => {
  const before = Date.now();
  assert.ok(eventNow() >= before);
  stampRead();
  const stamp = eventNow();
  try {
    waitMs(5);
    assert.equal(eventNow(), stamp, 'the same time all through the read');
    assert.ok(Date.now() >= stamp + 5);
  } finally {
    clearStamp();
  }
  assert.ok(eventNow() >= stamp + 5, 'the clock again once the read is handled');
});
