// Which free server a pool waiting on a shared cap may take from another pool (src/pool/eviction.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_TURN_MS, UNNEEDED_AFTER_MS, longestIdle, mayGiveUp, type EvictablePool } from '../../src/pool/eviction.js';
import type { ServerConnection } from '../../src/pool/server-connection.js';

const NOW = 1_000_000;

function pool(servers: number, holders: number, waiting: number, idle: ServerConnection[] = []): EvictablePool {
  return {
    servers: { size: servers },
    holderCount: holders,
    waitingCount: waiting,
    oldestIdle: () => idle[0],
  };
}

function server(ageMs: number, idleMs: number): ServerConnection {
  return { createdAt: NOW - ageMs, lastUsedAt: NOW - idleMs } as ServerConnection;
}

describe('mayGiveUp', () => {
  // [what, owner (servers, holders, waiting), waiting pool's servers, server age, idle for, expected]
  const cases: [string, [number, number, number], number, number, number, boolean][] = [
    ['a pool no client routes to gives up any server', [3, 0, 0], 3, 0, 0, true],
    ['two more than the waiting pool: evens out', [3, 5, 0], 1, 0, 0, true],
    ['two more, even while its own clients wait', [3, 5, 2], 1, 0, 0, true],
    ['one more only: it would go back and forth', [2, 5, 0], 1, 0, 0, false],
    ['a waiting pool with none gets an idle server at once', [1, 5, 0], 0, 0, 0, true],
    ['a busy pool lets a pool with none take a turn after MIN_TURN_MS', [1, 5, 3], 0, MIN_TURN_MS, 0, true],
    ['but not sooner', [1, 5, 3], 0, MIN_TURN_MS - 1, 0, false],
    ['a busy pool keeps its servers from a pool that has one', [1, 5, 3], 1, 10 * MIN_TURN_MS, 0, false],
    ['an idle server its pool did not need lately goes', [2, 5, 0], 1, 0, UNNEEDED_AFTER_MS, true],
    ['one idle only a moment stays', [2, 5, 0], 1, 0, UNNEEDED_AFTER_MS - 1, false],
  ];
  for (const [what, [servers, holders, waiting], theirs, age, idle, expected] of cases) {
    it(what, () => {
      assert.equal(mayGiveUp(pool(servers, holders, waiting), pool(theirs, 1, 1), server(age, idle), NOW), expected);
    });
  }
});

describe('longestIdle', () => {
  it('takes the server idle longest among the pools that may give one up, never the waiting pool’s', () => {
    const waiting = pool(0, 1, 1, [server(0, 9000)]);
    const recent = server(0, 10);
    const oldest = server(0, 5000);
    const busyOwnersServer = server(0, 8000);
    const pools = [
      waiting,
      pool(1, 1, 0, [recent]),
      pool(2, 1, 0, [oldest]),
      // Its clients wait and it has a server for less than a turn: not a candidate, however old the idle one.
      pool(1, 1, 1, [{ ...busyOwnersServer, createdAt: NOW } as ServerConnection]),
      pool(0, 0, 0),
    ];
    assert.equal(longestIdle(pools, waiting, NOW), oldest);
  });

  it('finds nothing when no pool may give one up', () => {
    const waiting = pool(1, 1, 1);
    assert.equal(longestIdle([waiting, pool(2, 1, 0, [server(0, 10)])], waiting, NOW), null);
  });
});
