import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Classifier } from '../../src/sql/index.js';
import { keptSessionState, keptStateName, refusedQuery } from '../../src/proxy/session/pinning.js';
import { editedChunk, replaceMessage, type EditSession } from '../../src/proxy/session/chunk-edits.js';
import * as encode from '../../src/protocol/encode.js';
import { collectTable, MessageScanner } from '../../src/protocol/scanner.js';

const classifier = new Classifier();

function scanner(): MessageScanner {
  return new MessageScanner(1 << 20, collectTable(''));
}

describe('keptSessionState', () => {
  it('names the state a statement leaves on its server, in a multi-statement query too', () => {
    assert.equal(keptSessionState(classifier.classify('CREATE TEMP TABLE t (a int)')), 'temp_table');
    assert.equal(keptSessionState(classifier.classify('LISTEN jobs')), 'listen');
    assert.equal(keptSessionState(classifier.classify('SELECT 1; SELECT pg_advisory_lock(1)')), 'advisory_lock');
    assert.equal(keptSessionState(classifier.classify('SET SESSION AUTHORIZATION alice')), 'session_authorization');
  });

  it('keeps nothing for plain statements and settings pgtide replays', () => {
    assert.equal(keptSessionState(classifier.classify('SELECT 1')), null);
    assert.equal(keptSessionState(classifier.classify("SET search_path = 'app'")), null);
    assert.equal(keptSessionState(classifier.classify('SET LOCAL SESSION AUTHORIZATION alice')), null);
    // Back to the user the server connection logged in as (Npgsql's reset of a pooled connection).
    assert.equal(keptSessionState(classifier.classify('SET SESSION AUTHORIZATION DEFAULT; RESET ALL')), null);
    assert.equal(keptSessionState(classifier.classify('RESET SESSION AUTHORIZATION')), null);
  });

  it('says what users call the state', () => {
    assert.equal(keptStateName('hold_cursor'), 'a WITH HOLD cursor');
  });
});

describe('a refused Query in its chunk', () => {
  it('is replaced by one the server fails with 0A000, keeping the bytes around it', () => {
    const before = encode.query('SELECT 1');
    const refused = encode.query('LISTEN jobs');
    const after = encode.sync();
    const data = Buffer.concat([before, refused, after]);
    const s: EditSession = { edits: null, syncEnd: data.length, scanner: scanner() };
    replaceMessage(s, before.length, before.length + refused.length, refusedQuery('LISTEN'));
    const out = editedChunk(s, data);
    assert.equal(s.edits, null);
    assert.deepEqual(out.subarray(0, before.length), before);
    assert.deepEqual(out.subarray(out.length - after.length), after);
    assert.equal(s.syncEnd, out.length, 'the Sync still ends the chunk');
    const replaced = out.subarray(before.length, out.length - after.length).toString();
    assert.match(replaced, /^Q.*RAISE EXCEPTION USING ERRCODE = 'feature_not_supported'/s);
    assert.match(replaced, /LISTEN would tie this session to one server connection/);
  });
});

describe('an edit of a message not whole in its chunk', () => {
  it('is not made: the bytes go as they came', () => {
    const whole = encode.query('LISTEN jobs');
    // Only the last bytes of the message are in this chunk: its start went with the one before.
    const tail = whole.subarray(6);
    const s: EditSession = { edits: null, syncEnd: -1, scanner: scanner() };
    assert.equal(replaceMessage(s, tail.length - whole.length, tail.length, refusedQuery('LISTEN')), false);
    assert.equal(s.edits, null);
    // A position that is no message's start (a head read across chunks) is not edited either.
    const other = Buffer.concat([encode.sync(), whole]);
    replaceMessage(s, 2, 2 + whole.length, refusedQuery('LISTEN'));
    assert.deepEqual(editedChunk(s, other), other);
  });

  it('is not asked for a message the scan assembled across chunks, even where its bytes pose as one', () => {
    const posing = encode.query('LISTEN jobs');
    const s: EditSession = { edits: null, syncEnd: -1, scanner: scanner() };
    s.scanner.assembled = true;
    assert.equal(replaceMessage(s, 0, posing.length, refusedQuery('LISTEN')), false);
    assert.equal(s.edits, null);
  });
});
