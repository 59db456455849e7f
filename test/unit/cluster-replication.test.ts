import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  followsTimeline,
  lagBytes,
  lagMs,
  PrimaryPositions,
  parseCheckRow,
  parseLsn,
  timelineOfWalFile,
  timelineSeen,
} from '../../src/cluster/replication.js';

describe('parseLsn', () => {
  const cases: [string, bigint][] = [
    ['0/0', 0n],
    ['0/16B3748', 0x16b3748n],
    ['1/0', 1n << 32n],
    ['FFFFFFFF/FFFFFFFF', (1n << 64n) - 1n],
    ['a/b', (0xan << 32n) | 0xbn],
  ];
  for (const [text, expected] of cases) {
    test(`${text}`, () => assert.equal(parseLsn(text), expected));
  }
  for (const bad of ['', '0', '0/', '/0', '0/0/0', 'G/0', '1FFFFFFFF/0', ' 0/0', '-1/0', '0x1/0']) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseLsn(bad), /invalid WAL location/));
  }
});

describe('lag', () => {
  test('bytes: primary position minus replay position', () => {
    assert.equal(lagBytes(parseLsn('1/10'), parseLsn('0/FFFFFFF0')), 0x20);
    assert.equal(lagBytes(parseLsn('0/100'), parseLsn('0/100')), 0);
  });
  test('bytes: a standby read after the primary is never negative', () => {
    assert.equal(lagBytes(parseLsn('0/100'), parseLsn('0/200')), 0);
  });
  test('bytes: unknown without a primary position or a replay position', () => {
    assert.equal(lagBytes(null, 5n), null);
    assert.equal(lagBytes(5n, null), null);
  });
  test('ms: 0 once replay has caught up with receive, however old the last commit', () => {
    assert.equal(lagMs({ receiveLsn: 100n, replayLsn: 100n, replayDelayMs: 60_000 }), 0);
    assert.equal(lagMs({ receiveLsn: 90n, replayLsn: 100n, replayDelayMs: 60_000 }), 0);
  });
  test('ms: a standby that replayed all it received but is far behind the primary (orphaned) is not current', () => {
    assert.equal(lagMs({ receiveLsn: 100n, replayLsn: 100n, replayDelayMs: 60_000 }, 15_000_000, 1024 * 1024), 60_000);
    assert.equal(lagMs({ receiveLsn: 100n, replayLsn: 100n, replayDelayMs: 60_000 }, 1000, 1024 * 1024), 0);
  });
  test('ms: a standby not receiving yet (just restarted) is current when it has replayed up to the primary', () => {
    assert.equal(lagMs({ receiveLsn: null, replayLsn: 100n, replayDelayMs: 60_000 }, 0, 1024 * 1024), 0);
    assert.equal(lagMs({ receiveLsn: null, replayLsn: 100n, replayDelayMs: 60_000 }, 15_000_000, 1024 * 1024), 60_000);
    assert.equal(lagMs({ receiveLsn: null, replayLsn: 100n, replayDelayMs: 60_000 }), 60_000);
  });
  test("timeline: a standby streaming another timeline than the primary's does not follow it", () => {
    assert.equal(followsTimeline({ receiverTimeline: 1, checkpointTimeline: 1 }, 2), false);
    assert.equal(followsTimeline({ receiverTimeline: 2, checkpointTimeline: 1 }, 2), true);
    assert.equal(followsTimeline({ receiverTimeline: null, checkpointTimeline: 3 }, 2), false);
    assert.equal(followsTimeline({ receiverTimeline: null, checkpointTimeline: 1 }, 2), true);
    assert.equal(followsTimeline({ receiverTimeline: 1, checkpointTimeline: 1 }, null), true);
  });
  test("timeline: a standby found orphaned stays out while its receiver shows no timeline, and returns once it streams the primary's", () => {
    assert.equal(followsTimeline({ receiverTimeline: null, checkpointTimeline: 1 }, 2, false), false);
    assert.equal(followsTimeline({ receiverTimeline: null, checkpointTimeline: null }, 2, false), false);
    assert.equal(followsTimeline({ receiverTimeline: 2, checkpointTimeline: 1 }, 2, false), true);
    assert.equal(followsTimeline({ receiverTimeline: 2, checkpointTimeline: 3 }, 2, true), false);
  });
  test('timeline seen: the newest a check proves', () => {
    assert.equal(timelineSeen({ timeline: null, checkpointTimeline: 1, receiverTimeline: 3 }), 3);
    assert.equal(timelineSeen({ timeline: null, checkpointTimeline: null, receiverTimeline: null }), null);
  });
  test('ms: the age of the last replayed commit while behind', () => {
    assert.equal(lagMs({ receiveLsn: 200n, replayLsn: 100n, replayDelayMs: 1500 }), 1500);
    assert.equal(lagMs({ receiveLsn: null, replayLsn: 100n, replayDelayMs: 250 }), 250);
  });
  test("ms: with the primary's earlier positions, since the primary wrote the replay position, dated in proportion between the checks around it", () => {
    const at = (ms: number, lsn: bigint) => ({ at: ms, lastAt: ms, lsn });
    const positions = [at(1000, 100n), at(2000, 200n), at(3000, 300n)];
    const behind = { receiveLsn: 250n, replayLsn: 150n, replayDelayMs: 60_000 };
    // A long transaction after a quiet spell: the last commit is a minute old, the replay 2 s behind.
    assert.equal(lagMs(behind, 150, 0, 3500, positions), 2000);
    assert.equal(lagMs({ ...behind, replayLsn: 200n }, 100, 0, 3500, positions), 1500);
    // Replayed past every position seen: current, whatever it has still to replay of what it received.
    assert.equal(lagMs({ ...behind, replayLsn: 300n, receiveLsn: 400n }, 0, 0, 3500, positions), 0);
    // Behind every position kept: only the last commit's age dates it.
    assert.equal(lagMs({ ...behind, replayLsn: 50n }, 250, 0, 3500, positions), 60_000);
    assert.equal(lagMs({ ...behind, replayLsn: 50n, replayDelayMs: null }, 250, 0, 3500, positions), null);
    // The check answered before the position was written, by the dating: not negative.
    assert.equal(lagMs({ ...behind, replayLsn: 250n }, 50, 0, 2400, positions), 0);
    // A steady writer, checks 5 s apart: a standby 9 s behind reads 9 s, not the 5 s of the check after.
    const steady = [at(0, 100n), at(5000, 200n), at(10_000, 300n)];
    assert.equal(lagMs({ ...behind, replayLsn: 120n }, 180, 0, 10_000, steady), 9000);
    // A minute at one position, then a burst just before a check: the quiet minute counts for nothing.
    const burst = [{ at: 0, lastAt: 60_000, lsn: 100n }, at(60_100, 200n)];
    assert.equal(lagMs({ ...behind, replayLsn: 150n }, 50, 0, 60_100, burst), 50);
  });
  test('positions: each new position once, with the first and last checks that saw it; another primary or a position going back starts afresh; old ones dropped but the last beyond the window', () => {
    const kept = new PrimaryPositions();
    kept.record('a', 1000, 100n, 10_000);
    kept.record('a', 2000, 100n, 10_000);
    kept.record('a', 3000, 200n, 10_000);
    assert.deepEqual(kept.positions, [
      { at: 1000, lastAt: 2000, lsn: 100n },
      { at: 3000, lastAt: 3000, lsn: 200n },
    ]);
    kept.record('a', 12_000, 300n, 10_000);
    kept.record('a', 14_000, 400n, 10_000);
    assert.deepEqual(
      kept.positions.map((p) => p.at),
      [3000, 12_000, 14_000],
    );
    kept.record('a', 15_000, 350n, 10_000);
    assert.deepEqual(kept.positions, [{ at: 15_000, lastAt: 15_000, lsn: 350n }]);
    kept.record('b', 16_000, 900n, 10_000);
    assert.deepEqual(kept.positions, [{ at: 16_000, lastAt: 16_000, lsn: 900n }]);
    for (let i = 1; i <= 2000; i++) kept.record('b', 16_000 + i, 900n + BigInt(i), 10_000_000);
    assert.equal(kept.positions.length, 1024);
    assert.equal(kept.positions.at(-1)!.lsn, 2900n);
  });
  test('ms: unknown before any commit was replayed; clock noise is not negative', () => {
    assert.equal(lagMs({ receiveLsn: 200n, replayLsn: 100n, replayDelayMs: null }), null);
    assert.equal(lagMs({ receiveLsn: 200n, replayLsn: 100n, replayDelayMs: -3 }), 0);
  });
});

