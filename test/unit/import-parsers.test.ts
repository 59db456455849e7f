import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHaproxy } from '../../src/config/import/haproxy.js';
import { parseConnectionString, parseIni, type ReadText } from '../../src/config/import/ini.js';
import { gucSeconds, parsePgpoolConf } from '../../src/config/import/pgpool-conf.js';
import { parsePoolPasswd, toUserList } from '../../src/config/import/pool-passwd.js';
import { ImportError } from '../../src/config/import/source.js';

function importErrorOf(run: () => unknown): ImportError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ImportError, `expected an ImportError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected an ImportError');
}

/** A file system in a table: path -> contents. */
function files(table: Record<string, string>): ReadText {
  return (path) => {
    const text = table[path];
    if (text === undefined) throw new Error('no such file');
    return text;
  };
}

describe('pgbouncer.ini', () => {
  const cases: [string, string, { section: string; key: string; value: string; line: number }[]][] = [
    [
      'value runs to the end of the line',
      '[pgbouncer]\nserver_reset_query = DISCARD ALL ; not a comment',
      [{ section: 'pgbouncer', key: 'server_reset_query', value: 'DISCARD ALL ; not a comment', line: 2 }],
    ],
    [
      'full-line comments and blanks are skipped',
      '; c\n# c\n\n[pgbouncer]\n  ; indented\nlisten_port=5426',
      [{ section: 'pgbouncer', key: 'listen_port', value: '5426', line: 6 }],
    ],
    [
      'keys are case-insensitive',
      '[PgBouncer]\nListen_Port = 1',
      [{ section: 'pgbouncer', key: 'listen_port', value: '1', line: 2 }],
    ],
    [
      'database names keep their case',
      '[databases]\nMyDB = host=a',
      [{ section: 'databases', key: 'MyDB', value: 'host=a', line: 2 }],
    ],
    ['empty value', '[pgbouncer]\nauth_file =', [{ section: 'pgbouncer', key: 'auth_file', value: '', line: 2 }]],
    [
      'CRLF lines',
      '[pgbouncer]\r\npool_mode = session\r\n',
      [{ section: 'pgbouncer', key: 'pool_mode', value: 'session', line: 2 }],
    ],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => {
      const entries = parseIni(text, '/etc/p.ini', files({}));
      assert.deepEqual(
        entries.map(({ section, key, value, line }) => ({ section, key, value, line })),
        expected,
      );
    });
  }

  const malformed: [string, string, number, RegExp][] = [
    ['key outside a section', 'a = 1', 1, /outside any \[section\]/],
    ['line without =', '[pgbouncer]\n\nlisten_port 5426', 3, /key = value/],
    ['unclosed section', '[pgbouncer\n', 1, /must end with "\]"/],
    ['white space in a key', '[pgbouncer]\nlisten port = 1', 2, /white space/],
    ['include without a path', '[pgbouncer]\n%include', 2, /%include <path>/],
  ];
  for (const [name, text, line, message] of malformed) {
    test(`rejects ${name} with its line`, () => {
      const error = importErrorOf(() => parseIni(text, '/etc/p.ini', files({})));
      assert.equal(error.line, line);
      assert.equal(error.file, '/etc/p.ini');
      assert.match(error.message, message);
    });
  }

  test('%include is relative to the including file, keeps file names and lines, shares the section', () => {
    const read = files({
      '/etc/pgb/extra.ini': '\nmax_client_conn = 10\n[databases]\nx = host=y',
      '/etc/pgb/sub/deep.ini': '%include ../extra.ini',
    });
    const entries = parseIni('[pgbouncer]\n%include sub/deep.ini\npool_mode = session', '/etc/pgb/main.ini', read);
    assert.deepEqual(
      entries.map(({ section, key, file, line }) => [section, key, file, line]),
      [
        ['pgbouncer', 'max_client_conn', '/etc/pgb/extra.ini', 2],
        ['databases', 'x', '/etc/pgb/extra.ini', 4],
        // The include switched the section, as in PgBouncer.
        ['databases', 'pool_mode', '/etc/pgb/main.ini', 3],
      ],
    );
  });

  test('an include cycle is reported at the line that closes it', () => {
    const read = files({ '/a/b.ini': '[x]\n%include main.ini' });
    const error = importErrorOf(() => parseIni('%include b.ini', '/a/main.ini', read));
    assert.equal(error.file, '/a/b.ini');
    assert.equal(error.line, 2);
    assert.match(error.message, /cycle/);
  });

  test('includes deeper than 10 files are refused', () => {
    const table: Record<string, string> = {};
    for (let i = 0; i < 20; i++) table[`/d/${i}.ini`] = `%include ${i + 1}.ini`;
    const error = importErrorOf(() => parseIni('%include 0.ini', '/d/main.ini', files(table)));
    assert.match(error.message, /deeper than 10/);
    assert.equal(error.file, '/d/9.ini');
  });

  test('a missing include names the including line', () => {
    const error = importErrorOf(() => parseIni('[p]\n%include nope.ini', '/a/main.ini', files({})));
    assert.equal(error.line, 2);
    assert.match(error.message, /cannot %include \/a\/nope\.ini/);
  });
});

describe('[databases] connection strings', () => {
  const cases: [string, Record<string, string>][] = [
    ['host=pool1 port=2000', { host: 'pool1', port: '2000' }],
    ["dbname='my db' password='it''s'", { dbname: 'my db', password: "it's" }],
    ['  user = bob   pool_size=5 ', { user: 'bob', pool_size: '5' }],
    ["dbname=''", { dbname: '' }],
    ['HOST=a host=b', { host: 'b' }],
  ];
  for (const [text, expected] of cases) {
    test(text, () => assert.deepEqual(Object.fromEntries(parseConnectionString(text, 'f', 3)), expected));
  }
  for (const [text, message] of [
    ["dbname='open", /unterminated/],
    ['host', /expected "="/],
    ['=x', /unexpected "="/],
  ] as const) {
    test(`rejects ${text}`, () => {
      const error = importErrorOf(() => parseConnectionString(text, 'f', 3));
      assert.equal(error.line, 3);
      assert.match(error.message, message);
    });
  }
});

describe('pgpool.conf', () => {
  const cases: [string, string, string][] = [
    ["a = 'x'", 'a', 'x'],
    ['a x', 'a', 'x'],
    ['a=10', 'a', '10'],
    ["a = 'it''s'", 'a', "it's"],
    ["a = 'back\\\\slash \\' q'", 'a', "back\\slash ' q"],
    ["a = 'tab\\there \\101'", 'a', 'tab\there A'],
    ["a = '#not a comment' # a comment", 'a', '#not a comment'],
    ['A.B_c = on#c', 'a.b_c', 'on'],
    ["a = ''", 'a', ''],
  ];
  for (const [line, name, value] of cases) {
    test(line, () => {
      const conf = parsePgpoolConf(`# header\n${line}`, 'pgpool.conf');
      const entry = conf.settings.get(name);
      assert.equal(entry?.value, value);
      assert.equal(entry?.line, 2);
    });
  }

  const malformed: [string, RegExp][] = [
    ["a = 'open", /unterminated/],
    ['a =', /missing value/],
    ['a = two words', /after the value/],
    ['1a = 2', /parameter name/],
    ['backend_port01 = 1', /leading zeros/],
    ['backend_port128 = 1', /node id/],
  ];
  for (const [line, message] of malformed) {
    test(`rejects ${line} with its line`, () => {
      const error = importErrorOf(() => parsePgpoolConf(`\n\n${line}`, 'pgpool.conf'));
      assert.equal(error.line, 3);
      assert.match(error.message, message);
    });
  }

  test('backend_*N settings are grouped by node id', () => {
    const conf = parsePgpoolConf(
      "backend_hostname1 = 'b'\nbackend_hostname0 = 'a'\nbackend_port0 = 5433\nbackend_weight1 = 2.5\nbackend_data_directory0 = '/data'\nport = 2000",
      'pgpool.conf',
    );
    assert.deepEqual(
      conf.backends.map((b) => [b.id, Object.fromEntries(Object.entries(b.fields).map(([k, e]) => [k, e.value]))]),
      [
        [0, { hostname: 'a', port: '5433', data_directory: '/data' }],
        [1, { hostname: 'b', weight: '2.5' }],
      ],
    );
    assert.deepEqual([...conf.settings.keys()], ['port']);
  });

  test('durations take a bare unit or a PostgreSQL time unit', () => {
    const entry = (value: string) => ({ name: 't', value, quoted: false, file: 'f', line: 1 });
    assert.equal(gucSeconds(entry('10'), 's'), 10);
    assert.equal(gucSeconds(entry('1500'), 'ms'), 1.5);
    assert.equal(gucSeconds(entry('2min'), 's'), 120);
    assert.equal(gucSeconds(entry('1h'), 's'), 3600);
    assert.throws(() => gucSeconds(entry('10 parsecs'), 's'), /duration/);
  });
});

