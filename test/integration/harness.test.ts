// Proves the real-PostgreSQL harness that every integration test stands on.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  currentTopology,
  promoteNode,
  sqlOn,
  startNode,
  startTopology,
  stopNode,
  stopTopology,
  type PgNode,
  type Topology,
} from '../support/topology.js';

const REPLICATION_WAIT_MS = 5_000;

async function inRecovery(node: PgNode): Promise<boolean> {
  const [row] = await sqlOn<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r');
  return row!.r;
}

/** Polls `node` until `table` holds `id`; fails after REPLICATION_WAIT_MS. */
async function waitForRow(node: PgNode, table: string, id: number): Promise<void> {
  const deadline = Date.now() + REPLICATION_WAIT_MS;
  for (;;) {
    try {
      const rows = await sqlOn(node, `SELECT 1 FROM ${table} WHERE id = $1`, [id]);
      if (rows.length === 1) return;
    } catch (err) {
      // The CREATE TABLE may not have replayed yet; anything else is a real failure.
      if ((err as { code?: string }).code !== '42P01') throw err;
    }
    if (Date.now() > deadline) assert.fail(`row ${id} of ${table} not on ${node.name} after ${REPLICATION_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function acceptsTcp(node: PgNode): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(node.port, node.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function loginOverTcp(t: Topology, cred: { user: string; password: string }): Promise<string> {
  const client = new pg.Client({
    host: t.primary.host,
    port: t.primary.port,
    database: t.database,
    user: cred.user,
    password: cred.password,
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ u: string }>('SELECT current_user AS u');
    return rows[0]!.u;
  } finally {
    await client.end();
  }
}

describe('shared topology', () => {
  const t = currentTopology();

  it('has a primary out of recovery and standbys in recovery', async () => {
    assert.equal(t.standbys.length, 2);
    assert.equal(await inRecovery(t.primary), false);
    for (const standby of t.standbys) assert.equal(await inRecovery(standby), true, standby.name);
  });

  it('replicates a row inserted on the primary to every standby within 5 s', async () => {
    const table = `harness_probe_${process.pid}`;
    await sqlOn(t.primary, `CREATE TABLE ${table} (id int PRIMARY KEY)`);
    await sqlOn(t.primary, `INSERT INTO ${table} VALUES (42)`);
    await Promise.all(t.standbys.map((s) => waitForRow(s, table, 42)));
    await sqlOn(t.primary, `DROP TABLE ${table}`);
  });

  it('lets the SCRAM and md5 users log in over TCP, with secrets stored as their names say', async () => {
    assert.equal(await loginOverTcp(t, t.scramUser), t.scramUser.user);
    assert.equal(await loginOverTcp(t, t.md5User), t.md5User.user);
    const secrets = await sqlOn<{ rolname: string; rolpassword: string }>(
      t.primary,
      'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1)',
      [[t.scramUser.user, t.md5User.user]],
    );
    const secretOf = new Map(secrets.map((r) => [r.rolname, r.rolpassword]));
    assert.ok(secretOf.get(t.scramUser.user)?.startsWith('SCRAM-SHA-256$'));
    assert.ok(secretOf.get(t.md5User.user)?.startsWith('md5'));
  });

  it('rejects a wrong password over TCP', async () => {
    await assert.rejects(loginOverTcp(t, { user: t.md5User.user, password: 'wrong' }), { code: '28P01' });
  });

  it('lets both test users create tables in the test database', async () => {
    for (const cred of [t.scramUser, t.md5User]) {
      const client = new pg.Client({ ...cred, host: t.primary.host, port: t.primary.port, database: t.database });
      await client.connect();
      try {
        await client.query(`CREATE TEMP TABLE mine (x int)`);
        await client.query(`CREATE TABLE harness_owned_${cred.user} (x int)`);
        await client.query(`DROP TABLE harness_owned_${cred.user}`);
      } finally {
        await client.end();
      }
    }
  });

  it('stops and restarts a standby, which then catches up', async () => {
    const standby = t.standbys[1]!;
    const table = `harness_restart_${process.pid}`;
    await stopNode(t, standby);
    try {
      assert.equal(await acceptsTcp(standby), false);
      await sqlOn(t.primary, `CREATE TABLE ${table} (id int)`);
      await sqlOn(t.primary, `INSERT INTO ${table} VALUES (7)`);
    } finally {
      await startNode(t, standby); // later test files rely on both standbys
    }
    assert.equal(await acceptsTcp(standby), true);
    assert.equal(await inRecovery(standby), true);
    await waitForRow(standby, table, 7);
    await sqlOn(t.primary, `DROP TABLE ${table}`);
  });
});

describe('private topology', () => {
  let t: Topology;
  before(async () => {
    t = await startTopology({ standbys: 1, maxConnections: 20 });
  });
  after(async () => {
    await stopTopology(t);
  });

  it('applies the requested size and settings', async () => {
    assert.equal(t.standbys.length, 1);
    const [row] = await sqlOn<{ max_connections: string }>(t.primary, 'SHOW max_connections');
    assert.equal(row!.max_connections, '20');
    assert.notEqual(t.primary.port, currentTopology().primary.port);
  });

  it('promotes a standby to a writable primary', async () => {
    const standby = t.standbys[0]!;
    await promoteNode(t, standby);
    assert.equal(await inRecovery(standby), false);
    await sqlOn(standby, 'CREATE TABLE promoted (x int)');
  });

  it('stopTopology stops every server and removes the base dir', async () => {
    const probe = await startTopology({ standbys: 0 });
    await stopTopology(probe);
    assert.equal(existsSync(probe.baseDir), false);
    assert.equal(await acceptsTcp(probe.primary), false);
  });
});

describe('currentTopology', () => {
  it('explains how to run the tests when PGTIDE_TEST_TOPOLOGY is unset', () => {
    const saved = process.env['PGTIDE_TEST_TOPOLOGY'];
    delete process.env['PGTIDE_TEST_TOPOLOGY'];
    try {
      assert.throws(() => currentTopology(), /npm test/);
    } finally {
      process.env['PGTIDE_TEST_TOPOLOGY'] = saved;
    }
  });
});
