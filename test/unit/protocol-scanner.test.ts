import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import {
  AUTH_MESSAGE_MAX,
  AssemblyBudget,
  HEAD_BYTES,
  MessageScanner,
  collectTable,
  type MessageSink,
} from '../../src/protocol/scanner.js';
import * as encode from '../../src/protocol/encode.js';

interface Seen {
  type: string;
  body: string;
  /** Absolute offset in the whole stream just past the message. */
  end: number;
}

/** A server's answer to a simple query, with odd cases mixed in: an empty (0-byte body)
 *  message, a body larger than a typical chunk, NULL columns. */
const backendStream = Buffer.concat([
  encode.parameterStatus('application_name', 'psql'),
  encode.rowDescription([
    { name: 'id', typeOid: 23 },
    { name: 'payload', typeOid: 25 },
  ]),
  encode.dataRow(['1', 'x'.repeat(300)]),
  encode.dataRow(['2', null]),
  encode.dataRow(['3', 'é']),
  Buffer.from([0x6e, 0, 0, 0, 4]), // NoData: an uncollected empty message
  encode.emptyQueryResponse(),
  encode.commandComplete('SELECT 3'),
  encode.errorResponse('ERROR', '42P01', 'relation "t" does not exist'),
  encode.readyForQuery('I'),
]);
const backendCollect = 'ZEIS';

const clientStream = Buffer.concat([
  serialize.parse({ name: 's1', text: 'SELECT $1::int', types: [23] }),
  serialize.bind({ statement: 's1', portal: '', values: ['42'] }),
  serialize.describe({ type: 'P', name: '' }),
  serialize.execute({ portal: '', rows: 0 }),
  serialize.sync(),
  serialize.query('BEGIN'),
]);
const clientCollect = 'PBQS';

/** Independent reference: walk the complete stream by its length words. */
function expectedMessages(stream: Buffer, types: string): Seen[] {
  const out: Seen[] = [];
  for (let pos = 0; pos < stream.length; ) {
    const type = String.fromCharCode(stream[pos]!);
    const end = pos + 1 + stream.readInt32BE(pos + 1);
    if (types.includes(type)) out.push({ type, body: stream.subarray(pos + 5, end).toString('hex'), end });
    pos = end;
  }
  return out;
}

/** Scans `chunks` in order with one scanner; records collected messages with absolute ends. */
function scanChunks(chunks: Buffer[], types: string): { seen: Seen[]; scanner: MessageScanner } {
  const scanner = new MessageScanner(1 << 20, collectTable(types));
  const seen: Seen[] = [];
  let base = 0;
  for (const chunk of chunks) {
    const sink: MessageSink = {
      onMessage(type, body, end) {
        seen.push({ type: String.fromCharCode(type), body: body.toString('hex'), end: base + end });
        return true;
      },
    };
    assert.equal(scanner.scan(chunk, sink), chunk.length);
    base += chunk.length;
  }
  return { seen, scanner };
}

function splitAt(stream: Buffer, ...cuts: number[]): Buffer[] {
  const bounds = [0, ...cuts, stream.length];
  return bounds.slice(1).map((end, i) => stream.subarray(bounds[i], end));
}

for (const [label, stream, types] of [
  ['backend result stream', backendStream, backendCollect],
  ['client extended-query pipeline', clientStream, clientCollect],
] as const) {
  describe(`MessageScanner on a ${label}`, () => {
    const expected = expectedMessages(stream, types);

    it('collects the expected messages from the whole stream', () => {
      assert.ok(expected.length >= 4);
      const { seen, scanner } = scanChunks([stream], types);
      assert.deepEqual(seen, expected);
      assert.equal(scanner.atBoundary, true);
    });

    it('gives identical results for the stream split into 2 chunks at every offset', () => {
      for (let cut = 1; cut < stream.length; cut++) {
        const { seen, scanner } = scanChunks(splitAt(stream, cut), types);
        assert.deepEqual(seen, expected, `split at ${cut}`);
        assert.equal(scanner.atBoundary, true);
      }
    });

    it('gives identical results for 1-byte chunks', () => {
      const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
      assert.deepEqual(scanChunks(chunks, types).seen, expected);
    });

    it('gives identical results for the stream split into 3 chunks at many offset pairs', () => {
      for (let a = 1; a < stream.length; a += 7) {
        for (let b = a + 1; b < stream.length; b += 11) {
          assert.deepEqual(scanChunks(splitAt(stream, a, b), types).seen, expected, `split at ${a},${b}`);
        }
      }
    });
  });
}

