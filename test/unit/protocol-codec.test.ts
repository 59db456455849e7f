import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import * as encode from '../../src/protocol/encode.js';
import * as frontend from '../../src/protocol/frontend.js';
import * as backend from '../../src/protocol/backend.js';
import { BackendMessage, FrontendMessage, TransactionStatus } from '../../src/protocol/types.js';

/** Decodes `message` with pg-protocol's client parser (an independent implementation). A
 *  ReadyForQuery is appended so a wrong length word shows up as a garbled second message. */
function oracle(message: Buffer): Record<string, unknown> {
  const seen: Record<string, unknown>[] = [];
  new Parser().parse(Buffer.concat([message, encode.readyForQuery('I')]), (m) => {
    seen.push(m as unknown as Record<string, unknown>);
  });
  assert.equal(seen.length, 2);
  assert.equal(seen[1]!['name'], 'readyForQuery');
  return seen[0]!;
}

/** Splits a typed message into type and body, checking the length word. */
function body(message: Buffer, type: number): Buffer {
  assert.equal(message[0], type);
  assert.equal(message.readInt32BE(1), message.length - 1);
  return message.subarray(5);
}

describe('backend encoders, checked against pg-protocol', () => {
  it('errorResponse carries S, V, C, M, D, H', () => {
    const m = oracle(encode.errorResponse('FATAL', '53300', 'too many clients', 'max 10', 'try later'));
    assert.equal(m['name'], 'error');
    assert.equal(m['severity'], 'FATAL');
    assert.equal(m['code'], '53300');
    assert.equal(m['message'], 'too many clients');
    assert.equal(m['detail'], 'max 10');
    assert.equal(m['hint'], 'try later');
    const fields = backend.decodeErrorFields(
      body(encode.errorResponse('ERROR', '08P01', 'x'), BackendMessage.ErrorResponse),
    );
    assert.deepEqual(fields, { severity: 'ERROR', severityNonLocalized: 'ERROR', code: '08P01', message: 'x' });
  });

  it('errorResponse never throws on a NUL in its text, and keeps the framing', () => {
    const m = oracle(encode.errorResponse('ERROR', 'XX000', 'bad\0name'));
    assert.equal(m['message'], 'bad\uFFFDname');
  });

  it('noticeResponse', () => {
    const m = oracle(encode.noticeResponse('WARNING', '01000', 'careful'));
    assert.equal(m['name'], 'notice');
    assert.equal(m['severity'], 'WARNING');
    assert.equal(m['message'], 'careful');
  });

  it('readyForQuery', () => {
    for (const s of ['I', 'T', 'E'] as const) {
      assert.equal(oracle(encode.readyForQuery(s))['status'], s);
      assert.equal(
        backend.readyForQueryStatus(body(encode.readyForQuery(s), BackendMessage.ReadyForQuery)),
        s.charCodeAt(0),
      );
    }
  });

  it('authentication requests', () => {
    assert.equal(oracle(encode.authenticationOk())['name'], 'authenticationOk');
    assert.equal(oracle(encode.authenticationCleartextPassword())['name'], 'authenticationCleartextPassword');
    const salt = Buffer.from([9, 8, 7, 6]);
    assert.deepEqual(oracle(encode.authenticationMD5Password(salt))['salt'], salt);
    assert.deepEqual(oracle(encode.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']))['mechanisms'], [
      'SCRAM-SHA-256-PLUS',
      'SCRAM-SHA-256',
    ]);
    assert.equal(oracle(encode.authenticationSASLContinue('r=abc,s=xyz,i=4096'))['data'], 'r=abc,s=xyz,i=4096');
    assert.equal(oracle(encode.authenticationSASLFinal(Buffer.from('v=sig')))['data'], 'v=sig');
    assert.throws(() => encode.authenticationMD5Password(Buffer.alloc(3)), RangeError);
  });

  it('decodeAuthentication reads code and data', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(
      backend.decodeAuthentication(body(encode.authenticationMD5Password(salt), BackendMessage.Authentication)),
      {
        code: 5,
        data: salt,
      },
    );
    assert.equal(backend.decodeAuthentication(Buffer.from([0, 0, 0])), null);
  });

  it('parameterStatus', () => {
    const m = oracle(encode.parameterStatus('TimeZone', 'Europe/Zürich'));
    assert.equal(m['parameterName'], 'TimeZone');
    assert.equal(m['parameterValue'], 'Europe/Zürich');
    assert.deepEqual(
      backend.decodeParameterStatus(body(encode.parameterStatus('a', 'b'), BackendMessage.ParameterStatus)),
      {
        name: 'a',
        value: 'b',
      },
    );
  });

  it('backendKeyData round-trips pid and a 3.0 or 3.2 secret', () => {
    const m = oracle(encode.backendKeyData(1234, Buffer.from([0, 0, 1, 0])));
    assert.equal(m['processID'], 1234);
    assert.equal(m['secretKey'], 256);
    const secret = Buffer.alloc(32, 0xab);
    assert.deepEqual(
      backend.decodeBackendKeyData(body(encode.backendKeyData(0xfedcba98, secret), BackendMessage.BackendKeyData)),
      {
        pid: 0xfedcba98,
        secret,
      },
    );
  });

  it('commandComplete, emptyQueryResponse', () => {
    assert.equal(oracle(encode.commandComplete('SHOW'))['text'], 'SHOW');
    assert.equal(oracle(encode.emptyQueryResponse())['name'], 'emptyQuery');
  });

  it('rowDescription and dataRow in text format', () => {
    const rd = oracle(
      encode.rowDescription([
        { name: 'database', typeOid: 25 },
        { name: 'cl_active', typeOid: 20 },
      ]),
    );
    const fields = rd['fields'] as { name: string; dataTypeID: number; format: string }[];
    assert.deepEqual(
      fields.map((f) => [f.name, f.dataTypeID, f.format]),
      [
        ['database', 25, 'text'],
        ['cl_active', 20, 'text'],
      ],
    );
    assert.deepEqual(oracle(encode.dataRow(['pgtide', null, 'ü', '']))['fields'], ['pgtide', null, 'ü', '']);
  });

  it('negotiateProtocolVersion round-trips', () => {
    const m = encode.negotiateProtocolVersion(0x30000, ['_pq_.a', '_pq_.b']);
    assert.deepEqual(backend.decodeNegotiateProtocolVersion(body(m, BackendMessage.NegotiateProtocolVersion)), {
      version: 0x30000,
      options: ['_pq_.a', '_pq_.b'],
    });
  });
});

