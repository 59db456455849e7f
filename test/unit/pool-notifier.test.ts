import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addBackend, dropBackend, nextEvent, notifyingClient } from '../../src/pool/notifier.js';
import { SyncPoints } from '../../src/pool/sync-points.js';

describe('notifier: which client a notification names', () => {
  it('orders events by a counter that only grows', () => {
    const a = nextEvent();
    const b = nextEvent();
    assert.ok(b > a);
  });

  it('names the holder when no other client let the backend go since the listener write', () => {
    const holder = { holderPid: 4_200_001, othersUntil: nextEvent() };
    addBackend('h:5432', 101, holder);
    try {
      const listenerWrite = nextEvent();
      assert.equal(notifyingClient('h:5432', 101, listenerWrite), 4_200_001);
      // Another client let it go at or after the write: it may have sent the notification.
      const later = { holderPid: 4_200_002, othersUntil: listenerWrite };
      addBackend('h:5432', 101, later);
      assert.equal(notifyingClient('h:5432', 101, listenerWrite), 0);
      assert.equal(notifyingClient('h:5432', 101, nextEvent()), 4_200_002);
      dropBackend('h:5432', 101, later);
    } finally {
      dropBackend('h:5432', 101, holder);
    }
  });

  it('knows backends by endpoint and pid, and forgets a closed one', () => {
    const holder = { holderPid: 4_200_003, othersUntil: 0 };
    addBackend('a:5432', 7, holder);
    const after = nextEvent();
    assert.equal(notifyingClient('a:5432', 7, after), 4_200_003);
    assert.equal(notifyingClient('b:5432', 7, after), 0, 'the same pid on another server');
    assert.equal(notifyingClient('a:5432', 8, after), 0, 'a backend pgtide does not hold');
    // A closed connection whose pid a new backend took does not drop the new one's entry.
    const reused = { holderPid: 4_200_004, othersUntil: 0 };
    addBackend('a:5432', 7, reused);
    dropBackend('a:5432', 7, holder);
    assert.equal(notifyingClient('a:5432', 7, after), 4_200_004);
    dropBackend('a:5432', 7, reused);
    assert.equal(notifyingClient('a:5432', 7, after), 0);
  });

  it('a client held nothing yet: no name', () => {
    const holder = { holderPid: 0, othersUntil: 0 };
    addBackend('c:5432', 9, holder);
    assert.equal(notifyingClient('c:5432', 9, nextEvent()), 0);
    dropBackend('c:5432', 9, holder);
  });

  it('sync points record the event of the last write holding one', () => {
    const syncs = new SyncPoints();
    assert.equal(syncs.sentAt, 0);
    const before = nextEvent();
    syncs.sent(1, false);
    const at = syncs.sentAt;
    assert.ok(at > before);
    syncs.sent(0, true);
    assert.equal(syncs.sentAt, at, 'bytes without a sync point leave it');
  });
});