describe('MessageScanner buffers', () => {
  it('delivers bodies that lie whole in the chunk as views into it, without copying', () => {
    const chunk = Buffer.from(backendStream);
    const scanner = new MessageScanner(1 << 20, collectTable(backendCollect));
    const bodies: { body: Buffer; end: number }[] = [];
    scanner.scan(chunk, { onMessage: (_t, body, end) => (bodies.push({ body, end }), true) });
    assert.ok(bodies.length > 0);
    for (const { body, end } of bodies) {
      if (body.length === 0) continue;
      chunk.writeUInt8(chunk.readUInt8(end - 1) ^ 0xff, end - 1); // a view sees writes to the chunk; a copy would not
      assert.equal(body[body.length - 1], chunk[end - 1]);
    }
  });

  it('assembles a body that spans chunks into its own buffer', () => {
    const message = Buffer.from(encode.commandComplete('INSERT 0 1'));
    const scanner = new MessageScanner(1 << 20, collectTable('C'));
    const bodies: Buffer[] = [];
    const sink: MessageSink = { onMessage: (_t, body) => (bodies.push(body), true) };
    scanner.scan(message.subarray(0, 8), sink);
    assert.equal(scanner.atBoundary, false);
    scanner.scan(message.subarray(8), sink);
    assert.equal(bodies.length, 1);
    message.fill(0); // the assembled body must not alias the chunks
    assert.equal(bodies[0]!.toString('latin1'), 'INSERT 0 1\0');
  });

  it('keeps only the head of a head-only body that spans chunks, and its end offset right', () => {
    // A Bind with a 100 kB parameter: its names are at the start, the value need not be copied.
    const bind = serialize.bind({ statement: 'stmt', portal: '', values: ['v'.repeat(100_000)] });
    const scanner = new MessageScanner(1 << 20, collectTable('', 'B'));
    const seen: { body: Buffer; end: number }[] = [];
    const assembled: boolean[] = [];
    const sink: MessageSink = {
      onMessage: (_t, body, end) => (seen.push({ body, end }), assembled.push(scanner.assembled), true),
    };
    for (let off = 0; off < bind.length; off += 1000) scanner.scan(bind.subarray(off, off + 1000), sink);
    assert.equal(seen.length, 1);
    assert.equal(scanner.assembled, false, 'only while the message is delivered');
    assert.equal(seen[0]!.body.length, HEAD_BYTES);
    assert.ok(seen[0]!.body.equals(bind.subarray(5, 5 + HEAD_BYTES)));
    assert.equal(seen[0]!.end, ((bind.length - 1) % 1000) + 1);
    assert.equal(scanner.atBoundary, true);
    // Whole in one chunk, it is a view of all of it, as any collected body.
    seen.length = 0;
    scanner.scan(bind, sink);
    assert.equal(seen[0]!.body.length, bind.length - 5);
    assert.deepEqual(assembled, [true, false], 'assembled across chunks, then whole in one');
  });

  it('assembles a bounded body whole while the shared budget holds it, else only its head, marked truncated; the budget comes back', () => {
    const big = encode.query(`SELECT '${'x'.repeat(10_000)}'`);
    const budget = new AssemblyBudget(15_000);
    const one = new MessageScanner(1 << 20, collectTable('', '', 'Q'), budget);
    const two = new MessageScanner(1 << 20, collectTable('', '', 'Q'), budget);
    const seen: { scanner: string; length: number; truncated: boolean }[] = [];
    const sinkOf = (name: string, scanner: MessageScanner): MessageSink => ({
      onMessage: (_t, body) => (seen.push({ scanner: name, length: body.length, truncated: scanner.truncated }), true),
    });
    // Both begin before either ends: the first holds the budget, the second gets a head.
    one.scan(big.subarray(0, 100), sinkOf('one', one));
    two.scan(big.subarray(0, 100), sinkOf('two', two));
    assert.equal(budget.used, big.length - 5);
    one.scan(big.subarray(100), sinkOf('one', one));
    two.scan(big.subarray(100), sinkOf('two', two));
    assert.deepEqual(seen, [
      { scanner: 'one', length: big.length - 5, truncated: false },
      { scanner: 'two', length: HEAD_BYTES, truncated: true },
    ]);
    assert.equal(budget.used, 0);
    // A message cut off by a reset (the client left) gives its bytes back too.
    one.scan(big.subarray(0, 100), sinkOf('one', one));
    assert.equal(budget.used, big.length - 5);
    one.reset();
    assert.equal(budget.used, 0);
  });

  it('reports end offsets relative to the current chunk (start may be negative)', () => {
    const message = encode.commandComplete('SELECT 1');
    const ends: number[] = [];
    const scanner = new MessageScanner(1 << 20, collectTable('C'));
    const sink: MessageSink = { onMessage: (_t, body, end) => (ends.push(end - 5 - body.length), true) };
    scanner.scan(message.subarray(0, 3), sink);
    scanner.scan(message.subarray(3), sink);
    assert.deepEqual(ends, [-3]);
  });
});

