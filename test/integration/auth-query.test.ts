// auth_user + auth_query against a real PostgreSQL: users absent from auth_file log in with the
// password the server holds (SCRAM and md5), through node-postgres and psql; the pool then logs
// in to the server as them, for SCRAM with the ClientKey recovered from the client's proof
// (pgtide never learns the password). Unknown users, wrong passwords and unusable answers end
// alike in 28P01; a lookup that cannot run ends in 28000 with the reason in the log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { psql } from '../support/psql.js';
import { startReferencePg, type ReferencePg } from '../support/reference-pg.js';
import { currentTopology } from '../support/topology.js';

const t = currentTopology();
/** auth_user: in auth_file, may only call the lookup function. */
const LOOKUP = { user: 'pgtide_lookup', password: 'lookup-pw' };
/** Absent from auth_file and from the topology's users: known to the server only. */
const ONLY_ON_SERVER = { user: 'pgtide_server_only', password: 'server-only-pw' };
const LOOKUP_QUERY = 'SELECT u, p FROM pgtide_auth.lookup($1)';

describe('auth_user and auth_query against a real PostgreSQL', () => {
  let reference: ReferencePg;
  let admin: pg.Client;
  const running: RunningPgtide[] = [];
  const files = mkdtempSync(join(tmpdir(), 'pgtide-authq-'));
  let fileCount = 0;

  before(async () => {
    reference = await startReferencePg(t);
    // md5 lines run SCRAM for SCRAM-stored passwords and md5 for md5-stored ones.
    await reference.useHba(
      ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 md5', ''].join('\n'),
    );
    admin = new pg.Client({
      host: reference.node.socketDir,
      port: reference.node.port,
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    await admin.query("SET password_encryption = 'scram-sha-256'");
    await admin.query(`CREATE ROLE ${LOOKUP.user} LOGIN PASSWORD '${LOOKUP.password}'`);
    await admin.query(`CREATE ROLE ${ONLY_ON_SERVER.user} LOGIN PASSWORD '${ONLY_ON_SERVER.password}'`);
    await admin.query(`GRANT CONNECT ON DATABASE ${t.database} TO ${ONLY_ON_SERVER.user}`);
    // PgBouncer's recommended shape: a SECURITY DEFINER function, so auth_user needs no superuser.
    // It answers nothing for auth_user itself: that login must come from auth_file.
    for (const db of ['postgres', t.database]) {
      const c = new pg.Client({
        host: reference.node.socketDir,
        port: reference.node.port,
        user: 'postgres',
        database: db,
      });
      await c.connect();
      await c.query(`CREATE SCHEMA pgtide_auth;
        CREATE FUNCTION pgtide_auth.lookup(name text, OUT u text, OUT p text) RETURNS SETOF record LANGUAGE sql SECURITY DEFINER
          SET search_path = pg_catalog AS $$
            SELECT rolname::text, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid
            WHERE rolname = name AND rolcanlogin AND rolname <> '${LOOKUP.user}' $$;
        REVOKE ALL ON FUNCTION pgtide_auth.lookup(text) FROM PUBLIC;
        GRANT USAGE ON SCHEMA pgtide_auth TO ${LOOKUP.user};
        GRANT EXECUTE ON FUNCTION pgtide_auth.lookup(text) TO ${LOOKUP.user};`);
      await c.end();
    }
  });

  after(async () => {
    for (const p of running) await p.stop();
    await admin?.end().catch(() => {});
    await reference?.stop();
    rmSync(files, { recursive: true, force: true });
  });

  /** pgtide in front of the reference server; auth_file holds auth_user only (or `authFile`). */
  async function pgtideWith(
    overrides: Partial<Config>,
    authFile = `"${LOOKUP.user}" "${LOOKUP.password}"\n`,
  ): Promise<RunningPgtide> {
    const auth_file = join(files, `users-${++fileCount}.txt`);
    writeFileSync(auth_file, authFile);
    const p = await startPgtide(t, {
      backends: [{ name: 'reference', host: '127.0.0.1', port: reference.node.port, weight: 1, role: 'primary' }],
      auth_file,
      auth_type: 'md5',
      auth_user: LOOKUP.user,
      auth_query: LOOKUP_QUERY,
      ...overrides,
    });
    running.push(p);
    return p;
  }

  /** The session user the server sees, or the error: "SQLSTATE: message". */
  async function login(p: RunningPgtide, user: string, password: string, database = t.database): Promise<string> {
    return loginTo(p.pgConfig({ user, password, database }));
  }

  async function loginTo(config: pg.ClientConfig): Promise<string> {
    const client = new pg.Client({ ...config, connectionTimeoutMillis: 15_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.query('SELECT session_user AS u')).rows[0].u as string;
    } catch (err) {
      const e = err as pg.DatabaseError;
      return `${e.code}: ${e.message}`;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Connections the server has for auth_user (the lookups of every running instance). */
  async function lookupConnections(): Promise<number> {
    return (await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [LOOKUP.user]))
      .rows[0].n as number;
  }

  async function noLookupConnections(what: string): Promise<void> {
    const deadline = Date.now() + 8000;
    while ((await lookupConnections()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.equal(await lookupConnections(), 0, what);
  }

  /** Stops the earlier tests' instances, which keep their lookup connections, so that only the next one has any. */
  async function alone(): Promise<void> {
    for (const earlier of running.splice(0)) await earlier.stop();
    await noLookupConnections("earlier instances' connections did not end");
  }

  function logged(p: RunningPgtide, msg: string): string {
    return p.logs
      .filter((line) => line['msg'] === msg)
      .map((line) => String(line['err']))
      .join('\n');
  }

  test("users absent from auth_file log in with the server's SCRAM and md5 passwords; the pool logs in as them", async () => {
    const p = await pgtideWith({});
    // session_user comes from a server connection the pool opened as that user: for the SCRAM
    // users with the ClientKey of the client's proof, for the md5 user with the looked-up hash.
    assert.equal(await login(p, ONLY_ON_SERVER.user, ONLY_ON_SERVER.password), ONLY_ON_SERVER.user);
    assert.equal(await login(p, t.scramUser.user, t.scramUser.password), t.scramUser.user);
    assert.equal(await login(p, t.md5User.user, t.md5User.password), t.md5User.user);
    // psql too, and a second server connection of the same pool (two sessions at once).
    const [a, b] = await Promise.all(
      [1, 2].map(() =>
        psql(
          t,
          { host: p.host, port: p.port, user: ONLY_ON_SERVER.user, password: ONLY_ON_SERVER.password },
          'SELECT session_user, pg_sleep(0.3)',
        ),
      ),
    );
    assert.equal(a!.trim(), `${ONLY_ON_SERVER.user}|`);
    assert.equal(b!.trim(), `${ONLY_ON_SERVER.user}|`);
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [
      ONLY_ON_SERVER.user,
    ]);
    assert.ok(rows[0].n >= 2, `the pool opened ${rows[0].n} server connections as ${ONLY_ON_SERVER.user}`);
  });

  test('40 logins at once through a pool of 2: every one in, on at most 2 lookup connections', async () => {
    await alone();
    const p = await pgtideWith({ default_pool_size: 2 });
    const peak = { n: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak.n = Math.max(peak.n, await lookupConnections());
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const users = [ONLY_ON_SERVER, t.scramUser, t.md5User, { user: 'pgtide_nobody', password: 'x' }];
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => login(p, users[i % 4]!.user, users[i % 4]!.password)),
    );
    sampling = false;
    await sampler;
    const expected = Array.from({ length: 40 }, (_, i) =>
      i % 4 === 3 ? '28P01: password authentication failed for user "pgtide_nobody"' : users[i % 4]!.user,
    );
    assert.deepEqual(answers, expected);
    assert.ok(peak.n >= 1 && peak.n <= 2, `auth_user had ${peak.n} connections at once`);
  });

  // PgBouncer's trust lets in the users auth_file lists or auth_query finds, no one else.
  test('trust: a user the lookup finds logs in without a password; one it does not find gets 28000', async () => {
    const p = await pgtideWith({ auth_type: 'trust' });
    assert.equal(await loginTo(p.pgConfig({ user: t.md5User.user, password: undefined })), t.md5User.user);
    assert.equal(
      await loginTo(p.pgConfig({ user: 'pgtide_nobody', password: undefined })),
      '28000: "trust" authentication failed for user "pgtide_nobody"',
    );
  });

  test('a wrong password and a user that does not exist get the same 28P01', async () => {
    const p = await pgtideWith({});
    const wrong = await login(p, t.scramUser.user, 'not-the-password');
    const wrongMd5 = await login(p, t.md5User.user, 'not-the-password');
    const nobody = await login(p, 'pgtide_nobody', 'whatever');
    assert.equal(wrong, `28P01: password authentication failed for user "${t.scramUser.user}"`);
    assert.equal(wrongMd5, `28P01: password authentication failed for user "${t.md5User.user}"`);
    assert.equal(nobody, '28P01: password authentication failed for user "pgtide_nobody"');
    // The name is a bound parameter, never SQL text: quotes in it are just a name nobody has.
    const hostile = `o'neil"; SELECT 1; --`;
    assert.equal(await login(p, hostile, 'x'), `28P01: password authentication failed for user "${hostile}"`);
    assert.equal(logged(p, 'auth_query lookup failed'), '');
  });

  test('lookup connections are not held open by min_pool_size: idle, they close like others', async () => {
    await alone();
    const p = await pgtideWith({ min_pool_size: 1, server_idle_timeout: 1 });
    assert.equal(await login(p, ONLY_ON_SERVER.user, ONLY_ON_SERVER.password), ONLY_ON_SERVER.user);
    assert.ok((await lookupConnections()) >= 1, 'the lookup ran on a connection as auth_user');
    await noLookupConnections('auth_user connections still open after server_idle_timeout');
  });

  test('auth_user itself logs in with its auth_file password (the lookup answers nothing for it)', async () => {
    const p = await pgtideWith({});
    assert.equal(await login(p, LOOKUP.user, LOOKUP.password), LOOKUP.user);
    assert.match(await login(p, LOOKUP.user, 'wrong'), /^28P01: /);
  });

  test('a changed password and an expired one count at the next login: nothing stale is kept for clients', async () => {
    const p = await pgtideWith({});
    const user = ONLY_ON_SERVER.user;
    try {
      assert.equal(await login(p, user, ONLY_ON_SERVER.password), user);
      await admin.query(`ALTER ROLE ${user} PASSWORD 'changed-pw'`);
      assert.match(await login(p, user, ONLY_ON_SERVER.password), /^28P01: /);
      // New server logins use the keys of the new password (the old connections are closed first).
      await p.pgtide.context.pools.closeAll('test');
      assert.equal(await login(p, user, 'changed-pw'), user);
      await admin.query(`ALTER ROLE ${user} VALID UNTIL '2000-01-01'`);
      assert.match(await login(p, user, 'changed-pw'), /^28P01: /);
    } finally {
      await admin.query(`ALTER ROLE ${user} PASSWORD '${ONLY_ON_SERVER.password}' VALID UNTIL 'infinity'`);
    }
  });

  test('the default auth_query, run by a superuser auth_user, and auth_dbname', async () => {
    // postgres logs in without a password (trust), so auth_file needs no line for it.
    const p = await pgtideWith(
      { auth_user: 'postgres', auth_query: defaultConfig().auth_query, auth_dbname: 'postgres' },
      '',
    );
    assert.equal(await login(p, t.scramUser.user, t.scramUser.password), t.scramUser.user);
    assert.equal(await login(p, t.md5User.user, t.md5User.password), t.md5User.user);
    await admin.query(`ALTER ROLE ${ONLY_ON_SERVER.user} NOLOGIN`);
    try {
      assert.match(await login(p, ONLY_ON_SERVER.user, ONLY_ON_SERVER.password), /^28P01: /);
    } finally {
      await admin.query(`ALTER ROLE ${ONLY_ON_SERVER.user} LOGIN`);
    }
  });

  test('+group and samerole in hba_file, decided as PostgreSQL decides them (memberships looked up as auth_user)', async () => {
    // pgtide_outer ⊃ pgtide_team ⊃ {server-only user, md5 user}; the SCRAM user is in pgtide_side only.
    for (const sql of [
      'CREATE ROLE pgtide_outer NOLOGIN',
      'CREATE ROLE pgtide_team NOLOGIN',
      'CREATE ROLE pgtide_side NOLOGIN',
      'GRANT pgtide_outer TO pgtide_team',
      `GRANT pgtide_team TO ${ONLY_ON_SERVER.user}, ${t.md5User.user}`,
      `GRANT pgtide_side TO ${t.scramUser.user}`,
      'CREATE DATABASE pgtide_side',
    ])
      await admin.query(sql);
    const hba = [
      'local  all       all                          trust',
      `host   all       ${LOOKUP.user}  127.0.0.1/32  md5`,
      'host   all       +pgtide_outer  127.0.0.1/32  md5',
      'host   samerole  all            127.0.0.1/32  md5',
      'host   all       all            127.0.0.1/32  reject',
      '',
    ].join('\n');
    const hbaFile = join(files, 'groups.conf');
    writeFileSync(hbaFile, hba);
    try {
      await reference.useHba(hba);
      const p = await pgtideWith({ hba_file: hbaFile, auth_dbname: 'postgres' });
      const probes: [user: string, password: string, database: string, expected: RegExp][] = [
        [ONLY_ON_SERVER.user, ONLY_ON_SERVER.password, t.database, /^pgtide_server_only$/],
        [t.md5User.user, t.md5User.password, t.database, /^pgtide_md5$/],
        [ONLY_ON_SERVER.user, 'wrong', t.database, /^28P01: password authentication failed/],
        [
          t.scramUser.user,
          t.scramUser.password,
          t.database,
          /^28000: pg_hba.conf rejects connection for host "127\.0\.0\.1", user "pgtide_scram", database "pgtide_test"/,
        ],
        [t.scramUser.user, t.scramUser.password, 'pgtide_side', /^pgtide_scram$/],
        [t.md5User.user, t.md5User.password, 'pgtide_side', /^pgtide_md5$/], // +pgtide_outer covers every database
        [
          'pgtide_nobody',
          'x',
          t.database,
          /^28000: pg_hba.conf rejects connection for host "127\.0\.0\.1", user "pgtide_nobody"/,
        ],
      ];
      const direct = {
        host: '127.0.0.1',
        port: reference.node.port,
        database: t.database,
        user: '',
        password: '',
      } as const;
      for (const [user, password, database, expected] of probes) {
        const ours = await login(p, user, password, database);
        const theirs = await loginTo({ ...direct, user, password, database });
        assert.equal(ours, theirs, `${user} to ${database}`);
        assert.match(ours, expected, `${user} to ${database}`);
      }
    } finally {
      await reference.useHba(
        ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 md5', ''].join('\n'),
      );
    }
  });

  describe('hostile or broken answers: clear errors, no crash, no hang', () => {
    const cases: { name: string; query: string; answer: RegExp; log: [string, RegExp] }[] = [
      {
        name: 'several rows',
        query: "SELECT $1::text, 'a' UNION ALL SELECT $1::text, 'b'",
        answer: /^28000: authentication failed for user "\w+": pgtide could not look up its password$/,
        log: ['auth_query lookup failed', /returned 2 rows for one user name/],
      },
      {
        name: "another user's row",
        query: "SELECT 'someone'::text, $1::text",
        answer: /^28000: /,
        log: ['auth_query lookup failed', /row for another user name/],
      },
      {
        name: 'three columns',
        query: "SELECT $1::text, 'a', 'b'",
        answer: /^28000: /,
        log: ['auth_query lookup failed', /returned 3 columns/],
      },
      {
        name: 'an SQL error',
        query: 'SELECT u, p FROM pgtide_no_such_table WHERE u = $1',
        answer: /^28000: /,
        log: ['auth_query lookup failed', /auth_query failed on server .*pgtide_no_such_table/],
      },
      {
        name: 'a garbage SCRAM secret',
        query: "SELECT $1::text, 'SCRAM-SHA-256$4096:zz$bad:bad'",
        answer: /^28P01: password authentication failed/,
        log: ['auth_query password unusable', /malformed SCRAM secret/],
      },
      {
        name: 'a NULL password',
        query: 'SELECT $1::text, NULL::text',
        answer: /^28P01: password authentication failed/,
        log: ['', /$/],
      },
      {
        name: 'a NULL user name',
        query: 'SELECT NULL::text, $1::text',
        answer: /^28P01: password authentication failed/,
        log: ['', /$/],
      },
    ];
    for (const c of cases) {
      test(`${c.name}`, async () => {
        const p = await pgtideWith({ auth_query: c.query });
        assert.match(await login(p, t.scramUser.user, t.scramUser.password), c.answer);
        if (c.log[0]) assert.match(logged(p, c.log[0]), c.log[1]);
        // pgtide goes on serving: auth_user's own login still works.
        assert.equal(await login(p, LOOKUP.user, LOOKUP.password), LOOKUP.user);
      });
    }

    test('a server that does not answer the lookup: 28000 after server_connect_timeout, and the connection is closed', async () => {
      const p = await pgtideWith({
        auth_query: "SELECT $1::text, (SELECT 'x' FROM pg_sleep(60))",
        server_connect_timeout: 1,
      });
      const started = Date.now();
      assert.match(await login(p, t.scramUser.user, t.scramUser.password), /^28000: /);
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
      assert.match(logged(p, 'auth_query lookup failed'), /did not answer pgtide's query within 1000 ms/);
      assert.equal(await login(p, LOOKUP.user, LOOKUP.password), LOOKUP.user);
    });

    test('an auth_user that cannot log in: 28000 at once, saying so in the log', async () => {
      const p = await pgtideWith({}, `"${LOOKUP.user}" "wrong-password"\n`);
      const started = Date.now();
      assert.match(await login(p, t.scramUser.user, t.scramUser.password), /^28000: /);
      assert.ok(Date.now() - started < 5000);
      assert.match(
        logged(p, 'auth_query lookup failed'),
        /auth_user "pgtide_lookup" cannot log in: .*password authentication failed/,
      );
    });

    test('a role membership lookup that cannot run (hba_file with +group): 28000 before any password exchange', async () => {
      const hbaFile = join(files, 'group-only.conf');
      writeFileSync(hbaFile, 'host all +pgtide_outer 127.0.0.1/32 md5\n');
      const p = await pgtideWith({ hba_file: hbaFile }, `"${LOOKUP.user}" "wrong-password"\n`);
      assert.equal(
        await login(p, t.scramUser.user, t.scramUser.password),
        '28000: authentication failed for user "pgtide_scram": pgtide could not look up its role memberships',
      );
      assert.match(
        logged(p, 'auth_query lookup failed'),
        /role membership lookup cannot run: auth_user "pgtide_lookup" cannot log in/,
      );
    });
  });
});
