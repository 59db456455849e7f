import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../../src/config/defaults.js';
import { DEFAULT_AUTH_QUERY } from '../../src/auth/auth-query.js';
import { ConfigError, applyEnv, loadConfig, parseConfig, validateConfig, type Problem } from '../../src/config/load.js';
import { forwardTargets } from '../../src/config/peering.js';
import type { Config } from '../../src/config/types.js';

// Compiled to dist/test/unit/, so the repository root is three levels up.
const EXAMPLE = fileURLToPath(new URL('../../../pgtide.example.toml', import.meta.url));
const DOCS = fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url));
const BACKEND = '[[backends]]\nhost = "db1"\n';

const scratch = mkdtempSync(join(tmpdir(), 'pgtide-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let fileCount = 0;
function writeConfig(text: string): string {
  const path = join(scratch, `config-${fileCount++}.toml`);
  writeFileSync(path, text);
  return path;
}

function problemsOf(run: () => unknown): Problem[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

function findProblem(problems: Problem[], key: string): Problem {
  const problem = problems.find((p) => p.key === key);
  assert.ok(problem, `no problem for ${key} in ${JSON.stringify(problems)}`);
  return problem;
}

describe('defaults', () => {
  test('an empty file gives exactly the defaults', () => {
    assert.deepEqual(parseConfig(''), defaultConfig());
  });

  const cases: [keyof Config, unknown][] = [
    ['instance_name', 'pool1'],
    ['listen_addr', ['127.0.0.1']],
    ['listen_port', [5432]],
    ['auth_type', 'scram-sha-256'],
    ['auth_user', ''],
    ['auth_query', DEFAULT_AUTH_QUERY],
    ['auth_dbname', ''],
    ['server_tls_sslmode', 'prefer'],
    ['server_auth_methods', ['scram-sha-256', 'md5']],
    ['server_channel_binding', 'prefer'],
    ['server_scram_max_iterations', 100_000],
    ['pool_mode', 'transaction'],
    ['default_pool_size', 20],
    ['max_client_conn', 10000],
    ['max_login_clients', 1000],
    ['server_reset_query', 'DISCARD ALL'],
    ['server_lifetime', 3600],
    ['pool_idle_timeout', 3600],
    ['server_application_name', ''],
    ['query_wait_timeout', 120],
    ['max_packet_size', 268435456],
    ['tcp_keepalive', true],
    ['backends', []],
    ['peer_id', 0],
    ['workers', 1],
    ['peers', []],
    ['sr_check_period', 10],
    ['sr_check_user', ''],
    ['sr_check_password', ''],
    ['sr_check_database', 'postgres'],
    ['health_check_period', 5],
    ['health_check_timeout', 5],
    ['health_check_max_retries', 2],
    ['delay_threshold', 16777216],
    ['delay_threshold_by_time', 10000],
    ['state_dir', ''],
    ['prefer_lower_delay_standby', false],
    ['load_balance_mode', true],
    ['database_redirect_preference_list', ''],
    ['app_name_redirect_preference_list', ''],
    ['user_redirect_preference_list', ''],
    ['write_function_list', []],
    ['read_only_function_list', []],
    ['consistency', 'read_your_writes'],
    ['read_your_writes_timeout', 0.05],
    ['transaction_routing', 'conservative'],
    ['admin_users', []],
    ['stats_users', []],
    ['admin_http_listen', ''],
    // Per OS user: /tmp/pgtide-<uid>, owner-only (src/proxy/admin-socket.ts).
    ['admin_socket_dir', `/tmp/pgtide-${process.getuid!()}`],
  ];
  for (const [key, expected] of cases) {
    test(`${key} defaults to ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(defaultConfig()[key], expected);
    });
  }

  test('database and user maps answer no inherited names', () => {
    const config = parseConfig('[databases.app]\n[users.bob]\n');
    for (const map of [config.databases, config.users]) {
      assert.equal(map['constructor'], undefined);
      assert.equal(map['toString'], undefined);
    }
  });

  test('the defaults plus one backend validate', () => {
    assert.doesNotThrow(() => validateConfig({ ...defaultConfig(), backends: parseConfig(BACKEND).backends }));
  });
});

describe('problems in the file', () => {
  const cases: { name: string; toml: string; key: string; line: number | undefined; message: RegExp }[] = [
    { name: 'unknown key, with a suggestion', toml: 'a = 1\n', key: 'a', line: 1, message: /^unknown key$/ },
    {
      name: 'misspelt key',
      toml: '\n# c\nlisten_prot = 5433\n',
      key: 'listen_prot',
      line: 3,
      message: /did you mean "listen_port"/,
    },
    {
      name: 'misspelt backend key',
      toml: `${BACKEND}${BACKEND}wieght = 2\n`,
      key: 'backends[1].wieght',
      line: 5,
      message: /did you mean "weight"/,
    },
    {
      name: 'misspelt user key',
      toml: '[users.bob]\npool_mod = "session"\n',
      key: 'users.bob.pool_mod',
      line: 2,
      message: /did you mean "pool_mode"/,
    },
    {
      name: 'string for a number',
      toml: 'x_ = 0\ndefault_pool_size = "20"\n',
      key: 'default_pool_size',
      line: 2,
      message: /must be an integer.*got a string \("20"\)$/,
    },
    {
      name: 'number for a boolean',
      toml: 'tcp_keepalive = 1\n',
      key: 'tcp_keepalive',
      line: 1,
      message: /must be true or false, got 1/,
    },
    {
      name: 'array for a string',
      toml: 'auth_file = ["a"]\n',
      key: 'auth_file',
      line: 1,
      message: /must be a string, got an array/,
    },
    {
      name: 'fraction for a count',
      toml: 'default_pool_size = 1.5\n',
      key: 'default_pool_size',
      line: 1,
      message: /integer/,
    },
    {
      name: 'zero pool size',
      toml: 'default_pool_size = 0\n',
      key: 'default_pool_size',
      line: 1,
      message: /from 1 to/,
    },
    {
      name: 'negative size',
      toml: 'reserve_pool_size = -1\n',
      key: 'reserve_pool_size',
      line: 1,
      message: /from 0 to/,
    },
    {
      name: 'packet size too small',
      toml: 'max_packet_size = 1023\n',
      key: 'max_packet_size',
      line: 1,
      message: /from 1024 to 1073741824/,
    },
    {
      name: 'packet size too large',
      toml: 'max_packet_size = 1073741825\n',
      key: 'max_packet_size',
      line: 1,
      message: /from 1024 to 1073741824/,
    },
    { name: 'negative duration', toml: 'query_timeout = -0.5\n', key: 'query_timeout', line: 1, message: /from 0 to/ },
    {
      name: 'negative pool_idle_timeout',
      toml: 'pool_idle_timeout = -1\n',
      key: 'pool_idle_timeout',
      line: 1,
      message: /from 0 to/,
    },
    {
      name: 'duration beyond a timer',
      toml: 'query_timeout = 3000000\n',
      key: 'query_timeout',
      line: 1,
      message: /from 0 to 2147483/,
    },
    {
      name: 'bad enum',
      toml: 'pool_mode = "fast"\n',
      key: 'pool_mode',
      line: 1,
      message: /one of "session", "transaction", "statement", got "fast"/,
    },
    {
      name: 'unknown server auth method',
      toml: 'server_auth_methods = ["scram-sha-256", "trust"]\n',
      key: 'server_auth_methods',
      line: 1,
      message: /must list only "scram-sha-256", "md5", "password", "none", got "trust"/,
    },
    {
      name: 'no server auth method',
      toml: 'server_auth_methods = []\n',
      key: 'server_auth_methods',
      line: 1,
      message: /must be a non-empty array/,
    },
    {
      name: 'server auth method twice',
      toml: 'server_auth_methods = ["md5", "md5"]\n',
      key: 'server_auth_methods',
      line: 1,
      message: /"md5" twice/,
    },
    {
      name: 'server auth methods as a string',
      toml: 'server_auth_methods = "md5"\n',
      key: 'server_auth_methods',
      line: 1,
      message: /must be a non-empty array/,
    },
    { name: 'empty auth_query', toml: 'auth_query = ""\n', key: 'auth_query', line: 1, message: /must not be empty/ },
    {
      name: 'unknown auth_type',
      toml: 'auth_type = "ldap"\n',
      key: 'auth_type',
      line: 1,
      message: /"trust", "cert", got "ldap"/,
    },
    {
      name: 'zero SCRAM iterations allowed',
      toml: 'server_scram_max_iterations = 0\n',
      key: 'server_scram_max_iterations',
      line: 1,
      message: /from 1 to 10000000/,
    },
    {
      name: 'bad tls mode',
      toml: 'server_tls_sslmode = "on"\n',
      key: 'server_tls_sslmode',
      line: 1,
      message: /"verify-full", got "on"/,
    },
    { name: 'port 0', toml: 'listen_port = 0\n', key: 'listen_port', line: 1, message: /port from 1 to 65535/ },
    { name: 'port too high', toml: 'listen_port = [5432, 70000]\n', key: 'listen_port', line: 1, message: /got 70000/ },
    {
      name: 'duplicate port',
      toml: 'listen_port = [5432, 5432]\n',
      key: 'listen_port',
      line: 1,
      message: /port 5432 twice/,
    },
    {
      name: 'port inside a range twice',
      toml: 'listen_port = ["5427-5432", 5430]\n',
      key: 'listen_port',
      line: 1,
      message: /port 5430 twice/,
    },
    { name: 'backwards range', toml: 'listen_port = "5432-5427"\n', key: 'listen_port', line: 1, message: /range/ },
    {
      name: 'huge range',
      toml: 'listen_port = "1-65535"\n',
      key: 'listen_port',
      line: 1,
      message: /more than 256 ports/,
    },
    { name: 'no ports', toml: 'listen_port = []\n', key: 'listen_port', line: 1, message: /at least one port/ },
    {
      name: 'duplicate address',
      toml: 'listen_addr = ["::", "::"]\n',
      key: 'listen_addr',
      line: 1,
      message: /"::" twice/,
    },
    {
      name: 'empty instance name',
      toml: 'instance_name = ""\n',
      key: 'instance_name',
      line: 1,
      message: /must not be empty/,
    },
    {
      name: 'long server_application_name',
      toml: `server_application_name = "${'a'.repeat(64)}"\n`,
      key: 'server_application_name',
      line: 1,
      message: /at most 63 bytes/,
    },
    {
      name: 'NUL in a string',
      toml: 'server_reset_query = "DISCARD\\u0000 ALL"\n',
      key: 'server_reset_query',
      line: 1,
      message: /NUL/,
    },
    {
      name: 'backend without host',
      toml: 'log_level = "info"\n[[backends]]\nport = 5433\n',
      key: 'backends[0]',
      line: 2,
      message: /needs a host/,
    },
    {
      name: 'backend port out of range',
      toml: `${BACKEND}port = 65536\n`,
      key: 'backends[0].port',
      line: 3,
      message: /from 1 to 65535/,
    },
    {
      name: 'negative weight',
      toml: `${BACKEND}weight = -1\n`,
      key: 'backends[0].weight',
      line: 3,
      message: /from 0 to/,
    },
    {
      name: 'bad role',
      toml: `${BACKEND}role = "master"\n`,
      key: 'backends[0].role',
      line: 3,
      message: /"auto", "primary", "standby"/,
    },
    {
      name: 'backends as a table',
      toml: '[backends]\nhost = "a"\n',
      key: 'backends',
      line: 1,
      message: /array of tables/,
    },
    {
      name: 'inline backend array',
      toml: 'a_ = 1\nbackends = [{ host = "a", port = 0 }]\n',
      key: 'backends[0].port',
      line: 2,
      message: /from 1 to 65535/,
    },
    {
      name: 'database not a table',
      toml: 'databases.app = 5\n',
      key: 'databases.app',
      line: 1,
      message: /must be a table, got an integer/,
    },
    {
      name: 'dotted database key',
      toml: '\ndatabases.app.pool_size = -1\n',
      key: 'databases.app.pool_size',
      line: 2,
      message: /from 1 to/,
    },
    {
      name: 'fallback database',
      toml: '[databases."*"]\n\npool_mode = "x"\n',
      key: 'databases."*".pool_mode',
      line: 3,
      message: /one of/,
    },
    {
      name: 'unknown database key',
      toml: '[databases.app]\nhost = "x"\n',
      key: 'databases.app.host',
      line: 2,
      message: /unknown key/,
    },
    {
      name: 'after a multi-line string',
      toml: 'server_reset_query = """\nfoo = 1\n"""\nbad_key = 1\n',
      key: 'bad_key',
      line: 4,
      message: /unknown key/,
    },
    {
      name: 'bad consistency',
      toml: 'consistency = "strong"\n',
      key: 'consistency',
      line: 1,
      message: /"eventual", "read_your_writes", "primary_only", got "strong"/,
    },
    {
      name: 'bad transaction routing',
      toml: 'transaction_routing = "aggressive"\n',
      key: 'transaction_routing',
      line: 1,
      message: /"conservative", "first_statement"/,
    },
    {
      name: 'database consistency',
      toml: '[databases.app]\nconsistency = "x"\n',
      key: 'databases.app.consistency',
      line: 2,
      message: /one of "eventual"/,
    },
    {
      name: 'database transaction routing',
      toml: '[databases.app]\ntransaction_routing = 1\n',
      key: 'databases.app.transaction_routing',
      line: 2,
      message: /one of "conservative"/,
    },
    {
      name: 'user consistency',
      toml: '[users.bob]\nconsistency = "x"\n',
      key: 'users.bob.consistency',
      line: 2,
      message: /one of "eventual"/,
    },
    {
      name: 'user transaction routing is per database only',
      toml: '[users.bob]\ntransaction_routing = "conservative"\n',
      key: 'users.bob.transaction_routing',
      line: 2,
      message: /unknown key/,
    },
    {
      name: 'negative sr_check_period',
      toml: 'sr_check_period = -1\n',
      key: 'sr_check_period',
      line: 1,
      message: /from 0 to/,
    },
    {
      name: 'empty sr_check_database',
      toml: 'sr_check_database = ""\n',
      key: 'sr_check_database',
      line: 1,
      message: /must not be empty/,
    },
    {
      name: 'fractional retries',
      toml: 'health_check_max_retries = 1.5\n',
      key: 'health_check_max_retries',
      line: 1,
      message: /integer from 0 to 1000/,
    },
    {
      name: 'fractional delay_threshold',
      toml: 'delay_threshold = 0.5\n',
      key: 'delay_threshold',
      line: 1,
      message: /integer/,
    },
    {
      name: 'negative delay_threshold_by_time',
      toml: 'delay_threshold_by_time = -5\n',
      key: 'delay_threshold_by_time',
      line: 1,
      message: /from 0 to/,
    },
    {
      name: 'user list as a string',
      toml: 'admin_users = "ops"\n',
      key: 'admin_users',
      line: 1,
      message: /array of user names, got a string/,
    },
    {
      name: 'empty user name',
      toml: 'stats_users = ["ok", ""]\n',
      key: 'stats_users',
      line: 1,
      message: /user names of 1 to 63 bytes, got ""/,
    },
    {
      name: 'metrics address without port',
      toml: 'admin_http_listen = "127.0.0.1"\n',
      key: 'admin_http_listen',
      line: 1,
      message: /"host:port"/,
    },
    {
      name: 'metrics port out of range',
      toml: 'admin_http_listen = "127.0.0.1:70000"\n',
      key: 'admin_http_listen',
      line: 1,
      message: /port from 1 to 65535/,
    },
    {
      name: 'function list as a string',
      toml: 'write_function_list = "nextval"\n',
      key: 'write_function_list',
      line: 1,
      message: /array of regular expressions, got a string/,
    },
    {
      name: 'bad regex in a function list',
      toml: 'read_only_function_list = ["ok", "bad("]\n',
      key: 'read_only_function_list',
      line: 1,
      message: /"bad\(" is not a valid regular expression/,
    },
    {
      name: 'empty regex in a function list',
      toml: 'write_function_list = [""]\n',
      key: 'write_function_list',
      line: 1,
      message: /non-empty/,
    },
    {
      name: 'redirect entry without target',
      toml: 'database_redirect_preference_list = "app"\n',
      key: 'database_redirect_preference_list',
      line: 1,
      message: /regex:target/,
    },
    {
      name: 'redirect to an unknown target',
      toml: 'app_name_redirect_preference_list = "a:replica"\n',
      key: 'app_name_redirect_preference_list',
      line: 1,
      message: /primary, standby or a backend index/,
    },
    {
      name: 'redirect weight above 1',
      toml: 'user_redirect_preference_list = "a:standby(2)"\n',
      key: 'user_redirect_preference_list',
      line: 1,
      message: /weight must be a number from 0 to 1/,
    },
    {
      name: 'redirect with a bad regex',
      toml: 'user_redirect_preference_list = "a[:primary"\n',
      key: 'user_redirect_preference_list',
      line: 1,
      message: /invalid regular expression/,
    },
    {
      name: 'peer_id beyond what a cancel key holds',
      toml: 'peer_id = 32\n',
      key: 'peer_id',
      line: 1,
      message: /must be an integer from 0 to 31, got 32/,
    },
    {
      name: 'workers beyond what a cancel key holds',
      toml: 'workers = 33\n',
      key: 'workers',
      line: 1,
      message: /must be an integer from 1 to 32, got 33/,
    },
    {
      name: 'peer id beyond what a cancel key holds',
      toml: '[[peers]]\nid = 40\nhost = "b"\n',
      key: 'peers[0].id',
      line: 2,
      message: /from 0 to 31, got 40/,
    },
    { name: 'peer without an id', toml: '[[peers]]\nhost = "b"\n', key: 'peers[0]', line: 1, message: /needs an id/ },
    { name: 'peer without a host', toml: '[[peers]]\nid = 2\n', key: 'peers[0]', line: 1, message: /needs a host/ },
    {
      name: 'misspelt peer key',
      toml: '[[peers]]\nid = 2\nhost = "b"\nprot = 6432\n',
      key: 'peers[0].prot',
      line: 4,
      message: /did you mean "port"/,
    },
    {
      name: 'TOML syntax error',
      toml: 'pool_mode = "session"\nlisten_port = [5432,\n',
      key: '',
      line: 3,
      message: /^invalid TOML/,
    },
    {
      name: 'duplicate key (TOML error)',
      toml: 'pool_mode = "session"\npool_mode = "session"\n',
      key: '',
      line: 2,
      message: /^invalid TOML/,
    },
  ];
  for (const { name, toml, key, line, message } of cases) {
    test(name, () => {
      const problem = findProblem(
        problemsOf(() => parseConfig(toml, 'test.toml')),
        key,
      );
      assert.equal(problem.line, line);
      assert.match(problem.message, message);
    });
  }

  test('every problem is reported at once, in line order, and named in the message', () => {
    const toml = 'pool_mode = "x"\ndefault_pool_size = 0\n[[backends]]\nhots = "a"\n';
    let error: unknown;
    try {
      parseConfig(toml, 'pgtide.toml');
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(
      error.problems.map((p) => [p.line, p.key]),
      [
        [1, 'pool_mode'],
        [2, 'default_pool_size'],
        [3, 'backends[0]'],
        [4, 'backends[0].hots'],
      ],
    );
    assert.equal(error.source, 'pgtide.toml');
    assert.match(error.message, /^pgtide.toml: 4 problems\n/);
    assert.match(error.message, /line 4: backends\[0\]\.hots: unknown key; did you mean "host"\?/);
  });
});

describe('port lists', () => {
  const cases: [string, number[]][] = [
    ['5433', [5433]],
    ['[5433, 6000]', [5433, 6000]],
    ['"5427-5430"', [5427, 5428, 5429, 5430]],
    ['"6000"', [6000]],
    ['["5427-5428", 6000, "7000 - 7001"]', [5427, 5428, 6000, 7000, 7001]],
  ];
  for (const [value, expected] of cases) {
    test(`listen_port = ${value}`, () => {
      assert.deepEqual(parseConfig(`listen_port = ${value}\n`).listen_port, expected);
    });
  }

  test('listen_addr accepts a single address', () => {
    assert.deepEqual(parseConfig('listen_addr = "*"\n').listen_addr, ['*']);
  });
});

describe('backends, databases and users', () => {
  test('backend defaults: port 5432, weight 1, role auto, name host:port', () => {
    assert.deepEqual(parseConfig('[[backends]]\nhost = "db1"\n[[backends]]\nhost = "::1"\nport = 5433\n').backends, [
      { name: 'db1:5432', host: 'db1', port: 5432, weight: 1, role: 'auto' },
      { name: '[::1]:5433', host: '::1', port: 5433, weight: 1, role: 'auto' },
    ]);
  });

  test('backend settings are kept', () => {
    const [backend] = parseConfig(
      '[[backends]]\nname = "p"\nhost = "h"\nport = 6432\nweight = 0.5\nrole = "primary"\nuser = "u"\npassword = "pw"\n',
    ).backends;
    assert.deepEqual(backend, {
      name: 'p',
      host: 'h',
      port: 6432,
      weight: 0.5,
      role: 'primary',
      user: 'u',
      password: 'pw',
    });
  });

  test("peers: port defaults to 5432, pgtide's own default listen_port", () => {
    assert.deepEqual(
      parseConfig('peer_id = 1\n[[peers]]\nid = 2\nhost = "b"\n[[peers]]\nid = 3\nhost = "c"\nport = 6432\n').peers,
      [
        { id: 2, host: 'b', port: 5432 },
        { id: 3, host: 'c', port: 6432 },
      ],
    );
  });

  test('databases: dbname defaults to the name, overrides are kept', () => {
    const config = parseConfig(
      '[databases.app]\npool_size = 40\n[databases.rep]\ndbname = "analytics"\npool_mode = "session"\n',
    );
    assert.deepEqual({ ...config.databases['app'] }, { dbname: 'app', pool_size: 40 });
    assert.deepEqual({ ...config.databases['rep'] }, { dbname: 'analytics', pool_mode: 'session' });
  });

  test('"*" is the fallback database; its dbname is the client\'s (empty)', () => {
    const config = parseConfig('[databases."*"]\npool_size = 5\n');
    assert.deepEqual({ ...config.databases['*'] }, { dbname: '', pool_size: 5 });
  });

  test('databases and users: consistency and transaction_routing are kept', () => {
    const config = parseConfig(
      '[databases.app]\nconsistency = "read_your_writes"\ntransaction_routing = "first_statement"\n[users.bob]\nconsistency = "primary_only"\n',
    );
    assert.deepEqual(
      { ...config.databases['app'] },
      { dbname: 'app', consistency: 'read_your_writes', transaction_routing: 'first_statement' },
    );
    assert.deepEqual({ ...config.users['bob'] }, { consistency: 'primary_only' });
  });

  test('admin keys are kept', () => {
    const config = parseConfig(
      'admin_users = ["ops"]\nstats_users = ["mon", "grafana"]\nadmin_http_listen = "0.0.0.0:9127"\n',
    );
    assert.deepEqual(config.admin_users, ['ops']);
    assert.deepEqual(config.stats_users, ['mon', 'grafana']);
    assert.equal(config.admin_http_listen, '0.0.0.0:9127');
  });

  test('cluster keys are kept', () => {
    const config = parseConfig(
      'sr_check_period = 0.2\nsr_check_user = "mon"\nsr_check_password = "pw"\ndelay_threshold = 10000000000\n' +
        'write_function_list = ["nextval", "my_.*"]\nuser_redirect_preference_list = "bob:primary, report.*:standby(0.3)"\n',
    );
    assert.equal(config.sr_check_period, 0.2);
    assert.equal(config.sr_check_user, 'mon');
    assert.equal(config.sr_check_password, 'pw');
    assert.equal(config.delay_threshold, 10_000_000_000);
    assert.deepEqual(config.write_function_list, ['nextval', 'my_.*']);
    assert.equal(config.user_redirect_preference_list, 'bob:primary, report.*:standby(0.3)');
  });

  test('users: overrides are kept', () => {
    const config = parseConfig('[users.batch]\npool_mode = "session"\npool_size = 3\nmax_user_connections = 10\n');
    assert.deepEqual({ ...config.users['batch'] }, { pool_mode: 'session', pool_size: 3, max_user_connections: 10 });
  });
});

describe('cross-field validation', () => {
  const cases: { name: string; toml: string; key: string; line: number | undefined; message: RegExp }[] = [
    {
      name: 'no backend',
      toml: 'pool_mode = "session"\n',
      key: 'backends',
      line: undefined,
      message: /no backend servers are configured/,
    },
    {
      name: 'duplicate backend name',
      toml: `${BACKEND}name = "a"\n[[backends]]\nhost = "db2"\nname = "a"\n`,
      key: 'backends[1].name',
      line: 6,
      message: /used by an earlier backend/,
    },
    {
      name: 'duplicate backend address',
      toml: `${BACKEND}${BACKEND}`,
      key: 'backends[1].host',
      line: 4,
      message: /db1:5432 is listed by an earlier backend/,
    },
    {
      name: 'client TLS without key',
      toml: `client_tls_sslmode = "require"\nclient_tls_cert_file = "c"\n${BACKEND}`,
      key: 'client_tls_sslmode',
      line: 1,
      message: /needs client_tls_key_file/,
    },
    {
      name: 'client verify without CA',
      toml: `client_tls_sslmode = "verify-ca"\nclient_tls_cert_file = "c"\nclient_tls_key_file = "k"\n${BACKEND}`,
      key: 'client_tls_sslmode',
      line: 1,
      message: /needs client_tls_ca_file/,
    },
    {
      name: 'server verify without CA',
      toml: `\nserver_tls_sslmode = "verify-full"\n${BACKEND}`,
      key: 'server_tls_sslmode',
      line: 2,
      message: /needs server_tls_ca_file/,
    },
    {
      name: 'server cert without key',
      toml: `server_tls_cert_file = "c"\n${BACKEND}`,
      key: 'server_tls_key_file',
      line: undefined,
      message: /needed as well/,
    },
    {
      name: 'redirect to a backend that is not configured',
      toml: `database_redirect_preference_list = "x:2"\n${BACKEND}[[backends]]\nhost = "db2"\n`,
      key: 'database_redirect_preference_list',
      line: 1,
      message: /names backend 2, but backends are numbered 0 to 1/,
    },
    {
      name: 'one peer id at two addresses',
      toml: `peer_id = 1\n${BACKEND}[[peers]]\nid = 2\nhost = "b"\n[[peers]]\nid = 2\nhost = "c"\n`,
      key: 'peers[1].id',
      line: 8,
      message: /2 is used by an earlier peer at b:5432/,
    },
    {
      name: 'one peer listed twice',
      toml: `peer_id = 1\n${BACKEND}[[peers]]\nid = 2\nhost = "b"\n[[peers]]\nid = 2\nhost = "b"\n`,
      key: 'peers[1].id',
      line: 8,
      message: /2 is listed twice/,
    },
    {
      name: 'two peers at one address',
      toml: `peer_id = 1\n${BACKEND}[[peers]]\nid = 2\nhost = "b"\n[[peers]]\nid = 3\nhost = "b"\nport = 5432\n`,
      key: 'peers[1].host',
      line: 9,
      message: /b:5432 is listed by an earlier peer/,
    },
    {
      name: "this instance's own entry at the address of another",
      toml: `peer_id = 1\n${BACKEND}[[peers]]\nid = 1\nhost = "b"\n[[peers]]\nid = 2\nhost = "b"\n`,
      key: 'peers[1].host',
      line: 9,
      message: /b:5432 is listed by an earlier peer/,
    },
    {
      name: 'nothing to listen on',
      toml: `listen_addr = []\n${BACKEND}`,
      key: 'listen_addr',
      line: 1,
      message: /accept no clients/,
    },
    {
      name: 'channel binding required without server TLS',
      toml: `server_tls_sslmode = "allow"\nserver_channel_binding = "require"\n${BACKEND}`,
      key: 'server_channel_binding',
      line: 2,
      message: /server_tls_sslmode "allow" may not use/,
    },
    {
      name: 'auth_query without $1',
      toml: `auth_user = "lookup"\nauth_query = "SELECT u, p FROM t"\n${BACKEND}`,
      key: 'auth_query',
      line: 2,
      message: /must use \$1/,
    },
    {
      name: 'auth_type cert without a CA',
      toml: `auth_type = "cert"\n${BACKEND}`,
      key: 'auth_type',
      line: 1,
      message: /needs client_tls_sslmode other than "disable" and client_tls_ca_file/,
    },
    {
      name: 'a pool too small to split among the workers',
      toml: `workers = 4\ndefault_pool_size = 3\n${BACKEND}`,
      key: 'default_pool_size',
      line: 2,
      message: /\(3\) is below workers \(4\)/,
    },
  ];
  for (const { name, toml, key, line, message } of cases) {
    test(name, () => {
      assert.doesNotThrow(() => parseConfig(toml), 'a cross-field problem is not a parse problem');
      const problem = findProblem(
        problemsOf(() => loadConfig(writeConfig(toml), {})),
        key,
      );
      assert.equal(problem.line, line);
      assert.match(problem.message, message);
      findProblem(
        problemsOf(() => validateConfig(parseConfig(toml))),
        key,
      );
    });
  }

  test('admin_socket_dir must be absolute, differ from unix_socket_dir, and fit a socket path', () => {
    const problem = (toml: string) =>
      findProblem(
        problemsOf(() => loadConfig(writeConfig(`${toml}\n${BACKEND}`), {})),
        'admin_socket_dir',
      );
    assert.match(problem('admin_socket_dir = "run/pgtide"').message, /must be an absolute path/);
    assert.match(
      problem('unix_socket_dir = "/var/run/pgtide"\nadmin_socket_dir = "/var/run/pgtide/"').message,
      /same directory as unix_socket_dir/,
    );
    // 107 bytes at most: `/` and 93 bytes, then /.s.PGSQL.5432, is 108.
    const long = `/${'d'.repeat(93)}`;
    assert.match(
      problem(`admin_socket_dir = "${long}"`).message,
      new RegExp(`socket path ${long}/\\.s\\.PGSQL\\.5432 \\(108 bytes\\), longer than the 107 bytes`),
    );
    const unixLong = findProblem(
      problemsOf(() => loadConfig(writeConfig(`unix_socket_dir = "${long}"\n${BACKEND}`), {})),
      'unix_socket_dir',
    );
    assert.match(unixLong.message, /longer than the 107 bytes/);
    const fits = `/${'d'.repeat(92)}`;
    assert.doesNotThrow(() => loadConfig(writeConfig(`admin_socket_dir = "${fits}"\n${BACKEND}`), {}));
  });

  test('a unix socket alone is enough to listen on', () => {
    assert.doesNotThrow(() => loadConfig(writeConfig(`listen_addr = []\nunix_socket_dir = "/tmp"\n${BACKEND}`), {}));
  });

  test('one [[peers]] list serves every instance: each skips the entry of its own peer_id', () => {
    const path = writeConfig(
      `${BACKEND}[[peers]]\nid = 1\nhost = "a"\n[[peers]]\nid = 2\nhost = "b"\n[[peers]]\nid = 3\nhost = "c"\n`,
    );
    for (const own of [1, 2, 3]) {
      const config = loadConfig(path, { PGTIDE_PEER_ID: String(own) });
      assert.deepEqual(
        forwardTargets(config).map((peer) => peer.id),
        [1, 2, 3].filter((id) => id !== own),
      );
    }
  });

  test('[[peers]] without peer_id in the file or the environment is refused: the instance would take id 0', () => {
    const peers = `${BACKEND}[[peers]]\nid = 1\nhost = "a"\n[[peers]]\nid = 2\nhost = "b"\n`;
    const problem = findProblem(
      problemsOf(() => loadConfig(writeConfig(peers), {})),
      'peer_id',
    );
    assert.match(problem.message, /is not set, but \[\[peers\]\] are listed: set peer_id or PGTIDE_PEER_ID/);
    assert.equal(loadConfig(writeConfig(peers), { PGTIDE_PEER_ID: '0' }).peer_id, 0);
    assert.equal(loadConfig(writeConfig(`peer_id = 0\n${peers}`), {}).peer_id, 0);
    assert.equal(loadConfig(writeConfig(BACKEND), {}).peer_id, 0, 'without peers, the default serves');
  });

  test('validateConfig re-checks single fields of a Config built in code', () => {
    const config: Config = { ...parseConfig(BACKEND), default_pool_size: 0, listen_port: [5432, 5432] };
    const problems = problemsOf(() => validateConfig(config));
    findProblem(problems, 'default_pool_size');
    findProblem(problems, 'listen_port');
  });
});

describe('environment overrides', () => {
  const cases: { name: string; env: NodeJS.ProcessEnv; expect: Partial<Config> }[] = [
    { name: 'INSTANCE_NAME', env: { INSTANCE_NAME: 'pool7' }, expect: { instance_name: 'pool7' } },
    {
      name: 'PGTIDE_ wins over INSTANCE_NAME',
      env: { INSTANCE_NAME: 'a', PGTIDE_INSTANCE_NAME: 'b' },
      expect: { instance_name: 'b' },
    },
    { name: 'port list', env: { PGTIDE_LISTEN_PORT: '5427,5428' }, expect: { listen_port: [5427, 5428] } },
    {
      name: 'port range',
      env: { PGTIDE_LISTEN_PORT: '5427-5429, 6000' },
      expect: { listen_port: [5427, 5428, 5429, 6000] },
    },
    { name: 'address list', env: { PGTIDE_LISTEN_ADDR: '0.0.0.0, ::' }, expect: { listen_addr: ['0.0.0.0', '::'] } },
    { name: 'enum', env: { PGTIDE_POOL_MODE: 'session' }, expect: { pool_mode: 'session' } },
    {
      name: 'method list',
      env: { PGTIDE_SERVER_AUTH_METHODS: 'scram-sha-256, password' },
      expect: { server_auth_methods: ['scram-sha-256', 'password'] },
    },
    { name: 'fractional duration', env: { PGTIDE_QUERY_TIMEOUT: '2.5' }, expect: { query_timeout: 2.5 } },
    { name: 'integer', env: { PGTIDE_DEFAULT_POOL_SIZE: ' 50 ' }, expect: { default_pool_size: 50 } },
    { name: 'string', env: { PGTIDE_SERVER_RESET_QUERY: '' }, expect: { server_reset_query: '' } },
    { name: 'on', env: { PGTIDE_SERVER_RESET_QUERY_ALWAYS: 'on' }, expect: { server_reset_query_always: true } },
    { name: 'true', env: { PGTIDE_SERVER_RESET_QUERY_ALWAYS: 'TRUE' }, expect: { server_reset_query_always: true } },
    { name: '1', env: { PGTIDE_SERVER_RESET_QUERY_ALWAYS: '1' }, expect: { server_reset_query_always: true } },
    { name: 'off', env: { PGTIDE_TCP_KEEPALIVE: 'off' }, expect: { tcp_keepalive: false } },
    { name: 'false', env: { PGTIDE_TCP_KEEPALIVE: 'false' }, expect: { tcp_keepalive: false } },
    { name: '0', env: { PGTIDE_TCP_KEEPALIVE: '0' }, expect: { tcp_keepalive: false } },
    {
      name: 'backends',
      env: { PGTIDE_BACKENDS: 'db1, db2:5433,[::1]:6432' },
      expect: {
        backends: [
          { name: 'db1:5432', host: 'db1', port: 5432, weight: 1, role: 'auto' },
          { name: 'db2:5433', host: 'db2', port: 5433, weight: 1, role: 'auto' },
          { name: '[::1]:6432', host: '::1', port: 6432, weight: 1, role: 'auto' },
        ],
      },
    },
    {
      name: 'function list',
      env: { PGTIDE_WRITE_FUNCTION_LIST: 'nextval, my_.*_writer' },
      expect: { write_function_list: ['nextval', 'my_.*_writer'] },
    },
    {
      name: 'empty function list',
      env: { PGTIDE_READ_ONLY_FUNCTION_LIST: '' },
      expect: { read_only_function_list: [] },
    },
    {
      name: 'redirect list',
      env: { PGTIDE_APP_NAME_REDIRECT_PREFERENCE_LIST: 'psql:primary' },
      expect: { app_name_redirect_preference_list: 'psql:primary' },
    },
    {
      name: 'consistency',
      env: { PGTIDE_CONSISTENCY: 'read_your_writes' },
      expect: { consistency: 'read_your_writes' },
    },
    { name: 'delay in bytes', env: { PGTIDE_DELAY_THRESHOLD: '16777216' }, expect: { delay_threshold: 16777216 } },
    { name: 'admin users', env: { PGTIDE_ADMIN_USERS: 'ops, root' }, expect: { admin_users: ['ops', 'root'] } },
    { name: 'peer id', env: { PGTIDE_PEER_ID: '7' }, expect: { peer_id: 7 } },
    { name: 'workers', env: { PGTIDE_WORKERS: '4' }, expect: { workers: 4 } },
    { name: 'the slot the primary gives a worker is not a setting', env: { PGTIDE_WORKER_SLOT: '1/2' }, expect: {} },
    {
      name: 'metrics address',
      env: { PGTIDE_ADMIN_HTTP_LISTEN: '[::1]:9127' },
      expect: { admin_http_listen: '[::1]:9127' },
    },
    { name: 'other variables are ignored', env: { HOME: '/root', PGHOST: 'x' }, expect: {} },
  ];
  for (const { name, env, expect } of cases) {
    test(name, () => {
      assert.deepEqual(applyEnv(defaultConfig(), env), { ...defaultConfig(), ...expect });
    });
  }

  const problems: { name: string; env: NodeJS.ProcessEnv; key: string; message: RegExp }[] = [
    { name: 'unknown variable', env: { PGTIDE_FOO: '1' }, key: 'PGTIDE_FOO', message: /unknown pgtide setting$/ },
    {
      name: 'misspelt variable',
      env: { PGTIDE_LISTEN_PROT: '1' },
      key: 'PGTIDE_LISTEN_PROT',
      message: /did you mean PGTIDE_LISTEN_PORT\?/,
    },
    { name: 'bad boolean', env: { PGTIDE_TCP_KEEPALIVE: 'maybe' }, key: 'PGTIDE_TCP_KEEPALIVE', message: /on\/off/ },
    {
      name: 'not a number',
      env: { PGTIDE_DEFAULT_POOL_SIZE: '20x' },
      key: 'PGTIDE_DEFAULT_POOL_SIZE',
      message: /must be a number/,
    },
    {
      name: 'number out of range',
      env: { PGTIDE_MAX_PACKET_SIZE: '10' },
      key: 'PGTIDE_MAX_PACKET_SIZE',
      message: /from 1024/,
    },
    { name: 'bad port', env: { PGTIDE_LISTEN_PORT: '5432,abc' }, key: 'PGTIDE_LISTEN_PORT', message: /got "abc"/ },
    { name: 'bad enum', env: { PGTIDE_LOG_LEVEL: 'loud' }, key: 'PGTIDE_LOG_LEVEL', message: /one of/ },
    {
      name: 'tables cannot come from the environment',
      env: { PGTIDE_DATABASES: 'x' },
      key: 'PGTIDE_DATABASES',
      message: /cannot be set from the environment/,
    },
    {
      name: 'peers cannot come from the environment',
      env: { PGTIDE_PEERS: 'b:5432' },
      key: 'PGTIDE_PEERS',
      message: /use \[\[peers\]\] tables in the file/,
    },
    { name: 'peer id out of range', env: { PGTIDE_PEER_ID: '99' }, key: 'PGTIDE_PEER_ID', message: /from 0 to 31/ },
    {
      name: 'bad backend entry',
      env: { PGTIDE_BACKENDS: 'db1:99999' },
      key: 'PGTIDE_BACKENDS',
      message: /from 1 to 65535/,
    },
    {
      name: 'bad regex in a list',
      env: { PGTIDE_WRITE_FUNCTION_LIST: 'ok,(' },
      key: 'PGTIDE_WRITE_FUNCTION_LIST',
      message: /"\(" is not a valid regular expression/,
    },
    {
      name: 'bad redirect list',
      env: { PGTIDE_DATABASE_REDIRECT_PREFERENCE_LIST: 'db:' },
      key: 'PGTIDE_DATABASE_REDIRECT_PREFERENCE_LIST',
      message: /target/,
    },
    { name: 'empty instance name', env: { INSTANCE_NAME: '' }, key: 'INSTANCE_NAME', message: /must not be empty/ },
  ];
  for (const { name, env, key, message } of problems) {
    test(`problem: ${name}`, () => {
      const problem = findProblem(
        problemsOf(() => applyEnv(defaultConfig(), env)),
        key,
      );
      assert.equal(problem.line, undefined);
      assert.match(problem.message, message);
    });
  }

  test('the environment overrides the file', () => {
    const path = writeConfig(`listen_port = 6000\npool_mode = "session"\n${BACKEND}`);
    const config = loadConfig(path, { PGTIDE_LISTEN_PORT: '7000-7001', INSTANCE_NAME: 'p9' });
    assert.deepEqual(config.listen_port, [7000, 7001]);
    assert.equal(config.pool_mode, 'session');
    assert.equal(config.instance_name, 'p9');
  });

  test('a cross-field problem caused by the environment points at no line', () => {
    const path = writeConfig(`workers = 4\ndefault_pool_size = 20\n${BACKEND}`);
    const problem = findProblem(
      problemsOf(() => loadConfig(path, { PGTIDE_DEFAULT_POOL_SIZE: '3' })),
      'default_pool_size',
    );
    assert.equal(problem.line, undefined);
  });

  test('file and environment problems are reported together', () => {
    const path = writeConfig('pool_mode = "x"\n');
    const problems = problemsOf(() => loadConfig(path, { PGTIDE_FOO: '1' }));
    assert.deepEqual(
      problems.map((p) => p.key),
      ['pool_mode', 'PGTIDE_FOO'],
    );
  });

  test('without a file, the environment alone can configure pgtide', () => {
    const config = loadConfig(undefined, { PGTIDE_BACKENDS: 'db1', PGTIDE_LISTEN_PORT: '6432' });
    assert.equal(config.backends[0]?.host, 'db1');
    assert.deepEqual(config.listen_port, [6432]);
  });
});

describe('files', () => {
  test('the example file loads: one primary and two standbys', () => {
    const config = loadConfig(EXAMPLE, {});
    assert.deepEqual(
      config.backends.map((b) => [b.name, b.role]),
      [
        ['primary', 'primary'],
        ['standby1', 'standby'],
        ['standby2', 'standby'],
      ],
    );
    assert.equal(config.databases['reporting']?.dbname, 'analytics');
  });

  test('the example in docs/configuration.md says what the example file says', () => {
    const example = /```toml\n([\s\S]*?)```/.exec(readFileSync(DOCS, 'utf8'));
    assert.ok(example, 'no toml block in the docs');
    assert.deepEqual(parseConfig(example[1]!), loadConfig(EXAMPLE, {}));
  });

  test('a missing file is a ConfigError naming it', () => {
    const missing = join(scratch, 'absent.toml');
    assert.throws(
      () => loadConfig(missing, {}),
      (error: unknown) => error instanceof ConfigError && error.source === missing && /cannot read/.test(error.message),
    );
  });
});

describe('secrets stay out of error text', () => {
  const secret = 's3cr3t-pa55';
  const cases: [string, string][] = [
    ['misspelt password key', `[[backends]]\nhost = "a"\npasword = "${secret}"\n`],
    ['password of the wrong type', `[[backends]]\nhost = "a"\npassword = ["${secret}"]\n`],
    ['password with a NUL', `[databases.app]\npassword = "${secret}\\u0000"\n`],
    ['syntax error on the password line', `[[backends]]\nhost = "a"\npassword = "${secret}\n`],
    ['syntax error after the password line', `[[backends]]\npassword = "${secret}"\nhost = = 1\n`],
    ['unknown table holding a password', `[backend]\npassword = "${secret}"\n`],
    ['sr_check_password of the wrong type', `sr_check_password = ["${secret}"]\n`],
  ];
  for (const [name, toml] of cases) {
    test(name, () => {
      let error: unknown;
      try {
        loadConfig(writeConfig(toml), {});
      } catch (caught) {
        error = caught;
      }
      assert.ok(error instanceof ConfigError);
      assert.ok(!error.message.includes(secret), error.message);
      assert.ok(!JSON.stringify(error.problems).includes(secret));
    });
  }
});
