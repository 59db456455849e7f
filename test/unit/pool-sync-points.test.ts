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
});
