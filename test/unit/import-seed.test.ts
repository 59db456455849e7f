import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { importSeedStack, type SeedFiles } from '../../src/config/import/to-toml.js';
import { parseConfig } from '../../src/config/load.js';
import { defaultAdminSocketDir } from '../../src/config/defaults.js';
import { IMAGE_HEALTH_LISTEN } from '../../src/config/import/state-dir.js';

// Compiled to dist/test/unit/, so the repository root is three levels up.
const SEED = fileURLToPath(new URL('../../../test/fixtures/seed/', import.meta.url));
const seedFiles: SeedFiles = {
  pgbouncer: join(SEED, 'pgbouncer.ini'),
  users: join(SEED, 'users.txt'),
  pgpool: join(SEED, 'pgpool.conf'),
  poolHba: join(SEED, 'pool_hba.conf'),
  poolPasswd: join(SEED, 'pool_passwd'),
  haproxy: join(SEED, 'haproxy.cfg'),
  supervisor: join(SEED, 'supervisor.conf'),
};

describe('importing the seed stack', () => {
  const { toml, warnings } = importSeedStack(seedFiles);
  const config = parseConfig(toml, 'imported.toml');

  test("listens on PgBouncer's port and every HAProxy port, on all addresses", () => {
    assert.deepEqual(config.listen_port, [5426, 5427, 5428, 5429, 5430, 5431, 5432]);
    assert.deepEqual(config.listen_addr, ['*']);
  });

  test("keeps PgBouncer's pooling and client settings", () => {
    assert.equal(config.pool_mode, 'transaction');
    assert.equal(config.auth_type, 'md5');
    // --users wins over pgbouncer.ini's auth_file (the container's /etc/pgbouncer/users.txt).
    assert.equal(config.auth_file, join(SEED, 'users.txt'));
    assert.match(toml, /auth_file = \/etc\/pgbouncer\/users\.txt: replaced by --users/);
    assert.equal(config.max_client_conn, 300000);
  });

  test('caps pools at what Pgpool-II let each backend have (num_init_children × max_pool), and each database across its users', () => {
    assert.equal(config.default_pool_size + config.reserve_pool_size, 25);
    // Pgpool-II's 25 held across every user: four users' pools must not open 100.
    assert.equal(config.max_db_connections, 25);
    assert.ok(
      warnings.some((w) => /default_pool_size lowered from 60/.test(w)),
      warnings.join('\n'),
    );
  });

  test('the backends, their weights and role hints come from backend_*N', () => {
    assert.deepEqual(
      config.backends.map(({ host, port, weight, role }) => ({ host, port, weight, role })),
      [
        { host: 'pgmaster1.weave.local', port: 5432, weight: 1, role: 'primary' },
        { host: 'pgslave1.weave.local', port: 5432, weight: 5, role: 'standby' },
        { host: 'pgslave2.weave.local', port: 5432, weight: 5, role: 'standby' },
      ],
    );
  });

  test("routing and lag settings keep Pgpool-II's values and units", () => {
    assert.equal(config.load_balance_mode, true);
    assert.equal(config.database_redirect_preference_list, 'challenge:standby');
    assert.equal(config.sr_check_period, 10);
    assert.equal(config.sr_check_user, 'challenge');
    assert.equal(config.sr_check_password, 'challenge');
    assert.equal(config.delay_threshold, 10000000);
    assert.deepEqual(config.write_function_list, ['currval', 'lastval', 'nextval', 'setval']);
    assert.deepEqual(config.read_only_function_list, []);
    assert.equal(config.health_check_period, 0);
    assert.equal(config.health_check_timeout, 20);
  });

  test('recycling, reset and logging settings', () => {
    assert.equal(config.server_lifetime, 1000);
    // child_max_connections counted sessions (PgBouncer's long-lived ones), not transactions.
    assert.equal(config.server_max_uses, 0);
    // ABORT is dropped: pgtide only pools idle connections, and DISCARD ALL cannot share a query.
    assert.equal(config.server_reset_query, 'DISCARD ALL');
    assert.equal(config.log_connections, false);
    assert.equal(config.log_level, 'info');
  });

  test('every setting line of every source file is accounted for in the output', () => {
    const settingLines: [string, RegExp][] = [
      ['pgbouncer.ini', /^\s*[A-Za-z*][\w*]*\s*=/],
      ['pgpool.conf', /^\s*[a-z_0-9]+\s*=/],
      ['haproxy.cfg', /^\s*(bind|maxconn|timeout|server)\s/],
    ];
    for (const [name, pattern] of settingLines) {
      readFileSync(join(SEED, name), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (pattern.test(line))
            assert.ok(
              toml.includes(`${name}:${index + 1}`),
              `${name}:${index + 1} (${line.trim()}) is not in the output`,
            );
        });
    }
  });

  test('settings without a pgtide key are explained, not silently dropped', () => {
    for (const explained of [
      'num_init_children',
      'max_pool',
      'connection_cache',
      'master_slave_mode',
      'master_slave_sub_mode',
      'replication_mode',
      'parallel_mode',
      'enable_pool_hba',
      'pool_passwd',
      'host=pool1 port=2000',
      'timeout client',
      'supervisord',
    ]) {
      assert.ok(toml.includes(explained), `no comment about ${explained}`);
    }
  });

  test('pool_hba.conf becomes hba_file, read by the hba engine, with the addresses caveat', () => {
    assert.equal(config.hba_file, join(SEED, 'pool_hba.conf'));
    assert.match(toml, /pool_hba\.conf:5: host\s+all\s+all\s+10\.32\.0\.0 255\.240\.0\.0\s+md5/);
    assert.ok(!warnings.some((w) => /no hba engine/.test(w)), warnings.join('\n'));
    assert.ok(
      warnings.some((w) => /^pool_hba\.conf: Pgpool-II applied these rules/.test(w)),
      warnings.join('\n'),
    );
  });

  test('enable_pool_hba = on without pool_hba.conf given: no claim that rules are enforced, and a warning', () => {
    const { poolHba: _, ...withoutHba } = seedFiles;
    const result = importSeedStack(withoutHba);
    assert.equal(parseConfig(result.toml, 'imported.toml').hba_file, '');
    assert.doesNotMatch(result.toml, /pgtide enforces pool_hba\.conf/);
    assert.ok(
      result.warnings.some((w) => /enable_pool_hba = on, but no pool_hba\.conf was given/.test(w)),
      result.warnings.join('\n'),
    );
  });

  test("behind PgBouncer, a pool_hba.conf that trusts (Pgpool-II's sample) is not enforced: applications would log in without a password", () => {
    const scratch = mkdtempSync(join(tmpdir(), 'pgtide-import-hba-'));
    try {
      const hbaFile = join(scratch, 'pool_hba.conf');
      writeFileSync(hbaFile, 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all 10.0.0.0/8 md5\n');
      const behind = importSeedStack({ ...seedFiles, poolHba: hbaFile });
      assert.equal(parseConfig(behind.toml, 'imported.toml').hba_file, '');
      assert.match(behind.toml, /pool_hba\.conf: not enforced/);
      assert.ok(
        behind.warnings.some((w) => /^pool_hba\.conf:1, pool_hba\.conf:2: trust: .*hba_file is not set/.test(w)),
        behind.warnings.join('\n'),
      );
      // Pgpool-II facing the applications itself trusted them the same way: the rules hold as they are.
      const alone = importSeedStack({ pgpool: seedFiles.pgpool, poolHba: hbaFile });
      assert.equal(parseConfig(alone.toml, 'imported.toml').hba_file, hbaFile);
      // A line pgtide cannot honour (a host name) does not hide the trust line from the check.
      writeFileSync(hbaFile, 'host all all 127.0.0.1/32 trust\nhost all all localhost md5\n');
      const mixed = importSeedStack({ ...seedFiles, poolHba: hbaFile });
      assert.equal(parseConfig(mixed.toml, 'imported.toml').hba_file, '');
      assert.ok(
        mixed.warnings.some((w) => /^pool_hba\.conf:1: trust: /.test(w)),
        mixed.warnings.join('\n'),
      );
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('a pool_hba.conf line pgtide cannot honour is a warning naming the line', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'pgtide-import-hba-'));
    try {
      const hbaFile = join(scratch, 'pool_hba.conf');
      writeFileSync(hbaFile, 'local all all md5\nhost all all db.example.com pam\n');
      const result = importSeedStack({ ...seedFiles, poolHba: hbaFile });
      const warning = result.warnings.find((w) => w.startsWith('pool_hba.conf: pgtide cannot honour'));
      assert.ok(warning, result.warnings.join('\n'));
      assert.match(warning, /pool_hba\.conf:2: host name "db\.example\.com"/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('pool_hba.conf +group and cert lines are honoured, with a warning naming what they need', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'pgtide-import-hba-'));
    try {
      const hbaFile = join(scratch, 'pool_hba.conf');
      writeFileSync(hbaFile, 'host all +admins all md5\nhostssl all all all cert\n');
      const { warnings: said } = importSeedStack({ ...seedFiles, poolHba: hbaFile });
      assert.ok(!said.some((w) => /cannot honour/.test(w)), said.join('\n'));
      assert.ok(
        said.some((w) => /^pool_hba\.conf: \+group or samerole lines need auth_user/.test(w)),
        said.join('\n'),
      );
      assert.ok(
        said.some((w) => /^pool_hba\.conf: cert or clientcert lines need client TLS and client_tls_ca_file/.test(w)),
        said.join('\n'),
      );
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('importing other stacks', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pgtide-import-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const path = join(scratch, name);
    writeFileSync(path, text);
    return path;
  };

  test('every [databases] entry is listed: a `*` next to a named database with settings still lets the other names in, and names alone still keep the others out', () => {
    const both = importSeedStack({
      pgbouncer: write(
        'star.ini',
        '[databases]\n* = host=db port=2000\nappdb = host=db port=2000 dbname=app pool_size=5\n',
      ),
    });
    const config = parseConfig(both.toml);
    assert.deepEqual(Object.keys(config.databases).sort(), ['*', 'appdb']);
    assert.deepEqual({ ...config.databases['appdb'] }, { dbname: 'app', pool_size: 5 });
    const named = parseConfig(
      importSeedStack({ pgbouncer: write('named.ini', '[databases]\nsales = host=db\nhr = host=db\n') }).toml,
    );
    assert.deepEqual(Object.keys(named.databases).sort(), ['hr', 'sales']);
  });

  test('a key set twice, in the file or through %include: the later line applies, as in PgBouncer, with a warning', () => {
    write('more.ini', 'pool_mode = session\ndefault_pool_size = 7\n');
    const ini = write(
      'twice.ini',
      '[databases]\n* = host=db\n[pgbouncer]\npool_mode = transaction\ndefault_pool_size = 9\n%include more.ini\nmax_client_conn = 50\nmax_client_conn = 60\n',
    );
    const { toml, warnings } = importSeedStack({ pgbouncer: ini });
    const config = parseConfig(toml, 'imported.toml');
    assert.equal(config.pool_mode, 'session');
    assert.equal(config.default_pool_size, 7);
    assert.equal(config.max_client_conn, 60);
    for (const [line, key] of [
      [4, 'pool_mode'],
      [5, 'default_pool_size'],
      [7, 'max_client_conn'],
    ] as const) {
      assert.ok(
        warnings.some((w) => w.startsWith(`twice.ini:${line}: ${key} = `) && /the later value applies/.test(w)),
        warnings.join('\n'),
      );
    }
  });

  test("auth_type = hba: PgBouncer's auth_hba_file becomes hba_file; without one, md5, not a default that refuses md5 passwords", () => {
    const rules = write('bouncer_hba.conf', 'host all all 10.0.0.0/8 md5\nlocal all all md5\n');
    const withFile = importSeedStack({
      pgbouncer: write('hba.ini', `[databases]\n* = host=db\n[pgbouncer]\nauth_type = hba\nauth_hba_file = ${rules}\n`),
    });
    assert.equal(parseConfig(withFile.toml, 'imported.toml').hba_file, rules);
    assert.match(withFile.toml, /bouncer_hba\.conf:1: host all all 10\.0\.0\.0\/8 md5/);
    assert.ok(
      !withFile.warnings.some((w) => /auth_hba_file|no pgtide equivalent/.test(w)),
      withFile.warnings.join('\n'),
    );
    const without = importSeedStack({
      pgbouncer: write('hba-none.ini', '[databases]\n* = host=db\n[pgbouncer]\nauth_type = hba\n'),
    });
    const config = parseConfig(without.toml, 'imported.toml');
    assert.equal(config.auth_type, 'md5');
    assert.equal(config.hba_file, '');
    assert.ok(
      without.warnings.some((w) => /auth_type = hba names no auth_hba_file/.test(w)),
      without.warnings.join('\n'),
    );
    // With another auth_type PgBouncer never read the file.
    const unused = importSeedStack({
      pgbouncer: write(
        'hba-unused.ini',
        `[databases]\n* = host=db\n[pgbouncer]\nauth_type = md5\nauth_hba_file = ${rules}\n`,
      ),
    });
    assert.equal(parseConfig(unused.toml, 'imported.toml').hba_file, '');
    assert.match(unused.toml, /auth_hba_file = .*: PgBouncer reads it only with auth_type = hba/);
  });

  test('an auth_hba_file that would not mean what it meant to PgBouncer is refused, naming the line', () => {
    const importWith = (rules: string) =>
      importSeedStack({
        pgbouncer: write(
          'hba-refused.ini',
          `[databases]\n* = host=db\n[pgbouncer]\nauth_type = hba\nauth_hba_file = ${write('refused_hba.conf', rules)}\n`,
        ),
      });
    // PgBouncer 1.18 skips or never matches the first line and asks for the password; pgtide
    // would trust (each checked with PgBouncer 1.18 and real logins by a reviewer).
    write('names.lst', 'pgtide_scram\n\n');
    for (const [first, why] of [
      ['host all all all trust', /line 1: PgBouncer skips the address all/],
      ['host all all 127.0.0.1/8 trust', /line 1: PgBouncer never matches an address with bits outside its mask/],
      [
        'host all all 127.0.0.1 255.0.0.0 trust',
        /line 1: PgBouncer never matches an address with bits outside its mask/,
      ],
      [
        'host all @names.lst 127.0.0.0/8 trust',
        /line 1: PgBouncer skips a line whose @names\.lst holds a blank or comment line/,
      ],
      ['host all all \\\n 127.0.0.1/32 trust', /line 1: PgBouncer does not join a line ending with a backslash/],
    ] as const)
      assert.throws(
        () => importWith(`${first}\nhost all all 0.0.0.0/0 md5\n`),
        new RegExp(`refused_hba\\.conf:1: pgtide would apply what PgBouncer 1\\.18 did not: ${why.source}`),
        first,
      );
    // The same network written with its host bits clear means the same to both.
    assert.doesNotThrow(() => importWith('host all all 127.0.0.0/8 trust\nhost all all 0.0.0.0/0 md5\n'));
    assert.throws(
      () => importWith('local all pgbouncer peer\nhost all all 0.0.0.0/0 md5\n'),
      /refused_hba\.conf:1: pgtide cannot honour line 1/,
    );
    // A file not on this machine (the container's path) is named, as auth_file is: check finds it later.
    const absent = importSeedStack({
      pgbouncer: write(
        'hba-absent.ini',
        '[databases]\n* = host=db\n[pgbouncer]\nauth_type = hba\nauth_hba_file = /nonexistent/hba.conf\n',
      ),
    });
    assert.equal(parseConfig(absent.toml, 'imported.toml').hba_file, '/nonexistent/hba.conf');
    assert.ok(
      absent.warnings.some((w) => /^hba\.conf: pgtide cannot honour 1 line/.test(w)),
      absent.warnings.join('\n'),
    );
  });

  test('a unix_socket_dir missing here is a warning (pgtide would not start); none at all, a comment', () => {
    const missing = importSeedStack({
      pgbouncer: write(
        'socket.ini',
        '[databases]\n* = host=db\n[pgbouncer]\nunix_socket_dir = /nonexistent/run/postgresql\n',
      ),
    });
    assert.equal(parseConfig(missing.toml, 'imported.toml').unix_socket_dir, '/nonexistent/run/postgresql');
    assert.ok(
      missing.warnings.some((w) =>
        /^socket\.ini:4: unix_socket_dir \/nonexistent\/run\/postgresql does not exist/.test(w),
      ),
      missing.warnings.join('\n'),
    );
    const none = importSeedStack({ pgbouncer: write('no-socket.ini', '[databases]\n* = host=db\n') });
    assert.match(none.toml, /sets no unix_socket_dir: PgBouncer's default \/tmp/);
  });

  test('a [pgbouncer] value pgtide cannot read is refused with its line, as PgBouncer refuses to start on it', () => {
    for (const [setting, problem] of [
      ['default_pool_size = ten', /bad-value\.ini:4: default_pool_size: must be a number, got "ten"/],
      ['pool_mode = transaction ; old', /bad-value\.ini:4: pool_mode: /],
      ['server_lifetime = 1h', /bad-value\.ini:4: server_lifetime: must be a number/],
      ['max_client_conn = lots', /bad-value\.ini:4: max_client_conn: must be a number/],
    ] as const) {
      const ini = write('bad-value.ini', `[databases]\n* = host=db\n[pgbouncer]\n${setting}\n`);
      assert.throws(() => importSeedStack({ pgbouncer: ini }), problem, setting);
    }
  });

  test('a [pgbouncer] value PgBouncer starts with but pgtide cannot read is a warning, not a refusal; enums in any case', () => {
    const ini = write(
      'taken.ini',
      '[databases]\n* = host=db\n[pgbouncer]\npool_mode = Transaction\nserver_tls_sslmode = Require\nmax_packet_size = 2147483647\nlog_connections = 2\nmax_client_conn = 0x10\n',
    );
    const { toml, warnings } = importSeedStack({ pgbouncer: ini });
    const config = parseConfig(toml, 'imported.toml');
    assert.equal(config.pool_mode, 'transaction');
    assert.equal(config.server_tls_sslmode, 'require');
    for (const [line, key] of [
      [6, 'max_packet_size'],
      [7, 'log_connections'],
      [8, 'max_client_conn'],
    ] as const)
      assert.ok(
        warnings.some((w) => w.startsWith(`taken.ini:${line}: ${key} is not imported: `)),
        warnings.join('\n'),
      );
  });

  test('auth_type: a method PgBouncer does not know is refused; user lists split on white space as in PgBouncer', () => {
    const ini = (line: string) => write('auth.ini', `[databases]\n* = host=db\n[pgbouncer]\n${line}\n`);
    for (const bad of ['bogus', "'md5'", 'md5 ; old', 'scram_sha_256'])
      assert.throws(
        () => importSeedStack({ pgbouncer: ini(`auth_type = ${bad}`) }),
        /auth\.ini:4: auth_type: PgBouncer 1\.18 knows no method/,
        bad,
      );
    const lists = parseConfig(
      importSeedStack({ pgbouncer: ini('admin_users = postgres pgtide_scram\nstats_users = a,b  c') }).toml,
      'imported.toml',
    );
    assert.deepEqual(lists.admin_users, ['postgres', 'pgtide_scram']);
    assert.deepEqual(lists.stats_users, ['a', 'b', 'c']);
  });

  test("per-database and per-user sizes and caps are held under Pgpool-II's cap too, as the global ones", () => {
    const pgpool = write('cap-db.conf', 'num_init_children = 5\nmax_pool = 2\n');
    const { toml, warnings } = importSeedStack({
      pgbouncer: write(
        'cap-db.ini',
        '[databases]\napp = host=db port=5432 dbname=app max_db_connections=100 pool_size=50\nsmall = host=db pool_size=4\n[users]\nbob = pool_size=30\n',
      ),
      pgpool,
    });
    const config = parseConfig(toml, 'imported.toml');
    assert.equal(config.databases['app']!.max_db_connections, 10);
    assert.equal(config.databases['app']!.pool_size, 10);
    assert.equal(config.databases['small']!.pool_size, 4);
    assert.equal(config.users['bob']!.pool_size, 10);
    for (const said of [
      /\[databases\] app: max_db_connections = 100 replaced by 10/,
      /\[users\] bob: pool_size = 30 replaced by 10/,
    ])
      assert.ok(
        warnings.some((w) => said.test(w)),
        warnings.join('\n'),
      );
  });

  test("pgbouncer.ini's max_db_connections is kept within Pgpool-II's cap, else replaced by it", () => {
    const pgpool = write('cap.conf', 'num_init_children = 20\nmax_pool = 1\n');
    const withCap = (value: string) =>
      importSeedStack({
        pgbouncer: write('cap.ini', `[databases]\n* = host=db\n[pgbouncer]\nmax_db_connections = ${value}\n`),
        pgpool,
      });
    assert.equal(parseConfig(withCap('12').toml, 'imported.toml').max_db_connections, 12);
    for (const [value, said] of [
      ['30', /cap\.ini:4: max_db_connections = 30 replaced by 20/],
      ['0', /cap\.ini:4: max_db_connections = 0 \(no limit\) replaced by 20/],
    ] as const) {
      const { toml, warnings } = withCap(value);
      assert.equal(parseConfig(toml, 'imported.toml').max_db_connections, 20);
      assert.ok(
        warnings.some((w) => said.test(w)),
        warnings.join('\n'),
      );
    }
  });

  test('PgBouncer alone: its [databases] servers become backends, per-database settings a table', () => {
    const pgbouncer = write(
      'alone.ini',
      "[databases]\napp = host=db1 port=5433 dbname='app prod' pool_size=7 connect_query='SELECT 1'\n[pgbouncer]\nlisten_port = 6432\nlisten_addr = 127.0.0.1\nauth_type = any\nverbose = 2\nserver_lifetime = 120\nlog_disconnections = 0\nmystery_knob = 1\n",
    );
    const { toml, warnings } = importSeedStack({ pgbouncer });
    const config = parseConfig(toml);
    assert.deepEqual(config.listen_port, [6432]);
    assert.deepEqual(config.listen_addr, ['127.0.0.1']);
    assert.equal(config.auth_type, 'trust');
    assert.equal(config.log_level, 'debug');
    assert.equal(config.server_lifetime, 120);
    assert.equal(config.log_disconnections, false);
    assert.deepEqual(
      config.backends.map((b) => [b.host, b.port]),
      [['db1', 5433]],
    );
    assert.deepEqual({ ...config.databases['app'] }, { dbname: 'app prod', pool_size: 7 });
    assert.ok(
      warnings.some((w) => /mystery_knob is not imported/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => /connect_query is not imported/.test(w)),
      warnings.join('\n'),
    );
    // Its console let every name in as an admin (helper o1): pgtide's does not, and says so.
    assert.ok(
      warnings.some((w) => /auth_type = any let PgBouncer admit any user name.*admin_users and stats_users/.test(w)),
      warnings.join('\n'),
    );
  });

  test('HAProxy maxconn fills max_client_conn when PgBouncer has none, and duplicate ports are listened on once', () => {
    const pgbouncer = write('p.ini', '[pgbouncer]\nlisten_port = 5432\n[databases]\n* = host=db\n');
    const haproxy = write('h.cfg', 'global\n  maxconn 500\nfrontend f\n  bind :5431-5433\n');
    const { toml, warnings } = importSeedStack({ pgbouncer, haproxy });
    const config = parseConfig(toml);
    assert.equal(config.max_client_conn, 500);
    assert.deepEqual(config.listen_port, [5432, 5431, 5433]);
    assert.ok(
      warnings.some((w) => /listed twice/.test(w)),
      warnings.join('\n'),
    );
  });

  test("Pgpool-II's log_directory becomes log_dir only where Pgpool-II wrote a file there", () => {
    const collected = write(
      'collector.conf',
      "backend_hostname0 = 'db0'\nlogging_collector = on\nlog_directory = '/var/log/pooling'\nlog_filename = 'pgpool-%Y.log'\n",
    );
    const withCollector = importSeedStack({ pgpool: collected });
    assert.equal(parseConfig(withCollector.toml).log_dir, '/var/log/pooling');
    assert.match(withCollector.toml, /log_filename = pgpool-%Y.log: pgtide names its file pgtide-<instance_name>.log/);
    const stdoutOnly = write('stdout.conf', "backend_hostname0 = 'db0'\nlog_directory = '/var/log/pooling'\n");
    const without = importSeedStack({ pgpool: stdoutOnly });
    assert.equal(parseConfig(without.toml).log_dir, '');
    assert.match(without.toml, /logging_collector is off/);
    assert.ok(!without.warnings.some((w) => /log_directory/.test(w)), without.warnings.join('\n'));
  });

  test('AES passwords and users missing from auth_file are reported', () => {
    const users = write('users.txt', '"alice" "secret"\n');
    const poolPasswd = write('pool_passwd', 'alice:TEXTsecret\nbob:AESxyz\ncarol:md5' + '0'.repeat(32) + '\n');
    const pgpool = write('pgpool.conf', "backend_hostname0 = 'db0'\nsr_check_password = 'AESabc'\nport = 9999\n");
    const { toml, warnings } = importSeedStack({ users, poolPasswd, pgpool });
    const config = parseConfig(toml);
    assert.deepEqual(config.listen_port, [9999]);
    assert.equal(config.sr_check_password, '');
    assert.ok(
      warnings.some((w) => /bob: AES-encrypted/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => /carol is in pool_passwd but not in auth_file/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => /sr_check_password is AES-encrypted/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(!warnings.join('\n').includes('AESabc') && !toml.includes('AESabc'), 'the encrypted password leaked');
  });

  test('admin_users and stats_users are kept; without them a warning says how to reach the console on the admin socket', () => {
    const withUsers = write(
      'console.ini',
      '[pgbouncer]\nadmin_users = alice, bob\nstats_users = monitor\n[databases]\n* = host=db\n',
    );
    const imported = importSeedStack({ pgbouncer: withUsers });
    const config = parseConfig(imported.toml);
    assert.deepEqual(config.admin_users, ['alice', 'bob']);
    assert.deepEqual(config.stats_users, ['monitor']);
    assert.ok(!imported.warnings.some((w) => /admin/.test(w)), imported.warnings.join('\n'));
    // PgBouncer's default port, the first listen_port of the result, names the socket.
    const without = importSeedStack({ pgbouncer: write('closed.ini', '[databases]\n* = host=db\n') });
    assert.ok(
      without.warnings.some(
        (w) =>
          w.includes('no admin_users or stats_users') &&
          w.includes('as the OS user running pgtide, without a password') &&
          w.includes('psql -h /tmp/pgtide-$(id -u) -p 6432 -U pgbouncer pgbouncer'),
      ),
      without.warnings.join('\n'),
    );
    assert.equal(parseConfig(without.toml).admin_socket_dir, defaultAdminSocketDir());
  });

  test('an auth_file that does not exist here is a warning; --users replaces it', () => {
    const ini = write('auth.ini', '[pgbouncer]\nauth_file = /nonexistent/users.txt\n[databases]\n* = host=db\n');
    const alone = importSeedStack({ pgbouncer: ini });
    assert.equal(parseConfig(alone.toml).auth_file, '/nonexistent/users.txt');
    assert.ok(
      alone.warnings.some((w) =>
        /auth\.ini:2: auth_file \/nonexistent\/users\.txt does not exist on this machine; give the user list with --users/.test(
          w,
        ),
      ),
      alone.warnings.join('\n'),
    );
    const users = write('mine.txt', '"alice" "secret"\n');
    const replaced = importSeedStack({ pgbouncer: ini, users });
    assert.equal(parseConfig(replaced.toml).auth_file, users);
    assert.ok(!replaced.warnings.some((w) => /auth_file/.test(w)), replaced.warnings.join('\n'));
  });

  test("Pgpool-II's log_statement becomes log_statements; connection_life_time server_idle_timeout", () => {
    const pgpool = write('log.conf', "backend_hostname0 = 'db0'\nlog_statement = on\nconnection_life_time = 90\n");
    const { toml } = importSeedStack({ pgpool });
    const config = parseConfig(toml);
    assert.equal(config.log_statements, true);
    assert.equal(config.server_idle_timeout, 90);
    assert.doesNotMatch(toml, /never logs statement text/);
  });

  test("PgBouncer's autodb_idle_timeout becomes pool_idle_timeout, with what differs", () => {
    const ini = write('autodb.ini', '[pgbouncer]\nautodb_idle_timeout = 120\n[databases]\n* = host=db\n');
    const { toml, warnings } = importSeedStack({ pgbouncer: ini });
    assert.equal(parseConfig(toml).pool_idle_timeout, 120);
    assert.match(toml, /pgtide drops any pool left unused that long/);
    assert.ok(!warnings.some((w) => /autodb_idle_timeout/.test(w)), warnings.join('\n'));
  });

  test('a malformed source file stops the import with its file and line', () => {
    const pgpool = write('bad.conf', "port = 2000\nbackend_hostname0 = 'unterminated\n");
    assert.throws(() => importSeedStack({ pgpool }), /bad\.conf:2: backend_hostname0: unterminated quoted string/);
  });
});

describe('state_dir, which the seed has no setting for', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-import-state-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'missing');
  const single = join(dir, 'single.ini');
  writeFileSync(single, '[databases]\n* = host=db1 port=5432\n[pgbouncer]\nlisten_port = 6432\n');
  const unsetWarning = (warnings: string[]) => warnings.filter((w) => w.startsWith('state_dir is not set'));
  const cases: { name: string; files: SeedFiles; stateDir?: string; image: string; set?: string; warns: boolean }[] = [
    { name: "the image's directory, when it exists", files: seedFiles, image: dir, set: dir, warns: false },
    { name: '--state-dir wins over it', files: seedFiles, stateDir: missing, image: dir, set: missing, warns: false },
    { name: 'neither: unset, with a warning for three backends', files: seedFiles, image: missing, warns: true },
    {
      name: 'neither, one backend: unset, as pgtide start does not warn',
      files: { pgbouncer: single },
      image: missing,
      warns: false,
    },
    { name: "--state-dir '': unset, no warning", files: seedFiles, stateDir: '', image: dir, warns: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const options = { imageStateDir: c.image, ...(c.stateDir === undefined ? {} : { stateDir: c.stateDir }) };
      const { toml, warnings } = importSeedStack(c.files, options);
      const config = parseConfig(toml, 'imported.toml');
      assert.equal(config.state_dir, c.set ?? '');
      // In the image, where the state directory is, its HEALTHCHECK finds /healthz.
      assert.equal(config.admin_http_listen, c.image === dir ? IMAGE_HEALTH_LISTEN : '');
      assert.equal(unsetWarning(warnings).length, c.warns ? 1 : 0, warnings.join('\n'));
      if (c.set === undefined) assert.match(toml, /^# state_dir = /m);
    });
  }
});