describe('pool_passwd', () => {
  test('md5, TEXT, AES, SCRAM and unprefixed passwords', () => {
    const md5 = `md5${'a'.repeat(32)}`;
    const entries = parsePoolPasswd(
      `alice:${md5}\nbob:TEXTsecret:with:colons\n\ncarol:AESabc=\ndave:SCRAM-SHA-256$4096:x\neve:plain`,
      'pool_passwd',
    );
    assert.deepEqual(
      entries.map(({ user, kind, secret, line }) => [user, kind, secret, line]),
      [
        ['alice', 'md5', md5, 1],
        ['bob', 'plain', 'secret:with:colons', 2],
        ['carol', 'aes', 'abc=', 4],
        ['dave', 'scram-sha-256', 'SCRAM-SHA-256$4096:x', 5],
        ['eve', 'plain', 'plain', 6],
      ],
    );
    const list = toUserList(entries);
    assert.deepEqual(list.skipped, ['carol']);
    assert.equal(list.text.split('\n')[1], '"bob" "secret:with:colons"');
  });

  for (const [line, message] of [
    ['nocolon', /user:password/],
    [':md5x', /empty user/],
    ['a:md5XYZ', /32 lower-case hex/],
  ] as const) {
    test(`rejects ${line}`, () => {
      const error = importErrorOf(() => parsePoolPasswd(`ok:TEXTx\n${line}`, 'pool_passwd'));
      assert.equal(error.line, 2);
      assert.match(error.message, message);
      // The error never repeats the stored password.
      assert.doesNotMatch(error.message, /XYZ/);
    });
  }
});

