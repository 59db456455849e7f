import { test } from 'node:test';
import assert from 'node:assert/strict';
import { md5PasswordHash, parseSecret, scramSecretFromPassword, formatScramSecret } from '../../src/auth/secret.js';
import { md5Response, md5Verify } from '../../src/auth/md5.js';
import { saslPrep } from '../../src/auth/scram.js';

// rolpassword values written by PostgreSQL 18 for CREATE ROLE … PASSWORD '<password>'.
const postgresSecrets: Array<[string, string, string]> = [
  [
    'ASCII',
    'pencil',
    'SCRAM-SHA-256$4096:KTPwPd9N0mBZVFdOwsEAhA==$hpjuJTSoaV7WOzrd548RVP5yulJ3MS7t3NiAGlMQN3o=:fRwWBqXXK5r3NPHPNIdG/AJKRs0zbNt85VqRPgfRZo8=',
  ],
  [
    'non-ASCII',
    'päss wörd',
    'SCRAM-SHA-256$4096:ugAhTgEVPN1rwHDblRC2pw==$yMWf1cKoU6JUZM5/NLKPNerGtuRfvDnrkcx2RFAaKE4=:AoZTYVIE6daONZkEnB+HnEiNlTQhraDuSGOqyJ6YHdo=',
  ],
  [
    'SASLprep-mapped (no-break space, soft hyphen, ligature)',
    'x\u00a0y\u00adz\ufb01',
    'SCRAM-SHA-256$4096:Wd+zaStlhTSgNPaF8lMUFg==$7IkycyIDUnL6NwfsX/q6F6VbWXTJi+Furjv1JNmucek=:+AWtYa7cz+1v5d6eZA8Kyli/RAKIAVM2PEVpnq81eL8=',
  ],
  [
    'SASLprep-prohibited (control character, used as is)',
    'a\x07b\u00e9',
    'SCRAM-SHA-256$4096:Uy91lHzya9xxyKuV+TKz6g==$zzRRK/zSVEvK0rDmu8f30gFl5ALV3C+S1mqFtvNM/z8=:JkA3MV6AwOKxjMYGiYpyU9njH2woTS9bVwgCvar+9bY=',
  ],
];

for (const [name, password, stored] of postgresSecrets) {
  test(`scramSecretFromPassword matches PostgreSQL for a ${name} password`, () => {
    const secret = parseSecret(stored);
    assert.equal(secret.kind, 'scram');
    if (secret.kind !== 'scram') return;
    assert.deepEqual(scramSecretFromPassword(password, secret.salt, secret.iterations), secret);
    assert.equal(formatScramSecret(secret), stored);
  });
}

test('saslPrep maps spaces, drops mapped-to-nothing characters and applies NFKC', () => {
  assert.equal(saslPrep('pencil'), 'pencil');
  assert.equal(saslPrep('a\u2003b\u200dc'), 'a bc');
  assert.equal(saslPrep('\u2168'), 'IX');
  assert.equal(saslPrep('e\u0301'), '\u00e9');
  assert.equal(saslPrep('\ue000\u00e9'), '\ue000\u00e9', 'private use is prohibited: used unchanged');
});

test('scramSecretFromPassword uses a fresh 16-byte salt and 4096 iterations by default', () => {
  const a = scramSecretFromPassword('pw');
  const b = scramSecretFromPassword('pw');
  assert.equal(a.salt.length, 16);
  assert.equal(a.iterations, 4096);
  assert.notDeepEqual(a.salt, b.salt);
  assert.notDeepEqual(a.storedKey, b.storedKey);
});

test('parseSecret classifies plain and md5 passwords', () => {
  assert.deepEqual(parseSecret('secret'), { kind: 'plain', password: 'secret' });
  assert.deepEqual(parseSecret(''), { kind: 'plain', password: '' });
  assert.deepEqual(parseSecret('md553F48B7C4B76A86CE72276C5755F217D'), {
    kind: 'md5',
    hash: 'md553f48b7c4b76a86ce72276c5755f217d',
  });
  assert.deepEqual(parseSecret('md5-not-a-hash'), { kind: 'plain', password: 'md5-not-a-hash' });
  assert.deepEqual(parseSecret('md553f48b7c4b76a86ce72276c5755f217'), {
    kind: 'plain',
    password: 'md553f48b7c4b76a86ce72276c5755f217',
  });
});