describe('MessageScanner control', () => {
  it('stops right after a message when the sink returns false and resumes from there', () => {
    const scanner = new MessageScanner(1 << 20, collectTable('Z'));
    const stream = Buffer.concat([
      encode.readyForQuery('T'),
      encode.commandComplete('COMMIT'),
      encode.readyForQuery('I'),
    ]);
    const statuses: string[] = [];
    const stopAtEach: MessageSink = {
      onMessage: (_t, body) => (statuses.push(body.toString('latin1')), false),
    };
    const first = scanner.scan(stream, stopAtEach);
    assert.equal(first, 6);
    assert.equal(scanner.atBoundary, true);
    assert.equal(scanner.scan(stream, stopAtEach, first), stream.length);
    assert.deepEqual(statuses, ['T', 'I']);
  });

  it('applies a swapped collect table from the next message on', () => {
    const scanner = new MessageScanner(1 << 20, collectTable(''));
    const seen: string[] = [];
    const sink: MessageSink = {
      onMessage(type) {
        seen.push(String.fromCharCode(type));
        return true;
      },
    };
    scanner.scan(encode.commandComplete('SELECT 1'), sink);
    scanner.collect = collectTable('C');
    scanner.scan(encode.commandComplete('SELECT 1'), sink);
    assert.deepEqual(seen, ['C']);
  });

  it('tracks atBoundary through a split header and a split body', () => {
    const message = encode.query('SELECT 1');
    const scanner = new MessageScanner(1 << 20, collectTable(''));
    const noop: MessageSink = { onMessage: () => true };
    assert.equal(scanner.atBoundary, true);
    scanner.scan(message.subarray(0, 2), noop);
    assert.equal(scanner.atBoundary, false);
    scanner.scan(message.subarray(2, 7), noop);
    assert.equal(scanner.atBoundary, false);
    scanner.scan(message.subarray(7), noop);
    assert.equal(scanner.atBoundary, true);
  });
});

