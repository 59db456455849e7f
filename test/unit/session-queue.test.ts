import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PoolStats } from '../../src/pool/pool.js';
import { SyncPoints } from '../../src/pool/sync-points.js';
import {
  defer,
  flushQueued,
  holdCutBehindRead,
  queue,
  takeQueued,
  type QueueSession,
} from '../../src/proxy/session/queue.js';
import { MessageScanner, collectTable } from '../../src/protocol/scanner.js';
import * as encode from '../../src/protocol/encode.js';
import { countAnswered, startQuery } from '../../src/proxy/session/stats.js';
import { NO_CHUNKS } from '../../src/proxy/session/state.js';

function session(): QueueSession & { scanner: MessageScanner; paused: number; resumed: number; sent: Buffer[] } {
  const s = {
    scanner: new MessageScanner(1 << 20, collectTable('S', '', 'Q')),
    queued: NO_CHUNKS,
    queuedBytes: 0,
    queuedSyncs: 0,
    queuedUnsynced: false,
    deferred: NO_CHUNKS,
    deferredBytes: 0,
    sentOnLink: NO_CHUNKS,
    readLink: false,
    tracking: false,
    isClosed: false,
    queryStart: 0,
    xactStart: 0,
    cancelWanted: false,
    unnamedToRestore: null,
    ctx: {
      sendCancel() {
        s.sent.push(Buffer.from('cancel'));
      },
    },
    pool: { stats: new PoolStats() },
    paused: 0,
    resumed: 0,
    sent: [] as Buffer[],
    pauseClient() {
      s.paused++;
    },
    resumeClient() {
      s.resumed++;
    },
    send(_server: unknown, data: Buffer) {
      s.sent.push(data);
      return true;
    },
    onQueryData() {},
  };
  return s as never;
}

const server = () => ({ syncs: new SyncPoints(), socket: { cork() {}, uncork() {} } }) as never;

describe('bytes waiting for a server', () => {
  it('go to the server linked next in order, with their sync points, and the client reads again', () => {
    const s = session();
    queue(s, Buffer.from('a'));
    queue(s, Buffer.from('b'));
    s.queuedSyncs = 2;
    const linked = server() as { syncs: SyncPoints };
    flushQueued(s, linked as never);
    assert.deepEqual(s.sent.map(String), ['a', 'b']);
    assert.equal(linked.syncs.pending, 2);
    assert.equal(s.queued.length + s.queuedBytes + s.queuedSyncs, 0);
    assert.equal(s.resumed, 1);
    assert.ok(s.queryStart > 0, 'a query starts');
  });

  // A pinned client's Bind read while pgtide's probe ran: its own server still holds the copy.
  it('sent as they are, they leave no copy of the unnamed statement to prepare before later bytes', () => {
    const s = session() as QueueSession & { unnamedToRestore: Buffer | null };
    s.unnamedToRestore = Buffer.from('P');
    queue(s, Buffer.from('bind'));
    flushQueued(s, server());
    assert.equal(s.unnamedToRestore, null);
  });

  it('a cancel that came while they waited goes to that server right after them, once', () => {
    const s = session();
    queue(s, Buffer.from('q'));
    s.cancelWanted = true;
    flushQueued(s, server());
    queue(s, Buffer.from('next'));
    flushQueued(s, server());
    assert.deepEqual(s.sent.map(String), ['q', 'cancel', 'next']);
    assert.equal(s.cancelWanted, false);
  });

  it("a statement cut right behind a read's last sync point is held back whole, the read's part sent", () => {
    const read = encode.query('SELECT 1');
    const write = encode.query(`INSERT INTO t VALUES ('${'x'.repeat(100)}')`);
    for (const [what, before, syncEnd, held] of [
      ['cut right behind the sync point', read, read.length, true],
      ['cut behind a message that is no sync point', Buffer.concat([read, encode.flush()]), read.length, false],
      ['no sync point in the chunk', Buffer.alloc(0), -1, false],
    ] as const) {
      const s = session() as unknown as QueueSession & { scanner: MessageScanner; syncEnd: number };
      const chunk = Buffer.concat([before, write.subarray(0, 20)]);
      s.scanner = new MessageScanner(1 << 20, collectTable('S', '', 'Q'));
      s.scanner.scan(chunk, { onMessage: () => true });
      s.syncEnd = syncEnd;
      const sent = holdCutBehindRead(s, chunk);
      if (held) {
        assert.deepEqual(sent, read, what);
        assert.deepEqual(s.deferred, [write.subarray(0, 20)], what);
        assert.equal(s.scanner.atBoundary, true, `${what}: the held bytes are scanned again from their start`);
      } else {
        assert.equal(sent, chunk, what);
        assert.equal(s.deferred.length, 0, what);
        assert.equal(s.scanner.atBoundary, false, what);
      }
    }
  });

  it('a client that sends more than 256 kB meanwhile is paused', () => {
    const s = session();
    queue(s, Buffer.alloc(200 * 1024));
    assert.equal(s.paused, 0);
    queue(s, Buffer.alloc(100 * 1024));
    assert.equal(s.paused, 1);
    defer(s, Buffer.alloc(300 * 1024));
    assert.equal(s.paused, 2);
  });

  it('taken back to be scanned again, queued bytes forget their sync points and the scan of a message they end inside', () => {
    const s = session();
    // Half a Query, scanned as it was queued: scanned again, it must begin a message.
    const half = Buffer.from([0x51, 0, 0, 0, 13, 0x53, 0x45]);
    s.scanner.scan(half, { onMessage: () => true });
    queue(s, half);
    s.queuedSyncs = 1;
    assert.equal(s.scanner.atBoundary, false);
    assert.deepEqual(takeQueued(s), [half]);
    assert.equal(s.queuedSyncs, 0);
    assert.equal(s.scanner.atBoundary, true);
  });

  it('are held in a list of the session only while there are some: flushed or taken, it shares the empty one again', () => {
    const s = session();
    queue(s, Buffer.from('a'));
    defer(s, Buffer.from('b'));
    assert.notEqual(s.queued, NO_CHUNKS);
    assert.notEqual(s.deferred, NO_CHUNKS);
    s.readLink = true;
    flushQueued(s, server());
    assert.equal(s.queued, NO_CHUNKS);
    assert.deepEqual(s.sentOnLink.map(String), ['a'], 'kept to run again if the standby fails');
    queue(s, Buffer.from('c'));
    assert.deepEqual(takeQueued(s).map(String), ['c']);
    assert.equal(s.queued, NO_CHUNKS);
    assert.equal(NO_CHUNKS.length, 0);
    assert.throws(
      () => (NO_CHUNKS as Buffer[]).push(Buffer.from('x')),
      TypeError,
      'no session adds to the shared list',
    );
  });
});

describe('query and transaction counts', () => {
  it('one query per answered round trip, one transaction per idle status, times from the first bytes sent', () => {
    const s = session() as unknown as Parameters<typeof countAnswered>[0];
    startQuery(s);
    countAnswered(s, 0x54);
    startQuery(s);
    countAnswered(s, 0x49);
    countAnswered(s, 0x49);
    const stats = s.pool!.stats;
    assert.equal(stats.queries, 2);
    assert.equal(stats.xacts, 2, 'an idle status ends a transaction even with no query of its own');
    assert.ok(stats.queryTimeUs >= 0 && stats.xactTimeUs >= 0);
  });
});
