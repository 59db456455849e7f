// Every byte of a SCRAM exchange is untrusted: bad input must give a clear error (ok:false
// from ScramServer, an Error from ScramClient), never a crash or unbounded work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScramClient } from '../../src/auth/scram-client.js';
import { ScramServer, type ScramStep } from '../../src/auth/scram-server.js';
import { scramSecretFromPassword } from '../../src/auth/secret.js';

const secret = scramSecretFromPassword('pencil', Buffer.from('0123456789abcdef'));
const proof = Buffer.alloc(32, 9).toString('base64');

function failure(step: ScramStep): string {
  assert.equal(step.ok, false);
  return step.ok ? '' : `${step.sqlstate} ${step.error}`;
}

const badClientFirst: Array<[string, Buffer, RegExp]> = [
  ['empty', Buffer.alloc(0), /^08P01 malformed SCRAM message: missing GS2 header/],
  ['a GS2 header only', Buffer.from('n,,'), /^08P01 .*<letter>=<value>/],
  [
    'channel binding requested',
    Buffer.from('p=tls-server-end-point,,n=,r=abc'),
    /^08P01 the client selected SCRAM-SHA-256 but asks for channel binding$/,
  ],
  ['an unknown channel-binding flag', Buffer.from('x,,n=,r=abc'), /^08P01 .*channel-binding flag/],
  ['an authorization identity', Buffer.from('n,a=admin,n=,r=abc'), /^0A000 .*authorization identity/],
  ['a mandatory extension', Buffer.from('n,,m=ext,n=,r=abc'), /^0A000 .*unsupported SCRAM extension/],
  ['no username', Buffer.from('n,,r=abc'), /^08P01 .*username/],
  ['no nonce', Buffer.from('n,,n='), /^08P01 .*nonce/],
  ['an empty nonce', Buffer.from('n,,n=,r='), /^08P01 .*nonce/],
  ['a nonce with a control character', Buffer.from('n,,n=,r=ab\x01c'), /^08P01 .*nonce/],
  ['a part that is no attribute', Buffer.from('n,,n=,r=abc,garbage'), /^08P01 .*<letter>=<value>/],
  [
    'invalid UTF-8',
    Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0xfe, 0x2c, 0x72, 0x3d, 0x61]),
    /^08P01 .*not valid UTF-8/,
  ],
  ['a huge message', Buffer.concat([Buffer.from('n,,n=,r='), Buffer.alloc(1 << 20, 0x61)]), /^08P01 .*too long/],
];

for (const [name, data, error] of badClientFirst) {
  test(`ScramServer rejects a client-first-message with ${name}`, () => {
    const server = new ScramServer(secret, 'alice');
    assert.match(failure(server.clientFirst(data)), error);
    assert.match(
      failure(server.clientFinal(Buffer.from(`c=biws,r=abc,p=${proof}`))),
      /^08P01 unexpected/,
      'the exchange is over',
    );
  });
}

/** A server that has answered 'n,,n=,r=abc', and the nonce it chose. */
function afterClientFirst(): { server: ScramServer; nonce: string } {
  const server = new ScramServer(secret, 'alice');
  const step = server.clientFirst(Buffer.from('n,,n=,r=abc'));
  assert.ok(step.ok);
  return { server, nonce: /^r=([^,]+),/.exec(step.message)![1]! };
}

const badClientFinal: Array<[string, (nonce: string) => Buffer, RegExp]> = [
  ['no proof', (n) => Buffer.from(`c=biws,r=${n}`), /^08P01 .*missing proof/],
  ['no nonce', () => Buffer.from(`c=biws,p=${proof}`), /^08P01 .*nonce does not match/],
  ['another nonce', (n) => Buffer.from(`c=biws,r=${n}x,p=${proof}`), /^08P01 .*nonce does not match/],
  ['the client nonce only', () => Buffer.from(`c=biws,r=abc,p=${proof}`), /^08P01 .*nonce does not match/],
  ['no channel binding', (n) => Buffer.from(`r=${n},p=${proof}`), /^08P01 .*channel-binding attribute/],
  [
    'a wrong channel-binding echo',
    (n) => Buffer.from(`c=eSws,r=${n},p=${proof}`),
    /^08P01 .*does not match the GS2 header/,
  ],
  ['a non-base64 proof', (n) => Buffer.from(`c=biws,r=${n},p=not*base64`), /^08P01 .*invalid client proof/],
  [
    'a proof of the wrong length',
    (n) => Buffer.from(`c=biws,r=${n},p=${Buffer.alloc(31).toString('base64')}`),
    /^08P01 .*invalid client proof/,
  ],
  ['an empty proof', (n) => Buffer.from(`c=biws,r=${n},p=`), /^08P01 .*invalid client proof/],
  ['a part that is no attribute', (n) => Buffer.from(`c=biws,r=${n},junk,p=${proof}`), /^08P01 .*<letter>=<value>/],
  [
    'invalid UTF-8',
    (n) => Buffer.concat([Buffer.from(`c=biws,r=${n},p=`), Buffer.from([0xc3, 0x28])]),
    /^08P01 .*not valid UTF-8/,
  ],
  ['a huge message', (n) => Buffer.from(`c=biws,r=${n},p=${'A'.repeat(1 << 20)}`), /^08P01 .*too long/],
];

