import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import { BackendMessage } from '../../src/protocol/types.js';
import { editAnswers, type AnswerEdit, type EditLink } from '../../src/proxy/session/statement-link.js';

type Server = { cutHeaderType: number; cutHeaderLength: number };

/** A statement link and its server, as editAnswers sees them. */
function session(edits: AnswerEdit[], cut: { type: number; length: number } = { type: 0, length: 0 }) {
  const tracker = { checkingShape: false };
  const link: EditLink = { answerEdits: edits, cutAnswer: null, tracker: tracker as never };
  const server: Server = { cutHeaderType: cut.type, cutHeaderLength: cut.length };
  return { link, server, tracker, edit: (chunk: Buffer) => editAnswers(link, server, chunk) };
}

describe('editing the answers the client reads', () => {
  const parseComplete = encode.parseComplete();
  const bindComplete = Buffer.from([BackendMessage.BindComplete, 0, 0, 0, 4]);
  const ready = encode.readyForQuery('I');

  it("a hidden answer goes, an answer of pgtide's own is put in its place, the rest passes as is", () => {
    const chunk = Buffer.concat([parseComplete, bindComplete, ready]);
    const own = encode.closeComplete();
    const s = session([{ start: 0, end: 5, insert: [own] }]);
    assert.deepEqual(Buffer.concat(s.edit(chunk)), Buffer.concat([own, bindComplete, ready]));
    assert.equal(s.link.answerEdits.length, 0, 'the edits are used up');
  });

  it('a ParseComplete cut inside its header at the end of a chunk waits for the next to decide', () => {
    const chunk = Buffer.concat([bindComplete, parseComplete.subarray(0, 2)]);
    const s = session([], { type: BackendMessage.ParseComplete, length: 2 });
    assert.deepEqual(Buffer.concat(s.edit(chunk)), bindComplete);
    assert.deepEqual(s.link.cutAnswer, parseComplete.subarray(0, 2));
    // The next chunk hides the answer it began (its edit starts before the chunk): it is dropped.
    s.server.cutHeaderType = 0;
    s.link.answerEdits.push({ start: -2, end: 3, insert: [] });
    assert.deepEqual(Buffer.concat(s.edit(Buffer.concat([parseComplete.subarray(2), ready]))), ready);
    assert.equal(s.link.cutAnswer, null);
  });

  it('a cut answer that is not hidden reaches the client whole, in order', () => {
    const s = session([], { type: BackendMessage.ParseComplete, length: 2 });
    s.edit(parseComplete.subarray(0, 2));
    s.server.cutHeaderType = 0;
    assert.deepEqual(
      Buffer.concat(s.edit(Buffer.concat([parseComplete.subarray(2), ready]))),
      Buffer.concat([parseComplete, ready]),
    );
  });

  it('during a shape check, an answer cut anywhere waits, across chunks, until it is known hidden or not', () => {
    const rows = encode.rowDescription([{ name: 'v', typeOid: 23 }]);
    const s = session([{ start: 0, end: 5, insert: [] }]);
    const tracker = s.tracker;
    tracker.checkingShape = true;
    // ParseComplete (hidden), then the first bytes of the RowDescription.
    assert.deepEqual(s.edit(Buffer.concat([parseComplete, rows.subarray(0, 8)])), []);
    // A chunk wholly inside it.
    assert.deepEqual(s.edit(rows.subarray(8, 12)), []);
    // Its end: hidden (its edit starts before the chunk), the check is over.
    tracker.checkingShape = false;
    s.link.answerEdits.push({ start: -12, end: rows.length - 12, insert: [] });
    assert.deepEqual(s.edit(rows.subarray(12)), []);
    assert.equal(s.link.cutAnswer, null);
  });

  it('during a shape check, an error that ends it reaches the client whole, held part first', () => {
    const error = encode.errorResponse('ERROR', '42P01', 'relation "t" does not exist');
    const s = session([]);
    const tracker = s.tracker;
    tracker.checkingShape = true;
    assert.deepEqual(s.edit(error.subarray(0, 7)), []);
    tracker.checkingShape = false;
    assert.deepEqual(Buffer.concat(s.edit(error.subarray(7))), error);
  });
});
