import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { electPrimary, isReadable, readCandidates, type Readability } from '../../src/cluster/election.js';

describe('electPrimary', () => {
  test('the one writer is the primary', () => {
    assert.deepEqual(electPrimary([{ index: 2, timeline: 1 }], 0), { primary: 2, splitBrain: false });
  });
  test('no writer seen keeps the current primary', () => {
    assert.deepEqual(electPrimary([], 1), { primary: 1, splitBrain: false });
    assert.deepEqual(electPrimary([], null), { primary: null, splitBrain: false });
  });
  test('split brain: the newest timeline wins', () => {
    assert.deepEqual(electPrimary([{ index: 0, timeline: 1 }, { index: 1, timeline: 2 }], 0), { primary: 1, splitBrain: true });
    assert.deepEqual(electPrimary([{ index: 0, timeline: 3 }, { index: 1, timeline: 2 }, { index: 2, timeline: 1 }], 1), { primary: 0, splitBrain: true });
  });
  test('split brain with a tie or an unknown timeline: no primary at all', () => {
    assert.deepEqual(electPrimary([{ index: 0, timeline: 2 }, { index: 1, timeline: 2 }], 0), { primary: null, splitBrain: true });
    assert.deepEqual(electPrimary([{ index: 0, timeline: 5 }, { index: 1, timeline: null }], 0), { primary: null, splitBrain: true });
  });
});

describe('isReadable', () => {
  const standby: Readability = { role: 'standby', healthy: true, lagBytes: 100, lagMs: 50 };
  const off = { delayThreshold: 0, delayThresholdByTime: 0 };
  test('a healthy standby is readable when no limit is set', () => {
    assert.equal(isReadable({ ...standby, lagBytes: 1e12, lagMs: 1e9 }, off), true);
  });
  test('unhealthy or unknown role: never', () => {
    assert.equal(isReadable({ ...standby, healthy: false }, off), false);
    assert.equal(isReadable({ ...standby, role: 'unknown' }, off), false);
    assert.equal(isReadable({ role: 'primary', healthy: false, lagBytes: 0, lagMs: 0 }, off), false);
  });
  test('delay_threshold in bytes: above leaves, at the limit stays', () => {
    assert.equal(isReadable(standby, { ...off, delayThreshold: 99 }), false);
    assert.equal(isReadable(standby, { ...off, delayThreshold: 100 }), true);
  });
  test('delay_threshold_by_time in ms: above leaves, at the limit stays', () => {
    assert.equal(isReadable(standby, { ...off, delayThresholdByTime: 49 }), false);
    assert.equal(isReadable(standby, { ...off, delayThresholdByTime: 50 }), true);
  });
  test('an unmeasured lag does not exclude a standby', () => {
    assert.equal(isReadable({ ...standby, lagBytes: null, lagMs: null }, { delayThreshold: 1, delayThresholdByTime: 1 }), true);
  });
  test('the primary is readable whatever the limits', () => {
    assert.equal(isReadable({ role: 'primary', healthy: true, lagBytes: 0, lagMs: 0 }, { delayThreshold: 1, delayThresholdByTime: 1 }), true);
  });
});

describe('readCandidates', () => {
  test('readable backends with weight > 0 only', () => {
    const backends = [
      { name: 'primary', readable: true, config: { weight: 0 } },
      { name: 'lagging', readable: false, config: { weight: 1 } },
      { name: 'standby', readable: true, config: { weight: 2 } },
      { name: 'primary-with-weight', readable: true, config: { weight: 0.5 } },
    ];
    assert.deepEqual(readCandidates(backends).map((b) => b.name), ['standby', 'primary-with-weight']);
  });
});