for (const [name, data, error] of badClientFinal) {
  test(`ScramServer rejects a client-final-message with ${name}`, () => {
    const { server, nonce } = afterClientFirst();
    assert.match(failure(server.clientFinal(data(nonce))), error);
    assert.equal(server.clientKey, null);
  });
}

test('ScramServer accepts one client-first-message only', () => {
  const { server } = afterClientFirst();
  assert.match(failure(server.clientFirst(Buffer.from('n,,n=,r=abc'))), /^08P01 unexpected SCRAM client-first-message/);
});

test('ScramServer gives no second chance after a wrong proof', () => {
  const { server, nonce } = afterClientFirst();
  assert.match(
    failure(server.clientFinal(Buffer.from(`c=biws,r=${nonce},p=${proof}`))),
    /^28P01 password authentication failed$/,
  );
  assert.match(failure(server.clientFinal(Buffer.from(`c=biws,r=${nonce},p=${proof}`))), /^08P01 unexpected/);
});

/** A ScramClient that has sent 'n,,n=,r=abc'. */
function sentClientFirst(
  credentials: ConstructorParameters<typeof ScramClient>[0] = { password: 'pencil' },
): ScramClient {
  const client = new ScramClient(credentials, 'abc');
  client.clientFirst();
  return client;
}

const badServerFirst: Array<[string, string | Buffer, RegExp]> = [
  ['a nonce that does not extend ours', 'r=xyzdef,s=c2FsdA==,i=4096', /does not extend the client nonce/],
  ['our nonce unextended', 'r=abc,s=c2FsdA==,i=4096', /does not extend the client nonce/],
  ['a non-printable nonce', 'r=abc\x7f,s=c2FsdA==,i=4096', /does not extend the client nonce/],
  ['a nonce longer than 512 bytes', `r=abc${'x'.repeat(510)},s=c2FsdA==,i=4096`, /nonce longer than 512 bytes/],
  ['zero iterations', 'r=abcdef,s=c2FsdA==,i=0', /iteration count must be between 1 and 10000000/],
  ['too many iterations', 'r=abcdef,s=c2FsdA==,i=10000001', /iteration count/],
  [
    'more iterations than allowed',
    'r=abcdef,s=c2FsdA==,i=100001',
    /asks for 100001 SCRAM iterations, more than server_scram_max_iterations \(100000\)/,
  ],
  ['a huge iteration count', `r=abcdef,s=c2FsdA==,i=${'9'.repeat(400)}`, /iteration count/],
  ['negative iterations', 'r=abcdef,s=c2FsdA==,i=-1', /iteration count/],
  ['non-numeric iterations', 'r=abcdef,s=c2FsdA==,i=4k', /iteration count/],
  ['a non-base64 salt', 'r=abcdef,s=c2F*dA==,i=4096', /salt is not base64/],
  ['an empty salt', 'r=abcdef,s=,i=4096', /salt is not base64/],
  ['attributes out of order', 's=c2FsdA==,r=abcdef,i=4096', /expected attributes r, s and i/],
  ['a missing iteration count', 'r=abcdef,s=c2FsdA==', /expected attributes r, s and i/],
  ['a mandatory extension', 'm=x,r=abcdef,s=c2FsdA==,i=4096', /unsupported SCRAM extension/],
  ['an error instead', 'e=other-error', /expected attributes r, s and i/],
  ['invalid UTF-8', Buffer.from([0x72, 0x3d, 0xff]), /not valid UTF-8/],
  ['a huge message', `r=abc${'x'.repeat(1 << 20)},s=c2FsdA==,i=1`, /too long/],
];

for (const [name, data, error] of badServerFirst) {
  test(`ScramClient rejects a server-first-message with ${name}`, () => {
    assert.throws(() => sentClientFirst().serverFirst(data), error);
  });
}

test('ScramClient with ClientKey credentials refuses another iteration count', () => {
  const client = sentClientFirst({ ...secret, clientKey: Buffer.alloc(32) });
  assert.throws(
    () => client.serverFirst(`r=abcdef,s=${secret.salt.toString('base64')},i=4097`),
    /SCRAM secret of user does not match the server/,
  );
});

const badServerFinal: Array<[string, string | Buffer, RegExp]> = [
  ['nothing', '', /expected a verifier "v"/],
  ['a non-base64 verifier', 'v=***', /server signature does not match/],
  ['a short verifier', 'v=AAAA', /server signature does not match/],
  ['invalid UTF-8', Buffer.from([0x76, 0x3d, 0xff]), /expected a verifier "v"/],
  ['a huge message', `v=${'A'.repeat(1 << 20)}`, /expected a verifier "v"/],
];

for (const [name, data, error] of badServerFinal) {
  test(`ScramClient rejects a server-final-message with ${name}`, () => {
    const client = sentClientFirst();
    client.serverFirst('r=abcdef,s=c2FsdA==,i=1');
    assert.throws(() => client.serverFinal(data), error);
  });
}