describe('frontend encoders, checked against pg-protocol serialize', () => {
  for (const [name, ours, theirs] of [
    ['query', encode.query('SELECT 1'), serialize.query('SELECT 1')],
    ['passwordMessage', encode.passwordMessage('md5abc'), serialize.password('md5abc')],
    ['sync', encode.sync(), serialize.sync()],
    ['terminate', encode.terminate(), serialize.end()],
    ['sslRequest', encode.sslRequest(), serialize.requestSsl()],
    ['cancelRequest', encode.cancelRequest(77, Buffer.from([0, 0, 0, 5])), serialize.cancel(77, 5)],
    [
      'saslInitialResponse',
      encode.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc'),
      serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=abc'),
    ],
    [
      'saslResponse',
      encode.saslResponse('c=biws,r=abc,p=xyz'),
      serialize.sendSCRAMClientFinalMessage('c=biws,r=abc,p=xyz'),
    ],
  ] as const) {
    it(`${name} is byte-identical`, () => {
      assert.deepEqual(ours, theirs);
    });
  }

  it('startupMessage: length, protocol 3.0, pairs, final NUL', () => {
    // pg-protocol always adds client_encoding, so it cannot serve as the oracle here.
    const pairs = Buffer.from('user\0u\0database\0d\0\0', 'latin1');
    const expected = Buffer.alloc(8 + pairs.length);
    expected.writeInt32BE(expected.length, 0);
    expected.writeInt32BE(196608, 4);
    pairs.copy(expected, 8);
    assert.deepEqual(encode.startupMessage({ user: 'u', database: 'd' }), expected);
  });

  it('messageOf frames its parts as one body; messageHeader frames a body sent apart', () => {
    const bind = serialize.bind({ statement: 's1', values: ['x'] });
    const bodyOfBind = bind.subarray(5);
    const parts = [bodyOfBind.subarray(0, 1), bodyOfBind.subarray(1, 4), bodyOfBind.subarray(4)];
    assert.deepEqual(encode.messageOf(FrontendMessage.Bind, parts), bind);
    assert.deepEqual(encode.messageOf(FrontendMessage.Sync, []), serialize.sync());
    assert.deepEqual(Buffer.concat([encode.messageHeader(FrontendMessage.Bind, bodyOfBind.length), bodyOfBind]), bind);
  });

  it('rejects a NUL inside a String instead of sending a corrupt frame', () => {
    assert.throws(() => encode.query('SELECT 1\0; DROP TABLE t'), RangeError);
    assert.throws(() => encode.startupMessage({ user: 'a\0b' }), RangeError);
  });
});

