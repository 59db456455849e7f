import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import {
  Refusal,
  isStandbyOnlyRefusal,
  laterAnswersIn,
  onlyShutdownNotices,
  refusalIn,
} from '../../src/proxy/session/read-retry.js';

const readOnly = () => encode.errorResponse('ERROR', '25006', 'cannot execute INSERT in a read-only transaction');
const unloggedOnStandby = (routine: string | undefined) =>
  encode.errorResponse(
    'ERROR',
    '0A000',
    'cannot access temporary or unlogged relations during recovery',
    undefined,
    undefined,
    routine,
  );
const other = () => encode.errorResponse('ERROR', '23505', 'duplicate key');
const cat = (...parts: Buffer[]) => Buffer.concat(parts);

describe('refusalIn', () => {
  it('a refusal ending idle is complete: nothing of it need reach the client', () => {
    assert.equal(refusalIn(cat(readOnly(), encode.readyForQuery('I')), isStandbyOnlyRefusal, null), Refusal.Complete);
  });

  it('a refusal whose ReadyForQuery is still to come awaits it, and the next chunk completes it', () => {
    assert.equal(refusalIn(readOnly(), isStandbyOnlyRefusal, null), Refusal.AwaitingReady);
    assert.equal(refusalIn(encode.readyForQuery('I'), isStandbyOnlyRefusal, null, true), Refusal.Complete);
  });

  it('every pipelined batch refused counts; one that ran does not', () => {
    const refusedTwice = cat(readOnly(), encode.readyForQuery('I'), readOnly(), encode.readyForQuery('I'));
    assert.equal(refusalIn(refusedTwice, isStandbyOnlyRefusal, null), Refusal.Complete);
    const secondRan = cat(
      readOnly(),
      encode.readyForQuery('I'),
      encode.commandComplete('SELECT 1'),
      encode.readyForQuery('I'),
    );
    assert.equal(refusalIn(secondRan, isStandbyOnlyRefusal, null), Refusal.None);
    // On a standby the batch that ran is a read: it may be dropped and run again after the refused one.
    assert.equal(refusalIn(secondRan, isStandbyOnlyRefusal, null, false, false, true), Refusal.LaterRan);
  });

  it('rows, another error, a transaction block or a cut message are no refusal', () => {
    assert.equal(
      refusalIn(cat(encode.dataRow(['1']), readOnly(), encode.readyForQuery('I')), isStandbyOnlyRefusal, null),
      Refusal.None,
    );
    assert.equal(refusalIn(cat(other(), encode.readyForQuery('I')), isStandbyOnlyRefusal, null), Refusal.None);
    assert.equal(refusalIn(cat(readOnly(), encode.readyForQuery('E')), isStandbyOnlyRefusal, null), Refusal.None);
    const whole = cat(readOnly(), encode.readyForQuery('I'));
    assert.equal(refusalIn(whole.subarray(0, whole.length - 2), isStandbyOnlyRefusal, null), Refusal.None);
  });

  it("afterAnswers: a refusal after its batch's earlier rows counts; a batch that ran before it still does not", () => {
    const readThenWrite = cat(
      encode.rowDescription([{ name: 'count', typeOid: 20 }]),
      encode.dataRow(['0']),
      encode.commandComplete('SELECT 1'),
      readOnly(),
      encode.readyForQuery('I'),
    );
    assert.equal(refusalIn(readThenWrite, isStandbyOnlyRefusal, null), Refusal.None);
    assert.equal(refusalIn(readThenWrite, isStandbyOnlyRefusal, null, false, true), Refusal.Complete);
    assert.equal(
      refusalIn(readThenWrite.subarray(0, readThenWrite.length - 6), isStandbyOnlyRefusal, null, false, true),
      Refusal.AwaitingReady,
    );
    const earlierBatchRan = cat(encode.commandComplete('SELECT 1'), encode.readyForQuery('I'), readThenWrite);
    assert.equal(refusalIn(earlierBatchRan, isStandbyOnlyRefusal, null, false, true), Refusal.None);
    const inBlock = cat(encode.dataRow(['0']), readOnly(), encode.readyForQuery('E'));
    assert.equal(refusalIn(inBlock, isStandbyOnlyRefusal, null, false, true), Refusal.None);
  });

  it('asks the retryable test with the context it is given', () => {
    const seen: string[] = [];
    const retryable = (error: { code: string }, context: string[]) => (context.push(error.code), true);
    assert.equal(refusalIn(cat(other(), encode.readyForQuery('I')), retryable, seen), Refusal.Complete);
    assert.deepEqual(seen, ['23505']);
  });

  it("a standby's refusal to read an unlogged table is one, known by its routine; other 0A000 errors are not", () => {
    const refused = (routine: string | undefined) =>
      refusalIn(cat(unloggedOnStandby(routine), encode.readyForQuery('I')), isStandbyOnlyRefusal, null);
    assert.equal(refused('get_relation_info'), Refusal.Complete);
    assert.equal(refused('RevalidateCachedQuery'), Refusal.None);
    assert.equal(refused(undefined), Refusal.None);
  });
});

