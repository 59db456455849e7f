// The CancelRequest of a query still waiting for a server is answered once the cancel reached
// the server the query went to, or once nothing is left to cancel, or after 5 s at most.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropHeldCancel,
  holdCancel,
  sendHeldCancel,
  type HeldCancelSession,
} from '../../src/proxy/session/held-cancel.js';

function session() {
  const toServer: Array<(() => void) | undefined> = [];
  const s = {
    cancelWanted: false,
    cancelAgain: false,
    ctx: { sendCancel: (_server: unknown, sent?: () => void) => toServer.push(sent) },
  };
  return { s: s as unknown as HeldCancelSession, toServer };
}

describe('a cancel held for a query waiting for a server', () => {
  it('answers its senders once the cancel it sent on reached the server, not before', () => {
    const { s, toServer } = session();
    const answered: string[] = [];
    holdCancel(s, () => answered.push('first'));
    holdCancel(s, () => answered.push('second'));
    assert.equal(s.cancelWanted, true);
    assert.deepEqual(answered, []);
    sendHeldCancel(s, {} as never);
    assert.equal(s.cancelWanted, false);
    assert.equal(s.cancelAgain, true);
    assert.equal(toServer.length, 1, 'one cancel for both');
    assert.deepEqual(answered, []);
    toServer[0]!();
    assert.deepEqual(answered, ['first', 'second']);
    // A later cancel of the same session has no sender waiting from before.
    holdCancel(s);
    sendHeldCancel(s, {} as never);
    assert.equal(toServer[1], undefined);
  });

  it('answers its senders at once when nothing is left to cancel', () => {
    const { s, toServer } = session();
    let answered = 0;
    holdCancel(s, () => answered++);
    dropHeldCancel(s);
    assert.equal(answered, 1);
    assert.equal(s.cancelWanted, false);
    assert.equal(toServer.length, 0);
  });

  it('answers a sender after 5 s of waiting, once, and still sends the cancel on', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { s, toServer } = session();
      let answered = 0;
      holdCancel(s, () => answered++);
      mock.timers.tick(4999);
      assert.equal(answered, 0);
      mock.timers.tick(1);
      assert.equal(answered, 1);
      assert.equal(s.cancelWanted, true, 'the query, once it reaches a server, is still cancelled');
      sendHeldCancel(s, {} as never);
      toServer[0]!();
      assert.equal(answered, 1);
    } finally {
      mock.timers.reset();
    }
  });
});
