// What a client sees of SCRAM through the session's login exchange (ClientAuth): -PLUS offered
// only on TLS, a proof bound to another certificate refused; each refusal with PostgreSQL's SQLSTATE.
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

interface Final {
  /** -PLUS bound to this hash of a certificate; plain SCRAM-SHA-256 when absent. */
  boundTo?: Buffer;
  password?: string;
  /** The client-final's nonce, from the server's. */
  nonce?: (serverNonce: string) => string;
  /** The client-final's proof, from the right one (base64). */
  proof?: (proof: string) => string;
}

/** A SCRAM login of alice (password "pencil") sending `final`; returns the final step. */
function scramLogin({ boundTo, password = 'pencil', nonce = (n) => n, proof = (p) => p }: Final): AuthStep {
  const auth = new ClientAuth('scram-sha-256', 'alice', 'pencil', plainToScram, END_POINT);
  auth.start();
  const header = boundTo ? 'p=tls-server-end-point,,' : 'n,,';
  const mechanism = boundTo ? 'SCRAM-SHA-256-PLUS' : 'SCRAM-SHA-256';
  const first = auth.onPasswordMessage(body(encode.saslInitialResponse(mechanism, `${header}n=,r=abc`)));
  assert.equal(first.kind, 'send');
  if (first.kind !== 'send') return first;
  const serverFirst = first.message.subarray(9).toString();
  const [, serverNonce, salt, iterations] = /^r=([^,]+),s=([^,]+),i=([0-9]+)$/.exec(serverFirst)!;
  const clientKey = clientKeyOf(saltedPassword(password, Buffer.from(salt!, 'base64'), Number(iterations)));
  const binding = Buffer.concat([Buffer.from(header), boundTo ?? Buffer.alloc(0)]).toString('base64');
  const withoutProof = `c=${binding},r=${nonce(serverNonce!)}`;
  const right = xor(clientKey, hmac(sha256(clientKey), `n=,r=abc,${serverFirst},${withoutProof}`));
  return auth.onPasswordMessage(body(encode.saslResponse(`${withoutProof},p=${proof(right.toString('base64'))}`)));
}

const plusLogin = (boundTo: Buffer) => scramLogin({ boundTo });

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

// PostgreSQL refuses it so too: 08P01 "SCRAM channel binding check failed".
test('a -PLUS proof bound to another certificate (tampered binding) is refused as a protocol violation', () => {
  assert.equal(plusLogin(sha256(Buffer.from("an impostor's certificate"))).kind, 'protocol');
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

// PostgreSQL answers 28P01 for a wrong password only: a malformed client-final is 08P01 there.
test("SCRAM refusals: a wrong password fails (28P01); a nonce not the exchange's or a proof that is no proof is a protocol violation", () => {
  assert.equal(scramLogin({}).kind, 'ok');
  assert.equal(scramLogin({ password: 'pen' }).kind, 'fail');
  assert.equal(scramLogin({ nonce: (n) => `${n}x` }).kind, 'protocol');
  assert.equal(scramLogin({ proof: () => 'not*base64' }).kind, 'protocol');
  assert.equal(scramLogin({ proof: (p) => p.slice(4) }).kind, 'protocol');
});

test('SCRAM refusals: an authorization identity is not supported (0A000), as on PostgreSQL', () => {
  const auth = new ClientAuth('scram-sha-256', 'alice', 'pencil', plainToScram, null);
  auth.start();
  const step = auth.onPasswordMessage(body(encode.saslInitialResponse('SCRAM-SHA-256', 'n,a=postgres,n=,r=abc')));
  assert.equal(step.kind, 'unsupported');
});
