import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Expect, ResponseTracker } from '../../src/proxy/response-tracker.js';
import { PreparedSet } from '../../src/pool/prepared-set.js';

// Server answers by type byte.
const ParseComplete = 0x31,
  BindComplete = 0x32,
  RowDescription = 0x54,
  NoData = 0x6e,
  CommandComplete = 0x43,
  ErrorResponse = 0x45,
  ReadyForQuery = 0x5a,
  DataRow = 0x44,
  ParameterDescription = 0x74;

/** Feeds answers; returns per answer 'h' (hidden) or 'f' (forwarded), plus '+n' for n answers pgtide adds after it. */
function feed(tracker: ResponseTracker, answers: number[]): string {
  return answers
    .map((type) => {
      const hidden = tracker.onAnswer(type);
      const added = tracker.fakes.splice(0).length;
      return (hidden ? 'h' : 'f') + (added > 0 ? `+${added}` : '');
    })
    .join(' ');
}

describe('ResponseTracker', () => {
  it('hides the ParseComplete of a Parse pgtide added, forwards the rest', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    t.push(Expect.Parse, true, 'pgtide_1');
    t.push(Expect.Bind);
    t.push(Expect.Execute);
    t.push(Expect.Sync);
    assert.equal(feed(t, [ParseComplete, BindComplete, DataRow, CommandComplete, ReadyForQuery]), 'h f f f f');
    assert.ok(t.idle);
  });

  it('the ReadyForQuery of a Sync pgtide adds after a Query is hidden, unless the Query is skipped', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    t.push(Expect.Parse, true, 'pgtide_1');
    t.push(Expect.Query);
    t.pushQueryGuard();
    assert.equal(
      feed(t, [ParseComplete, RowDescription, DataRow, CommandComplete, ReadyForQuery, ReadyForQuery]),
      'h f f f f h',
    );
    assert.ok(t.idle);
    t.push(Expect.Parse, true, 'pgtide_1');
    t.push(Expect.Query);
    t.pushQueryGuard();
    assert.equal(feed(t, [ErrorResponse, ReadyForQuery]), 'f f');
    assert.equal(t.takeSkippedQueries(), 1);
    assert.ok(t.idle);
  });

  it('a Sync added now would end no batch of the client only when none is open', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    assert.equal(t.batchClosed, true);
    t.push(Expect.Query);
    assert.equal(t.batchClosed, true);
    t.push(Expect.Bind);
    assert.equal(t.batchClosed, false);
    t.push(Expect.Query);
    assert.equal(t.batchClosed, false);
    t.push(Expect.Sync);
    assert.equal(t.batchClosed, true);
  });

  it('counts the Queries an error skips, and those sent while the server discards, once', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    for (const kind of [
      Expect.Parse,
      Expect.Bind,
      Expect.Execute,
      Expect.Query,
      Expect.Query,
      Expect.Sync,
      Expect.Query,
    ])
      t.push(kind);
    assert.equal(feed(t, [ParseComplete, ErrorResponse]), 'f f');
    assert.equal(t.takeSkippedQueries(), 2);
    assert.equal(t.takeSkippedQueries(), 0);
    // The Query after the Sync is answered: its own error skips nothing.
    assert.equal(feed(t, [ReadyForQuery, ErrorResponse, ReadyForQuery]), 'f f f');
    assert.equal(t.takeSkippedQueries(), 0);
    // An error with nothing more owed: a Query sent before the next Sync is skipped on arrival.
    t.push(Expect.Execute);
    feed(t, [ErrorResponse]);
    t.push(Expect.Query);
    t.push(Expect.Sync);
    assert.equal(t.takeSkippedQueries(), 1);
  });

  it('answers at once when nothing is owed', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    assert.ok(t.pushFake(Expect.FakeParse) !== null);
    t.push(Expect.Bind);
    assert.equal(t.pushFake(Expect.FakeClose), null);
    t.push(Expect.Sync);
    assert.equal(feed(t, [BindComplete, ReadyForQuery]), 'f+1 f');
  });

  it('a Describe of a statement ends at RowDescription or NoData, not at ParameterDescription', () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Describe);
    t.pushFake(Expect.FakeClose);
    t.push(Expect.Describe);
    t.push(Expect.Sync);
    assert.equal(
      feed(t, [ParameterDescription, RowDescription, ParameterDescription, NoData, ReadyForQuery]),
      'f f+1 f f f',
    );
  });

  it('a shape check: its ParseComplete, ParameterDescription and RowDescription are hidden, and it says when it ended', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    t.push(Expect.Parse, true, 'pgtide_1');
    t.pushShapeCheck('pgtide_1');
    assert.equal(t.checkingShape, true);
    assert.equal(feed(t, [ParseComplete, ParameterDescription]), 'h h');
    assert.equal(t.shapeCheckEnded, false);
    assert.equal(feed(t, [RowDescription]), 'h');
    assert.deepEqual([t.checkingShape, t.shapeCheckEnded, t.describedStatement], [false, true, 'pgtide_1']);
    assert.ok(t.idle);
  });

  it('a shape check skipped by an error before it ends too, and the error reaches the client', () => {
    const set = new PreparedSet(10);
    const t = new ResponseTracker();
    t.reset(set);
    set.add({ serverName: 'pgtide_1', epoch: 0 });
    t.push(Expect.Parse, true, 'pgtide_1');
    t.pushShapeCheck('pgtide_1');
    assert.equal(feed(t, [ErrorResponse]), 'f');
    assert.deepEqual([t.checkingShape, t.shapeCheckEnded, t.skipping, set.has('pgtide_1')], [false, true, true, false]);
  });

  it('a hidden Close skipped after an error leaves its name in doubt, to be closed again', () => {
    const set = new PreparedSet(10);
    const t = new ResponseTracker();
    t.reset(set);
    t.push(Expect.Bind);
    t.push(Expect.Close, true, 'pgtide_4');
    t.push(Expect.Sync);
    assert.equal(feed(t, [ErrorResponse, ReadyForQuery]), 'f f');
    assert.equal(set.isDoubtful('pgtide_4'), true);
  });

  it("after an error, requests up to Sync get no answer, and pgtide's own answers among them are dropped", () => {
    const set = new PreparedSet(10);
    set.add({ serverName: 'pgtide_7', epoch: 0 });
    const failed: string[] = [];
    const t = new ResponseTracker();
    t.reset(set);
    t.onParseFailed = (client, server) => failed.push(`${client}=${server}`);
    t.push(Expect.Bind);
    t.pushFake(Expect.FakeParse, 'pgtide_3', 'mine');
    t.push(Expect.Parse, false, 'pgtide_7', 'other');
    t.push(Expect.Sync);
    assert.equal(feed(t, [ErrorResponse, ReadyForQuery]), 'f f');
    // Undone last first (see the next test).
    assert.deepEqual(failed, ['other=pgtide_7', 'mine=pgtide_3']);
    assert.equal(set.has('pgtide_7'), false, 'a skipped Parse prepared nothing');
    assert.ok(t.idle);
  });

  it('a skipped Close then a skipped Parse of one name: the Parse is undone first, then the Close gives the name back', () => {
    const t = new ResponseTracker();
    t.reset(new PreparedSet(10));
    const undone: string[] = [];
    t.onParseFailed = (client, server) => undone.push(`parse ${client}=${server}`);
    t.onCloseSkipped = (client, server) => undone.push(`close ${client}=${server}`);
    t.push(Expect.Bind);
    t.pushFake(Expect.FakeClose, 'pgtide_1', 's1');
    t.pushFake(Expect.FakeParse, 'pgtide_2', 's1');
    t.push(Expect.Sync);
    assert.equal(feed(t, [ErrorResponse, ReadyForQuery]), 'f f');
    assert.deepEqual(undone, ['parse s1=pgtide_2', 'close s1=pgtide_1']);
    assert.ok(t.idle);
  });

  it('while the server discards to Sync, new requests are not tracked and get nothing', () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Parse);
    assert.equal(feed(t, [ErrorResponse]), 'f');
    assert.equal(t.skipping, true);
    assert.equal(t.pushFake(Expect.FakeParse), null);
    t.push(Expect.Bind);
    t.push(Expect.Sync);
    assert.equal(t.skipping, false);
    assert.equal(feed(t, [ReadyForQuery]), 'f');
    assert.ok(t.idle);
  });

  it('errors inside a simple Query do not skip: it ends at ReadyForQuery', () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Query);
    t.pushFake(Expect.FakeClose);
    assert.equal(feed(t, [RowDescription, DataRow, ErrorResponse, ReadyForQuery]), 'f f f f+1');
  });

  it('remembers the statement of a failed Bind (a stale plan can be retried)', () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Bind, false, 'pgtide_9');
    t.push(Expect.Sync);
    feed(t, [ErrorResponse]);
    assert.equal(t.failedStatement, 'pgtide_9');
  });

  it("names the statement of a Parse at the head, pgtide's or the client's own, and of the client's that failed", () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Parse, true, 'pgtide_3');
    t.push(Expect.Sync);
    assert.deepEqual([t.parseAtHead(), t.parseAtHead(true)], ['pgtide_3', null]);
    feed(t, [ErrorResponse]);
    assert.equal(t.failedParse, 'pgtide_3');
    feed(t, [ReadyForQuery]);
    t.push(Expect.Parse, false, 'pgtide_5', 's_5');
    t.push(Expect.Sync);
    assert.equal(t.parseAtHead(true), 'pgtide_5');
    feed(t, [ErrorResponse]);
    assert.equal(t.failedParse, 'pgtide_5');
    assert.equal(t.failedStatement, null);
    feed(t, [ReadyForQuery]);
    t.pushDuplicate('s_1');
    t.push(Expect.Sync);
    assert.equal(t.parseAtHead(), null);
    feed(t, [ErrorResponse]);
    assert.equal(t.failedParse, null);
    feed(t, [ReadyForQuery]);
    t.push(Expect.Bind, false, 'pgtide_4');
    t.push(Expect.Sync);
    feed(t, [ErrorResponse]);
    assert.deepEqual([t.failedParse, t.failedStatement], [null, 'pgtide_4']);
  });

  it('COPY IN started by Execute: the Syncs sent behind it are not answered', () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Execute);
    t.push(Expect.Sync);
    t.onCopyIn();
    t.push(Expect.Sync);
    assert.equal(feed(t, [CommandComplete, ReadyForQuery]), 'f f');
    assert.ok(t.idle);
  });

  it('a Sync is in flight from when it is sent until it is answered, skipped for COPY, or the link is new', () => {
    const t = new ResponseTracker();
    t.reset(null);
    t.push(Expect.Parse);
    assert.equal(t.syncInFlight, false);
    t.push(Expect.Sync);
    t.pushQueryGuard();
    // Past the ring's first size, its Syncs kept.
    for (let i = 0; i < 40; i++) t.push(Expect.Bind);
    assert.equal(t.syncInFlight, true);
    feed(t, [ParseComplete, ReadyForQuery]);
    assert.equal(t.syncInFlight, true, "pgtide's Sync is owed");
    feed(t, [ReadyForQuery]);
    assert.equal(t.syncInFlight, false);
    t.push(Expect.Sync);
    feed(t, [ErrorResponse, ReadyForQuery]);
    assert.equal(t.syncInFlight, false, 'the error skipped the Binds; the Sync was answered');
    assert.ok(t.idle);
    t.push(Expect.Execute);
    t.push(Expect.Sync);
    t.onCopyIn();
    assert.equal(t.syncInFlight, false, 'the server ignores a Sync sent behind COPY IN');
    t.push(Expect.Sync);
    t.reset(null);
    assert.equal(t.syncInFlight, false);
  });

  it('grows past its first ring size in a long pipeline', () => {
    const t = new ResponseTracker();
    t.reset(null);
    for (let i = 0; i < 100; i++) {
      t.push(Expect.Bind);
      t.pushFake(Expect.FakeClose);
    }
    t.push(Expect.Sync);
    assert.equal(
      feed(t, [...Array(100).fill(BindComplete), ReadyForQuery])
        .split(' ')
        .filter((a) => a === 'f+1').length,
      100,
    );
    assert.ok(t.idle);
  });
});
