import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SyncPoints } from '../../src/pool/sync-points.js';

describe('SyncPoints', () => {
  it('is idle once every sync point sent is answered', () => {
    const s = new SyncPoints();
    assert.ok(s.idle);
    s.sent(2, false);
    assert.equal(s.answered(), false);
    assert.equal(s.answered(), true);
    assert.equal(s.pending, 0);
  });

  it('an open extended-protocol batch keeps it busy after the last ReadyForQuery', () => {
    const s = new SyncPoints();
    s.sent(1, true);
    assert.equal(s.answered(), false);
    s.sent(1, false);
    assert.equal(s.answered(), true);
  });

  it('a ReadyForQuery nothing was owed for (a server speaking out of turn) never goes below zero', () => {
    const s = new SyncPoints();
    assert.equal(s.answered(), true);
    assert.equal(s.pending, 0);
  });

  it('Syncs sent during COPY IN are no sync points', () => {
    const s = new SyncPoints();
    s.sent(3, false);
    s.ignored(2);
    assert.equal(s.answered(), true);
  });

  describe('a Query sent inside an extended-protocol batch (PostgreSQL discards it after an error before it)', () => {
    it('Parse, Bind, Execute failing, then Query and Sync: only the Sync is answered', () => {
      const s = new SyncPoints();
      // The Query is the first of the two sync points, after 3 extended messages.
      s.sent(2, false, [0, 3]);
      assert.ok(s.watching);
      s.countAnswer(); // ParseComplete
      s.countAnswer(); // BindComplete
      assert.equal(s.failed(), 1); // the Execute's error: the Query is skipped
      assert.equal(s.pending, 1);
      assert.equal(s.answered(), true); // the Sync's ReadyForQuery
      assert.ok(!s.watching);
    });

    it("the Query's own error after the batch's answers: both it and the Sync are answered", () => {
      const s = new SyncPoints();
      s.sent(2, false, [0, 3]);
      s.countAnswer();
      s.countAnswer();
      s.countAnswer(); // CommandComplete of the Execute
      assert.equal(s.failed(), 0);
      assert.equal(s.answered(), false);
      assert.equal(s.answered(), true);
    });

    it('every Query up to the Sync is skipped, a Query after the Sync is not', () => {
      const s = new SyncPoints();
      // P B E Q Q S Q: the third Query follows the Sync.
      s.sent(4, false, [0, 3, 1, 0]);
      assert.equal(s.failed(), 2);
      assert.equal(s.answered(), false); // the Sync
      assert.equal(s.answered(), true); // the last Query
    });

    it('an error before the Query was sent (the batch came in an earlier chunk) skips it when it is sent', () => {
      const s = new SyncPoints();
      s.sent(0, true);
      assert.ok(s.watching);
      assert.equal(s.failed(), 0);
      s.sent(2, false, [0, 3]);
      assert.equal(s.pending, 1);
      assert.equal(s.answered(), true);
    });

    it('an error that skips the Query before the client sent the Sync leaves the batch open', () => {
      const s = new SyncPoints();
      s.sent(1, false, [0, 1]);
      assert.equal(s.failed(), 1);
      assert.equal(s.idle, false);
      s.sent(1, false);
      assert.equal(s.answered(), true);
    });

    it('a Query that is not inside a batch is never skipped: its error is its own', () => {
      const s = new SyncPoints();
      s.sent(2, false);
      assert.equal(s.failed(), 0);
      assert.equal(s.answered(), false);
      assert.equal(s.answered(), true);
    });

    it('a batched Query behind earlier sync points is judged once they are answered', () => {
      const s = new SyncPoints();
      // Q1 (outside a batch), then P B E Q2 S.
      s.sent(3, false, [1, 3]);
      s.countAnswer(); // Q1's CommandComplete
      assert.equal(s.failed(), 0); // Q1 failed itself
      assert.equal(s.answered(), false); // Q1's ReadyForQuery
      s.countAnswer();
      assert.equal(s.failed(), 1); // the Bind failed
      assert.equal(s.answered(), true);
    });
  });
});
