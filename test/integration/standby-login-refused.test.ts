// A standby that will not log a client's user in (its own pg_hba.conf here; a database or role
// it has not replayed yet in production, as right after CREATE DATABASE on the primary) fails
// no read: the read runs on the primary, as reads do when no standby can take them. The
// topology's standby gets one rejecting pg_hba.conf line for the test user, put back after.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { currentTopology, sqlOn } from '../support/topology.js';

const t = currentTopology();
const standby = t.standbys[0]!;
const hbaFile = join(standby.dataDir, 'pg_hba.conf');
const PORT = 'SELECT pg_catalog.inet_server_port() AS port';
let original = '';
let p: RunningPgtide;

before(async () => {
  original = readFileSync(hbaFile, 'utf8');
  // Only for the test database: the health checks (database postgres) still pass, so the standby stays in the rotation.
  writeFileSync(hbaFile, `host ${t.database} ${t.scramUser.user} all reject\n${original}`);
  await sqlOn(standby, 'SELECT pg_catalog.pg_reload_conf()');
  // Reads go to that standby alone.
  p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 0]) });
});

after(async () => {
  await p?.stop();
  writeFileSync(hbaFile, original);
  await sqlOn(standby, 'SELECT pg_catalog.pg_reload_conf()');
});

test('reads whose standby refuses the login run on the primary, for a client already waiting and for the next ones', async () => {
  const clients = [new pg.Client(p.pgConfig()), new pg.Client(p.pgConfig())];
  await Promise.all(clients.map((c) => c.connect()));
  try {
    // Both wait on the standby's pool while its first login fails.
    const first = await Promise.all(clients.map((c) => c.query(PORT)));
    for (const { rows } of first) assert.equal(rows[0].port, t.primary.port);
    const again = await clients[0]!.query(PORT);
    assert.equal(again.rows[0].port, t.primary.port);
    assert.deepEqual((await clients[1]!.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  assert.ok(
    p.logs.some((l) => l['msg'] === 'server login failed'),
    'the standby did refuse the login',
  );
});

test("the primary's own refusal still reaches the client: a database that exists nowhere", async () => {
  const stranger = new pg.Client(p.pgConfig({ database: 'no_such_database' }));
  await assert.rejects(async () => {
    await stranger.connect();
    await stranger.query(PORT);
  }, /does not exist|no such database/);
  await stranger.end().catch(() => {});
});