describe('MessageScanner hostile input', () => {
  const noop: MessageSink = { onMessage: () => true };

  function header(type: number, length: number): Buffer {
    const b = Buffer.alloc(5);
    b[0] = type;
    b.writeUInt32BE(length >>> 0, 1);
    return b;
  }

  for (const [length, error] of [
    [2, 'invalid message length 2'],
    [0, 'invalid message length 0'],
    [3, 'invalid message length 3'],
    [0x80000000, 'invalid message length -2147483648'],
    [0xffffffff, 'invalid message length -1'],
  ] as const) {
    it(`rejects length word ${length} whole or split, and stays dead`, () => {
      const bad = header(0x51, length);
      for (const cut of [5, 1, 3]) {
        const scanner = new MessageScanner(1 << 20, collectTable('Q'));
        const results = [scanner.scan(bad.subarray(0, cut), noop), scanner.scan(bad.subarray(cut), noop)];
        assert.equal(results.includes(-1), true);
        assert.equal(scanner.error, error);
        assert.equal(scanner.scan(encode.sync(), noop), -1);
      }
    });
  }

  it('rejects a message larger than max_packet_size, accepts one exactly at it', () => {
    const scanner = new MessageScanner(268435456, collectTable(''));
    assert.equal(scanner.scan(header(0x51, 300000000 - 1), noop), -1);
    assert.equal(scanner.error, 'message of 300000000 bytes exceeds max_packet_size 268435456');

    const exact = new MessageScanner(9, collectTable('Q'));
    const msg = encode.query('abc');
    assert.equal(msg.length, 9);
    assert.equal(exact.scan(msg, noop), 9);
    assert.equal(new MessageScanner(8, collectTable('Q')).scan(msg, noop), -1);
  });

  it('during authentication a length of 65535 is the most, as PostgreSQL reads; allow() lifts it', () => {
    const password = (bodyLength: number) =>
      Buffer.concat([header(0x70, bodyLength + 4), Buffer.alloc(bodyLength, 0x61)]);
    const scanner = new MessageScanner(AUTH_MESSAGE_MAX, collectTable('p'));
    assert.equal(scanner.scan(password(65_531), noop), 65_536);
    assert.equal(scanner.scan(header(0x70, 65_536), noop), -1);
    assert.equal(scanner.error, 'message of 65537 bytes exceeds the limit during authentication 65536');
    const loggedIn = new MessageScanner(AUTH_MESSAGE_MAX, collectTable('p'));
    loggedIn.allow(1 << 20);
    assert.equal(loggedIn.scan(password(100_000), noop), 100_005);
  });

  it('never assembles a body for a rejected oversized collected message', () => {
    const scanner = new MessageScanner(1024, collectTable('Q'));
    let called = false;
    assert.equal(scanner.scan(header(0x51, 0x7ffffff0), { onMessage: () => (called = true) }), -1);
    assert.equal(called, false);
  });

  it('rejects a second startup packet arriving as typed data', () => {
    const scanner = new MessageScanner(1 << 20, collectTable('Q'));
    assert.equal(scanner.scan(serialize.query('SELECT 1'), noop), 14);
    assert.equal(scanner.scan(serialize.startup({ user: 'alice' }), noop), -1);
    assert.match(scanner.error, /startup packet/);
  });

  it('recovers after reset()', () => {
    const scanner = new MessageScanner(1 << 20, collectTable('S'));
    assert.equal(scanner.scan(header(0x51, 1), noop), -1);
    scanner.reset();
    assert.equal(scanner.error, '');
    let synced = false;
    assert.equal(scanner.scan(encode.sync(), { onMessage: () => (synced = true) }), 5);
    assert.equal(synced, true);
  });
});

describe('collectTable', () => {
  it('marks exactly the listed type bytes', () => {
    const t = collectTable('ZE');
    assert.equal(t.length, 256);
    assert.deepEqual(
      [...t.keys()].filter((i) => t[i] !== 0),
      [0x45, 0x5a],
    );
  });
});
