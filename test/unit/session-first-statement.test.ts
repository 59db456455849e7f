import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import {
  LocalAnswer,
  answerLocally,
  localAnswer,
  type FirstStatementSession,
} from '../../src/proxy/session/first-statement.js';
import { FakeClientSocket } from './session-harness.js';

/** The part of a session answerLocally reads and writes, with its chunk classified as `kind`. */
function session(
  kind: string,
  pendingBegin: string | null = null,
): FirstStatementSession & { socket: FakeClientSocket } {
  return {
    chunkKind: kind,
    chunkReadOnly: undefined,
    pendingBegin,
    queuedSyncs: 1,
    socket: new FakeClientSocket(),
  } as never;
}

describe('first_statement: BEGIN answered by pgtide', () => {
  const begin = encode.query('BEGIN ISOLATION LEVEL REPEATABLE READ');

  it('a lone BEGIN is deferred, its text kept for the server of the next statement, and answered in a transaction', () => {
    const s = session('begin');
    assert.equal(answerLocally(s, begin), true);
    assert.equal(s.pendingBegin, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
    assert.equal(s.queuedSyncs, 0, 'no server owes its ReadyForQuery');
    assert.equal(s.socket.takeTypes(), 'C ZT');
  });

  it('a BEGIN that says read only or read write is not deferred, nor a second BEGIN', () => {
    assert.equal(localAnswer(begin, 'begin', true, null), LocalAnswer.None);
    const s = session('begin', 'BEGIN');
    assert.equal(answerLocally(s, begin), false);
    assert.equal(s.pendingBegin, 'BEGIN');
    assert.equal(s.socket.takeTypes(), '');
  });

  it('the COMMIT or ROLLBACK of the empty transaction is answered too, ending idle', () => {
    const s = session('rollback', 'BEGIN');
    assert.equal(answerLocally(s, encode.query('ROLLBACK')), true);
    assert.equal(s.pendingBegin, null);
    assert.equal(s.socket.takeTypes(), 'C ZI');
    assert.equal(localAnswer(encode.query('COMMIT'), 'commit', undefined, 'BEGIN'), LocalAnswer.Commit);
    assert.equal(localAnswer(encode.query('COMMIT'), 'commit', undefined, null), LocalAnswer.None);
  });

  it('only a chunk that is exactly one simple Query', () => {
    assert.equal(
      localAnswer(Buffer.concat([begin, encode.query('SELECT 1')]), 'begin', undefined, null),
      LocalAnswer.None,
    );
    assert.equal(localAnswer(begin.subarray(0, begin.length - 1), 'begin', undefined, null), LocalAnswer.None);
    assert.equal(localAnswer(encode.sync(), 'begin', undefined, null), LocalAnswer.None);
  });
});
