import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  clientAddress,
  hbaRefusal,
  matchHba,
  parseHba,
  type HbaConnection,
  type HbaRules,
  type HostNetwork,
} from '../../src/auth/hba.js';
import { formatIp, parseIp, prefixMask } from '../../src/auth/hba-address.js';
import { splitFields } from '../../src/auth/hba-tokens.js';
import { md5Response } from '../../src/auth/md5.js';
import { checkAccess } from '../../src/proxy/client-access.js';
import { readHbaFile } from '../../src/config/hba-file.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientAuth } from '../../src/proxy/client-auth.js';
import type { ProxyContext } from '../../src/proxy/context.js';
import type { ClientCertificate } from '../../src/proxy/tls.js';

const noFiles = (path: string): string => {
  throw new Error(`ENOENT: ${path}`);
};

function rulesOf(text: string, files: Record<string, string> = {}): HbaRules {
  const parsed = parseHba(text, '/etc/pgtide/pg_hba.conf', (path) => files[path] ?? noFiles(path));
  if (!parsed.ok) assert.fail(parsed.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return parsed.hba;
}

function problemsOf(text: string): string[] {
  const parsed = parseHba(text, 'pg_hba.conf', noFiles);
  return parsed.ok ? [] : parsed.problems.map((p) => p.message);
}

function tcp(address: string, user = 'alice', database = 'app', ssl = false, roles: string[] = []): HbaConnection {
  return { address: clientAddress(address), ssl, user, database, replication: false, roles: new Set(roles) };
}
const unix = (user = 'alice', database = 'app'): HbaConnection => ({
  address: null,
  ssl: false,
  user,
  database,
  replication: false,
  roles: new Set(),
});

const host: HostNetwork[] = [
  { address: parseIp('127.0.0.1')!, mask: prefixMask(4, 8)! },
  { address: parseIp('10.1.2.3')!, mask: prefixMask(4, 24)! },
  { address: parseIp('::1')!, mask: prefixMask(6, 128)! },
];

/** The line number of the rule that decides, or null for no entry. */
function decidingLine(hba: HbaRules, conn: HbaConnection): number | null {
  return matchHba(hba, conn, host)?.line ?? null;
}

describe('hba tokens', () => {
  const cases: [string, [string, boolean][][]][] = [
    [
      'host all all 127.0.0.1/32 md5',
      [[['host', false]], [['all', false]], [['all', false]], [['127.0.0.1/32', false]], [['md5', false]]],
    ],
    [
      'local "all" a,b md5',
      [
        [['local', false]],
        [['all', true]],
        [
          ['a', false],
          ['b', false],
        ],
        [['md5', false]],
      ],
    ],
    [
      'local a, b md5  # comment, "x',
      [
        [['local', false]],
        [
          ['a', false],
          ['b', false],
        ],
        [['md5', false]],
      ],
    ],
    ['local "a b,c" "say ""hi""" md5', [[['local', false]], [['a b,c', true]], [['say "hi"', true]], [['md5', false]]]],
    ['local x"y z"w "" trust', [[['local', false]], [['xy zw', true]], [['', true]], [['trust', false]]]],
    ['# only a comment', []],
    ['   \t ', []],
  ];
  for (const [line, expected] of cases) {
    test(JSON.stringify(line), () => {
      const fields = splitFields(line).map((field) => field.map((t) => [t.text, t.quoted]));
      assert.deepEqual(fields, expected);
    });
  }
});

describe('hba parsing problems', () => {
  const cases: [string, RegExp][] = [
    ['hots all all 0.0.0.0/0 md5', /invalid connection type "hots"/],
    ['host all all 0.0.0.0/0', /end-of-line before authentication method/],
    ['host all all', /end-of-line before IP address specification/],
    ['local all', /end-of-line before role specification/],
    ['host', /end-of-line before database specification/],
    ['host all all 127.0.0.1 md5', /invalid IP mask "md5"/],
    ['host all all 127.0.0.1', /end-of-line before netmask specification/],
    ['host all all 127.0.0.1 ffff:: md5', /IP address and mask do not match/],
    ['host all all 127.0.0.1/33 md5', /invalid CIDR mask/],
    ['host all all 127.0.0.1/-1 md5', /invalid CIDR mask/],
    ['host all all 300.0.0.1/8 md5', /invalid IP address/],
    ['host all all db.example.com md5', /does not resolve host names/],
    ['host all all .example.com md5', /does not resolve host names/],
    ['host all all 127.0.0.1/32,::1/128 md5', /multiple values specified for host address/],
    ['host,local all all all md5', /multiple values specified for connection type/],
    ['host all all all md5,trust', /multiple values specified for authentication type/],
    ['host all all all pasword', /invalid authentication method "pasword"/],
    ['local all all peer', /peer authentication cannot be honoured/],
    ['host all all all cert', /cert authentication is only supported on hostssl connections/],
    [
      'hostssl all all all cert clientcert=verify-ca',
      /clientcert can only be set to "verify-full" when using "cert" authentication/,
    ],
    ['hostssl all all all md5 clientcert=1', /invalid value for clientcert: "1"/],
    [
      'hostssl all all all cert clientname=DN',
      /clientname=DN: pgtide matches the user name with the certificate's CN only/,
    ],
    ['hostssl all all all cert clientname=UID', /invalid value for clientname: "UID"/],
    ['host all all all ldap ldapserver=x', /LDAP/],
    ['host all all all md5 clientcert=verify-full', /clientcert can only be configured for "hostssl" rows/],
    ['host all all all md5 foo', /not in name=value format/],
    ['host all all all md5 foo=bar', /unrecognized authentication option name: "foo"/],
    ['host all /^a.*$ all md5', /regular expression/],
    ['include other.conf', /"include" directives are not supported/],
    ['local all @missing md5', /could not read secondary authentication file "@missing"/],
    ['local "all all md5', /unterminated double quote/],
    [`local ${'x'.repeat(20000)} all md5`, /token longer than/],
    ['Host all all all md5', /invalid connection type "Host"/],
  ];
  for (const [line, message] of cases) {
    test(line.slice(0, 60), () => {
      const problems = problemsOf(line);
      assert.equal(problems.length, 1, `expected one problem, got ${JSON.stringify(problems)}`);
      assert.match(problems[0]!, message);
    });
  }

  test('a file without rules is refused, as PostgreSQL refuses it', () => {
    assert.deepEqual(problemsOf('# all commented out\n\n'), ['configuration file "pg_hba.conf" contains no entries']);
  });

  test('every problem is reported, each with its line, and the file is refused', () => {
    const parsed = parseHba('local all all trust\nhost all all x.example md5\n\nlocal all all peer\n', 'f', noFiles);
    assert.equal(parsed.ok, false);
    if (!parsed.ok)
      assert.deepEqual(
        parsed.problems.map((p) => p.line),
        [2, 4],
      );
  });
});

describe('hba matching: first line wins', () => {
  const hba = rulesOf(
    [
      'local   all          postgres                      trust', // 1
      'local   all          all                           md5', // 2
      'host    "all"        all        127.0.0.1/32       reject', // 3: the database named "all"
      'host    sameuser     all        127.0.0.1/32       trust', // 4
      'host    app,"Other"  bob        127.0.0.1/32       password', // 5
      'hostssl app          alice      all                scram-sha-256', // 6
      'hostnossl all        alice      10.0.0.0 255.0.0.0 md5', // 7
      'host    all          all        ::1/128            scram-sha-256', // 8
      'host    replication  all        all                trust', // 9
      'host    all          all        samehost           md5', // 10
      'host    all          all        samenet            password', // 11
      'hostgssenc all       all        all                trust', // 12
      'hostnogssenc all     carol      all                md5', // 13
    ].join('\n'),
  );

  const cases: [string, HbaConnection, number | null][] = [
    ['unix socket, superuser', unix('postgres'), 1],
    ['unix socket, anyone', unix('alice'), 2],
    ['quoted "all" is a database name', tcp('127.0.0.1', 'alice', 'all'), 3],
    ['sameuser', tcp('127.0.0.1', 'bob', 'bob'), 4],
    ['user list and quoted name', tcp('127.0.0.1', 'bob', 'Other'), 5],
    ['names are case-sensitive', tcp('127.0.0.1', 'bob', 'other'), 10],
    ['hostssl needs TLS', tcp('192.0.2.1', 'alice', 'app', true), 6],
    ['hostssl does not match plain TCP', tcp('10.9.9.9', 'alice', 'app', false), 7],
    ['hostnossl does not match TLS', tcp('10.9.9.9', 'alice', 'other', true), null],
    ['address with a separate mask', tcp('10.200.0.1', 'alice', 'x'), 7],
    ['IPv6 loopback', tcp('::1', 'dave', 'x'), 8],
    ['an IPv4-mapped client matches IPv4 lines', tcp('::ffff:127.0.0.1', 'bob', 'bob'), 4],
    ['samehost', tcp('10.1.2.3', 'dave', 'x'), 10],
    ['samenet', tcp('10.1.2.77', 'dave', 'x'), 11],
    ['outside every net: no entry', tcp('192.0.2.7', 'dave', 'x'), null],
    ['hostgssenc never matches; hostnogssenc does', tcp('192.0.2.7', 'carol', 'x'), 13],
    ['a database named replication is not the keyword', tcp('192.0.2.7', 'carol', 'replication'), 13],
  ];
  for (const [name, conn, line] of cases) {
    test(name, () => assert.equal(decidingLine(hba, conn), line));
  }

  test('replication connections match only the replication keyword', () => {
    assert.equal(decidingLine(hba, { ...tcp('192.0.2.7', 'carol'), replication: true }), 9);
    assert.equal(decidingLine(rulesOf('host all all all trust'), { ...tcp('127.0.0.1'), replication: true }), null);
  });

  test('the unquoted keyword "replication" never matches a normal database', () => {
    assert.equal(decidingLine(rulesOf('host replication all all trust'), tcp('127.0.0.1', 'a', 'replication')), null);
    assert.equal(decidingLine(rulesOf('host "replication" all all trust'), tcp('127.0.0.1', 'a', 'replication')), 1);
  });

  test('IPv4 lines do not match IPv6 clients and the reverse', () => {
    const v = rulesOf('host all all 0.0.0.0/0 trust\nhost all all ::/0 md5');
    assert.equal(decidingLine(v, tcp('::2')), 2);
    assert.equal(decidingLine(v, tcp('8.8.8.8')), 1);
  });

  test('a non-contiguous mask is applied bit by bit, as PostgreSQL does', () => {
    const v = rulesOf('host all all 10.0.0.5 255.0.0.255 trust');
    assert.equal(decidingLine(v, tcp('10.77.1.5')), 1);
    assert.equal(decidingLine(v, tcp('10.77.1.6')), null);
  });

  test('@file lists, nested, relative to the including file, comments and quotes inside', () => {
    const v = rulesOf('host @dbs @/etc/other/users 127.0.0.1/32 md5', {
      '/etc/pgtide/dbs': 'app # main\n"Reports", @more\n',
      '/etc/pgtide/more': 'extra',
      '/etc/other/users': 'alice bob\n"all"',
    });
    assert.equal(decidingLine(v, tcp('127.0.0.1', 'bob', 'Reports')), 1);
    assert.equal(decidingLine(v, tcp('127.0.0.1', 'all', 'extra')), 1);
    assert.equal(decidingLine(v, tcp('127.0.0.1', 'carol', 'app')), null);
  });

  test('@files that include themselves stop at the nesting limit', () => {
    const parsed = parseHba('local @loop all trust', '/x/hba', (path) =>
      path === '/x/loop' ? '@loop' : noFiles(path),
    );
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.problems[0]!.message, /maximum nesting depth/);
  });

  test('@files that fan out are bounded', () => {
    const parsed = parseHba('local @a all trust', '/x/hba', () => '@a @a @a @a @a @a @a @a');
    assert.equal(parsed.ok, false);
  });

  test('backslash continues a line', () => {
    const v = rulesOf('host all \\\nbob 127.0.0.1/32 trust');
    assert.equal(decidingLine(v, tcp('127.0.0.1', 'bob')), 1);
  });
});

