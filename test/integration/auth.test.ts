import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';

const t = currentTopology();

async function loginError(config: pg.ClientConfig): Promise<{ code?: string; message: string }> {
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (err) {
    return err as { code?: string; message: string };
  } finally {
    await client.end().catch(() => {});
  }
  assert.fail('login unexpectedly succeeded');
}

describe('client authentication', () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t);
  });
  after(() => p.stop());

  test('a SCRAM user logs in with scram-sha-256 and queries the primary', async () => {
    const client = new pg.Client(p.pgConfig());
    await client.connect();
    const { rows } = await client.query('SELECT current_user AS u, pg_catalog.pg_is_in_recovery() AS r');
    assert.deepEqual(rows[0], { u: t.scramUser.user, r: false });
    await client.end();
  });

  test('with scram-sha-256, a user whose auth_file entry is an md5 hash fails as in PostgreSQL', async () => {
    const err = await loginError(p.pgConfig({ user: t.md5User.user, password: t.md5User.password }));
    assert.equal(err.code, '28P01');
  });

  test('postgres.js logs in and runs extended-protocol queries', async () => {
    const sql = postgres({
      ...p.pgConfig(),
      username: t.scramUser.user,
      max: 2,
      prepare: false,
    } as postgres.Options<{}>);
    const rows = await sql`SELECT ${41}::int + 1 AS answer`;
    assert.equal(rows[0]!.answer, 42);
    await sql.end();
  });

  test('a wrong password gets 28P01 after the full exchange', async () => {
    const err = await loginError(p.pgConfig({ password: 'wrong' }));
    assert.equal(err.code, '28P01');
    assert.match(err.message, new RegExp(`password authentication failed for user "${t.scramUser.user}"`));
  });

  test('an unknown user gets the same 28P01 as a wrong password', async () => {
    const err = await loginError(p.pgConfig({ user: 'nobody_here', password: 'x' }));
    assert.equal(err.code, '28P01');
    assert.match(err.message, /password authentication failed for user "nobody_here"/);
  });
});

describe('auth_type md5 and plain', () => {
  test('md5 answers a SCRAM-secret user with SCRAM, an md5 user with md5 (server login by md5 hash)', async () => {
    const p = await startPgtide(t, { auth_type: 'md5' });
    try {
      for (const u of [t.scramUser, t.md5User]) {
        const client = new pg.Client(p.pgConfig({ user: u.user, password: u.password }));
        await client.connect();
        assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, u.user);
        await client.end();
      }
      const err = await loginError(p.pgConfig({ user: t.md5User.user, password: 'bad' }));
      assert.equal(err.code, '28P01');
    } finally {
      await p.stop();
    }
  });

  test('plain accepts the right cleartext password only', async () => {
    const p = await startPgtide(t, { auth_type: 'plain' });
    try {
      const client = new pg.Client(p.pgConfig());
      await client.connect();
      await client.end();
      assert.equal((await loginError(p.pgConfig({ password: 'bad' }))).code, '28P01');
    } finally {
      await p.stop();
    }
  });
});