describe('haproxy.cfg', () => {
  test('bind forms, maxconn, timeouts and servers', () => {
    const sections = parseHaproxy(
      [
        'global',
        '  maxconn 300000 # comment',
        'defaults',
        '  timeout client 1m',
        '  timeout server 1500',
        'listen pg',
        '  bind *:5427',
        '  bind :5428,:5429 name "two ports"',
        '  bind 0.0.0.0:5430-5432',
        '  bind [::1]:6000',
        '  server pgb 127.0.0.1:5426 check',
        'userlist admins',
        '  user x insecure-password y',
      ].join('\n'),
      'haproxy.cfg',
    );
    assert.deepEqual(
      sections.map((s) => [s.kind, s.name]),
      [
        ['global', ''],
        ['defaults', ''],
        ['listen', 'pg'],
      ],
    );
    assert.deepEqual(sections[0]!.maxconn, { value: 300000, line: 2 });
    assert.deepEqual(Object.fromEntries(sections[1]!.timeouts), {
      client: { value: 60000, line: 4 },
      server: { value: 1500, line: 5 },
    });
    assert.deepEqual(
      sections[2]!.binds.map((b) => [b.host, b.firstPort, b.lastPort, b.line]),
      [
        ['*', 5427, 5427, 7],
        ['*', 5428, 5428, 8],
        ['*', 5429, 5429, 8],
        ['0.0.0.0', 5430, 5432, 9],
        ['::1', 6000, 6000, 10],
      ],
    );
    assert.deepEqual(sections[2]!.servers, [{ name: 'pgb', address: '127.0.0.1:5426', line: 11 }]);
  });

  const malformed: [string, RegExp][] = [
    ['  bind /tmp/sock', /not a TCP address/],
    ['  bind *:5432-5400', /invalid port range/],
    ['  bind localhost', /has no port/],
    ['  timeout client 1min', /invalid time/],
    ['  maxconn lots', /expects a number/],
    ['  bind "*:1', /unterminated/],
  ];
  for (const [line, message] of malformed) {
    test(`rejects ${line.trim()}`, () => {
      const error = importErrorOf(() => parseHaproxy(`listen x\n${line}`, 'haproxy.cfg'));
      assert.equal(error.line, 2);
      assert.match(error.message, message);
    });
  }

  test('bind is refused outside frontend and listen sections', () => {
    assert.match(
      importErrorOf(() => parseHaproxy('backend b\n bind :1', 'h')).message,
      /only valid in frontend and listen/,
    );
  });
});