const key = Buffer.alloc(32, 7).toString('base64');
const malformedScram: Array<[string, string]> = [
  ['no keys', 'SCRAM-SHA-256$4096:c2FsdA=='],
  ['zero iterations', `SCRAM-SHA-256$0:c2FsdA==$${key}:${key}`],
  ['huge iterations', `SCRAM-SHA-256$99999999999:c2FsdA==$${key}:${key}`],
  ['non-numeric iterations', `SCRAM-SHA-256$40x6:c2FsdA==$${key}:${key}`],
  ['bad salt base64', `SCRAM-SHA-256$4096:c2F*dA==$${key}:${key}`],
  ['short StoredKey', `SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:${key}`],
  ['bad ServerKey base64', `SCRAM-SHA-256$4096:c2FsdA==$${key}:hunter2!`],
  ['extra field', `SCRAM-SHA-256$4096:c2FsdA==$${key}:${key}$x`],
];

for (const [name, stored] of malformedScram) {
  test(`parseSecret rejects a SCRAM secret with ${name}, without echoing it`, () => {
    assert.throws(
      () => parseSecret(stored),
      (error: Error) => /malformed SCRAM secret/.test(error.message) && !error.message.includes('c2F'),
    );
  });
}

test('md5PasswordHash matches PostgreSQL', () => {
  assert.equal(md5PasswordHash('postgres2', 'secret'), 'md5a99489f2ba8d41137689bf5947f835e0'); // from pg_authid
  assert.equal(md5PasswordHash('postgres', 'secret'), 'md553f48b7c4b76a86ce72276c5755f217d');
});

const salt = Buffer.from([1, 2, 3, 4]);
const expectedResponse = 'md5bb41a296aab6baccb36ff243a562abff'; // user postgres, password secret, salt 01020304

test('md5Response is the same from a plain password and from its md5 hash', () => {
  assert.equal(md5Response('postgres', { kind: 'plain', password: 'secret' }, salt), expectedResponse);
  assert.equal(md5Response('postgres', parseSecret('md553f48b7c4b76a86ce72276c5755f217d'), salt), expectedResponse);
});

test('md5Response refuses a SCRAM secret and a salt that is not 4 bytes', () => {
  assert.throws(() => md5Response('postgres', scramSecretFromPassword('secret'), salt), /only a SCRAM secret/);
  assert.throws(() => md5Response('postgres', { kind: 'plain', password: 'secret' }, Buffer.alloc(5)), /4 bytes/);
});

test('md5Verify accepts the right response only', () => {
  const plain = parseSecret('secret');
  const md5 = parseSecret('md553f48b7c4b76a86ce72276c5755f217d');
  assert.equal(md5Verify('postgres', plain, salt, expectedResponse), true);
  assert.equal(md5Verify('postgres', md5, salt, expectedResponse), true);
  assert.equal(md5Verify('postgres', md5, Buffer.from([1, 2, 3, 5]), expectedResponse), false, 'other salt');
  assert.equal(
    md5Verify('postgrex', plain, salt, expectedResponse),
    false,
    'other user (the md5 hash already binds the user)',
  );
  assert.equal(md5Verify('postgres', parseSecret('secreT'), salt, expectedResponse), false, 'other password');
  assert.equal(md5Verify('postgres', md5, salt, expectedResponse.slice(0, -1)), false, 'truncated');
  assert.equal(md5Verify('postgres', md5, salt, ''), false, 'empty');
  assert.equal(md5Verify('postgres', md5, Buffer.alloc(0), expectedResponse), false, 'no salt');
});

test('md5Verify is false for SCRAM secrets and empty passwords', () => {
  assert.equal(md5Verify('postgres', scramSecretFromPassword('secret'), salt, expectedResponse), false);
  const empty = { kind: 'plain', password: '' } as const;
  assert.equal(md5Verify('postgres', empty, salt, md5Response('postgres', empty, salt)), false);
});
