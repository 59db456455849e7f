// The replay positions read_your_writes waits for: known positions need no query, a lagging
// standby is asked at most once per poll interval whatever the number of reads waiting on it,
// and the schema fence's pending count always comes back down.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayTracker } from '../../src/proxy/read-your-writes.js';
import type { LinkedServer } from '../../src/pool/linked-server.js';
import { PreparedSet } from '../../src/pool/prepared-set.js';

/** A standby connection that answers every position query with `lsn()`, counting them. */
function standby(lsn: () => string): { server: LinkedServer; asked: () => number } {
  let asked = 0;
  const server = {
    prepared: new PreparedSet(10),
    request: async () => {
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

  it('the schema fence: unknown while asked, then the highest position learned', () => {
    const replay = new ReplayTracker();
    replay.beginSchemaFence();
    replay.beginSchemaFence();
    replay.fenceSchema(0x500n);
    assert.equal(replay.fenceUnknown(), true, 'one of two still asked');
    replay.fenceSchema(null);
    assert.equal(replay.fenceUnknown(), false);
    assert.equal(replay.schemaFence, 0x500n);
    replay.beginSchemaFence();
    replay.fenceSchema(0x400n);
    assert.equal(replay.schemaFence, 0x500n, 'an older position does not move it back');
  });

  it("with workers: a fence's position is passed on, and the news of others counts as ours", () => {
    const told: (bigint | null)[] = [];
    const replay = new ReplayTracker((news) => told.push(news));
    replay.beginSchemaFence();
    replay.fenceSchema(0x600n);
    assert.deepEqual(told, [0x600n], 'the begin goes as a question, before the client is told (holdForFence)');

    const other = new ReplayTracker();
    other.otherWorkerFence('begin');
    assert.equal(other.fenceUnknown(), true, "another worker's DDL position is being read");
    other.otherWorkerFence(0x600n);
    assert.equal(other.fenceUnknown(), false);
    assert.equal(other.schemaFence, 0x600n);
    other.otherWorkerFence(null);
    assert.equal(other.fenceUnknown(), false, 'an end without a begin counts nothing');
    other.otherWorkerFence('begin');
    other.otherWorkerFence('begin');
    other.otherWorkerFence(0x500n);
    assert.equal(other.fenceUnknown(), true);
    assert.equal(other.schemaFence, 0x600n);
  });

  it('a fence that never ends, here or in another worker, stops counting after a second', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    for (const begin of [
      (r: ReplayTracker) => r.beginSchemaFence(),
      (r: ReplayTracker) => r.otherWorkerFence('begin'),
    ]) {
      const replay = new ReplayTracker();
      begin(replay);
      t.mock.timers.tick(999);
      assert.equal(replay.fenceUnknown(), true);
      t.mock.timers.tick(1);
      assert.equal(replay.fenceUnknown(), false);
      replay.fenceSchema(0x700n);
      assert.equal(replay.fenceUnknown(), false, 'the late end counts nothing');
      assert.equal(replay.schemaFence, 0x700n, 'but its position holds for later reads');
      begin(replay);
      assert.equal(replay.fenceUnknown(), true, 'the next fence counts again');
    }
  });
});
