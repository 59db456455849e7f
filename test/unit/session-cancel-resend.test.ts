// A cancel that may have reached the server while it still read the query goes again at the
// janitor's ticks until the query answers, one at a time (see timeouts.ts resendCancel).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SyncPoints } from '../../src/pool/sync-points.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { checkTimeouts, type TimeoutSession } from '../../src/proxy/session/timeouts.js';
import { State } from '../../src/proxy/session/state.js';

function linkedSession(owed = 1) {
  const syncs = new SyncPoints();
  syncs.sent(owed, false);
  const server = { syncs, txStatus: 0x54, cancelsInFlight: 0 };
  const sent: number[] = [];
  const s = {
    state: State.Linked,
    server,
    answered: false,
    cancelAgain: true,
    scanner: { atBoundary: true },
    lastActive: Date.now(),
    resend: null,
    ctx: {
      config: defaultConfig(),
      // A cancel stays in flight until the test ends it, as one to a frozen server does.
      sendCancel: () => {
        sent.push(Date.now());
        server.cancelsInFlight++;
      },
    },
  };
  return { s: s as unknown as TimeoutSession, server, sent };
}

describe('a cancel sent right behind its query', () => {
  it('goes again once the last one has ended, while the query has not answered', () => {
    const { s, server, sent } = linkedSession();
    checkTimeouts(s, Date.now());
    assert.equal(sent.length, 1);
    for (let tick = 0; tick < 5; tick++) checkTimeouts(s, Date.now());
    assert.equal(sent.length, 1, 'a new cancel at every tick while one is still open');
    server.cancelsInFlight = 0;
    checkTimeouts(s, Date.now());
    assert.equal(sent.length, 2);
  });

  it('stops once the query answers', () => {
    const { s, server, sent } = linkedSession();
    (s as { answered: boolean }).answered = true;
    checkTimeouts(s, Date.now());
    server.cancelsInFlight = 0;
    checkTimeouts(s, Date.now());
    assert.equal(sent.length, 0);
    assert.equal(s.cancelAgain, false);
  });

  it('goes on while the query text is still arriving, though no ReadyForQuery is owed yet', () => {
    const { s, server, sent } = linkedSession(0);
    (s as unknown as { scanner: { atBoundary: boolean } }).scanner.atBoundary = false;
    checkTimeouts(s, Date.now());
    assert.equal(sent.length, 1);
    assert.equal(s.cancelAgain, true);
    server.cancelsInFlight = 0;
    (s as unknown as { scanner: { atBoundary: boolean } }).scanner.atBoundary = true;
    checkTimeouts(s, Date.now());
    assert.equal(sent.length, 1, 'nothing owed and nothing arriving: the query has ended');
    assert.equal(s.cancelAgain, false);
  });
});
