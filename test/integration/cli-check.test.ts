// `pgtide check` (and the same sizing test at `pgtide start`) against a PostgreSQL server of
// its own with max_connections = 20, so the budget arithmetic meets a real limit.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { md5PasswordHash } from '../../src/auth/secret.js';
import { selfSignedCertificate } from '../support/certificate.js';
import { freePorts } from '../support/free-ports.js';
import { sendCancelRequest } from '../support/raw-client.js';
import { sqlOn, startTopology, stopTopology, type Topology } from '../support/topology.js';
import { watch } from '../support/child-output.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const SEED = fileURLToPath(new URL('../../../test/fixtures/seed/', import.meta.url));
const MAX_CONNECTIONS = 20;

/** The test runner's own PGTIDE_ variable would be rejected as an unknown setting. */
function childEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PGTIDE_')));
  return { ...env, ...overrides };
}

function runCli(args: string[], env = childEnv()): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

describe('pgtide check', { timeout: 110_000 }, () => {
  let t: Topology;
  let dir: string;
  let authFile: string;
  /** max_connections - superuser_reserved_connections of the small server. */
  let available: number;
  let fileCount = 0;

  /** One database and one user: one pool, so the budget is pool size + 1 (the check). */
  function writeConfig(poolSize: number, extra = ''): string {
    const file = join(dir, `pgtide-${fileCount++}.toml`);
    writeFileSync(
      file,
      [
        'listen_addr = "127.0.0.1"',
        `auth_file = "${authFile}"`,
        'server_tls_sslmode = "disable"',
        `default_pool_size = ${poolSize}`,
        extra,
        `[databases.${t.database}]`,
        '[[backends]]',
        `host = "${t.primary.host}"`,
        `port = ${t.primary.port}`,
        '',
      ].join('\n'),
    );
    return file;
  }

  before(async () => {
    t = await startTopology({ standbys: 0, maxConnections: MAX_CONNECTIONS });
    dir = mkdtempSync(join(tmpdir(), 'pgtide-cli-check-'));
    authFile = join(dir, 'users.txt');
    writeFileSync(authFile, `"${t.md5User.user}" "${md5PasswordHash(t.md5User.user, t.md5User.password)}"\n`);
    const [row] = await sqlOn<{ reserved: string }>(
      t.primary,
      "SELECT pg_catalog.current_setting('superuser_reserved_connections') AS reserved",
    );
    available = MAX_CONNECTIONS - Number(row!.reserved);
  });
  after(async () => {
    if (t) await stopTopology(t);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('passes a budget that fits exactly', async () => {
    const fits = available - 1;
    const result = await runCli(['check', '--config', writeConfig(fits)]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`^server connections per backend: ${fits} pooled \\(1 pool\\) \\+ 1 check = ${fits + 1}$`, 'm'),
    );
    // The arithmetic is spelled out, cancels included.
    assert.match(result.stdout, /pool_size \+ reserve_pool_size, capped by max_db_connections/);
    assert.match(result.stdout, /cancel requests are not counted/);
    assert.match(
      result.stdout,
      /^available per backend: max_connections - superuser_reserved_connections - reserved_connections/m,
    );
    assert.match(
      result.stdout,
      new RegExp(
        `${t.primary.host}:${t.primary.port}\\s+${MAX_CONNECTIONS}\\s+\\d+\\s+0\\s+${available}\\s+${fits + 1}\\s+ok`,
      ),
    );
    assert.match(result.stdout, /^verdict: ok$/m);
  });

  test('flags a budget one pool connection above the limit', async () => {
    const over = available;
    const result = await runCli(['check', '--config', writeConfig(over)]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /OVER BUDGET/);
    assert.match(result.stdout, /^verdict: FAIL/m);
  });

  test("flags the seed's own sizing against this server", async () => {
    const env = childEnv({
      PGTIDE_BACKENDS: `${t.primary.host}:${t.primary.port}`,
      PGTIDE_SR_CHECK_USER: t.md5User.user,
      PGTIDE_SR_CHECK_PASSWORD: t.md5User.password,
    });
    const result = await runCli(
      ['check', '--pgbouncer', join(SEED, 'pgbouncer.ini'), '--pgpool', join(SEED, 'pgpool.conf'), '--users', authFile],
      env,
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    // default_pool_size 25 (lowered to Pgpool-II's cap), one user, the wildcard database.
    assert.match(result.stdout, /25 pooled \(1 pool\) \+ 1 check = 26/);
    assert.match(result.stdout, /counted as one database/);
  });

  test('exits 2 when a backend could not be checked', async () => {
    const [closed] = await freePorts(1);
    const file = writeConfig(1, `[[backends]]\nhost = "127.0.0.1"\nport = ${closed}\nrole = "standby"`);
    const result = await runCli(['check', '--config', file]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`127\\.0\\.0\\.1:${closed}.*NOT CHECKED`));
    assert.match(result.stdout, /^verdict: UNKNOWN: 1 of 2 backend\(s\) could not be checked/m);
  });

  test('a cancel request needs no max_connections slot: it cancels with every slot taken', async () => {
    const login = {
      host: t.primary.host,
      port: t.primary.port,
      user: t.md5User.user,
      password: t.md5User.password,
      database: t.database,
    };
    const sessions: pg.Client[] = [];
    try {
      // Take every slot a non-superuser may have; the next login is refused with 53300.
      for (;;) {
        const client = new pg.Client(login);
        try {
          await client.connect();
        } catch (err) {
          assert.equal((err as { code?: string }).code, '53300', String(err));
          break;
        }
        sessions.push(client);
        assert.ok(sessions.length <= MAX_CONNECTIONS, 'max_connections was not enforced');
      }
      assert.equal(sessions.length, available);
      const sleeper = sessions[0]! as pg.Client & { processID: number; secretKey: number };
      const started = Date.now();
      const sleeping = sleeper.query('SELECT pg_catalog.pg_sleep(30)').then(
        () => null,
        (err: { code?: string }) => err,
      );
      await new Promise((r) => setTimeout(r, 300));
      await sendCancelRequest(t.primary.host, t.primary.port, sleeper.processID, sleeper.secretKey);
      assert.equal((await sleeping)?.code, '57014');
      assert.ok(Date.now() - started < 10_000);
    } finally {
      await Promise.all(sessions.map((client) => client.end().catch(() => {})));
    }
  });

  test('exits 1 with the problems and their lines on an invalid configuration', async () => {
    const unknownKey = await runCli(['check', '--config', writeConfig(5, 'max_client_con = 10')]);
    assert.equal(unknownKey.code, 1);
    assert.match(unknownKey.stderr, /line 5: max_client_con: unknown key; did you mean "max_client_conn"\?/);
    assert.doesNotMatch(unknownKey.stdout, /verdict/);
    const inconsistent = await runCli([
      'check',
      '--config',
      writeConfig(5, 'database_redirect_preference_list = "x:2"'),
    ]);
    assert.equal(inconsistent.code, 1);
    assert.match(
      inconsistent.stderr,
      /line 5: database_redirect_preference_list: names backend 2, but backends are numbered 0 to 0/,
    );
    const peerTwice = await runCli([
      'check',
      '--config',
      writeConfig(5, 'peer_id = 2\n[[peers]]\nid = 3\nhost = "10.0.0.3"\n[[peers]]\nid = 3\nhost = "10.0.0.4"'),
    ]);
    assert.equal(peerTwice.code, 1);
    assert.match(peerTwice.stderr, /line 10: peers\[1\]\.id: 3 is used by an earlier peer at 10\.0\.0\.3:5432/);
    const noPeerId = await runCli(['check', '--config', writeConfig(5, '[[peers]]\nid = 3\nhost = "10.0.0.3"')]);
    assert.equal(noPeerId.code, 1);
    assert.match(noPeerId.stderr, /peer_id: is not set, but \[\[peers\]\] are listed/);
    // Told to read no file, it says so, not that it looked for one (helper o1).
    const noConfig = await runCli(['check', '--no-config'], childEnv({ PGTIDE_MAX_CLIENT_CONN: 'many' }));
    assert.equal(noConfig.code, 1);
    assert.match(noConfig.stderr, /\(--no-config\)/);
    assert.doesNotMatch(noConfig.stderr, /no --config given/);
  });

  test('a TLS file that cannot be read, or a key TLS refuses: check exits 1 and start 78, naming the setting', async () => {
    const { key, cert } = selfSignedCertificate(dir);
    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'not a key\n');
    const cases = [
      {
        extra: `client_tls_sslmode = "require"\nclient_tls_key_file = "${join(dir, 'missing.key')}"\nclient_tls_cert_file = "${cert}"`,
        problem: /client_tls_key_file: cannot read .*missing\.key: no such file/,
      },
      {
        extra: `client_tls_sslmode = "require"\nclient_tls_key_file = "${garbage}"\nclient_tls_cert_file = "${cert}"`,
        problem: /client_tls_key_file, client_tls_cert_file: TLS refuses .*garbage\.key/,
      },
      {
        // Node's TLS skips a CA it cannot parse: every client certificate would fail later.
        extra: `client_tls_sslmode = "require"\nclient_tls_key_file = "${key}"\nclient_tls_cert_file = "${cert}"\nclient_tls_ca_file = "${garbage}"`,
        problem: /client_tls_ca_file: .*garbage\.key holds no PEM certificate/,
      },
      {
        extra: `server_tls_ca_file = "${garbage}"`,
        problem: /server_tls_ca_file: .*garbage\.key holds no PEM certificate/,
      },
      {
        extra: `server_tls_ca_file = "${join(dir, 'missing-ca.crt')}"`,
        problem: /server_tls_ca_file: cannot read .*missing-ca\.crt: no such file/,
      },
    ];
    for (const { extra, problem } of cases) {
      const file = writeConfig(5, extra);
      for (const [command, code] of [
        ['check', 1],
        ['start', 78],
      ] as const) {
        const result = await runCli([command, '--config', file]);
        assert.equal(result.code, code, `${command}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, problem);
        assert.doesNotMatch(result.stderr, /ENOENT|at .*\.js:\d+/);
      }
    }
  });

  test('names the unix socket, and warns when its directory is missing (a pgbouncer.ini path absent here)', async () => {
    const missing = await runCli([
      'check',
      '--config',
      writeConfig(5, 'unix_socket_dir = "/nonexistent/run/postgresql"'),
    ]);
    assert.match(
      missing.stdout,
      /^unix socket: \/nonexistent\/run\/postgresql\/\.s\.PGSQL\.\d+ \(warning: unix_socket_dir \/nonexistent\/run\/postgresql does not exist; pgtide listens on TCP alone \(as PgBouncer\)\)$/m,
    );
    const ready = await runCli(['check', '--config', writeConfig(5, `unix_socket_dir = "${dir}"`)]);
    assert.match(ready.stdout, new RegExp(`^unix socket: ${dir}/\\.s\\.PGSQL\\.\\d+ \\(ready\\)$`, 'm'));
  });

  test('piped into head, it stops quietly (no EPIPE stack)', async () => {
    const file = writeConfig(5);
    const piped = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      execFile(
        'sh',
        ['-c', `"${process.execPath}" "${CLI}" check --config "${file}" | head -1`],
        { env: childEnv() },
        (_error, stdout, stderr) => resolve({ stdout, stderr }),
      );
    });
    assert.match(piped.stdout, /^configuration: valid /);
    assert.equal(piped.stderr, '');
  });

  test('start warns about an over-budget backend and still starts', async () => {
    const [port] = await freePorts(1);
    const file = writeConfig(available, 'log_level = "warn"');
    const child = spawn(process.execPath, [CLI, 'start', '--config', file], {
      env: childEnv({ PGTIDE_LISTEN_PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { output } = watch(child);
    try {
      const deadline = Date.now() + 20_000;
      while (!/more server connections than this backend accepts/.test(output())) {
        assert.ok(child.exitCode === null, `pgtide exited: ${output()}`);
        assert.ok(Date.now() < deadline, `no budget warning: ${output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const warning = JSON.parse(
        output()
          .split('\n')
          .find((line) => line.includes('more server connections'))!,
      );
      assert.equal(warning.server_connections, available + 1);
      assert.equal(warning.available, available);
      assert.equal(warning.max_connections, MAX_CONNECTIONS);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        await new Promise((r) => child.once('exit', r));
      }
    }
  });
});
