import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { WholeMessages } from '../../src/protocol/whole-messages.js';
import { MessageScanner, collectTable } from '../../src/protocol/scanner.js';

/** Frontend messages of every size class: a 5-byte Sync, a Bind bigger than most cuts, CopyData. */
const parseMsg = serialize.parse({ name: 's1', text: 'SELECT $1::text', types: [25] });
const bindMsg = serialize.bind({ statement: 's1', values: ['x'.repeat(200)] });
const copyData = serialize.copyData(Buffer.alloc(300, 7));
const stream = Buffer.concat([parseMsg, bindMsg, serialize.execute({}), serialize.sync(), copyData, serialize.sync()]);
const copyStart = stream.length - copyData.length - 5; // where CopyData begins

/** Feed `stream` cut at `cuts`; returns the pieces emitted. */
function run(cuts: number[]): Buffer[] {
  const w = new WholeMessages(1 << 20);
  const pieces: Buffer[] = [];
  let pos = 0;
  for (const cut of [...cuts, stream.length]) {
    w.split(stream.subarray(pos, cut), (p) => pieces.push(Buffer.from(p)));
    pos = cut;
  }
  return pieces;
}

/** Whether every piece ends at a message boundary, CopyData excepted. */
function boundaries(): Set<number> {
  const ends = new Set<number>([0]);
  let off = 0;
  while (off < stream.length) {
    off += 1 + stream.readUInt32BE(off + 1);
    ends.add(off);
  }
  return ends;
}

describe('WholeMessages', () => {
  it('passes the stream unchanged, in order, whatever the cuts', () => {
    for (const cuts of [
      [],
      [1],
      [3],
      [parseMsg.length + 2],
      [parseMsg.length + 100, parseMsg.length + 150],
      [7, 8, 9, 10, 11],
    ]) {
      assert.deepEqual(Buffer.concat(run(cuts)), stream, `cuts ${cuts}`);
    }
    // Every single-byte cut, too.
    for (let cut = 1; cut < stream.length; cut++) assert.deepEqual(Buffer.concat(run([cut])), stream, `cut ${cut}`);
  });

  it('emits only whole messages, except pieces of CopyData', () => {
    const ends = boundaries();
    for (let cut = 1; cut < stream.length; cut++) {
      let at = 0;
      for (const piece of run([cut])) {
        const pieceEnd = at + piece.length;
        const inCopy = pieceEnd > copyStart && pieceEnd < copyStart + copyData.length;
        assert.ok(ends.has(pieceEnd) || inCopy, `cut ${cut}: a piece ends at ${pieceEnd}, inside a message`);
        at = pieceEnd;
      }
    }
  });

  it('holds a cut Bind until it is whole', () => {
    const pieces = run([parseMsg.length + 20]);
    assert.deepEqual(pieces[0], parseMsg);
    assert.deepEqual(pieces[1]!.subarray(0, bindMsg.length), bindMsg);
  });

  it('passes a bad length on at once, for the scanner to reject', () => {
    const w = new WholeMessages(1 << 20);
    const bad = Buffer.from([0x50, 0xff, 0xff, 0xff, 0xff, 1, 2]);
    const pieces: Buffer[] = [];
    w.split(bad, (p) => pieces.push(p));
    assert.deepEqual(Buffer.concat(pieces), bad);
  });
});

describe('a length is only a claim', () => {
  const claim = (type: number) => {
    const header = Buffer.alloc(5 + 10);
    header[0] = type;
    header.writeInt32BE(200 * 1024 * 1024, 1);
    return header;
  };

  it('WholeMessages holds memory for the bytes received, not the length claimed', () => {
    const before = process.memoryUsage().arrayBuffers;
    const held: WholeMessages[] = [];
    for (let i = 0; i < 20; i++) {
      const w = new WholeMessages(256 * 1024 * 1024);
      w.split(claim(0x42), () => assert.fail('nothing is whole yet'));
      w.split(Buffer.alloc(1000), () => assert.fail('nothing is whole yet'));
      held.push(w);
    }
    assert.ok(
      process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024,
      '20 claims of 200 MB must not allocate them',
    );
  });

  it('MessageScanner assembles a collected body as it arrives', () => {
    const before = process.memoryUsage().arrayBuffers;
    const scanners: MessageScanner[] = [];
    for (let i = 0; i < 20; i++) {
      const s = new MessageScanner(256 * 1024 * 1024, collectTable('Q'));
      assert.equal(s.scan(claim(0x51), { onMessage: () => assert.fail('not complete') }), 15);
      scanners.push(s);
    }
    assert.ok(
      process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024,
      '20 claims of 200 MB must not allocate them',
    );
  });

  it('a body assembled in growing steps arrives intact', () => {
    const body = Buffer.alloc(300 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const message = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 0]), body]);
    message.writeInt32BE(body.length + 4, 1);
    const s = new MessageScanner(1 << 20, collectTable('Q'));
    let got: Buffer | null = null;
    for (let off = 0; off < message.length; off += 7000) {
      s.scan(message.subarray(off, off + 7000), {
        onMessage: (_t, b) => {
          got = Buffer.from(b);
          return true;
        },
      });
    }
    assert.deepEqual(got, body);
  });
});
