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

/** The part of a session answerLocally reads and writes, with its chunk classified as `kind`
 *  (transaction_routing = first_statement unless `conservative` is given). */
function session(
  kind: string,
  pendingBegin: string | null = null,
  conservative: Partial<FirstStatementSession> | null = null,
): FirstStatementSession & { socket: FakeClientSocket } {
  return {
    chunkKind: kind,
    chunkReadOnly: undefined,
    firstStatementRouting: conservative === null,
    readOnlySession: false,
    pendingBegin,
    queuedSyncs: 1,
    socket: new FakeClientSocket(),
    ...conservative,
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

  it('a BEGIN that says read write (or serializable: chunkReadOnly false) is not deferred, nor a second BEGIN', () => {
    assert.equal(localAnswer(begin, 'begin', false, null), LocalAnswer.None);
    assert.equal(localAnswer(begin, 'begin', true, null), LocalAnswer.Begin);
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

  it('COMMIT or ROLLBACK AND CHAIN of the empty transaction: answered in a transaction, the deferred BEGIN kept for the chained one', () => {
    for (const [kind, tag] of [
      ['commit', 'COMMIT'],
      ['rollback', 'ROLLBACK'],
    ] as const) {
      const s = { ...session(kind, 'BEGIN READ ONLY'), chunkChains: true };
      assert.equal(answerLocally(s, encode.query(`${tag} AND CHAIN`)), true);
      assert.equal(s.pendingBegin, 'BEGIN READ ONLY');
      assert.equal(s.socket.takeTypes(), 'C ZT');
    }
    assert.equal(
      localAnswer(encode.query('COMMIT AND CHAIN'), 'commit', undefined, 'BEGIN', true),
      LocalAnswer.CommitChain,
    );
    assert.equal(
      localAnswer(encode.query('ROLLBACK AND CHAIN'), 'rollback', undefined, 'BEGIN', true),
      LocalAnswer.RollbackChain,
    );
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

describe('transaction_routing = conservative: a BEGIN that may run on a standby is answered by pgtide', () => {
  const begin = encode.query('BEGIN');

  it('a plain BEGIN goes to a server (the primary)', () => {
    const s = session('begin', null, {});
    assert.equal(answerLocally(s, begin), false);
    assert.equal(s.socket.takeTypes(), '');
  });

  it('a BEGIN READ ONLY, or a BEGIN of a read-only session, waits for the statement after it', () => {
    for (const conservative of [{ chunkReadOnly: true }, { readOnlySession: true }]) {
      const s = session('begin', null, conservative);
      assert.equal(answerLocally(s, begin), true);
      assert.equal(s.pendingBegin, 'BEGIN');
      assert.equal(s.socket.takeTypes(), 'C ZT');
      s.chunkKind = 'commit';
      s.chunkReadOnly = undefined;
      assert.equal(answerLocally(s, encode.query('COMMIT')), true, 'the end of its empty transaction too');
      assert.equal(s.socket.takeTypes(), 'C ZI');
    }
  });

  it('a serializable BEGIN of a read-only session goes to a server (the primary)', () => {
    const s = session('begin', null, { readOnlySession: true, chunkReadOnly: false });
    assert.equal(answerLocally(s, begin), false);
  });
});