describe('laterAnswersIn: answers of batches a standby ran after a refused one', () => {
  const rows = cat(
    encode.rowDescription([{ name: 'n', typeOid: 23 }]),
    encode.dataRow(['2']),
    encode.commandComplete('SELECT 1'),
  );
  it('reads that ended idle, errors and notices among them, may be dropped', () => {
    const answers = cat(rows, encode.readyForQuery('I'), other(), encode.readyForQuery('I'));
    assert.equal(laterAnswersIn(answers, 0), Refusal.LaterRan);
    assert.equal(laterAnswersIn(cat(encode.commandComplete('SHOW'), encode.readyForQuery('I')), 0), Refusal.LaterRan);
    // A batch still going: its ReadyForQuery comes in a later chunk.
    assert.equal(laterAnswersIn(rows, 0), Refusal.LaterRan);
  });

  it("anything that changed what pgtide follows, or may have, is the client's after all", () => {
    for (const answer of [
      cat(encode.commandComplete('SET'), encode.readyForQuery('I')),
      cat(encode.commandComplete('BEGIN'), encode.readyForQuery('T')),
      cat(rows, encode.readyForQuery('T')),
      encode.parameterStatus('TimeZone', 'UTC'),
      encode.errorResponse('FATAL', '57P01', 'terminating connection'),
      // A message cut at the chunk's end.
      rows.subarray(0, rows.length - 3),
    ])
      assert.equal(laterAnswersIn(answer, 0), Refusal.None);
  });
});

describe("a server's warnings that it goes away", () => {
  it('answer nothing alone; with anything else, or another notice, they do', () => {
    const immediate = encode.noticeResponse(
      'WARNING',
      '57P01',
      'terminating connection due to immediate shutdown command',
    );
    const crash = encode.noticeResponse(
      'WARNING',
      '57P02',
      'terminating connection because of crash of another server process',
    );
    const cases: [string, Buffer, boolean][] = [
      ['an immediate shutdown', immediate, true],
      ['a crash, twice', Buffer.concat([crash, crash]), true],
      ['a plain notice', encode.noticeResponse('NOTICE', '00000', 'hello'), false],
      [
        'then a row description',
        Buffer.concat([immediate, encode.rowDescription([{ name: 'a', typeOid: 23 }])]),
        false,
      ],
      ['cut', immediate.subarray(0, immediate.length - 1), false],
      [
        'an error',
        encode.errorResponse('FATAL', '57P01', 'terminating connection due to administrator command'),
        false,
      ],
    ];
    for (const [what, chunk, alone] of cases) assert.equal(onlyShutdownNotices(chunk), alone, what);
  });
});
