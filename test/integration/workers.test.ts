// `workers = 2`: two pooler processes share the listen port behind a primary. Clients spread
// over both, a cancel reaches the worker that holds the query, the instance's pool size holds
// across the workers, a killed worker comes back while the other's clients go on, and signals
// reach every worker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology, runningNow, sqlOn, standbysCaughtUp } from '../support/topology.js';
import { clusterBackends, startPgtide, writeAuthFile } from '../support/pgtide.js';
import {
  backendsToml,
  connectTo,
  spawnCli,
  spawnPgtide,
  writeConfig,
  type PgtideProcess,
} from '../support/pgtide-process.js';
import { waitFor } from '../support/wait.js';
import { sendCancelRequest } from '../support/raw-client.js';
import { freezePostmaster } from '../support/faults.js';
import { freePorts } from '../support/free-ports.js';
import {
  allWorkersStarted,
  logLines as workerLogLines,
  oneOnEachWorker as oneClientOnEachWorker,
  workerOf,
  workerPids as workerPidsOf,
} from '../support/workers.js';
import { watch } from '../support/child-output.js';

const t = currentTopology();
const POOL_SIZE = 4;

let dir: string;
let p: PgtideProcess;
/** When `p` was started: server connections older than this are another test file's, closing. */
let startedAt: Date;

const logLines = () => workerLogLines(p);
const workerPids = () => workerPidsOf(p);
const connect = () => connectTo(t, p);
const oneOnEachWorker = () => oneClientOnEachWorker(connect);

/** SIGHUP to the primary; resolves once both workers logged their reload. */
async function reloadEveryWorker(): Promise<void> {
  const reloads = () => logLines().filter((l) => l['msg'] === 'configuration reloaded');
  const before = reloads().length;
  p.child.kill('SIGHUP');
  await waitFor(
    'both workers reloaded',
    () =>
      new Set(
        reloads()
          .slice(before)
          .map((l) => l['worker']),
      ).size === 2,
  );
}

/** One console command on a new connection (the kernel picks its worker). */
async function consoleCommand(sql: string): Promise<void> {
  const c = await connectTo(t, p, 'pgtide');
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Runs pg_sleep(30) on `c` and, once the server runs it, sends c's cancel key to `port`: the
 * query's error code (57014 when cancelled) and the milliseconds from the cancel to its end.
 */
async function cancelThrough(c: pg.Client, port: number): Promise<{ code: string | null | undefined; ms: number }> {
  const running = c.query('SELECT pg_sleep(30)').then(
    () => null,
    (err: { code?: string }) => err.code,
  );
  await waitFor('the query on the server', async () => (await runningNow(t.primary, 'SELECT pg_sleep(30)')) === 1);
  const started = Date.now();
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  await sendCancelRequest('127.0.0.1', port, processID, secretKey);
  const code = await running;
  return { code, ms: Date.now() - started };
}

/** Another instance with `workers = 2` and `extra` settings, in a directory of its own. */
async function spawnWithWorkers(extra: string[]): Promise<{ own: string; instance: PgtideProcess }> {
  const own = mkdtempSync(join(tmpdir(), 'pgtide-workers-'));
  const instance = await spawnPgtide(t, own, writeAuthFile(t, own), ['workers = 2', 'log_level = "info"', ...extra]);
  return { own, instance };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgtide-workers-'));
  startedAt = new Date();
  p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
    'workers = 2',
    `default_pool_size = ${POOL_SIZE}`,
    'log_level = "debug"',
    'log_connections = false',
    'log_disconnections = false',
    `admin_users = ["${t.scramUser.user}"]`,
  ]);
  await allWorkersStarted(p);
});

