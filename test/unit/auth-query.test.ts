import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_AUTH_QUERY, readAuthQueryRows } from '../../src/auth/auth-query.js';
import { md5PasswordHash } from '../../src/auth/secret.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { importSeedStack } from '../../src/config/import/to-toml.js';
import { parseConfig } from '../../src/config/load.js';
import { configIssues } from '../../src/config/validate.js';
import * as encode from '../../src/protocol/encode.js';

const SCRAM =
  'SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$' +
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

describe('auth_query rows', () => {
  test('one row naming the user gives its password, md5 or SCRAM', () => {
    const md5 = md5PasswordHash('alice', 'pw');
    assert.deepEqual(readAuthQueryRows('alice', [['alice', md5]]), { kind: 'found', stored: md5 });
    assert.deepEqual(readAuthQueryRows('alice', [['alice', SCRAM]]), { kind: 'found', stored: SCRAM });
  });

  test('no row, or a NULL user name, is no such user', () => {
    assert.deepEqual(readAuthQueryRows('alice', []), { kind: 'unknown' });
    assert.deepEqual(readAuthQueryRows('alice', [[null, 'x']]), { kind: 'unknown' });
  });

  test('a NULL password is a user no password can match', () => {
    assert.deepEqual(readAuthQueryRows('alice', [['alice', null]]), { kind: 'found', stored: null });
  });

  test('several rows, another name, or another number of columns is the query at fault', () => {
    assert.match(
      fault(
        readAuthQueryRows('alice', [
          ['alice', 'a'],
          ['alice', 'b'],
        ]),
      ),
      /returned 2 rows for one user name/,
    );
    assert.match(fault(readAuthQueryRows('alice', [['bob', 'a']])), /row for another user name/);
    assert.match(fault(readAuthQueryRows('alice', [['alice', 'a', 'x']])), /returned 3 columns; it must return two/);
    assert.match(fault(readAuthQueryRows('alice', [['alice']])), /returned 1 columns/);
  });

  test('a malformed SCRAM secret or an overlong value is unusable, and the reason never quotes it', () => {
    const broken = 'SCRAM-SHA-256$4096:c2FsdA==$not-base64:also-not';
    const answer = readAuthQueryRows('alice', [['alice', broken]]);
    assert.equal(answer.kind, 'unusable');
    assert.ok(answer.kind === 'unusable' && !answer.reason.includes('not-base64'), JSON.stringify(answer));
    assert.equal(readAuthQueryRows('alice', [['alice', 'x'.repeat(5000)]]).kind, 'unusable');
  });

  function fault(answer: ReturnType<typeof readAuthQueryRows>): string {
    assert.equal(answer.kind, 'failed');
    return answer.kind === 'failed' ? answer.reason : '';
  }
});

describe('auth_query on the wire', () => {
  test('Parse, Bind with the text parameter, Execute, Sync: the user name is never SQL text', () => {
    const bytes = encode.queryWithParams('SELECT $1', ["o'neil"]);
    const types: string[] = [];
    for (let at = 0; at < bytes.length; at += 1 + bytes.readInt32BE(at + 1))
      types.push(String.fromCharCode(bytes[at]!));
    assert.deepEqual(types, ['P', 'B', 'E', 'S']);
    const bindAt = 1 + bytes.readInt32BE(1);
    const bind = bytes.subarray(bindAt + 5, bindAt + 1 + bytes.readInt32BE(bindAt + 1));
    // portal "", statement "", 0 format codes, 1 parameter of 6 bytes, 0 result formats.
    assert.deepEqual([...bind], [0, 0, 0, 0, 0, 1, 0, 0, 0, 6, ...Buffer.from("o'neil"), 0, 0]);
  });
});

describe('auth_query settings', () => {
  test('the default query is schema-qualified and expires passwords past VALID UNTIL', () => {
    assert.equal(defaultConfig().auth_query, DEFAULT_AUTH_QUERY);
    assert.match(DEFAULT_AUTH_QUERY, /pg_catalog\.pg_authid/);
    assert.match(DEFAULT_AUTH_QUERY, /rolvaliduntil < pg_catalog\.now\(\) THEN NULL/);
  });

  test('with auth_user set, a query without $1 and an auth_dbname not served are refused', () => {
    const config = {
      ...defaultConfig(),
      backends: [{ name: 'a', host: 'h', port: 5432, weight: 1, role: 'auto' as const }],
    };
    const messages = (c: typeof config) => configIssues(c).map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.deepEqual(messages({ ...config, auth_query: 'SELECT 1, 2' }), [], 'auth_user empty: the query is not used');
    assert.deepEqual(messages({ ...config, auth_user: 'lookup', auth_query: 'SELECT u, p FROM t WHERE u = $10' }), [
      'auth_query: must use $1, the name of the user logging in',
    ]);
    const listed = { ...config, auth_user: 'lookup', auth_dbname: 'auth', databases: { app: { dbname: 'app' } } };
    assert.deepEqual(messages(listed), ['auth_dbname: "auth" is not listed in [databases]']);
    assert.deepEqual(messages({ ...listed, databases: { app: { dbname: 'app' }, auth: { dbname: 'auth' } } }), []);
  });

  describe('pgbouncer.ini import', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'pgtide-authq-import-'));
    after(() => rmSync(scratch, { recursive: true, force: true }));

    test('auth_user, auth_query and auth_dbname keep their names and values', () => {
      const pgbouncer = join(scratch, 'pgbouncer.ini');
      writeFileSync(
        pgbouncer,
        [
          '[databases]',
          '* = host=db1',
          '[pgbouncer]',
          'listen_port = 6432',
          'auth_user = pgbouncer',
          'auth_query = SELECT usename, passwd FROM pgbouncer.get_auth($1)',
          'auth_dbname = postgres',
          '',
        ].join('\n'),
      );
      const config = parseConfig(importSeedStack({ pgbouncer }).toml);
      assert.equal(config.auth_user, 'pgbouncer');
      assert.equal(config.auth_query, 'SELECT usename, passwd FROM pgbouncer.get_auth($1)');
      assert.equal(config.auth_dbname, 'postgres');
    });

    test('auth_type = cert is kept, and needs client TLS with a CA', () => {
      const pgbouncer = join(scratch, 'cert.ini');
      writeFileSync(
        pgbouncer,
        [
          '[databases]',
          '* = host=db1',
          '[pgbouncer]',
          'auth_type = cert',
          'client_tls_sslmode = require',
          'client_tls_key_file = k',
          'client_tls_cert_file = c',
          'client_tls_ca_file = ca',
          '',
        ].join('\n'),
      );
      const config = parseConfig(importSeedStack({ pgbouncer }).toml);
      assert.equal(config.auth_type, 'cert');
      const issues = configIssues({ ...config, client_tls_ca_file: '' }).map(
        (i) => `${i.path.join('.')}: ${i.message}`,
      );
      assert.ok(
        issues.includes(
          'auth_type: "cert" needs client_tls_sslmode other than "disable" and client_tls_ca_file to check client certificates',
        ),
        issues.join('\n'),
      );
    });
  });
});