describe('frontend decoders', () => {
  it('readCString', () => {
    const b = Buffer.from('ab\0\0c', 'latin1');
    assert.deepEqual(frontend.readCString(b, 0), { value: 'ab', next: 3 });
    assert.deepEqual(frontend.readCString(b, 3), { value: '', next: 4 });
    assert.equal(frontend.readCString(b, 4), null);
    assert.equal(frontend.readCString(b, 5), null);
    assert.equal(frontend.readCString(b, -1), null);
  });

  it('decodeQuery', () => {
    assert.equal(frontend.decodeQuery(body(serialize.query('SELECT 1'), FrontendMessage.Query)), 'SELECT 1');
    assert.equal(frontend.decodeQuery(body(serialize.query(''), FrontendMessage.Query)), '');
    assert.equal(frontend.decodeQuery(Buffer.from('SELECT 1')), null);
    assert.equal(frontend.decodeQuery(Buffer.from('a\0b\0')), null);
  });

  it('decodeParse', () => {
    const b = body(
      serialize.parse({ name: 'stmt1', text: 'SELECT $1, $2', types: [23, 4294967295] }),
      FrontendMessage.Parse,
    );
    assert.deepEqual(frontend.decodeParse(b), { name: 'stmt1', query: 'SELECT $1, $2', paramTypes: [23, 4294967295] });
    assert.deepEqual(frontend.decodeParse(body(serialize.parse({ text: 'SELECT 1' }), FrontendMessage.Parse)), {
      name: '',
      query: 'SELECT 1',
      paramTypes: [],
    });
  });

  it('decodeParse rejects a parameter count that disagrees with the body', () => {
    const good = body(serialize.parse({ name: 's', text: 'q', types: [23] }), FrontendMessage.Parse);
    const tooMany = Buffer.from(good);
    tooMany.writeInt16BE(2, 4);
    assert.equal(frontend.decodeParse(tooMany), null);
    const negative = Buffer.from(good);
    negative.writeInt16BE(-1, 4);
    assert.equal(frontend.decodeParse(negative), null);
    assert.equal(frontend.decodeParse(good.subarray(0, good.length - 1)), null);
    assert.equal(frontend.decodeParse(Buffer.from('s\0q\0')), null);
  });

  it('decodeBindNames', () => {
    const b = body(serialize.bind({ portal: 'p1', statement: 's1', values: ['1', null] }), FrontendMessage.Bind);
    assert.deepEqual(frontend.decodeBindNames(b), { portal: 'p1', statement: 's1' });
    assert.equal(frontend.decodeBindNames(Buffer.from('p1\0s1')), null);
  });

  it('bindParamInteger: a parameter as an integer, text or binary, or -1', () => {
    /** A Bind body: names, format codes, parameters (null: NULL). */
    const bind = (formats: number[], params: (Buffer | null)[], names = 'p\0s\0'): Buffer => {
      const parts = [Buffer.from(names, 'latin1'), int16(formats.length), ...formats.map(int16), int16(params.length)];
      for (const param of params) {
        const length = Buffer.alloc(4);
        length.writeInt32BE(param === null ? -1 : param.length);
        parts.push(length, param ?? Buffer.alloc(0));
      }
      return Buffer.concat([...parts, int16(0)]);
    };
    const int16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
    const int32 = Buffer.alloc(4);
    int32.writeInt32BE(1_073_741_900);
    const int64 = Buffer.alloc(8);
    int64.writeBigInt64BE(1_073_741_900n);
    const text = Buffer.from('1073741900');
    const cases: [string, Buffer, number, number][] = [
      ['text, no format codes', bind([], [text]), 1, 1_073_741_900],
      ['text with spaces and +', bind([], [Buffer.from(' +42 ')]), 1, 42],
      ['second of two, one format for all', bind([0], [Buffer.from('7'), text]), 2, 1_073_741_900],
      ['binary int4', bind([1], [int32]), 1, 1_073_741_900],
      ['binary int8', bind([1], [int64]), 1, 1_073_741_900],
      ['binary int2', bind([1], [Buffer.from([0, 9])]), 1, 9],
      ['a format code per parameter', bind([0, 1], [Buffer.from('x'), int32]), 2, 1_073_741_900],
      ['NULL', bind([], [null]), 1, -1],
      ['not digits', bind([], [Buffer.from('12a')]), 1, -1],
      ['a negative number', bind([], [Buffer.from('-5')]), 1, -1],
      ['past the last parameter', bind([], [text]), 2, -1],
      ['binary of another size', bind([1], [Buffer.from([1, 2, 3])]), 1, -1],
      ['int8 past 32 bits', bind([1], [Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])]), 1, -1],
      ['more format codes than parameters', bind([0, 0], [text]), 2, -1],
      ['a cut body', bind([], [text]).subarray(0, 12), 1, -1],
      ['no statement name terminator', Buffer.from('p\0s'), 1, -1],
      ['index 0', bind([], [text]), 0, -1],
    ];
    for (const [what, body, index, expected] of cases)
      assert.equal(frontend.bindParamInteger(body, index), expected, what);
  });

  it('decodeClose and decodeDescribe', () => {
    assert.deepEqual(frontend.decodeClose(body(serialize.close({ type: 'S', name: 's1' }), FrontendMessage.Close)), {
      kind: 'S',
      name: 's1',
    });
    assert.deepEqual(
      frontend.decodeDescribe(body(serialize.describe({ type: 'P', name: '' }), FrontendMessage.Describe)),
      {
        kind: 'P',
        name: '',
      },
    );
    assert.equal(frontend.decodeClose(Buffer.from('Xs1\0')), null);
    assert.equal(frontend.decodeDescribe(Buffer.from('S')), null);
    assert.equal(frontend.decodeDescribe(Buffer.from('Ss1\0junk')), null);
  });

  it('decodePassword', () => {
    assert.equal(
      frontend.decodePassword(body(serialize.password('hunter2'), FrontendMessage.PasswordMessage)),
      'hunter2',
    );
    assert.equal(frontend.decodePassword(Buffer.from('hunter2')), null);
    assert.equal(frontend.decodePassword(Buffer.from('a\0b\0')), null);
  });

  it('decodeSASLInitialResponse', () => {
    const b = body(encode.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=nonce'), FrontendMessage.PasswordMessage);
    assert.deepEqual(frontend.decodeSASLInitialResponse(b), {
      mechanism: 'SCRAM-SHA-256',
      data: Buffer.from('n,,n=,r=nonce'),
    });
  });

  it('decodeSASLInitialResponse: length -1 means no data', () => {
    const b = Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
    assert.deepEqual(frontend.decodeSASLInitialResponse(b), { mechanism: 'SCRAM-SHA-256', data: Buffer.alloc(0) });
  });

  it('decodeSASLInitialResponse: never trusts a length beyond the body', () => {
    const overLong = Buffer.concat([
      Buffer.from('SCRAM-SHA-256\0'),
      Buffer.from([0x7f, 0xff, 0xff, 0xff]),
      Buffer.from('abc'),
    ]);
    assert.equal(frontend.decodeSASLInitialResponse(overLong), null);
    const minusTwo = Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), Buffer.from([0xff, 0xff, 0xff, 0xfe])]);
    assert.equal(frontend.decodeSASLInitialResponse(minusTwo), null);
    const minusOneWithData = Buffer.concat([
      Buffer.from('M\0'),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.from('x'),
    ]);
    assert.equal(frontend.decodeSASLInitialResponse(minusOneWithData), null);
    assert.equal(frontend.decodeSASLInitialResponse(Buffer.from('SCRAM-SHA-256\0\0\0')), null);
    assert.equal(frontend.decodeSASLInitialResponse(Buffer.from('SCRAM-SHA-256')), null);
  });

  it('decodeSASLResponse returns the whole body', () => {
    const b = body(encode.saslResponse('c=biws'), FrontendMessage.PasswordMessage);
    assert.equal(frontend.decodeSASLResponse(b).toString(), 'c=biws');
  });
});