after(async () => {
  await p?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('workers = 2', () => {
  test('clients are spread over both workers, each serving its own', async () => {
    const clients = await Promise.all(Array.from({ length: 16 }, connect));
    try {
      const workers = new Set(clients.map(workerOf));
      assert.deepEqual([...workers].sort(), [0, 1]);
      for (const c of clients) assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  test('a cancel sent to either worker reaches the query its owner holds (57014)', { timeout: 90_000 }, async () => {
    const relayed = () => logLines().filter((l) => l['msg'] === 'cancel request relayed').length;
    const pair = await oneOnEachWorker();
    try {
      // The kernel picks the worker of each cancel connection; go on until one crossed.
      for (let round = 0; round < 24 && (round < 4 || relayed() === 0); round++) {
        const c = pair[round % 2]!;
        const { code, ms } = await cancelThrough(c, p.port);
        assert.equal(code, '57014', `round ${round}: the query of worker ${round % 2} was not cancelled`);
        assert.ok(ms < 5000);
      }
      assert.ok(relayed() > 0, 'no cancel request landed on the other worker in 24 rounds');
    } finally {
      await Promise.all(pair.map((c) => c.end()));
    }
  });

  // The single-process form is in pooling.test.ts: drivers send their next statement once the
  // cancel's connection closes, so it must not close before the server took the cancel. Relayed
  // by the other worker, the owner's answer crosses the primary process first.
  test('a cancel through either worker is answered only once the server took it', { timeout: 90_000 }, async () => {
    const relayedBefore = logLines().filter((l) => l['msg'] === 'cancel request relayed').length;
    const relayed = () => logLines().filter((l) => l['msg'] === 'cancel request relayed').length - relayedBefore;
    const pair = await oneOnEachWorker();
    try {
      for (let round = 0; round < 24 && (round < 2 || relayed() === 0); round++) {
        const c = pair[round % 2]!;
        const running = c.query('SELECT pg_sleep(30)').then(
          () => null,
          (err: { code?: string }) => err.code,
        );
        await waitFor(
          'the query on the server',
          async () => (await runningNow(t.primary, 'SELECT pg_sleep(30)')) === 1,
        );
        const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
        const thaw = freezePostmaster(t.primary);
        let closedWhileFrozen: boolean;
        try {
          let closed = false;
          const cancel = sendCancelRequest('127.0.0.1', p.port, processID, secretKey).then(() => (closed = true));
          await sleep(800);
          closedWhileFrozen = closed;
          thaw();
          await cancel;
        } finally {
          thaw();
        }
        assert.equal(closedWhileFrozen, false, `round ${round}: closed before the server took the cancel`);
        assert.equal(await running, '57014', `round ${round}`);
      }
      assert.ok(relayed() > 0, 'no cancel request landed on the other worker in 24 rounds');
    } finally {
      await Promise.all(pair.map((c) => c.end()));
    }
  });

  test("pg_cancel_backend and pg_terminate_backend reach another worker's client by the pid it was told", {
    timeout: 60_000,
  }, async () => {
    const [caller, target] = await oneOnEachWorker();
    let error: string | undefined;
    target.on('error', (e: Error & { code?: string }) => (error ??= e.code));
    try {
      const pid = (target as unknown as { processID: number }).processID;
      const sleeping = target.query('SELECT pg_sleep(30)').then(
        () => null,
        (err: { code?: string }) => err.code,
      );
      await waitFor('the query on the server', async () => (await runningNow(t.primary, 'SELECT pg_sleep(30)')) === 1);
      await caller.query('SELECT pg_cancel_backend($1)', [pid]);
      assert.equal(await sleeping, '57014');
      assert.equal((await target.query('SELECT 1 AS one')).rows[0].one, 1, 'a cancel leaves the client');
      await caller.query(`SELECT pg_terminate_backend(${pid})`);
      await waitFor('the other worker to end its client', () => error === '57P01');
    } finally {
      await Promise.all([caller.end(), target.end().catch(() => {})]);
    }
  });

  test('the server connections of both workers together never exceed default_pool_size', {
    timeout: 60_000,
  }, async () => {
    const clients = await Promise.all(Array.from({ length: 24 }, connect));
    let stop = false;
    const load = clients.map(async (c) => {
      while (!stop) await c.query('SELECT pg_sleep(0.02)');
    });
    let most = 0;
    try {
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        const [row] = await sqlOn(
          t.primary,
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND backend_start >= $3',
          [t.scramUser.user, t.database, startedAt],
        );
        most = Math.max(most, row.n);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      stop = true;
      await Promise.all(load);
      await Promise.all(clients.map((c) => c.end()));
    }
    // 2 per worker; both shares full under this load. Unsplit, each worker would open 4.
    assert.equal(most, POOL_SIZE);
  });

  test("the console's PAUSE and RESUME act on both workers, whichever one runs them", { timeout: 30_000 }, async () => {
    const pair = await oneOnEachWorker();
    try {
      await consoleCommand('PAUSE');
      // The console answers once its own worker has paused; the other worker applies the
      // command when the primary has passed it on, a moment later.
      const paused = () => logLines().filter((l) => l['msg'] === 'admin: PAUSE');
      await waitFor('both workers paused', () => new Set(paused().map((l) => l['worker'])).size === 2);
      const answered = [false, false];
      const queries = pair.map((c, i) => c.query('SELECT 1').then(() => (answered[i] = true)));
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(answered, [false, false], 'a worker served a transaction during PAUSE');
      await consoleCommand('RESUME');
      await Promise.all(queries);
    } finally {
      await Promise.all(pair.map((c) => c.end()));
    }
  });

  test('a worker started again during a PAUSE is paused too', { timeout: 60_000 }, async () => {
    const killed = workerPids().get(1);
    assert.ok(killed !== undefined);
    await consoleCommand('PAUSE');
    try {
      process.kill(killed, 'SIGKILL');
      await waitFor('worker 1 restarted', () => workerPids().get(1) !== killed, 10_000);
      // Lines of the new worker 1 come after the primary's line that started it.
      const toldAfterRestart = () => {
        const lines = logLines();
        const started = lines.findIndex(
          (l) => l['msg'] === 'primary: worker started' && l['worker'] === 1 && l['pid'] !== killed,
        );
        return lines.slice(started).some((l) => l['worker'] === 1 && l['msg'] === 'admin: PAUSE');
      };
      await waitFor('the restarted worker told of the PAUSE', toldAfterRestart, 10_000);
      // Whichever worker the kernel gives them, no transaction runs while the PAUSE holds.
      const answered: boolean[] = [];
      const clients: pg.Client[] = [];
      const queries = Array.from({ length: 8 }, async (_, i) => {
        answered[i] = false;
        const c = await connect();
        clients.push(c);
        await c.query('SELECT 1');
        answered[i] = true;
      });
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(answered, Array(8).fill(false), 'a transaction ran during PAUSE');
      await consoleCommand('RESUME');
      await Promise.all(queries);
      await Promise.all(clients.map((c) => c.end()));
    } finally {
      await consoleCommand('RESUME');
    }
  });

  test('SIGHUP reaches every worker', async () => {
    await reloadEveryWorker();
  });

  test("a SIGKILLed worker is restarted; the other worker's clients keep working", { timeout: 60_000 }, async () => {
    const [onFirst, onSecond] = await oneOnEachWorker();
    const killed = workerPids().get(0)!;
    process.kill(killed, 'SIGKILL');
    await assert.rejects(onFirst.query('SELECT 1'));
    for (let i = 0; i < 10; i++) assert.equal((await onSecond.query('SELECT 1 AS one')).rows[0].one, 1);
    await waitFor('worker 0 restarted', () => (workerPids().get(0) ?? killed) !== killed, 10_000);
    // New clients reach the new worker 0 once it listens.
    await waitFor(
      'a client on the restarted worker',
      async () => {
        const c = await connect();
        const worker = workerOf(c);
        const answered = (await c.query('SELECT 1 AS one')).rows[0].one === 1;
        await c.end();
        return worker === 0 && answered;
      },
      15_000,
    );
    assert.equal((await onSecond.query('SELECT 2 AS two')).rows[0].two, 2);
    await onSecond.end();
  });

  test('a worker started again runs what the instance runs: not an edit of the file the workers did not reload, nor a broken file', {
    timeout: 90_000,
  }, async () => {
    const file = join(dir, 'pgtide.toml');
    const original = readFileSync(file, 'utf8');
    const restartWorker1 = async () => {
      const killed = workerPids().get(1)!;
      process.kill(killed, 'SIGKILL');
      await waitFor('worker 1 restarted', () => (workerPids().get(1) ?? killed) !== killed, 10_000);
    };
    /** A console session on worker 1, once one reaches it: the value of default_pool_size there. */
    const poolSizeOnWorker1 = () => {
      let value: string | undefined;
      return waitFor(
        'a console session on worker 1',
        async () => {
          const c = await connectTo(t, p, 'pgtide');
          try {
            if (workerOf(c) !== 1) return false;
            const { rows } = await c.query('SHOW CONFIG');
            value = rows.find((r: { key: string }) => r.key === 'default_pool_size')?.value;
            return true;
          } finally {
            await c.end();
          }
        },
        15_000,
      ).then(() => value);
    };
    try {
      writeFileSync(file, original.replace(`default_pool_size = ${POOL_SIZE}`, 'default_pool_size = 9'));
      await restartWorker1();
      assert.equal(await poolSizeOnWorker1(), String(POOL_SIZE), 'worker 1 took up the edit no reload asked for');
      writeFileSync(file, `${original}\nthis line is not TOML\n`);
      await restartWorker1();
      assert.equal(await poolSizeOnWorker1(), String(POOL_SIZE), 'worker 1 did not come back on a broken file');
      // Once the workers reload an edit, a worker started later runs it too.
      writeFileSync(file, original.replace(`default_pool_size = ${POOL_SIZE}`, 'default_pool_size = 9'));
      await reloadEveryWorker();
      await restartWorker1();
      assert.equal(await poolSizeOnWorker1(), '9', 'worker 1 did not take up the reloaded file');
    } finally {
      writeFileSync(file, original);
      await reloadEveryWorker();
    }
  });

  test('a second instance with workers on the ports of a running one fails its start (exit 1)', {
    timeout: 60_000,
  }, async () => {
    // Both would bind with SO_REUSEPORT, which the kernel allows any process of the user: the
    // second would silently take half the new clients with pools and limits of its own.
    const own = mkdtempSync(join(tmpdir(), 'pgtide-workers-'));
    const child = spawnCli(writeConfig(t, own, writeAuthFile(t, own), p.port, ['workers = 2']));
    const { output, exited } = watch(child);
    try {
      const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
      assert.equal(code, 1, output());
      assert.match(output(), /EADDRINUSE.*"msg":"primary: could not start"/);
      // The running instance still takes every client.
      const c = await connect();
      await c.end();
    } finally {
      child.kill('SIGINT');
      rmSync(own, { recursive: true, force: true });
    }
  });

  test('SIGTERM stops every worker, then the primary', { timeout: 60_000 }, async () => {
    const pids = [...workerPids().values()];
    assert.equal(await p.stop('SIGTERM'), 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} still runs`);
  });
});

describe('workers = 2, /metrics', () => {
  test("worker 0's /metrics sums the clients and transactions of both workers", { timeout: 60_000 }, async () => {
    const [httpPort] = await freePorts(1);
    const { own, instance } = await spawnWithWorkers([`admin_http_listen = "127.0.0.1:${httpPort}"`]);
    try {
      p = instance;
      await allWorkersStarted(p);
      const pair = await oneOnEachWorker();
      for (let i = 0; i < 3; i++) await pair[0].query('SELECT 1');
      for (let i = 0; i < 5; i++) await pair[1].query('SELECT 1');
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      const value = (series: string) =>
        Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
      assert.equal(value('pgtide_clients{state="active"}'), 2, text);
      assert.equal(
        value(
          `pgtide_transactions_total{database="${t.database}",user="${t.scramUser.user}",backend="${t.primary.host}:${t.primary.port}"}`,
        ),
        8,
        text,
      );
      assert.equal(value('pgtide_paused'), 0);
      await Promise.all(pair.map((c) => c.end()));
    } finally {
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('workers = 2 over standbys', () => {
  test("a table one worker's client creates is there for another worker's read_your_writes reads while the standbys replay nothing", {
    timeout: 60_000,
  }, async () => {
    const { own, instance } = await spawnWithWorkers([
      // Two server connections per worker, both held when the writer's DDL ends (below).
      `default_pool_size = 4`,
      // Paused standbys stay in the rotation: the lag limits would send every read to the primary.
      'delay_threshold = 0',
      'delay_threshold_by_time = 0',
      ...backendsToml(clusterBackends(t, [0, 1, 1])),
    ]);
    const tables = [0, 1, 2].map((i) => `workers_fence_${i}`);
    const clients: pg.Client[] = [];
    const connect = () => connectTo(t, instance);
    try {
      await allWorkersStarted(instance);
      const [writer, reader] = await oneClientOnEachWorker(connect);
      clients.push(writer, reader);
      let busy: pg.Client | undefined;
      while (busy === undefined) {
        const c = await connect();
        clients.push(c);
        if (workerOf(c) === workerOf(writer)) busy = c;
      }
      // A migration tool's lock pins the writer; the other connection of its worker is busy when
      // its DDL ends, so the position is read only once the sleep ends: the other worker must
      // hear of the fence before the writer's answer, not from the position.
      await writer.query('SELECT pg_catalog.pg_advisory_lock(4244)');
      await standbysCaughtUp(t);
      for (const standby of t.standbys) await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_pause()');
      const SLEEP = '/* pgtide: primary */ SELECT pg_catalog.pg_sleep(0.4)';
      const codes: (string | null)[] = [];
      for (const table of tables) {
        const slept = busy.query(SLEEP);
        await waitFor('the sleep on the primary', async () => (await runningNow(t.primary, SLEEP)) === 1);
        await writer.query(`CREATE TABLE ${table} (x int)`);
        codes.push(
          await reader.query(`SELECT count(*) FROM ${table}`).then(
            () => null,
            (e: { code?: string }) => e.code ?? 'no code',
          ),
        );
        await slept;
      }
      assert.deepEqual(codes, [null, null, null]);
    } finally {
      for (const standby of t.standbys) await sqlOn(standby, 'SELECT pg_catalog.pg_wal_replay_resume()');
      await Promise.all(clients.map((c) => c.end()));
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
      for (const table of tables) await sqlOn(t.primary, `DROP TABLE IF EXISTS ${table}`);
    }
  });
});

describe('workers = 2, schema changes', () => {
  // A statement another worker's clients prepared before a DDL kept its old parameter types:
  // a new client's Parse of the same text was answered from that copy (helper g3: pgx told a
  // dropped enum's OID after a migration run through the same pgtide, every insert failed).
  test("a Parse after DDL through one worker infers the new types on the other worker's servers", {
    timeout: 60_000,
  }, async () => {
    // One server connection per worker: the stale copy is on the server the next client gets.
    const { own, instance } = await spawnWithWorkers(['default_pool_size = 2']);
    const clients: pg.Client[] = [];
    const connect = () => connectTo(t, instance);
    const insert = (c: pg.Client, value: string) =>
      c
        .query({ name: 'workers_types_insert', text: 'INSERT INTO workers_types (v) VALUES ($1)', values: [value] })
        .then(
          () => null,
          (e: { code?: string }) => e.code ?? 'no code',
        );
    try {
      await allWorkersStarted(instance);
      const [ddl, before] = await oneClientOnEachWorker(connect);
      clients.push(ddl, before);
      await ddl.query('DROP TABLE IF EXISTS workers_types; CREATE TABLE workers_types (v int)');
      assert.equal(await insert(before, '1'), null);
      await ddl.query('DROP TABLE workers_types; CREATE TABLE workers_types (v bigint)');
      let after: pg.Client | undefined;
      while (after === undefined) {
        const c = await connect();
        clients.push(c);
        if (workerOf(c) === workerOf(before)) after = c;
      }
      assert.equal(await insert(after, '3000000000'), null);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
      await sqlOn(t.primary, 'DROP TABLE IF EXISTS workers_types');
    }
  });
});

describe('workers = 2 with peering', () => {
  test('a cancel forwarded by a peer reaches the worker that holds the query; a worker forwards to the peer', {
    timeout: 120_000,
  }, async () => {
    const own = mkdtempSync(join(tmpdir(), 'pgtide-workers-'));
    const [portB] = await freePorts(1);
    const instance = await spawnPgtide(t, own, writeAuthFile(t, own), [
      'workers = 2',
      'log_level = "debug"',
      'log_connections = false',
      'log_disconnections = false',
      'peer_id = 2',
      '[[peers]]',
      'id = 1',
      'host = "127.0.0.1"',
      `port = ${portB}`,
    ]);
    const b = await startPgtide(t, {
      listen_port: [portB!],
      peer_id: 1,
      peers: [{ id: 2, host: '127.0.0.1', port: instance.port }],
    });
    try {
      p = instance;
      await allWorkersStarted(p);
      const relayed = () => logLines().filter((l) => l['msg'] === 'cancel request relayed').length;
      const pair = await oneOnEachWorker();
      const onB = new pg.Client(b.pgConfig());
      await onB.connect();
      try {
        const cancelled = async (c: pg.Client, to: number, what: string) => {
          assert.equal((await cancelThrough(c, to)).code, '57014', what);
        };
        // Keys of the workers' clients sent to B, which forwards them to a worker the kernel
        // picks; go on until one landed on the other worker.
        for (let round = 0; round < 24 && (round < 2 || relayed() === 0); round++) {
          await cancelled(
            pair[round % 2]!,
            portB!,
            `round ${round}: the query of worker ${round % 2}, cancelled through the peer`,
          );
        }
        assert.ok(relayed() > 0, 'no forwarded cancel landed on the other worker in 24 rounds');
        // B's client's key sent to the workers: whichever takes it forwards it to B.
        for (let round = 0; round < 4; round++)
          await cancelled(onB, instance.port, `round ${round}: B's query, cancelled through a worker`);
      } finally {
        await Promise.all([...pair, onB].map((c) => c.end()));
      }
    } finally {
      await b.stop();
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('workers = 2, stopping and failing', () => {
  test('a port held by another process fails the start (exit 1) rather than restarting workers for ever', {
    timeout: 60_000,
  }, async () => {
    const own = mkdtempSync(join(tmpdir(), 'pgtide-workers-'));
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const port = (holder.address() as net.AddressInfo).port;
      const child = spawnCli(writeConfig(t, own, writeAuthFile(t, own), port, ['workers = 2']));
      const { output, exited } = watch(child);
      const code = await exited;
      assert.equal(code, 1, output());
      assert.match(output(), /primary: could not start/);
    } finally {
      holder.close();
      rmSync(own, { recursive: true, force: true });
    }
  });

  test('SIGTERM: each worker waits for its running queries, which a cancel sent to either worker still ends; new logins get 57P03', {
    timeout: 60_000,
  }, async () => {
    const { own, instance } = await spawnWithWorkers(['shutdown_timeout = 60']);
    const PER_WORKER = 4;
    const clients: pg.Client[] = [];
    try {
      p = instance;
      await allWorkersStarted(p);
      // Alternating between the workers, so that both listen until the last cancel: each lands
      // on either, so that all but once in 256 runs a cancel crosses to the other worker.
      const byWorker: pg.Client[][] = [[], []];
      for (let i = 0; i < 64 && byWorker.some((w) => w.length < PER_WORKER); i++) {
        const c = await connect();
        clients.push(c);
        byWorker[workerOf(c)]!.push(c);
      }
      assert.ok(
        byWorker.every((w) => w.length >= PER_WORKER),
        'too few clients reached one of the workers',
      );
      const sleepers = Array.from({ length: PER_WORKER }, (_, i) => [byWorker[0]![i]!, byWorker[1]![i]!]).flat();
      const running = sleepers.map((c) =>
        c.query('SELECT pg_sleep(30)').then(
          () => null,
          (err: { code?: string }) => err.code,
        ),
      );
      await waitFor(
        'the queries on the server',
        async () => (await runningNow(t.primary, 'SELECT pg_sleep(30)')) === sleepers.length,
      );
      instance.child.kill('SIGTERM');
      // A login the worker took before the signal reached it ends with the drain (57P01).
      await waitFor('a login refused with 57P03', () =>
        connect().then(
          (c) => void c.end(),
          (err: { code?: string }) => err.code === '57P03',
        ),
      );
      for (const c of sleepers) {
        const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
        await sendCancelRequest('127.0.0.1', instance.port, processID, secretKey);
      }
      assert.deepEqual(await Promise.all(running), Array(sleepers.length).fill('57014'));
      await waitFor('the primary to exit', () => instance.child.exitCode !== null, 10_000);
      assert.equal(instance.child.exitCode, 0);
    } finally {
      for (const c of clients) c.end().catch(() => {});
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
    }
  });

  test('a SIGKILLed primary makes its workers drain and exit', { timeout: 60_000 }, async () => {
    const { own, instance } = await spawnWithWorkers(['shutdown_timeout = 1']);
    try {
      p = instance;
      await allWorkersStarted(p);
      const pids = [...workerPids().values()];
      instance.child.kill('SIGKILL');
      await waitFor(
        'the workers to exit',
        () =>
          pids.every((pid) => {
            try {
              process.kill(pid, 0);
              return false;
            } catch {
              return true;
            }
          }),
        10_000,
      );
      assert.equal(logLines().filter((l) => l['msg'] === 'the primary is gone; draining and exiting').length, 2);
    } finally {
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
    }
  });

  test("the console's SHUTDOWN stops every worker and the primary", { timeout: 60_000 }, async () => {
    const { own, instance } = await spawnWithWorkers([`admin_users = ["${t.scramUser.user}"]`]);
    try {
      p = instance;
      await allWorkersStarted(p);
      const pids = [...workerPids().values()];
      await consoleCommand('SHUTDOWN');
      await waitFor('the primary to exit', () => instance.child.exitCode !== null, 15_000);
      assert.equal(instance.child.exitCode, 0);
      for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} still runs`);
      assert.ok(
        !logLines().some((l) => l['msg'] === 'primary: worker exited; restarting it'),
        'a worker was restarted',
      );
    } finally {
      await instance.stop('SIGKILL');
      rmSync(own, { recursive: true, force: true });
    }
  });
});
