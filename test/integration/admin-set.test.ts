// The console's SET (PgBouncer's `SET default_pool_size = 5`): it changes SHOW CONFIG and what
// a busy pool opens, in every worker; a value or key it cannot take changes nothing; a stats
// user may not use it; RELOAD and SIGHUP read the file again and drop it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology, runningNow } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { connectTo, spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';
import { allWorkersStarted, oneOnEachWorker, workerOf, workerPids } from '../support/workers.js';
import { waitFor } from '../support/wait.js';

/** What each busy client runs: long enough that all of them ask for a server at once. */
const BUSY = 'SELECT pg_catalog.pg_sleep(0.4) AS admin_set_test';
const FILE_POOL_SIZE = 2;

async function spawn(workers: number): Promise<{ p: PgtideProcess; stop: () => Promise<void> }> {
  const t = currentTopology();
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-admin-set-'));
  const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
    `workers = ${workers}`,
    `default_pool_size = ${FILE_POOL_SIZE}`,
    `admin_users = ["${t.scramUser.user}"]`,
    `stats_users = ["${t.superuser.user}"]`,
    // allWorkersStarted reads the primary's info line.
    'log_level = "info"',
    'log_connections = false',
    'log_disconnections = false',
  ]);
  if (workers > 1) await allWorkersStarted(p);
  return {
    p,
    async stop() {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function consoleOf(p: PgtideProcess): Promise<pg.Client> {
  return connectTo(currentTopology(), p, 'pgbouncer');
}

/** SHOW CONFIG's value of `key` (with workers: the instance's, the workers' shares added up). */
async function shown(admin: pg.Client, key: string): Promise<string> {
  const { rows } = await admin.query('SHOW CONFIG');
  return String(rows.find((r) => r.key === key)?.value);
}

/** The most servers the primary ran BUSY on at once while `clients` each ran it twice. */
async function serversUnderLoad(clients: pg.Client[]): Promise<number> {
  let done = false;
  let most = 0;
  const sampling = (async () => {
    while (!done) {
      most = Math.max(most, await runningNow(currentTopology().primary, BUSY));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await Promise.all(clients.map(async (c) => (await c.query(BUSY), await c.query(BUSY))));
  done = true;
  await sampling;
  return most;
}

async function refusal(client: pg.Client, sql: string): Promise<string> {
  const err = await client.query(sql).then(
    () => assert.fail(`${sql} was taken`),
    (e: { code: string; message: string }) => e,
  );
  return `${err.code} ${err.message}`;
}

describe('console SET', { timeout: 90_000 }, () => {
  test('SET default_pool_size changes SHOW CONFIG and the servers a busy pool opens; refusals change nothing; RELOAD reverts', async (ctx) => {
    const t = currentTopology();
    const run = await spawn(1);
    ctx.after(() => run.stop());
    const admin = await consoleOf(run.p);
    const clients = await Promise.all(Array.from({ length: 8 }, () => connectTo(t, run.p)));
    ctx.after(() => Promise.all([admin, ...clients].map((c) => c.end().catch(() => {}))));

    const before = await serversUnderLoad(clients);
    assert.equal(before, FILE_POOL_SIZE);
    const answer = await admin.query('SET default_pool_size = 5');
    assert.equal(answer.command, 'SET');
    assert.equal(await shown(admin, 'default_pool_size'), '5');
    const after = await serversUnderLoad(clients);
    ctx.diagnostic(`8 busy clients: ${before} servers before the SET, ${after} after`);
    assert.equal(after, 5);

    assert.match(await refusal(admin, 'SET default_pool_size = abc'), /^22023 default_pool_size must be a number/);
    assert.match(await refusal(admin, "SET default_pool_size TO '0'"), /^22023 .*from 1 to/);
    assert.match(
      await refusal(admin, 'SET listen_port = 7799'),
      /^55P02 listen_port cannot be changed while pgtide runs/,
    );
    assert.match(await refusal(admin, 'SET no_such_setting = 1'), /^42704 unknown setting/);
    assert.equal(await shown(admin, 'default_pool_size'), '5');
    assert.equal(await shown(admin, 'listen_port'), String(run.p.port));

    const stats = new pg.Client({
      host: '127.0.0.1',
      port: run.p.port,
      database: 'pgbouncer',
      user: t.superuser.user,
      password: t.superuser.password,
    });
    stats.on('error', () => {});
    await stats.connect();
    ctx.after(() => stats.end().catch(() => {}));
    assert.equal(await shown(stats, 'default_pool_size'), '5');
    assert.match(await refusal(stats, 'SET default_pool_size = 3'), /^42501 /);
    assert.equal(await shown(admin, 'default_pool_size'), '5');

    await admin.query('RELOAD');
    assert.equal(await shown(admin, 'default_pool_size'), String(FILE_POOL_SIZE));
    // Idle servers above a lowered pool size close at the pools' next upkeep (within 250 ms).
    await waitFor(
      'the servers above the pool size closed',
      async () => (await admin.query('SHOW SERVERS')).rows.length <= FILE_POOL_SIZE,
    );
    assert.equal(await serversUnderLoad(clients), FILE_POOL_SIZE);
  });

  test('with workers = 2, both workers apply a SET, one started again too; SIGHUP reverts', async (ctx) => {
    const t = currentTopology();
    const run = await spawn(2);
    ctx.after(() => run.stop());
    // Clients until each worker has four: a worker's share of 2 is 1 server, of 6 is 3.
    const byWorker: [pg.Client[], pg.Client[]] = [[], []];
    for (let i = 0; i < 64 && (byWorker[0].length < 4 || byWorker[1].length < 4); i++) {
      const c = await connectTo(t, run.p);
      const own = byWorker[workerOf(c) as 0 | 1];
      if (own.length < 4) own.push(c);
      else await c.end();
    }
    const clients = [...byWorker[0], ...byWorker[1]];
    ctx.after(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
    assert.equal(clients.length, 8, 'no four clients on one of the workers in 64 connections');
    const admins = await oneOnEachWorker(() => consoleOf(run.p));
    ctx.after(() => Promise.all(admins.map((c) => c.end().catch(() => {}))));

    assert.equal(await serversUnderLoad(clients), FILE_POOL_SIZE);
    await admins[1].query('SET default_pool_size = 6');
    // SHOW CONFIG adds up the workers' shares: 3 + 3 only when the other worker applied it too.
    await waitFor('every worker applied the SET', async () => {
      const values = await Promise.all(admins.map((a) => shown(a, 'default_pool_size')));
      return values.every((v) => v === '6');
    });
    for (const worker of [0, 1]) {
      const servers = await serversUnderLoad(byWorker[worker as 0 | 1]);
      ctx.diagnostic(`worker ${worker}: 4 busy clients use ${servers} servers after the SET`);
      assert.equal(servers, 3);
    }

    // A worker started again reads the file, then is told the SET in force.
    const survivor = admins[0];
    const pid = workerPids(run.p).get(1)!;
    process.kill(pid, 'SIGKILL');
    await waitFor('worker 1 started again', () => (workerPids(run.p).get(1) ?? pid) !== pid, 15_000);
    await waitFor(
      'the restarted worker runs the SET value',
      async () => (await shown(survivor, 'default_pool_size')) === '6',
      15_000,
    );

    run.p.child.kill('SIGHUP');
    await waitFor(
      'SIGHUP read the file again',
      async () => (await shown(survivor, 'default_pool_size')) === String(FILE_POOL_SIZE),
    );
  });

  // Each worker ran its own SET first and the other's after: two at once from the consoles of
  // both workers left each with the other's value (a helper saw 4 in one and 10 in the other,
  // 1 round in 15). A SET or RELOAD now reaches every worker, its own too, in one order.
  test('with workers = 2, SETs and RELOADs run at once from both workers end alike in both', async (ctx) => {
    const run = await spawn(2);
    ctx.after(() => run.stop());
    const admins = await oneOnEachWorker(() => consoleOf(run.p));
    ctx.after(() => Promise.all(admins.map((c) => c.end().catch(() => {}))));
    const seen: string[] = [];
    for (let round = 0; round < 12; round++) {
      const second = round % 2 === 0 ? 'SET default_pool_size = 10' : 'RELOAD';
      await Promise.all([admins[0].query('SET default_pool_size = 4'), admins[1].query(second)]);
      const agreed = await waitFor('both workers to apply both', async () => {
        const values = await Promise.all(admins.map((a) => shown(a, 'default_pool_size')));
        // Each worker's SHOW CONFIG adds up both shares: 7 (2 + 5) or 6 (2 + 4) is a mixture.
        return values[0] === values[1] && ['4', '10', String(FILE_POOL_SIZE)].includes(values[0]!) && values[0];
      });
      seen.push(agreed as string);
      await admins[0].query('RELOAD');
    }
    ctx.diagnostic(`values after each round: ${seen.join(' ')}`);
  });
});
