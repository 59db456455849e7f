import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import { LocalAnswer, localAnswer, localReply, queryText } from '../../src/proxy/session/first-statement.js';

const types = (messages: Buffer[]) => messages.map((m) => String.fromCharCode(m[0]!) + (m[0] === 0x5a ? String.fromCharCode(m[5]!) : '')).join(' ');

describe('first_statement: BEGIN answered by pgtide', () => {
  const begin = encode.query('BEGIN ISOLATION LEVEL REPEATABLE READ');

  it('a lone BEGIN is deferred, its text kept for the server of the next statement', () => {
    assert.equal(localAnswer(begin, 'begin', undefined, null), LocalAnswer.Begin);
    assert.equal(queryText(begin), 'BEGIN ISOLATION LEVEL REPEATABLE READ');
    assert.equal(types(localReply(LocalAnswer.Begin)), 'C ZT');
  });

  it('a BEGIN that says read only or read write is not deferred, nor a second BEGIN', () => {
    assert.equal(localAnswer(begin, 'begin', true, null), LocalAnswer.None);
    assert.equal(localAnswer(begin, 'begin', undefined, 'BEGIN'), LocalAnswer.None);
  });

  it('the COMMIT or ROLLBACK of the empty transaction is answered too, ending idle', () => {
    assert.equal(localAnswer(encode.query('COMMIT'), 'commit', undefined, 'BEGIN'), LocalAnswer.Commit);
    assert.equal(localAnswer(encode.query('ROLLBACK'), 'rollback', undefined, 'BEGIN'), LocalAnswer.Rollback);
    assert.equal(localAnswer(encode.query('COMMIT'), 'commit', undefined, null), LocalAnswer.None);
    assert.equal(types(localReply(LocalAnswer.Rollback)), 'C ZI');
  });

  it('only a chunk that is exactly one simple Query', () => {
    assert.equal(localAnswer(Buffer.concat([begin, encode.query('SELECT 1')]), 'begin', undefined, null), LocalAnswer.None);
    assert.equal(localAnswer(begin.subarray(0, begin.length - 1), 'begin', undefined, null), LocalAnswer.None);
    assert.equal(localAnswer(encode.sync(), 'begin', undefined, null), LocalAnswer.None);
  });
});
