// server_auth_methods and server_scram_max_iterations against PostgreSQL itself: a throw-away
// server (the topology's own stay untouched) is given pg_hba.conf lines that ask for each
// method, and pgtide must refuse the ones the operator did not allow, in pool logins and in
// health checks alike, and log in with the ones allowed. That no secret leaves pgtide before
// a refusal is shown byte by byte by the scripted servers of test/unit/server-hostile.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { startReferencePg, type ReferencePg } from '../support/reference-pg.js';
import { currentTopology } from '../support/topology.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

describe('server_auth_methods and server_scram_max_iterations against a real PostgreSQL', () => {
  let reference: ReferencePg;
  const running: RunningPgtide[] = [];

  before(async () => {
    reference = await startReferencePg(t);
  });

  after(async () => {
    for (const p of running) await p.stop();
    await reference?.stop();
  });

  /** Every TCP login to the reference server is asked for `method`; its unix socket stays trusted. */
  async function serverAsks(method: string): Promise<void> {
    await reference.useHba(
      ['local all all trust', `host all all 127.0.0.1/32 ${method}`, `host all all ::1/128 ${method}`, ''].join('\n'),
    );
  }

  async function pgtideWith(overrides: Partial<Config>): Promise<RunningPgtide> {
    const p = await startPgtide(t, {
      backends: [{ name: 'reference', host: '127.0.0.1', port: reference.node.port, weight: 1, role: 'primary' }],
      ...overrides,
    });
    running.push(p);
    return p;
  }

  /** "ok", or the error a client of pgtide gets: "SQLSTATE: message (hint)". */
  async function loginThrough(p: RunningPgtide, user = t.scramUser): Promise<string> {
    const client = new pg.Client(
      p.pgConfig({ user: user.user, password: user.password, connectionTimeoutMillis: 10_000 }),
    );
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return 'ok';
    } catch (err) {
      const e = err as pg.DatabaseError;
      return `${e.code}: ${e.message} (${e.hint ?? ''})`;
    } finally {
      await client.end().catch(() => {});
    }
  }

  function loggedFailure(p: RunningPgtide, msg: string): string {
    return p.logs
      .filter((line) => line['msg'] === msg)
      .map((line) => String(line['err']))
      .join('\n');
  }

  test('a server asking for cleartext is refused by default, with a log line and 28000 that say what to change', async () => {
    await serverAsks('password');
    const p = await pgtideWith({});
    const answer = await loginThrough(p);
    assert.match(
      answer,
      /^28000: pgtide refused to log in to server 127\.0\.0\.1:\d+ as "[^"]+": the server asked for "password" authentication, but server_auth_methods allows only scram-sha-256, md5 \(Make the server's pg_hba\.conf ask for scram-sha-256 or md5, or add "password" to pgtide's server_auth_methods/,
    );
    assert.match(
      loggedFailure(p, 'server login failed'),
      /asked for "password" authentication, but server_auth_methods allows only scram-sha-256, md5/,
    );
  });

  test('the same server is used once the operator allows "password": it really asked for cleartext', async () => {
    await serverAsks('password');
    const p = await pgtideWith({ server_auth_methods: ['scram-sha-256', 'md5', 'password'] });
    assert.equal(await loginThrough(p), 'ok');
  });

  test('health checks obey server_auth_methods too', async () => {
    await serverAsks('password');
    // Checks run with two backends or more: the same server twice, by its IPv4 and IPv6 addresses.
    const p = await pgtideWith({
      backends: [
        { name: 'reference4', host: '127.0.0.1', port: reference.node.port, weight: 1, role: 'auto' },
        { name: 'reference6', host: '::1', port: reference.node.port, weight: 1, role: 'auto' },
      ],
      health_check_period: 0.2,
      health_check_timeout: 2,
    });
    await waitFor(
      'a failed health check naming server_auth_methods',
      () => /server_auth_methods allows only/.test(loggedFailure(p, 'backend check failed')),
      10_000,
    );
    assert.match(
      loggedFailure(p, 'backend check failed'),
      /asked for "password" authentication, but server_auth_methods allows only scram-sha-256, md5/,
    );
  });

  test('a trusting server is refused for a login with a password unless "none" is allowed', async () => {
    await serverAsks('trust');
    const strict = await pgtideWith({});
    assert.match(
      await loginThrough(strict),
      /^28000: .*asked for no authentication at all \(AuthenticationOk unasked\), but server_auth_methods allows only scram-sha-256, md5/,
    );
    const lenient = await pgtideWith({ server_auth_methods: ['scram-sha-256', 'none'] });
    assert.equal(await loginThrough(lenient), 'ok');
  });

  test('a trusting server lets in a login whose auth_file password is empty, as one with none', async () => {
    // PgBouncer's way to list a user without a password: `"user" ""`. PostgreSQL accepts an
    // empty password for no login and libpq takes it as none given, so a trusting server asks
    // for nothing that was at stake.
    await serverAsks('trust');
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-empty-pw-'));
    try {
      const authFile = join(dir, 'users.txt');
      writeFileSync(authFile, `"${t.scramUser.user}" ""\n`);
      const p = await pgtideWith({ auth_type: 'trust', auth_file: authFile });
      assert.equal(await loginThrough(p), 'ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // PgBouncer's trust lets in only the users auth_file lists (or auth_query finds): an imported
  // configuration may rely on that list to keep others out of a server that trusts pgtide.
  test('auth_type trust lets in the users auth_file lists, and anyone only without auth_file and auth_query', async () => {
    await serverAsks('trust');
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-trust-listed-'));
    try {
      const authFile = join(dir, 'users.txt');
      writeFileSync(authFile, `"${t.scramUser.user}" ""\n`);
      const trusting: Partial<Config> = { auth_type: 'trust', server_auth_methods: ['none'] };
      const listed = await pgtideWith({ ...trusting, auth_file: authFile });
      assert.equal(await loginThrough(listed), 'ok');
      assert.equal(
        await loginThrough(listed, t.md5User),
        `28000: "trust" authentication failed for user "${t.md5User.user}" ()`,
      );
      const unlisted = await pgtideWith({ ...trusting, auth_file: '' });
      assert.equal(await loginThrough(unlisted, t.md5User), 'ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with only SCRAM allowed, a SCRAM login succeeds and an md5 one is refused', async () => {
    // Method md5 lets PostgreSQL run SCRAM for a SCRAM-stored secret and md5 for an md5-stored one.
    await serverAsks('md5');
    // auth_type md5: the md5 user's auth_file entry is a hash, which a SCRAM client login cannot use.
    const p = await pgtideWith({ auth_type: 'md5', server_auth_methods: ['scram-sha-256'] });
    assert.equal(await loginThrough(p, t.scramUser), 'ok');
    assert.match(
      await loginThrough(p, t.md5User),
      /^28000: .*asked for "md5" authentication, but server_auth_methods allows only scram-sha-256 /,
    );
  });

  test('over TLS the login is bound to the server\'s certificate (SCRAM-SHA-256-PLUS, checked by PostgreSQL); server_channel_binding = "require" refuses a server that does not bind', async () => {
    await serverAsks('scram-sha-256');
    // "require" lets no login through unbound, so this one went through -PLUS, and PostgreSQL
    // accepted the hash pgtide took of its certificate.
    const bound = await pgtideWith({ server_tls_sslmode: 'require', server_channel_binding: 'require' });
    assert.equal(await loginThrough(bound), 'ok');
    assert.equal(await loginThrough(await pgtideWith({ server_tls_sslmode: 'require' })), 'ok');
    await serverAsks('md5');
    const refused = await pgtideWith({
      auth_type: 'md5',
      server_tls_sslmode: 'require',
      server_channel_binding: 'require',
    });
    assert.match(
      await loginThrough(refused, t.md5User),
      /^28000: pgtide refused to log in to server 127\.0\.0\.1:\d+ as "[^"]+": server_channel_binding is "require", and the server offers "md5" authentication/,
    );
    assert.match(loggedFailure(refused, 'server login failed'), /server_channel_binding is "require"/);
  });

  test('a SCRAM secret with more iterations than server_scram_max_iterations is refused; raising the limit lets it in', async () => {
    await serverAsks('scram-sha-256');
    const admin = new pg.Client({
      host: reference.node.socketDir,
      port: reference.node.port,
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    try {
      await admin.query('SET scram_iterations = 200000');
      await admin.query("SET password_encryption = 'scram-sha-256'");
      await admin.query(`ALTER ROLE ${t.scramUser.user} PASSWORD '${t.scramUser.password.replaceAll("'", "''")}'`);
    } finally {
      await admin.end();
    }
    const capped = await pgtideWith({});
    assert.match(
      await loginThrough(capped),
      /^08006: the server asks for 200000 SCRAM iterations, more than server_scram_max_iterations \(100000\) allows/,
    );
    const raised = await pgtideWith({ server_scram_max_iterations: 200_000 });
    assert.equal(await loginThrough(raised), 'ok');
  });
});
