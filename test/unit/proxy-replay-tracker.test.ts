// The replay positions read_your_writes waits for: known positions need no query, a lagging
// standby is asked at most once per poll interval whatever the number of reads waiting on it,
// and the schema fence's pending count always comes back down.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayTracker } from '../../src/proxy/read-your-writes.js';
import type { LinkedServer } from '../../src/pool/linked-server.js';

/** A standby connection that answers every position query with `lsn()`, counting them. */
function standby(lsn: () => string): { server: LinkedServer; asked: () => number } {
  let asked = 0;
  const server = {
    query: async () => {
      asked++;
      return [[lsn()]];
    },
  } as unknown as LinkedServer;
  return { server, asked: () => asked };
}

describe('ReplayTracker', () => {
  it('a standby behind the target: 20 reads waiting 30 ms ask it about once per 2 ms, not each', async () => {
    const replay = new ReplayTracker();
    const { server, asked } = standby(() => '0/100');
    const deadline = Date.now() + 30;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => replay.waitForReplay(server, 'standby1', 0x200n, deadline)),
    );
    assert.deepEqual(new Set(results), new Set([false]));
    assert.ok(asked() <= 25, `${asked()} queries for 20 reads over 30 ms`);
    assert.ok(asked() >= 1);
  });

  it('a standby that catches up: the reads waiting on it go on, and later ones ask nothing', async () => {
    const replay = new ReplayTracker();
    let position = '0/100';
    const { server, asked } = standby(() => position);
    setTimeout(() => (position = '0/300'), 10);
    const deadline = Date.now() + 1000;
    const results = await Promise.all(
      Array.from({ length: 5 }, () => replay.waitForReplay(server, 'standby1', 0x200n, deadline)),
    );
    assert.deepEqual(results, [true, true, true, true, true]);
    const before = asked();
    assert.equal(await replay.waitForReplay(server, 'standby1', 0x250n, deadline), true);
    assert.equal(asked(), before, 'a position known to be replayed needs no query');
    assert.equal(replay.knownReplayed('standby1', 0x300n), true);
    assert.equal(replay.knownReplayed('standby2', 0x1n), false);
  });

  it('the schema fence: pending while asked, then the highest position learned', () => {
    const replay = new ReplayTracker();
    replay.beginSchemaFence();
    replay.beginSchemaFence();
    assert.equal(replay.fencePending, 2);
    replay.fenceSchema(0x500n);
    replay.fenceSchema(null);
    assert.equal(replay.fencePending, 0);
    assert.equal(replay.schemaFence, 0x500n);
    replay.beginSchemaFence();
    replay.fenceSchema(0x400n);
    assert.equal(replay.schemaFence, 0x500n, 'an older position does not move it back');
  });
});