describe('hba refusal messages (PostgreSQL 16+ wording)', () => {
  test('no entry, TCP and unix socket, SSL and not', () => {
    const none = rulesOf('local all all trust');
    assert.equal(
      hbaRefusal(tcp('::ffff:10.0.0.1', 'u', 'd'), matchHba(none, tcp('10.0.0.1'), host)),
      'no pg_hba.conf entry for host "10.0.0.1", user "u", database "d", no encryption',
    );
    assert.equal(
      hbaRefusal(unix('u', 'd'), null),
      'no pg_hba.conf entry for host "[local]", user "u", database "d", no encryption',
    );
    assert.equal(
      hbaRefusal(tcp('::1', 'u', 'd', true), null),
      'no pg_hba.conf entry for host "::1", user "u", database "d", SSL encryption',
    );
  });
  test('reject', () => {
    const reject = rulesOf('host all all all reject');
    const conn = tcp('127.0.0.1', 'u', 'd');
    assert.equal(
      hbaRefusal(conn, matchHba(reject, conn, host)),
      'pg_hba.conf rejects connection for host "127.0.0.1", user "u", database "d", no encryption',
    );
  });
});

describe('hba addresses', () => {
  for (const text of ['::1', '::', 'fe80::1:2', '2001:db8::8:800:200c:417a', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4']) {
    test(`round trip ${text}`, () => {
      const ip = parseIp(text)!;
      assert.equal(ip.family, 6);
      assert.deepEqual(parseIp(formatIp(ip)), ip);
    });
  }
  test('zone ids and junk are not addresses', () => {
    for (const text of ['fe80::1%eth0', '1.2.3', '01.2.3.4.5', '', ':::', '1::2::3', 'g::1'])
      assert.equal(parseIp(text), null, text);
  });
  test('unix sockets have no address', () => {
    assert.equal(clientAddress(undefined), null);
  });
});

describe('hba parser fuzz: hostile input never throws', () => {
  const pieces = [
    'host',
    'local',
    'hostssl',
    'all',
    '"',
    '""',
    ',',
    ' ',
    '\t',
    '#',
    '@',
    '@x',
    '+g',
    '/re',
    '127.0.0.1',
    '/32',
    '::1',
    '/129',
    '255.255.255.0',
    'md5',
    'trust',
    'reject',
    'clientcert=verify-full',
    '=',
    'samehost',
    'samenet',
    '\\',
    '\n',
    '\r',
    '\0',
    '\u{1F600}',
    'é',
  ];
  test('random lines of pg_hba.conf pieces', () => {
    for (let i = 0; i < 3000; i++) {
      const count = 1 + (i % 17);
      const bytes = randomBytes(count);
      const text = [...bytes].map((b) => pieces[b % pieces.length]).join(i % 3 === 0 ? ' ' : '');
      const parsed = parseHba(text, '/x/hba', (path) => (path.endsWith('x') ? '@x all' : noFiles(path)));
      if (parsed.ok) matchHba(parsed.hba, tcp('127.0.0.1'), host);
    }
  });
  test('random bytes', () => {
    for (let i = 0; i < 500; i++) {
      const parsed = parseHba(randomBytes(i * 7).toString('latin1'), 'f', noFiles);
      if (parsed.ok) matchHba(parsed.hba, unix(), host);
    }
  });
});

describe('hba +group and samerole', () => {
  const hba = rulesOf(
    [
      'host  all       +admins     all  trust',
      'host  samerole  all         all  md5',
      'host  all       "+quoted"   all  password',
      'host  all       all         all  reject',
    ].join('\n'),
  );

  test('+group: the user is that role or a member of it (the looked-up roles say which)', () => {
    assert.equal(hba.needsGroups, true);
    assert.equal(decidingLine(hba, tcp('10.0.0.1', 'alice', 'app', false, ['alice', 'admins'])), 1);
    assert.equal(decidingLine(hba, tcp('10.0.0.1', 'admins', 'app', false, ['admins'])), 1);
    assert.equal(decidingLine(hba, tcp('10.0.0.1', 'alice', 'app', false, ['alice'])), 4);
  });

  test('samerole: the database is named after a role the user belongs to; samegroup is its old name', () => {
    assert.equal(decidingLine(hba, tcp('10.0.0.1', 'alice', 'team', false, ['alice', 'team'])), 2);
    assert.equal(decidingLine(hba, tcp('10.0.0.1', 'alice', 'other', false, ['alice', 'team'])), 4);
    assert.equal(
      decidingLine(rulesOf('host samegroup all all md5'), tcp('10.0.0.1', 'alice', 'team', false, ['team'])),
      1,
    );
  });

  test('a quoted "+name" is a user name, and a file without groups needs no lookup', () => {
    assert.equal(decidingLine(hba, tcp('10.0.0.1', '+quoted')), 3);
    assert.equal(rulesOf('host all alice all md5').needsGroups, false);
  });

  test('+group and samerole need auth_user, which looks the memberships up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-hba-groups-'));
    try {
      const file = join(dir, 'hba.conf');
      writeFileSync(file, 'host all +admins all md5\n');
      assert.throws(
        () => readHbaFile({ ...defaultConfig(), hba_file: file }),
        /\+group and samerole need the user's role memberships, which pgtide looks up on the server as auth_user: set auth_user/,
      );
      assert.equal(readHbaFile({ ...defaultConfig(), hba_file: file, auth_user: 'lookup' })?.needsGroups, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hba client certificates (checkAccess)', () => {
  const file = [
    'hostssl  certdb  all  all  cert',
    'hostssl  fulldb  all  all  scram-sha-256 clientcert=verify-full',
    'hostssl  cadb    all  all  md5 clientcert=verify-ca',
    'hostssl  trustdb all  all  trust clientcert=verify-full',
    'hostssl  all     all  all  md5',
  ].join('\n');
  const ctx = { hba: rulesOf(file), config: { auth_type: 'scram-sha-256' } } as unknown as ProxyContext;
  const alice = { valid: true, cn: 'alice' };
  const access = (database: string, certificate: ClientCertificate | null, user = 'alice') =>
    checkAccess(ctx, { remoteAddress: '127.0.0.1', ssl: true, user, database, certificate, roles: new Set() });

  test('cert: a valid certificate whose CN is the user logs in without a password', () => {
    assert.deepEqual(access('certdb', alice), {
      ok: true,
      authType: 'trust',
      certMismatch: false,
      byCertificate: true,
    });
  });

  test("cert: no certificate, one pgtide's CA did not sign, or another CN is refused with PostgreSQL's words", () => {
    assert.equal(message(access('certdb', null)), 'connection requires a valid client certificate');
    assert.equal(
      message(access('certdb', { valid: false, cn: 'alice' })),
      'connection requires a valid client certificate',
    );
    assert.equal(message(access('certdb', alice, 'bob')), 'certificate authentication failed for user "bob"');
    assert.equal(
      message(access('certdb', { valid: true, cn: null })),
      'certificate authentication failed for user "alice"',
    );
  });

  test('clientcert=verify-full: another CN lets the exchange run and fail at its end; trust refuses at once', () => {
    assert.deepEqual(access('fulldb', alice), { ok: true, authType: 'scram-sha-256', certMismatch: false });
    assert.deepEqual(access('fulldb', alice, 'bob'), { ok: true, authType: 'scram-sha-256', certMismatch: true });
    assert.equal(message(access('fulldb', null)), 'connection requires a valid client certificate');
    assert.equal(message(access('trustdb', alice, 'bob')), '"trust" authentication failed for user "bob"');
  });

  test('clientcert=verify-ca: any valid certificate, whatever its CN; lines without clientcert ask for none', () => {
    assert.deepEqual(access('cadb', alice, 'bob'), { ok: true, authType: 'md5', certMismatch: false });
    assert.equal(
      message(access('cadb', { valid: false, cn: 'bob' }, 'bob')),
      'connection requires a valid client certificate',
    );
    assert.deepEqual(access('otherdb', null), { ok: true, authType: 'md5', certMismatch: false });
  });

  test('a verify-full mismatch fails even the right password, at the end of the exchange', () => {
    const auth = new ClientAuth('md5', 'bob', 'secret', (u, p) => ({ kind: 'plain', password: p + u }), null, true);
    const start = auth.start();
    assert.equal(start.kind, 'send');
    const salt = start.kind === 'send' ? start.message.subarray(9, 13) : Buffer.alloc(4);
    const response = md5Response('bob', { kind: 'plain', password: 'secret' }, salt);
    const body = Buffer.concat([Buffer.from(response), Buffer.from([0])]);
    const step = auth.onPasswordMessage(body);
    assert.equal(step.kind, 'fail');
    assert.match(step.kind === 'fail' ? step.reason : '', /clientcert=verify-full/);
    // The same exchange without the mismatch succeeds: the failure above is the certificate's.
    const fine = new ClientAuth('md5', 'bob', 'secret', (u, p) => ({ kind: 'plain', password: p + u }));
    const fineStart = fine.start();
    const fineSalt = fineStart.kind === 'send' ? fineStart.message.subarray(9, 13) : Buffer.alloc(4);
    const fineBody = Buffer.concat([
      Buffer.from(md5Response('bob', { kind: 'plain', password: 'secret' }, fineSalt)),
      Buffer.from([0]),
    ]);
    assert.equal(fine.onPasswordMessage(fineBody).kind, 'ok');
  });

  test('auth_type = "cert" without an hba_file: every client as a `cert` line decides', () => {
    const certOnly = { hba: null, config: { auth_type: 'cert' } } as unknown as ProxyContext;
    const client = (user: string, certificate: ClientCertificate | null, ssl = true) => ({
      remoteAddress: ssl ? '10.0.0.1' : undefined,
      ssl,
      user,
      database: 'app',
      certificate,
      roles: new Set<string>(),
    });
    assert.deepEqual(checkAccess(certOnly, client('alice', alice)), {
      ok: true,
      authType: 'trust',
      certMismatch: false,
      byCertificate: true,
    });
    assert.equal(
      message(checkAccess(certOnly, client('bob', alice))),
      'certificate authentication failed for user "bob"',
    );
    assert.equal(
      message(checkAccess(certOnly, client('alice', null, false))),
      'connection requires a valid client certificate',
    );
  });

  test('cert or clientcert lines need client_tls_ca_file, as PostgreSQL needs ssl_ca_file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-hba-ca-'));
    try {
      const file = join(dir, 'hba.conf');
      writeFileSync(file, 'hostssl all all all md5 clientcert=verify-ca\n');
      const config = { ...defaultConfig(), hba_file: file };
      assert.throws(
        () => readHbaFile(config),
        /client certificates can only be checked if a root certificate store is available: set client_tls_ca_file/,
      );
      assert.equal(readHbaFile({ ...config, client_tls_ca_file: join(dir, 'ca.crt') })?.needsClientCerts, true);
      writeFileSync(file, 'hostssl all all all md5\n');
      assert.equal(readHbaFile(config)?.needsClientCerts, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  function message(a: ReturnType<typeof checkAccess>): string {
    assert.equal(a.ok, false, JSON.stringify(a));
    return a.ok ? '' : a.message;
  }
});
