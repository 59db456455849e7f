import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { ScramClient, type ScramCredentials } from '../../src/auth/scram-client.js';
import { NameSalts, ScramServer, type ScramStep } from '../../src/auth/scram-server.js';
import { parseSecret, scramSecretFromPassword, type ScramSecret } from '../../src/auth/secret.js';
import {
  SCRAM_MAX_MESSAGE_LENGTH,
  clientKeyOf,
  decodeMessage,
  hmac,
  hmacBase64,
  parseAttributes,
  saltedPassword,
  sha256,
  xor,
} from '../../src/auth/scram.js';

// PostgreSQL 18's rolpassword for CREATE ROLE alice PASSWORD 'pencil'.
const pencil = parseSecret(
  'SCRAM-SHA-256$4096:KTPwPd9N0mBZVFdOwsEAhA==$hpjuJTSoaV7WOzrd548RVP5yulJ3MS7t3NiAGlMQN3o=:fRwWBqXXK5r3NPHPNIdG/AJKRs0zbNt85VqRPgfRZo8=',
) as ScramSecret;

function message(step: ScramStep): string {
  assert.equal(step.ok, true, step.ok ? '' : step.error);
  return step.ok ? step.message : '';
}

/** Runs a whole exchange; returns the server's last step and the client's verdict on it. */
/** `plus`: the client chose SCRAM-SHA-256-PLUS (pgtide's own client towards a server, bound). */
function exchange(
  server: ScramServer,
  client: ScramClient,
  plus = false,
): { final: ScramStep; clientError: Error | null } {
  const serverFirst = message(server.clientFirst(Buffer.from(client.clientFirst()), plus));
  const final = server.clientFinal(Buffer.from(client.serverFirst(Buffer.from(serverFirst))));
  if (!final.ok) return { final, clientError: null };
  try {
    client.serverFinal(final.message);
    return { final, clientError: null };
  } catch (error) {
    return { final, clientError: error as Error };
  }
}

test('a client with the password logs in against a plain secret', () => {
  const server = new ScramServer({ kind: 'plain', password: 'pencil' }, 'alice');
  const { final, clientError } = exchange(server, new ScramClient({ password: 'pencil' }));
  assert.equal(final.ok, true);
  assert.equal(clientError, null);
  assert.equal(server.clientKey?.length, 32);
});

test('a client with the password logs in against a SCRAM secret written by PostgreSQL', () => {
  const server = new ScramServer(pencil, 'alice');
  const { final, clientError } = exchange(server, new ScramClient({ password: 'pencil' }));
  assert.match(message(final), /^v=[A-Za-z0-9+/]{43}=$/);
  assert.equal(clientError, null);
  assert.deepEqual(sha256(server.clientKey!), pencil.storedKey);
});

test('the ClientKey a client proved lets pgtide log in to a server holding the same secret', () => {
  const front = new ScramServer(pencil, 'alice');
  exchange(front, new ScramClient({ password: 'pencil' }));
  const credentials: ScramCredentials = { ...pencil, clientKey: front.clientKey! };
  const backend = new ScramServer(pencil, 'alice');
  const { final, clientError } = exchange(backend, new ScramClient(credentials));
  assert.equal(final.ok, true);
  assert.equal(clientError, null);
  assert.deepEqual(backend.clientKey, front.clientKey);
});

test('ClientKey credentials are refused by a server whose secret has another salt', () => {
  const front = new ScramServer(pencil, 'alice');
  exchange(front, new ScramClient({ password: 'pencil' }));
  const client = new ScramClient({ ...pencil, clientKey: front.clientKey! });
  const backend = new ScramServer(scramSecretFromPassword('pencil'), 'alice');
  const serverFirst = message(backend.clientFirst(Buffer.from(client.clientFirst())));
  assert.throws(() => client.serverFirst(serverFirst), /SCRAM secret of user does not match the server/);
});

