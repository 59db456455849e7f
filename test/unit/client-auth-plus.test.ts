// What a client sees of SCRAM-SHA-256-PLUS through the session's login exchange (ClientAuth):
// offered only on TLS, and a proof bound to another certificate is refused like a wrong password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientAuth, type AuthStep } from '../../src/proxy/client-auth.js';
import { formatScramSecret, scramSecretFromPassword } from '../../src/auth/secret.js';
import { clientKeyOf, hmac, saltedPassword, sha256, xor } from '../../src/auth/scram.js';
import * as encode from '../../src/protocol/encode.js';

const END_POINT = sha256(Buffer.from("pgtide's certificate"));
const plainToScram = (_user: string, password: string) => scramSecretFromPassword(password);
const body = (message: Buffer) => message.subarray(5);

/** The mechanisms an AuthenticationSASL message lists. */
function mechanisms(step: AuthStep): string[] {
  assert.equal(step.kind, 'send');
  if (step.kind !== 'send') return [];
  return step.message.subarray(9).toString('latin1').split('\0').filter(Boolean);
}

/** A -PLUS login with the right password, bound to `boundTo`; returns the final step. */
function plusLogin(boundTo: Buffer): AuthStep {
  const auth = new ClientAuth('scram-sha-256', 'alice', 'pencil', plainToScram, END_POINT);
  auth.start();
  const header = 'p=tls-server-end-point,,';
  const first = auth.onPasswordMessage(body(encode.saslInitialResponse('SCRAM-SHA-256-PLUS', `${header}n=,r=abc`)));
  assert.equal(first.kind, 'send');
  if (first.kind !== 'send') return first;
  const serverFirst = first.message.subarray(9).toString();
  const [, nonce, salt, iterations] = /^r=([^,]+),s=([^,]+),i=([0-9]+)$/.exec(serverFirst)!;
  const clientKey = clientKeyOf(saltedPassword('pencil', Buffer.from(salt!, 'base64'), Number(iterations)));
  const withoutProof = `c=${Buffer.concat([Buffer.from(header), boundTo]).toString('base64')},r=${nonce}`;
  const proof = xor(clientKey, hmac(sha256(clientKey), `n=,r=abc,${serverFirst},${withoutProof}`));
  return auth.onPasswordMessage(body(encode.saslResponse(`${withoutProof},p=${proof.toString('base64')}`)));
}

test('SCRAM-SHA-256-PLUS is offered first on TLS, and not at all without TLS', () => {
  assert.deepEqual(mechanisms(new ClientAuth('scram-sha-256', 'alice', 'pencil', plainToScram, END_POINT).start()), [
    'SCRAM-SHA-256-PLUS',
    'SCRAM-SHA-256',
  ]);
  assert.deepEqual(mechanisms(new ClientAuth('scram-sha-256', 'alice', 'pencil', plainToScram, null).start()), [
    'SCRAM-SHA-256',
  ]);
});

test("a -PLUS proof bound to pgtide's certificate logs in", () => {
  assert.equal(plusLogin(END_POINT).kind, 'ok');
});

test('a -PLUS proof bound to another certificate (tampered binding) is refused', () => {
  assert.equal(plusLogin(sha256(Buffer.from("an impostor's certificate"))).kind, 'fail');
});

test('a client that picks -PLUS where it was not offered is a protocol violation', () => {
  const auth = new ClientAuth('scram-sha-256', 'alice', 'pencil', plainToScram, null);
  auth.start();
  const step = auth.onPasswordMessage(
    body(encode.saslInitialResponse('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abc')),
  );
  assert.deepEqual(step, { kind: 'protocol', reason: 'unsupported SASL mechanism "SCRAM-SHA-256-PLUS"' });
});

test('auth_type md5: a user without a secret gets the SCRAM exchange a SCRAM user gets, not md5 (no user probing)', () => {
  const stored = formatScramSecret(scramSecretFromPassword('pencil'));
  assert.deepEqual(mechanisms(new ClientAuth('md5', 'alice', stored, plainToScram, null).start()), ['SCRAM-SHA-256']);
  assert.deepEqual(mechanisms(new ClientAuth('md5', 'nobody', undefined, plainToScram, null).start()), [
    'SCRAM-SHA-256',
  ]);
  // An md5-stored user still gets md5, as from PostgreSQL.
  const md5 = new ClientAuth('md5', 'bob', 'md5' + '0'.repeat(32), plainToScram, null).start();
  assert.ok(md5.kind === 'send' && md5.message.readInt32BE(5) === 5, 'AuthenticationMD5Password');
});