describe('parseCheckRow', () => {
  test('a primary', () => {
    assert.deepEqual(
      parseCheckRow([
        ['f', '0/3000148', '000000020000000000000003', null, null, null, '7714748222061411892', '2', null],
      ]),
      {
        inRecovery: false,
        currentLsn: 0x3000148n,
        timeline: 2,
        receiveLsn: null,
        replayLsn: null,
        replayDelayMs: null,
        systemId: '7714748222061411892',
        checkpointTimeline: 2,
        receiverTimeline: null,
      },
    );
  });
  test('a standby', () => {
    assert.deepEqual(parseCheckRow([['t', null, null, '0/3000148', '0/3000100', '1.25', '1', '1', '2']]), {
      inRecovery: true,
      currentLsn: null,
      timeline: null,
      receiveLsn: 0x3000148n,
      replayLsn: 0x3000100n,
      replayDelayMs: 1250,
      systemId: '1',
      checkpointTimeline: 1,
      receiverTimeline: 2,
    });
  });
  /** A check row of 9 columns, these first. */
  const row = (...first: (string | null)[]): (string | null)[] => [
    ...first,
    ...Array<null>(9 - first.length).fill(null),
  ];
  const bad: [string, (string | null)[][], RegExp][] = [
    ['no row', [], /unexpected answer/],
    ['two rows', [row('t'), row('t')], /unexpected answer/],
    ['short row', [['t']], /unexpected answer/],
    ['bad boolean', [row('yes')], /pg_is_in_recovery/],
    ['bad LSN', [row('f', 'nope', '000000010000000000000001')], /invalid WAL location/],
    ['bad WAL file', [row('f', '0/1', '00000001')], /invalid WAL file name/],
    ['bad delay', [row('t', null, null, '0/1', '0/1', 'NaN')], /invalid replay delay/],
    ['bad system identifier', [row('t', null, null, null, null, null, '-1')], /system identifier/],
    ['bad timeline', [row('t', null, null, null, null, null, '1', '1e9')], /invalid timeline/],
  ];
  for (const [name, rows, message] of bad) {
    test(`refuses ${name}`, () => assert.throws(() => parseCheckRow(rows), message));
  }
  test('timeline from a WAL file name', () => {
    assert.equal(timelineOfWalFile('0000000A0000000100000002'), 10);
  });
});
