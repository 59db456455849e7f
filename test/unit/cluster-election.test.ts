import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { electPrimary, isReadable, readCandidates, type Readability } from '../../src/cluster/election.js';

describe('electPrimary', () => {
  const w = (index: number, timeline: number | null, newestSeen: number | null = timeline) => ({
    index,
    timeline,
    newestSeen,
  });
  test('the one writer is the primary', () => {
    assert.deepEqual(electPrimary([w(2, 1)], null), { primary: 2, splitBrain: false, abandoned: [] });
  });
  test('a primary whose check failed stays while healthy, and only then', () => {
    assert.deepEqual(electPrimary([], { index: 1, timeline: 1, healthy: true, newestSeen: 1 }).primary, 1);
    assert.deepEqual(electPrimary([], { index: 1, timeline: 1, healthy: false, newestSeen: 1 }).primary, null);
    assert.deepEqual(electPrimary([], null), { primary: null, splitBrain: false, abandoned: [] });
  });
  test('one failed check of the new primary does not elect the old one (issue 17, item 1)', () => {
    // The old primary (timeline 1) is the only writer seen; the new one (timeline 2) missed a check.
    const e = electPrimary([w(0, 1, 2)], { index: 1, timeline: 2, healthy: true, newestSeen: 2 });
    assert.deepEqual(e, { primary: 1, splitBrain: false, abandoned: [0] });
  });
  test('a writer behind a timeline seen is never chosen, even alone and after the new primary is gone', () => {
    assert.deepEqual(electPrimary([w(0, 1, 2)], { index: 1, timeline: 2, healthy: false, newestSeen: 2 }), {
      primary: null,
      splitBrain: false,
      abandoned: [0],
    });
    assert.deepEqual(electPrimary([w(0, 1, 2)], null), { primary: null, splitBrain: false, abandoned: [0] });
    assert.deepEqual(electPrimary([w(0, null, 2)], null), { primary: null, splitBrain: false, abandoned: [0] });
  });
  test('a promoted standby (newer timeline) wins over a primary that stopped answering', () => {
    assert.deepEqual(electPrimary([w(1, 2)], { index: 0, timeline: 1, healthy: true, newestSeen: 2 }), {
      primary: 1,
      splitBrain: false,
      abandoned: [],
    });
  });
  test('split brain: the newest timeline wins', () => {
    assert.deepEqual(electPrimary([w(0, 1, null), w(1, 2, null)], null), {
      primary: 1,
      splitBrain: true,
      abandoned: [],
    });
    assert.deepEqual(electPrimary([w(0, 3, 3), w(1, 2, 3), w(2, 1, 3)], null), {
      primary: 0,
      splitBrain: false,
      abandoned: [1, 2],
    });
  });
  test('split brain with a tie or an unknown timeline: no primary at all', () => {
    assert.deepEqual(electPrimary([w(0, 2), w(1, 2)], null), { primary: null, splitBrain: true, abandoned: [] });
    assert.deepEqual(electPrimary([w(0, 5, null), w(1, null, null)], null), {
      primary: null,
      splitBrain: true,
      abandoned: [],
    });
    assert.deepEqual(electPrimary([w(0, 2)], { index: 1, timeline: 2, healthy: true, newestSeen: 2 }), {
      primary: null,
      splitBrain: true,
      abandoned: [],
    });
  });
});

describe('isReadable', () => {
  const standby: Readability = {
    role: 'standby',
    healthy: true,
    takesLogins: true,
    following: true,
    lagBytes: 100,
    lagMs: 50,
  };
  const off = { delayThreshold: 0, delayThresholdByTime: 0 };
  test('a healthy standby is readable when no limit is set', () => {
    assert.equal(isReadable({ ...standby, lagBytes: 1e12, lagMs: 1e9 }, off), true);
  });
  test('unhealthy or unknown role: never', () => {
    assert.equal(isReadable({ ...standby, healthy: false }, off), false);
    assert.equal(isReadable({ ...standby, role: 'unknown' }, off), false);
    assert.equal(
      isReadable({ role: 'primary', healthy: false, takesLogins: true, following: true, lagBytes: 0, lagMs: 0 }, off),
      false,
    );
  });
  test('a backend that takes no new login: never, the primary included', () => {
    assert.equal(isReadable({ ...standby, takesLogins: false }, off), false);
    assert.equal(
      isReadable({ role: 'primary', healthy: true, takesLogins: false, following: true, lagBytes: 0, lagMs: 0 }, off),
      false,
    );
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
    assert.equal(
      isReadable({ ...standby, lagBytes: null, lagMs: null }, { delayThreshold: 1, delayThresholdByTime: 1 }),
      true,
    );
  });
  test("a standby that does not follow the primary's timeline: never, whatever its lag", () => {
    assert.equal(isReadable({ ...standby, following: false, lagBytes: 0, lagMs: 0 }, off), false);
  });
  test('the primary is readable whatever the limits', () => {
    assert.equal(
      isReadable(
        { role: 'primary', healthy: true, takesLogins: true, following: true, lagBytes: 0, lagMs: 0 },
        { delayThreshold: 1, delayThresholdByTime: 1 },
      ),
      true,
    );
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
    assert.deepEqual(
      readCandidates(backends).map((b) => b.name),
      ['standby', 'primary-with-weight'],
    );
  });
});
