import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import {
  StartupReader,
  parseOptions,
  StartupOptionsError,
  startupName,
  MAX_STARTUP_PACKET,
  type StartupPacket,
} from '../../src/protocol/startup.js';
import * as encode from '../../src/protocol/encode.js';

/** An untyped packet: Int32 length (counting itself), Int32 code, then `rest`. */
function packet(code: number, rest: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8 + rest.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(code, 4);
  rest.copy(b, 8);
  return b;
}

function version(major: number, minor: number): number {
  return (major << 16) | minor;
}

function pairs(...strings: string[]): Buffer {
  return Buffer.from(strings.map((s) => s + '\0').join(''), 'utf8');
}

function readOne(bytes: Buffer): { packet: StartupPacket; consumed: number } {
  const result = new StartupReader().push(bytes);
  assert.ok(result, 'expected a complete packet');
  return result;
}

function expectError(bytes: Buffer, sqlstate: string, message: RegExp): void {
  const { packet: p } = readOne(bytes);
  assert.equal(p.kind, 'error');
  if (p.kind === 'error') {
    assert.equal(p.sqlstate, sqlstate);
    assert.match(p.message, message);
  }
}

describe('StartupReader: StartupMessage', () => {
  const bytes = serialize.startup({ user: 'alice', database: 'app', options: '-c search_path=s1' });

  it('decodes parameters of a libpq-style StartupMessage', () => {
    const { packet: p, consumed } = readOne(bytes);
    assert.equal(consumed, bytes.length);
    assert.deepEqual(p, {
      kind: 'startup',
      major: 3,
      minor: 0,
      params: new Map([
        ['user', 'alice'],
        ['database', 'app'],
        ['options', '-c search_path=s1'],
        ['client_encoding', 'UTF8'],
      ]),
      unknownProtocolOptions: [],
    });
  });

  it('gives the same packet for a split at every offset, consuming only what it needs', () => {
    const expected = readOne(bytes).packet;
    for (let cut = 1; cut < bytes.length; cut++) {
      const reader = new StartupReader();
      assert.equal(reader.push(bytes.subarray(0, cut)), null, `split at ${cut}`);
      assert.deepEqual(reader.push(bytes.subarray(cut)), { packet: expected, consumed: bytes.length - cut });
    }
  });

  it('works byte by byte', () => {
    const reader = new StartupReader();
    for (let i = 0; i < bytes.length - 1; i++) assert.equal(reader.push(bytes.subarray(i, i + 1)), null);
    assert.equal(reader.push(bytes.subarray(bytes.length - 1))?.packet.kind, 'startup');
  });

  it('leaves typed messages that follow the packet in the same chunk unconsumed', () => {
    const q = serialize.query('SELECT 1');
    const { consumed } = readOne(Buffer.concat([bytes, q]));
    assert.equal(consumed, bytes.length);
  });

  it('matches our own startupMessage encoder', () => {
    const { packet: p } = readOne(encode.startupMessage({ user: 'bob', application_name: 'ü' }));
    assert.equal(p.kind, 'startup');
    if (p.kind === 'startup')
      assert.deepEqual(
        [...p.params],
        [
          ['user', 'bob'],
          ['application_name', 'ü'],
        ],
      );
  });

  it('accepts 3.2 and separates _pq_. protocol options from parameters', () => {
    const { packet: p } = readOne(packet(version(3, 2), pairs('user', 'u', '_pq_.compression', 'on', '')));
    assert.deepEqual(p, {
      kind: 'startup',
      major: 3,
      minor: 2,
      params: new Map([['user', 'u']]),
      unknownProtocolOptions: ['_pq_.compression'],
    });
  });
});