describe('backend decoders on hostile input', () => {
  it('decodeErrorFields: missing C/S/M give empty strings; extra fields are named', () => {
    const noCode = Buffer.from('SERROR\0Mboom\0Wsomewhere\0Zzed\0\0', 'latin1');
    assert.deepEqual(backend.decodeErrorFields(noCode), {
      severity: 'ERROR',
      code: '',
      message: 'boom',
      where: 'somewhere',
      Z: 'zed',
    });
    assert.deepEqual(backend.decodeErrorFields(Buffer.alloc(0)), { severity: '', code: '', message: '' });
  });

  it('decodeErrorFields: a truncated body keeps the complete fields and does not throw', () => {
    const truncated = Buffer.from('SFATAL\0C57P01\0Mterminat', 'latin1');
    assert.deepEqual(backend.decodeErrorFields(truncated), { severity: 'FATAL', code: '57P01', message: '' });
  });

  it('errorWithMessage edits the Message field alone, and refuses an unterminated body', () => {
    const fields = Buffer.from('SERROR\0C26000\0Mprepared statement "pgtide_3" does not exist\0Hhint\0\0', 'latin1');
    const edited = backend.errorWithMessage(fields, (m) => m.replace('pgtide_3', 'mine'))!;
    assert.deepEqual(backend.decodeErrorFields(body(edited, BackendMessage.ErrorResponse)), {
      severity: 'ERROR',
      code: '26000',
      message: 'prepared statement "mine" does not exist',
      hint: 'hint',
    });
    assert.equal(
      backend.errorWithMessage(fields.subarray(0, fields.length - 1), (m) => m),
      null,
    );
    assert.equal(
      backend.errorWithMessage(Buffer.from('SERROR', 'latin1'), (m) => m),
      null,
    );
  });

  it('decodeParameterStatus rejects a missing value or trailing bytes', () => {
    assert.equal(backend.decodeParameterStatus(Buffer.from('name\0')), null);
    assert.equal(backend.decodeParameterStatus(Buffer.from('a\0b\0c')), null);
  });

  it('decodeBackendKeyData bounds the secret to 4..256 bytes', () => {
    assert.equal(backend.decodeBackendKeyData(Buffer.alloc(7)), null);
    assert.equal(backend.decodeBackendKeyData(Buffer.alloc(4 + 257)), null);
    assert.equal(backend.decodeBackendKeyData(Buffer.alloc(4 + 256))?.secret.length, 256);
  });

  it('readyForQueryStatus returns -1 for a malformed body', () => {
    assert.equal(backend.readyForQueryStatus(Buffer.from('X')), -1);
    assert.equal(backend.readyForQueryStatus(Buffer.from('II')), -1);
    assert.equal(backend.readyForQueryStatus(Buffer.alloc(0)), -1);
    assert.equal(backend.readyForQueryStatus(Buffer.from('T')), TransactionStatus.InTransaction);
  });

  it('decodeNegotiateProtocolVersion rejects counts the body cannot hold', () => {
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(2, 0);
    huge.writeInt32BE(0x7fffffff, 4);
    assert.equal(backend.decodeNegotiateProtocolVersion(huge), null);
    const tooFew = Buffer.concat([encode.negotiateProtocolVersion(0x30000, ['_pq_.a']).subarray(5), Buffer.from('x')]);
    assert.equal(backend.decodeNegotiateProtocolVersion(tooFew), null);
    assert.equal(backend.decodeNegotiateProtocolVersion(Buffer.alloc(4)), null);
  });
});
