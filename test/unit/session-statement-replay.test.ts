import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { StatementRegistry } from '../../src/proxy/statement-registry.js';
import { Classifier } from '../../src/sql/index.js';
import { followReplay, replayedAt, staleSeen, takeReplayToLearn } from '../../src/proxy/session/statement-replay.js';
import type { StatementLink } from '../../src/proxy/session/statement-link.js';

const classifier = new Classifier();

function statement() {
  const registry = new StatementRegistry((text, start, end) => classifier.classifyBytes(text, start, end));
  const parse = serialize.parse({ name: 's', text: 'SELECT * FROM t', types: [] });
  // The Parse body after its name (a one-byte name and its NUL).
  return registry.intern(parse.subarray(5 + 2), 'scope');
}

describe('a statement a server showed stale runs only where its table change is replayed', () => {
  it('on the primary until the WAL position is learned, then on standbys past it', () => {
    const st = statement();
    const link = { replayToLearn: null } as StatementLink;
    staleSeen(link, st);
    const session = { routeWrite: false, lastWriteLsn: null as bigint | null };
    followReplay(session, st);
    assert.deepEqual(session, { routeWrite: true, lastWriteLsn: null });

    const taken = takeReplayToLearn({ statementLink: link });
    assert.deepEqual(taken, [st]);
    assert.equal(takeReplayToLearn({ statementLink: link }), null, 'learned once');
    replayedAt(taken!, 500n);
    const next = { routeWrite: false, lastWriteLsn: 100n as bigint | null };
    followReplay(next, st);
    assert.deepEqual(next, { routeWrite: false, lastWriteLsn: 500n });
    // A client's own later write stays what its reads wait for.
    const writer = { routeWrite: false, lastWriteLsn: 900n as bigint | null };
    followReplay(writer, st);
    assert.equal(writer.lastWriteLsn, 900n);
  });

  it('on the primary no longer than a while, should the position never be learned', () => {
    const st = statement();
    staleSeen({ replayToLearn: null } as StatementLink, st);
    st.primaryUntil = Date.now() - 1;
    const session = { routeWrite: false, lastWriteLsn: null as bigint | null };
    followReplay(session, st);
    assert.deepEqual(session, { routeWrite: false, lastWriteLsn: null });
    assert.equal(st.primaryUntil, 0);
  });

  it('a statement no server showed stale changes nothing', () => {
    const session = { routeWrite: false, lastWriteLsn: null as bigint | null };
    followReplay(session, statement());
    assert.deepEqual(session, { routeWrite: false, lastWriteLsn: null });
  });
});