test('a wrong password fails with 28P01 and leaves no ClientKey', () => {
  for (const secret of [pencil, { kind: 'plain', password: 'pencil' } as const]) {
    const server = new ScramServer(secret, 'alice');
    const { final } = exchange(server, new ScramClient({ password: 'pencil!' }));
    assert.deepEqual(final, { ok: false, error: 'password authentication failed', sqlstate: '28P01' });
    assert.equal(server.clientKey, null);
  }
});

test('an unknown user, an md5-only secret or an empty password complete the exchange and then fail', () => {
  const secrets = [null, parseSecret('md553f48b7c4b76a86ce72276c5755f217d'), parseSecret('')];
  for (const secret of secrets) {
    const server = new ScramServer(secret, 'postgres');
    const { final } = exchange(server, new ScramClient({ password: '' }));
    assert.deepEqual(final, { ok: false, error: 'password authentication failed', sqlstate: '28P01' });
    assert.equal(server.clientKey, null);
  }
});

test('the salt is the same whether the user exists (plain password) or not', () => {
  const key = Buffer.alloc(32, 1);
  const salts = new NameSalts(key);
  const saltOf = (server: ScramServer) =>
    /,s=([^,]+),i=4096$/.exec(message(server.clientFirst(Buffer.from('n,,n=,r=abc'))))?.[1];
  const unknown = saltOf(new ScramServer(null, 'alice', salts));
  assert.ok(unknown);
  assert.equal(saltOf(new ScramServer(null, 'alice', salts)), unknown);
  assert.equal(saltOf(new ScramServer({ kind: 'plain', password: 'pencil' }, 'alice', salts)), unknown);
  assert.notEqual(saltOf(new ScramServer(null, 'bob', salts)), unknown);
  // Kept names give what a fresh derivation under the same key gives; another key, another salt.
  assert.equal(saltOf(new ScramServer(null, 'alice', new NameSalts(key))), unknown);
  assert.notEqual(saltOf(new ScramServer(null, 'alice', new NameSalts(Buffer.alloc(32, 2)))), unknown);
});

test('the server nonce extends the client nonce with 18 random bytes', () => {
  const first = message(new ScramServer(pencil, 'alice').clientFirst(Buffer.from('n,,n=ignored,r=clientnonce')));
  const nonce = /^r=clientnonce([A-Za-z0-9+/]{24}),s=KTPwPd9N0mBZVFdOwsEAhA==,i=4096$/.exec(first);
  assert.ok(nonce, first);
  assert.equal(Buffer.from(nonce[1]!, 'base64').length, 18);
});

/** client-final computed by hand, for exchanges ScramClient never produces; `extensions`
 *  (`,x=...`) follow the nonce, as RFC 5802 allows. */
function clientFinalFor(
  password: string,
  clientFirstBare: string,
  serverFirst: string,
  channelBinding: string,
  extensions = '',
): string {
  const [, nonce, salt, iterations] = /^r=([^,]+),s=([^,]+),i=([0-9]+)$/.exec(serverFirst)!;
  const clientKey = clientKeyOf(saltedPassword(password, Buffer.from(salt!, 'base64'), Number(iterations)));
  const withoutProof = `c=${channelBinding},r=${nonce}${extensions}`;
  const proof = xor(clientKey, hmac(sha256(clientKey), `${clientFirstBare},${serverFirst},${withoutProof}`));
  return `${withoutProof},p=${proof.toString('base64')}`;
}

test('a client that supports channel binding but was not offered it ("y,,") logs in', () => {
  const server = new ScramServer(pencil, 'alice');
  const serverFirst = message(server.clientFirst(Buffer.from('y,,n=,r=abc')));
  const final = server.clientFinal(Buffer.from(clientFinalFor('pencil', 'n=,r=abc', serverFirst, 'eSws')));
  assert.equal(final.ok, true);
});