describe('StartupReader: request codes', () => {
  it('decodes SSLRequest and leaves the TLS ClientHello that follows', () => {
    const clientHello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x2f]);
    const { packet: p, consumed } = readOne(Buffer.concat([serialize.requestSsl(), clientHello]));
    assert.deepEqual(p, { kind: 'ssl' });
    assert.equal(consumed, 8);
  });

  it('reads the StartupMessage that follows an SSLRequest refusal', () => {
    const reader = new StartupReader();
    assert.deepEqual(reader.push(encode.sslRequest())?.packet, { kind: 'ssl' });
    reader.reset();
    assert.equal(reader.push(serialize.startup({ user: 'u' }))?.packet.kind, 'startup');
  });

  describe('each encryption request is answered once, as by PostgreSQL', () => {
    const SSL = encode.sslRequest();
    const GSS = packet(80877104);
    /** What the reader makes of each packet in turn; 'S' after an ssl starts TLS. */
    function readAll(...steps: (Buffer | 'S')[]): string[] {
      const reader = new StartupReader();
      const seen: string[] = [];
      for (const step of steps) {
        if (step === 'S') {
          reader.tlsStarted();
          continue;
        }
        const got = reader.push(step)!.packet;
        seen.push(got.kind === 'error' ? `${got.sqlstate} ${got.message}` : got.kind);
      }
      return seen;
    }
    const SECOND_SSL = '0A000 unsupported frontend protocol 1234.5679: server supports 3.0 to 3.2';
    const SECOND_GSS = '0A000 unsupported frontend protocol 1234.5680: server supports 3.0 to 3.2';

    it('a second SSLRequest, after N or after TLS began, is an unsupported protocol', () => {
      assert.deepEqual(readAll(SSL, SSL), ['ssl', SECOND_SSL]);
      assert.deepEqual(readAll(SSL, 'S', SSL), ['ssl', SECOND_SSL]);
    });

    it('a second GSSENCRequest too, and one after TLS began', () => {
      assert.deepEqual(readAll(GSS, GSS), ['gssenc', SECOND_GSS]);
      assert.deepEqual(readAll(SSL, 'S', GSS), ['ssl', SECOND_GSS]);
      assert.deepEqual(readAll(GSS, SSL, 'S', GSS), ['gssenc', 'ssl', SECOND_GSS]);
    });

    it("an SSLRequest after GSSENCRequest's N (libpq's gssencmode=prefer), and the reverse, are answered", () => {
      assert.deepEqual(readAll(GSS, SSL, serialize.startup({ user: 'u' })), ['gssenc', 'ssl', 'startup']);
      assert.deepEqual(readAll(SSL, GSS, SSL), ['ssl', 'gssenc', SECOND_SSL]);
    });
  });

  it('decodes GSSENCRequest', () => {
    assert.deepEqual(readOne(packet(80877104)).packet, { kind: 'gssenc' });
  });

  it('decodes a 3.0 CancelRequest', () => {
    const { packet: p, consumed } = readOne(serialize.cancel(4242, 0x01020304));
    assert.equal(consumed, 16);
    assert.deepEqual(p, { kind: 'cancel', pid: 4242, secret: Buffer.from([1, 2, 3, 4]) });
  });

  it('decodes a 3.2 CancelRequest with a 32-byte key, and our encoder round-trips it', () => {
    const secret = Buffer.alloc(32, 7);
    assert.deepEqual(readOne(encode.cancelRequest(0xfffffffe, secret)).packet, {
      kind: 'cancel',
      pid: 0xfffffffe,
      secret,
    });
  });

  it('rejects a cancel key shorter than 4 or longer than 256 bytes', () => {
    for (const size of [0, 3, 257]) {
      const rest = Buffer.alloc(4 + size);
      expectError(packet(80877102, rest), '08P01', /cancel request/);
    }
  });

  it('rejects an SSLRequest with trailing bytes inside its length', () => {
    expectError(packet(80877103, Buffer.alloc(4)), '08P01', /encryption request/);
  });
});

