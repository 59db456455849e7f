import assert from 'node:assert/strict';
import { test } from 'node:test';
import { md5OnlyUsers } from '../../src/check.js';
import { parseConfig } from '../../src/config/load.js';
import { md5PasswordHash } from '../../src/auth/secret.js';

const users = new Map([
  ['plain', 'secret'],
  ['hashed', md5PasswordHash('hashed', 'secret')],
  [
    'scram',
    'SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm8=:Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm8=',
  ],
]);

test('the users scram-sha-256 never logs in are those kept as an md5 hash; md5, trust and an hba_file decide otherwise', () => {
  for (const [toml, expected] of [
    ['auth_type = "scram-sha-256"', ['hashed']],
    ['auth_type = "md5"', []],
    ['auth_type = "trust"', []],
    ['auth_type = "scram-sha-256"\nhba_file = "/etc/pgtide/pg_hba.conf"', []],
  ] as const) {
    const config = parseConfig(`${toml}\n[[backends]]\nhost = "db"\n`, 'check.toml');
    assert.deepEqual(md5OnlyUsers(config, users), expected, toml);
  }
});