test('a client-final-message with an extension after the nonce is proven over the whole message', () => {
  const server = new ScramServer(pencil, 'alice');
  const serverFirst = message(server.clientFirst(Buffer.from('n,,n=,r=abc')));
  const final = server.clientFinal(Buffer.from(clientFinalFor('pencil', 'n=,r=abc', serverFirst, 'biws', ',x=ext')));
  assert.match(message(final), /^v=[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual(sha256(server.clientKey!), pencil.storedKey);
  // The same proof without the extension it was computed over fails.
  const again = new ScramServer(pencil, 'alice');
  const first = message(again.clientFirst(Buffer.from('n,,n=,r=abc')));
  const proven = clientFinalFor('pencil', 'n=,r=abc', first, 'biws', ',x=ext');
  assert.equal(again.clientFinal(Buffer.from(proven.replace(',x=ext', ''))).ok, false);
});

test('the channel-binding echo must repeat the GS2 header the client sent', () => {
  const server = new ScramServer(pencil, 'alice');
  const serverFirst = message(server.clientFirst(Buffer.from('y,,n=,r=abc')));
  const final = server.clientFinal(Buffer.from(clientFinalFor('pencil', 'n=,r=abc', serverFirst, 'biws')));
  assert.deepEqual(final, {
    ok: false,
    error: 'malformed SCRAM message: channel-binding data does not match the GS2 header',
    sqlstate: '08P01',
  });
});

/** SCRAM-SHA-256-PLUS: the hash of the certificate pgtide presents (any 32 bytes will do here). */
const END_POINT = sha256(Buffer.from('the certificate pgtide presents'));
const PLUS_HEADER = 'p=tls-server-end-point,,';
const plusBinding = (hash: Buffer) => Buffer.concat([Buffer.from(PLUS_HEADER), hash]).toString('base64');

test("SCRAM-SHA-256-PLUS: a client that binds to the hash of pgtide's certificate logs in", () => {
  const server = new ScramServer(pencil, 'alice', undefined, END_POINT);
  const serverFirst = message(server.clientFirst(Buffer.from(`${PLUS_HEADER}n=,r=abc`), true));
  const final = server.clientFinal(
    Buffer.from(clientFinalFor('pencil', 'n=,r=abc', serverFirst, plusBinding(END_POINT))),
  );
  assert.equal(final.ok, true);
});

test('SCRAM-SHA-256-PLUS: a binding to another certificate (a man in the middle) is refused despite the right password', () => {
  const server = new ScramServer(pencil, 'alice', undefined, END_POINT);
  const serverFirst = message(server.clientFirst(Buffer.from(`${PLUS_HEADER}n=,r=abc`), true));
  const final = server.clientFinal(
    Buffer.from(
      clientFinalFor('pencil', 'n=,r=abc', serverFirst, plusBinding(sha256(Buffer.from("the impostor's certificate")))),
    ),
  );
  assert.deepEqual(final, {
    ok: false,
    error: 'malformed SCRAM message: channel-binding data does not match the GS2 header',
    sqlstate: '08P01',
  });
});

const badPlus: Array<[string, Buffer | null, string, boolean, RegExp]> = [
  ['-PLUS chosen without TLS', null, `${PLUS_HEADER}n=,r=abc`, true, /^08P01 .*only offered on TLS/],
  [
    '-PLUS chosen with the flag "n"',
    END_POINT,
    'n,,n=,r=abc',
    true,
    /^08P01 .*SCRAM-SHA-256-PLUS without channel binding/,
  ],
  [
    '-PLUS with tls-unique',
    END_POINT,
    'p=tls-unique,,n=,r=abc',
    true,
    /^0A000 unsupported SCRAM channel-binding type "tls-unique"/,
  ],
  [
    '"y" although -PLUS was offered (a downgrade on the way)',
    END_POINT,
    'y,,n=,r=abc',
    false,
    /^08P01 SCRAM channel binding negotiation error/,
  ],
  [
    'binding data under the plain mechanism',
    END_POINT,
    `${PLUS_HEADER}n=,r=abc`,
    false,
    /^08P01 the client selected SCRAM-SHA-256 but asks for channel binding$/,
  ],
];
for (const [name, endPoint, first, plus, error] of badPlus) {
  test(`SCRAM-SHA-256-PLUS: refuses ${name}`, () => {
    const step = new ScramServer(pencil, 'alice', undefined, endPoint).clientFirst(Buffer.from(first), plus);
    assert.equal(step.ok, false);
    if (!step.ok) assert.match(`${step.sqlstate} ${step.error}`, error);
  });
}

test('on TLS, a client without channel binding ("n") still logs in with plain SCRAM-SHA-256', () => {
  const server = new ScramServer(pencil, 'alice', undefined, END_POINT);
  const serverFirst = message(server.clientFirst(Buffer.from('n,,n=,r=abc')));
  assert.equal(server.clientFinal(Buffer.from(clientFinalFor('pencil', 'n=,r=abc', serverFirst, 'biws'))).ok, true);
});

test('RFC 7677 test vector (the example sends n=user, which PostgreSQL would ignore)', () => {
  const secret = scramSecretFromPassword('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  const authMessage = [
    'n=user,r=rOprNGfwEbeRWgbNEkqO',
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  ].join(',');
  const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
  assert.deepEqual(sha256(xor(proof, hmac(secret.storedKey, authMessage))), secret.storedKey);
  assert.equal(hmac(secret.serverKey, authMessage).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');

  // ScramClient with the RFC's nonce against the RFC's server-first: same messages bar n=.
  const client = new ScramClient({ password: 'pencil' }, 'rOprNGfwEbeRWgbNEkqO');
  assert.equal(client.clientFirst(), 'n,,n=,r=rOprNGfwEbeRWgbNEkqO');
  const final = client.serverFirst(
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  );
  const ourAuthMessage = authMessage.replace('n=user', 'n=');
  const ourProof = xor(
    clientKeyOf(saltedPassword('pencil', secret.salt, 4096)),
    hmac(secret.storedKey, ourAuthMessage),
  );
  assert.equal(final, `c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=${ourProof.toString('base64')}`);
  client.serverFinal(`v=${hmac(secret.serverKey, ourAuthMessage).toString('base64')}`);
});

test('ScramClient rejects a server signature that does not match', () => {
  const server = new ScramServer(scramSecretFromPassword('pencil'), 'alice');
  const client = new ScramClient({ password: 'pencil' });
  const serverFirst = message(server.clientFirst(Buffer.from(client.clientFirst())));
  client.serverFirst(serverFirst);
  assert.throws(
    () => client.serverFinal(`v=${Buffer.alloc(32).toString('base64')}`),
    /server signature does not match/,
  );
});

test('ScramClient reports server errors (e=) without echoing control characters', () => {
  const client = new ScramClient({ password: 'pencil' }, 'abc');
  client.clientFirst();
  client.serverFirst('r=abcdef,s=c2FsdA==,i=1');
  assert.throws(
    () => client.serverFinal('e=invalid-proof\x1b[2J'),
    (error: Error) => error.message === 'SCRAM authentication failed: the server reported "invalid-proof?[2J"',
  );
});

test('ScramClient refuses to run its steps out of order or twice', () => {
  const client = new ScramClient({ password: 'pencil' }, 'abc');
  assert.throws(() => client.serverFirst('r=abcdef,s=c2FsdA==,i=1'), /unexpected SCRAM server-first-message/);
  assert.throws(() => client.serverFinal('v=AAAA'), /unexpected SCRAM server-final-message/);
  client.clientFirst();
  assert.throws(() => client.clientFirst(), /already sent/);
  client.serverFirst('r=abcdef,s=c2FsdA==,i=1');
  assert.throws(() => client.serverFirst('r=abcdef,s=c2FsdA==,i=1'), /unexpected SCRAM server-first-message/);
});

test("pgtide's SCRAM client bound to the server certificate's hash: SCRAM-SHA-256-PLUS, accepted by a server holding that certificate", () => {
  const client = new ScramClient({ password: 'pencil' }, undefined, undefined, { endPoint: END_POINT });
  assert.equal(client.mechanism, 'SCRAM-SHA-256-PLUS');
  const { final, clientError } = exchange(new ScramServer(pencil, 'alice', undefined, END_POINT), client, true);
  assert.equal(final.ok, true);
  assert.equal(clientError, null);
});

test("pgtide's SCRAM client bound to another certificate (a man in the middle re-encrypting) is refused by the server", () => {
  const client = new ScramClient({ password: 'pencil' }, undefined, undefined, {
    endPoint: sha256(Buffer.from("the impostor's certificate")),
  });
  const { final } = exchange(new ScramServer(pencil, 'alice', undefined, END_POINT), client, true);
  assert.equal(final.ok, false);
});

test('pgtide\'s SCRAM client saying "y" (could bind, -PLUS not offered) is refused by a server that supports -PLUS: a stripped offer is caught', () => {
  const client = new ScramClient({ password: 'pencil' }, undefined, undefined, 'y');
  assert.equal(client.mechanism, 'SCRAM-SHA-256');
  assert.match(client.clientFirst(), /^y,,n=,r=/);
  const step = new ScramServer(pencil, 'alice', undefined, END_POINT).clientFirst(
    Buffer.from(new ScramClient({ password: 'pencil' }, 'abc', undefined, 'y').clientFirst()),
    false,
  );
  assert.equal(step.ok, false);
  // Without TLS on the server's side the same 'y' is fine.
  const { final } = exchange(
    new ScramServer(pencil, 'alice'),
    new ScramClient({ password: 'pencil' }, undefined, undefined, 'y'),
    false,
  );
  assert.equal(final.ok, true);
});

test('attribute names are one ASCII letter: the characters next to the letter ranges are refused', () => {
  assert.deepEqual(parseAttributes('a=1,Z=,r=x=y'), [
    { name: 'a', value: '1' },
    { name: 'Z', value: '' },
    { name: 'r', value: 'x=y' },
  ]);
  for (const name of ['@', '[', '`', '{', '1', 'é', ' ']) assert.equal(parseAttributes(`${name}=v`), null, name);
  for (const bad of ['a', 'a:1', '=1', 'ab=1', 'r=1,,s=2']) assert.equal(parseAttributes(bad), null, bad);
});

test('SCRAM messages decode as UTF-8, ASCII or not; invalid UTF-8 and oversized ones are refused', () => {
  assert.equal(decodeMessage(Buffer.from('n,,n=,r=abc')), 'n,,n=,r=abc');
  assert.equal(decodeMessage(Buffer.from('n,,n=zoë,r=abc')), 'n,,n=zoë,r=abc');
  assert.equal(decodeMessage(Buffer.from([0x6e, 0x3d, 0xc3])), null);
  assert.equal(decodeMessage(Buffer.alloc(SCRAM_MAX_MESSAGE_LENGTH + 1, 0x61)), null);
});

test('hmac is HMAC-SHA-256: RFC 4231 case 2 and node:crypto for keys shorter than, equal to and over one block', () => {
  assert.equal(
    hmac(Buffer.from('Jefe'), 'what do ya want for nothing?').toString('hex'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
  for (const keyLength of [0, 1, 32, 63, 64, 65, 131]) {
    const key = Buffer.alloc(keyLength, keyLength + 1);
    for (const data of ['', 'Client Key', 'é'.repeat(100)]) {
      assert.deepEqual(hmac(key, data), createHmac('sha256', key).update(data).digest(), `key ${keyLength}`);
      assert.deepEqual(hmac(key, Buffer.from(data)), createHmac('sha256', key).update(data).digest());
      assert.equal(hmacBase64(key, data), createHmac('sha256', key).update(data).digest('base64'));
    }
  }
});

test('sha256 gives every byte of the digest, those of 0x80 and over too', () => {
  for (const data of ['', 'abc', 'é'.repeat(100)]) {
    const bytes = Buffer.from(data);
    assert.deepEqual(sha256(bytes), createHash('sha256').update(bytes).digest());
  }
  // A digest holding bytes >= 0x80 that a UTF-8 round trip would change.
  const digest = sha256(Buffer.from('abc'));
  assert.ok(digest.some((b) => b >= 0x80));
});