describe('StartupReader: hostile input', () => {
  it("reports a PasswordMessage ('p') where a startup packet is expected, after one byte", () => {
    const { packet: p, consumed } = readOne(serialize.password('secret'));
    assert.deepEqual(p, {
      kind: 'error',
      sqlstate: '08P01',
      message: "expected a startup packet but received a message of type 'p'",
    });
    assert.equal(consumed, 1);
  });

  it("reads a Terminate ('X') where a startup packet is expected as the client giving up, not as an error", () => {
    const { packet: p, consumed } = readOne(Buffer.from([0x58, 0, 0, 0, 4]));
    assert.deepEqual(p, { kind: 'terminate' });
    assert.equal(consumed, 1);
  });

  it("reports a Query ('Q') where a startup packet is expected", () => {
    expectError(serialize.query('SELECT 1'), '08P01', /message of type 'Q'/);
  });

  it('rejects unknown protocol versions and request codes with 0A000, as PostgreSQL does', () => {
    expectError(
      packet(version(4, 0), pairs('user', 'u', '')),
      '0A000',
      /^unsupported frontend protocol 4\.0: server supports 3\.0 to 3\.2$/,
    );
    expectError(packet(version(2, 0), pairs('user', 'u', '')), '0A000', /unsupported frontend protocol 2\.0/);
    expectError(
      packet(version(1234, 5681)),
      '0A000',
      /^unsupported frontend protocol 1234\.5681: server supports 3\.0 to 3\.2$/,
    );
  });

  it('rejects startup packets too small or too large', () => {
    for (const length of [0, 4, 7, MAX_STARTUP_PACKET + 1, 0x7fff]) {
      const b = Buffer.alloc(8);
      b.writeInt32BE(length, 0);
      expectError(b, '08P01', /invalid length of startup packet/);
    }
  });

  it('accepts a packet of exactly MAX_STARTUP_PACKET bytes', () => {
    const filler = 'x'.repeat(MAX_STARTUP_PACKET - 8 - 'user\0u\0big\0'.length - 2);
    const big = packet(version(3, 0), pairs('user', 'u', 'big', filler, ''));
    assert.equal(big.length, MAX_STARTUP_PACKET);
    assert.equal(readOne(big).packet.kind, 'startup');
  });

  it('waits (null) for a truncated packet instead of guessing', () => {
    const bytes = serialize.startup({ user: 'u' });
    const reader = new StartupReader();
    assert.equal(reader.push(bytes.subarray(0, 3)), null);
    assert.equal(reader.push(bytes.subarray(3, bytes.length - 1)), null);
  });

  it('rejects parameters without the final NUL', () => {
    expectError(packet(version(3, 0), pairs('user', 'u')), '08P01', /expected terminator as last byte/);
    expectError(packet(version(3, 0)), '08P01', /expected terminator as last byte/);
  });

  it('rejects a name without a value and bytes after the terminator', () => {
    expectError(packet(version(3, 0), pairs('user', 'u', 'database')), '08P01', /expected terminator/);
    expectError(
      packet(version(3, 0), Buffer.concat([pairs('user', 'u', ''), Buffer.from('x')])),
      '08P01',
      /expected terminator/,
    );
  });

  it('requires a non-empty user (28000)', () => {
    const message = /^no PostgreSQL user name specified in startup packet$/;
    expectError(packet(version(3, 0), pairs('database', 'd', '')), '28000', message);
    expectError(packet(version(3, 0), pairs('user', '', '')), '28000', message);
  });

  it('takes the last value of a parameter given twice, as PostgreSQL does', () => {
    const read = new StartupReader().push(packet(version(3, 0), pairs('user', 'a', 'x', '1', 'user', 'b', '')));
    assert.equal(read?.packet.kind, 'startup');
    if (read?.packet.kind !== 'startup') return;
    assert.deepEqual(
      [...read.packet.params],
      [
        ['user', 'b'],
        ['x', '1'],
      ],
    );
  });

  it('reset() discards a partial packet', () => {
    const reader = new StartupReader();
    assert.equal(reader.push(Buffer.from([0, 0, 0])), null);
    reader.reset();
    assert.deepEqual(reader.push(encode.sslRequest()), { packet: { kind: 'ssl' }, consumed: 8 });
  });
});

describe('startupName', () => {
  it('cuts user and database names to 63 bytes, as PostgreSQL looks them up', () => {
    assert.equal(startupName('app'), 'app');
    assert.equal(startupName('a'.repeat(63)), 'a'.repeat(63));
    assert.equal(startupName('a'.repeat(70)), 'a'.repeat(63));
    assert.equal(startupName('é'.repeat(31)), 'é'.repeat(31));
    assert.equal(startupName('é'.repeat(32)), 'é'.repeat(31) + '\ufffd');
  });
});

describe('parseOptions', () => {
  it('parses -c name=value, -cname=value and --name=value', () => {
    assert.deepEqual(
      parseOptions('-c search_path=s1  -cstatement_timeout=5s --work-mem=64MB'),
      new Map([
        ['search_path', 's1'],
        ['statement_timeout', '5s'],
        ['work_mem', '64MB'],
      ]),
    );
  });

  it('honours backslash-escaped spaces and backslashes', () => {
    assert.deepEqual(parseOptions('-c application_name=my\\ app\\\\x'), new Map([['application_name', 'my app\\x']]));
  });

  it('returns an empty map for blank options', () => {
    assert.deepEqual(parseOptions('   '), new Map());
  });

  it("rejects empty names, missing values and unsupported switches in PostgreSQL's words and SQLSTATEs", () => {
    const refusals: [string, string, string][] = [
      ['-c=', '42704', 'unrecognized configuration parameter ""'],
      ['-c =x', '42704', 'unrecognized configuration parameter ""'],
      ['--=x', '42704', 'unrecognized configuration parameter ""'],
      ['-c', '42601', 'invalid command-line argument for server process: -c'],
      ['-c name', '42601', '-c name requires a value'],
      ['-cname', '42601', '-c name requires a value'],
      ['--name', '42601', '--name requires a value'],
      ['--', '42601', 'invalid command-line argument for server process: --'],
      ['-d 5', '42601', 'invalid command-line argument for server process: -d'],
      ['plain', '42601', 'invalid command-line argument for server process: plain'],
    ];
    for (const [bad, sqlstate, message] of refusals) {
      const result = parseOptions(bad);
      assert.ok(result instanceof StartupOptionsError, `accepted ${JSON.stringify(bad)}`);
      assert.deepEqual([result.sqlstate, result.message], [sqlstate, message], bad);
    }
  });
});
