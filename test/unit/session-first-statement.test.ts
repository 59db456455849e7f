import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import {
  LocalAnswer,
  answerLocally,
  localAnswer,
  oneRun,
  type FirstStatementSession,
} from '../../src/proxy/session/first-statement.js';
import { bind, describe as describeMessage, execute, parse } from '../support/pipeline.js';
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
    assert.equal(localAnswer('begin', false, null), LocalAnswer.None);
    assert.equal(localAnswer('begin', true, null), LocalAnswer.Begin);
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
    assert.equal(localAnswer('commit', undefined, 'BEGIN'), LocalAnswer.Commit);
    assert.equal(localAnswer('commit', undefined, null), LocalAnswer.None);
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
    assert.equal(localAnswer('commit', undefined, 'BEGIN', true), LocalAnswer.CommitChain);
    assert.equal(localAnswer('rollback', undefined, 'BEGIN', true), LocalAnswer.RollbackChain);
  });

  it('only a chunk that runs that one statement: one simple Query, or an extended batch of one run', () => {
    assert.equal(oneRun(Buffer.concat([begin, encode.query('SELECT 1')])), null);
    assert.equal(oneRun(begin.subarray(0, begin.length - 1)), null);
    assert.equal(oneRun(encode.sync()), null);
    const run = [parse('s1', 'BEGIN READ ONLY'), bind('', 's1'), describeMessage('P', ''), execute(), encode.sync()];
    assert.deepEqual(oneRun(Buffer.concat(run)), {
      text: 'BEGIN READ ONLY',
      statement: 's1',
      parse: Buffer.from('BEGIN READ ONLY\0\0\0'),
      describes: true,
    });
    assert.deepEqual(oneRun(Buffer.concat(run.slice(1))), {
      text: null,
      statement: 's1',
      parse: null,
      describes: true,
    });
    assert.equal(oneRun(Buffer.concat([run[0]!, run[4]!])), null, 'a Parse alone runs nothing');
    assert.equal(oneRun(Buffer.concat(run.slice(0, 4))), null, 'no Sync: no ReadyForQuery to answer with');
    assert.equal(oneRun(Buffer.concat([parse('s2', 'BEGIN'), ...run.slice(1)])), null, 'another statement bound');
    assert.equal(oneRun(Buffer.concat([bind('p', 's1'), execute('p'), encode.sync()])), null, 'a named portal');
    assert.equal(oneRun(Buffer.concat([bind('', 's1', ['1']), execute(), encode.sync()])), null, 'parameters');
  });

  it('a BEGIN run by a named statement: its Parse answered and kept in the client names, the statement text deferred', () => {
    const named = new Map<string, unknown>();
    const s = {
      ...session('begin', null, { chunkReadOnly: true }),
      ctx: { statements: { intern: (rest: Buffer) => ({ parse: encode.parseWithName('pgtide_1', rest) }) } },
      pool: { stats: {} },
      statements: {
        has: (name: string) => named.has(name),
        named: (name: string) => named.get(name),
        ownText: () => false,
        scope: () => '',
        parsedWithoutServer: (name: string, statement: unknown) => named.set(name, statement),
      },
    } as never as FirstStatementSession & { socket: FakeClientSocket };
    const run = [bind('', 's1'), describeMessage('P', ''), execute(), encode.sync()];
    assert.equal(answerLocally(s, Buffer.concat(run)), false, 'a name the client never prepared: the server says so');
    assert.equal(answerLocally(s, Buffer.concat([parse('s1', 'BEGIN READ ONLY'), ...run])), true);
    assert.equal(s.pendingBegin, 'BEGIN READ ONLY');
    assert.equal(s.socket.takeTypes(), '1 2 n C ZT');
    assert.ok(named.has('s1'));
    s.pendingBegin = null;
    assert.equal(answerLocally(s, Buffer.concat(run.filter((_, i) => i !== 1))), true, 'a later Bind of it');
    assert.equal(s.pendingBegin, 'BEGIN READ ONLY');
    assert.equal(s.socket.takeTypes(), '2 C ZT');
    s.pendingBegin = null;
    const unnamed = [bind('', ''), execute(), encode.sync()];
    assert.equal(answerLocally(s, Buffer.concat(unnamed)), false, 'the unnamed statement of an earlier batch');
    assert.equal(answerLocally(s, Buffer.concat([parse('', 'BEGIN'), ...unnamed])), true, 'of this batch');
    assert.equal(s.pendingBegin, 'BEGIN');
    assert.equal(s.socket.takeTypes(), '1 2 C ZT');
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
