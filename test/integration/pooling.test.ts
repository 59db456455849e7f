import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import postgres from 'postgres';
import { waitFor } from '../support/wait.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { psql } from '../support/psql.js';
import { rawConnect, sendCancelRequest } from '../support/raw-client.js';
import { freePorts } from '../support/free-ports.js';
import { bind, errorCodes, execute, parse, sync, WireClient } from '../support/pipeline.js';
import { flush } from '../../src/protocol/encode.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { selfSignedCertificate } from '../support/certificate.js';
import { freezePostmaster } from '../support/faults.js';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../../src/config/types.js';
import type { ServerConnection } from '../../src/pool/server-connection.js';

const t = currentTopology();

/** Server backends the SCRAM test user holds on the primary's test database (pgtide's own
 *  connections: the transaction pooling tests name them with server_application_name). */
async function backendsOfTestUser(): Promise<{ state: string; query: string }[]> {
  return sqlOn(
    t.primary,
    `SELECT state, query FROM pg_catalog.pg_stat_activity
      WHERE usename = $1 AND datname = $2 AND backend_type = 'client backend' AND application_name = $3`,
    [t.scramUser.user, t.database, 'pgtide'],
  );
}

describe('transaction pooling', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { default_pool_size: 10, server_application_name: 'pgtide' });
    await sqlOn(t.primary, 'CREATE TABLE IF NOT EXISTS pooling_rows (id int, note text)');
    await sqlOn(t.primary, `GRANT ALL ON pooling_rows TO ${t.scramUser.user}`);
  });
  after(() => p.stop());

  test('200 clients x 20 transactions share at most 10 server connections', async () => {
    let maxBackends = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxBackends = Math.max(maxBackends, (await backendsOfTestUser()).length);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const clients = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const c = new pg.Client(p.pgConfig());
        await c.connect();
        return c;
      }),
    );
    let done = 0;
    await Promise.all(
      clients.map(async (c, i) => {
        for (let n = 0; n < 20; n++) {
          await c.query('BEGIN');
          const { rows } = await c.query('SELECT $1::int * 2 AS v, pg_catalog.pg_backend_pid() AS pid', [i * 100 + n]);
          assert.equal(rows[0].v, (i * 100 + n) * 2);
          await c.query('COMMIT');
          done++;
        }
      }),
    );
    sampling = false;
    await sampler;
    await Promise.all(clients.map((c) => c.end()));
    assert.equal(done, 4000);
    assert.ok(maxBackends <= 10, `PostgreSQL saw ${maxBackends} server connections`);
    assert.ok(maxBackends >= 2, 'the load should have used several server connections');
    const pool = [...p.pgtide.context.pools.all()][0]!;
    assert.ok(pool.servers.size <= 10);
  });

  test('a client killed mid-transaction leaves no row and no idle-in-transaction session', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    await c.query('BEGIN');
    await c.query(`INSERT INTO pooling_rows VALUES (1, 'killed')`);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    c.on('error', () => {});
    await waitFor('the orphaned transaction to be rolled back', async () => {
      const busy = (await backendsOfTestUser()).filter((b) => b.state !== 'idle');
      return busy.length === 0;
    });
    const rows = await sqlOn(t.primary, `SELECT count(*)::int AS n FROM pooling_rows WHERE note = 'killed'`);
    assert.equal(rows[0].n, 0);
  });

  // PostgreSQL rolls back the implicit transaction of a client that never sent its Sync; the Sync
  // pgtide sends to bring the server back to idle would commit it.
  test('a client gone before the Sync of its extended-protocol batch leaves no row', async () => {
    await sqlOn(t.primary, `DELETE FROM pooling_rows WHERE note = 'unsynced'`);
    const c = await WireClient.connect(p.wireLogin());
    c.send(parse('', `INSERT INTO pooling_rows VALUES (2, 'unsynced')`), bind('', ''), execute());
    await new Promise((r) => setTimeout(r, 200));
    (c as unknown as { socket: { destroy(): void } }).socket.destroy();
    await waitFor('the orphaned batch to end', async () => {
      const busy = (await backendsOfTestUser()).filter((b) => b.state !== 'idle');
      return busy.length === 0;
    });
    const rows = await sqlOn(t.primary, `SELECT count(*)::int AS n FROM pooling_rows WHERE note = 'unsynced'`);
    assert.equal(rows[0].n, 0);
    const next = new pg.Client(p.pgConfig());
    await next.connect();
    assert.deepEqual((await next.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await next.end();
  });

  test('a client killed mid-result does not hand the rest of its result to the next client', async () => {
    const one = await startPgtide(t, { default_pool_size: 1 });
    try {
      const c = new pg.Client(one.pgConfig());
      await c.connect();
      c.on('error', () => {});
      const big = c.query(`SELECT repeat('x', 1000) FROM pg_catalog.generate_series(1, 200000)`).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      await big;
      const next = new pg.Client(one.pgConfig());
      await next.connect();
      for (let i = 0; i < 5; i++) {
        const { rows } = await next.query('SELECT $1::text AS v', [`after-${i}`]);
        assert.deepEqual(rows, [{ v: `after-${i}` }]);
      }
      await next.end();
    } finally {
      await one.stop();
    }
  });

  test('cancelling pg_sleep(10) ends within 1 s with 57014', async () => {
    const sql = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    // Connect first: postgres.js answers a cancel of a query it has not sent yet by itself.
    await sql`SELECT 1`;
    const started = Date.now();
    const q = sql`SELECT pg_catalog.pg_sleep(10)`;
    const outcome = q.then(
      () => null,
      (err: { code?: string }) => err,
    );
    setTimeout(() => q.cancel(), 200);
    const err = await outcome;
    assert.equal(err?.code, '57014');
    assert.match(String((err as { message?: string }).message), /canceling statement due to user request/);
    assert.ok(Date.now() - started < 1200, `took ${Date.now() - started} ms`);
    const [after] = await sql`SELECT 1 AS one`;
    assert.equal(after!.one, 1);
    await sql.end();
  });

  // Found by pgJDBC's StatementTest.testShortQueryTimeout: pgtide closed a CancelRequest's
  // connection at once, which drivers take as "the backend was signalled"; the cancel, still
  // on its way, then reached the client's next statement in its transaction. The connection
  // is now closed once the server closed its own cancel connection: a frozen postmaster,
  // which takes the request and never answers, holds it open.
  test('a cancel request is answered (its connection closed) only once the server took the cancel', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    await c.query('BEGIN');
    const sleep = c.query('SELECT pg_catalog.pg_sleep(10)').then(
      () => null,
      (err: { code?: string }) => err,
    );
    await new Promise((r) => setTimeout(r, 300));
    const thaw = freezePostmaster(t.primary);
    let closedWhileFrozen: boolean;
    try {
      let closed = false;
      const cancel = sendCancelRequest(p.host, p.port, processID, secretKey).then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 800));
      closedWhileFrozen = closed;
      thaw();
      await cancel;
    } finally {
      thaw();
    }
    assert.equal(closedWhileFrozen, false, 'the cancel connection was closed before the server took the cancel');
    assert.equal((await sleep)?.code, '57014');
    await c.query('ROLLBACK');
    const { rows } = await c.query('SELECT 1 AS one');
    assert.deepEqual(rows, [{ one: 1 }]);
    await c.end();
  });

  // asyncpg's executemany() sends its Sync only after the last row's Bind and Execute: a timeout
  // cancels while the batch is still open, and PostgreSQL cancels the statement running in it.
  test('a cancel of a batch not ended by a Sync yet cancels its running statement', async () => {
    const c = await WireClient.connect(p.wireLogin());
    try {
      const key = c.keyData!.body;
      c.send(parse('', 'SELECT pg_catalog.pg_sleep(10)'), bind('', ''), execute(), flush());
      await new Promise((r) => setTimeout(r, 300));
      await sendCancelRequest(p.host, p.port, key.readUInt32BE(0), key.subarray(4));
      c.send(sync());
      assert.deepEqual(errorCodes(await c.untilReady(1, 3000)), ['57014']);
    } finally {
      await c.close();
    }
  });

  // postgres.js's own suite pipelines a query behind another and cancels it as soon as the first
  // ends: through the pool the second then waits for a server, where a direct connection runs it.
  test('a cancel of a query still waiting for a server cancels it once it runs', async () => {
    const one = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
    const holder = new pg.Client(one.pgConfig());
    const sql = postgres({ ...one.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    try {
      await holder.connect();
      await sql`SELECT 1`;
      await holder.query('BEGIN');
      const q = sql`SELECT pg_catalog.pg_sleep(5)`;
      const outcome = q.then(
        () => null,
        (err: { code?: string }) => err,
      );
      await new Promise((r) => setTimeout(r, 200));
      await q.cancel();
      const started = Date.now();
      await holder.query('COMMIT');
      const err = await outcome;
      assert.equal(err?.code, '57014');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      const [after] = await sql`SELECT 1 AS one`;
      assert.equal(after!.one, 1);
    } finally {
      await Promise.all([sql.end(), holder.end()]);
      await one.stop();
    }
  });

  type Waiter = pg.Client & { processID: number; secretKey: number };
  /** A pgtide whose one server `holder` holds in a transaction (BEGIN), and a `waiter` client of
   *  it, whose next statement waits for that server; all stopped after `run`. */
  async function withPoolHeld(run: (one: RunningPgtide, holder: pg.Client, waiter: Waiter) => Promise<void>) {
    const one = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
    const holder = new pg.Client(one.pgConfig());
    const waiter = new pg.Client(one.pgConfig()) as Waiter;
    try {
      await Promise.all([holder.connect(), waiter.connect()]);
      await holder.query('BEGIN');
      await run(one, holder, waiter);
    } finally {
      await Promise.all([waiter.end(), holder.end()]);
      await one.stop();
    }
  }
  const queued = (one: RunningPgtide) =>
    waitFor('the statement queued', () => [...one.pgtide.context.pools.all()].some((pool) => pool.waitingCount > 0));

  // The cancel goes to the server right after the query's bytes: a server still reading them
  // ignores it (PostgreSQL takes no cancel while it reads a command), and the query ran to its end.
  // Its CancelRequest's connection stays open until then: closed at once, it told the driver
  // the statement was cancelled while the cancel had not left pgtide yet.
  test('a cancel of a long query text still waiting for a server cancels it once it runs, and is answered then', async () => {
    await withPoolHeld(async (one, holder, waiter) => {
      const outcome = waiter.query(`SELECT pg_catalog.pg_sleep(5) /* ${'x'.repeat(16 << 20)} */`).then(
        () => null,
        (err: { code?: string }) => err,
      );
      await new Promise((r) => setTimeout(r, 500));
      let closed = false;
      const cancel = sendCancelRequest(one.host, one.port, waiter.processID, waiter.secretKey).then(
        () => (closed = true),
      );
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(closed, false, 'the cancel connection was closed while its query still waited for a server');
      const started = Date.now();
      await holder.query('COMMIT');
      await cancel;
      const err = await outcome;
      assert.equal(err?.code, '57014');
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    });
  });

  // Found by a black-box run: a cancel of a query waiting for a server was acknowledged, the
  // query sent once a server came free and the cancel after it, and an INSERT, quicker than
  // the cancel, committed. On a direct connection the query would be running: the cancel ends it.
  test('a cancel of a statement waiting for a server answers 57014 at once, and the statement never runs', async () => {
    await withPoolHeld(async (one, holder, waiter) => {
      for (const [note, run] of [
        ['cancelled simple', () => waiter.query(`INSERT INTO pooling_rows VALUES (3, 'cancelled simple')`)],
        ['cancelled extended', () => waiter.query('INSERT INTO pooling_rows VALUES (3, $1)', ['cancelled extended'])],
      ] as const) {
        const outcome = run().then(
          () => null,
          (err: { code?: string }) => err,
        );
        await queued(one);
        const started = Date.now();
        await sendCancelRequest(one.host, one.port, waiter.processID, waiter.secretKey);
        // Bounded: the holder's COMMIT below is what would free a server for a query still queued.
        const err = await Promise.race([
          outcome,
          new Promise<{ code: string }>((r) => setTimeout(() => r({ code: 'no answer within 3 s' }), 3000)),
        ]);
        assert.equal(err?.code, '57014', note);
        assert.ok(Date.now() - started < 1000, `${note}: took ${Date.now() - started} ms`);
        // The client goes on, and its next statement waits for the server as any.
        const next = waiter.query('SELECT 1 AS one');
        await new Promise((r) => setTimeout(r, 100));
        await holder.query('COMMIT');
        assert.deepEqual((await next).rows, [{ one: 1 }]);
        await holder.query('BEGIN');
      }
      await holder.query('COMMIT');
      const rows = await sqlOn(t.primary, `SELECT count(*)::int AS n FROM pooling_rows WHERE note LIKE 'cancelled%'`);
      assert.equal(rows[0].n, 0);
    });
  });

  test('a cancelled SET waiting for a server: applied if and only if the server ran it', async () => {
    // Its scan already noted the setting for the client's next server: dropping it unseen would
    // leave pgtide applying a SET the client was told failed.
    await withPoolHeld(async (one, holder, waiter) => {
      const outcome = waiter.query(`SET application_name = 'cancelled_set'`).then(
        () => null,
        (err: { code?: string }) => err,
      );
      await queued(one);
      const cancel = sendCancelRequest(one.host, one.port, waiter.processID, waiter.secretKey);
      await new Promise((r) => setTimeout(r, 200));
      await holder.query('COMMIT');
      await cancel;
      const err = await outcome;
      const { rows } = await waiter.query('SHOW application_name');
      // Cancelled on the server (57014, not set) or run before the cancel reached it (set).
      assert.equal(rows[0].application_name === 'cancelled_set', err === null, JSON.stringify({ err, rows }));
    });
  });

  test('a stale cancel key never cancels another client', async () => {
    const sql = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    const victim = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    const q = sql`SELECT 1`;
    await q;
    const running = victim`SELECT pg_catalog.pg_sleep(0.5) AS slept`;
    await new Promise((r) => setTimeout(r, 100));
    await q.cancel(); // the first client's query already finished
    const rows = await running;
    assert.equal(rows.length, 1);
    await Promise.all([sql.end(), victim.end()]);
  });

  test('COPY IN and COPY OUT round-trip 100k rows', async () => {
    const sql = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    await sql`DROP TABLE IF EXISTS copy_rows`;
    await sql`CREATE TABLE copy_rows (id int, label text)`;
    const writable = await sql`COPY copy_rows FROM STDIN`.writable();
    const lines: string[] = [];
    for (let i = 1; i <= 100_000; i++) lines.push(`${i}\trow-${i}\n`);
    await new Promise<void>((resolve, reject) => {
      writable.on('error', reject);
      writable.on('finish', resolve);
      for (let i = 0; i < lines.length; i += 5000) writable.write(lines.slice(i, i + 5000).join(''));
      writable.end();
    });
    const [count] = await sql`SELECT count(*)::int AS n, sum(id)::bigint AS s FROM copy_rows`;
    assert.equal(count!.n, 100_000);
    assert.equal(BigInt(count!.s), 5_000_050_000n);
    await sql.end();
    // COPY OUT through psql: postgres.js hangs on the next query after a COPY TO readable,
    // even directly against PostgreSQL.
    const out = await psql(t, { host: p.host, port: p.port }, 'COPY copy_rows TO STDOUT');
    assert.equal(out.split('\n').filter(Boolean).length, 100_000);
    assert.ok(out.includes('99999\trow-99999\n'));
    await sqlOn(t.primary, 'DROP TABLE copy_rows');
  });

  test('psql runs a multi-statement script through pgtide', async () => {
    const out = await psql(t, { host: p.host, port: p.port }, 'SELECT 6 * 7; SELECT current_user;');
    assert.deepEqual(out.trim().split('\n'), ['42', t.scramUser.user]);
  });

  test('a server lost mid-query gives the client 08006 and the pool replaces it', async () => {
    const c = new pg.Client(p.pgConfig());
    const errors: { code?: string }[] = [];
    c.on('error', (e) => errors.push(e as { code?: string }));
    await c.connect();
    const running = c.query('SELECT pg_catalog.pg_sleep(5)').then(
      () => null,
      (e: { code?: string }) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    const session = [...p.pgtide.context.clients].find((s) => s.server);
    assert.ok(session?.server, 'the sleeping client should hold a server');
    // The session sees a LinkedServer; the test reaches the real connection's socket under it.
    (session.server as ServerConnection).socket.destroy();
    const err = await running;
    assert.equal(err?.code, '08006');
    const next = new pg.Client(p.pgConfig());
    await next.connect();
    assert.equal((await next.query('SELECT 5 AS five')).rows[0].five, 5);
    await next.end();
  });

  test('server errors and notices reach the client unchanged', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.query(`DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$`);
    assert.deepEqual(notices, ['hello 42']);
    await assert.rejects(
      c.query('SELECT 1/0'),
      (err: { code?: string; message: string }) => err.code === '22012' && /division by zero/.test(err.message),
    );
    await assert.rejects(c.query('SELECT * FROM no_such_table'), (err: { code?: string }) => err.code === '42P01');
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
    await c.end();
  });
});

describe('limits', { timeout: 60_000 }, () => {
  test('clients above max_client_conn get 53300 at once', async () => {
    const p = await startPgtide(t, { max_client_conn: 3 });
    try {
      const held = await Promise.all(
        [1, 2, 3].map(async () => {
          const c = new pg.Client(p.pgConfig());
          await c.connect();
          return c;
        }),
      );
      const extra = new pg.Client(p.pgConfig());
      await assert.rejects(extra.connect(), (err: { code?: string }) => err.code === '53300');
      // One that ends its side before its startup packet is closed at once, not held until the refusal's timeout.
      const silent = await rawConnect(p.port);
      const started = Date.now();
      await new Promise((resolve) => {
        silent.once('close', resolve);
        silent.end();
      });
      assert.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
      await Promise.all(held.map((c) => c.end()));
    } finally {
      await p.stop();
    }
  });

  // libpq's default sslmode=prefer opens with an SSLRequest: the refusal must come after it.
  // Debian's python3 (python3-psycopg), not whichever python3 is first on PATH.
  for (const withTls of [false, true]) {
    test(`the max_client_conn refusal reaches psql and psycopg with sslmode=prefer, and node-postgres with sslnegotiation=direct (client TLS ${withTls ? 'on' : 'off'})`, async (ctx) => {
      const tlsOptions: Partial<Config> = {};
      if (withTls) {
        const dir = mkdtempSync(join(tmpdir(), 'pgtide-refusal-tls-'));
        ctx.after(() => rmSync(dir, { recursive: true, force: true }));
        const { key, cert } = selfSignedCertificate(dir);
        Object.assign(tlsOptions, {
          client_tls_sslmode: 'prefer',
          client_tls_key_file: key,
          client_tls_cert_file: cert,
        });
      }
      const p = await startPgtide(t, { max_client_conn: 1, ...tlsOptions });
      const holder = new pg.Client(p.pgConfig());
      try {
        await holder.connect();
        const refused = await psql(t, { host: p.host, port: p.port, sslmode: 'prefer' }, 'SELECT 1').then(
          () => assert.fail('psql was let in beyond max_client_conn'),
          (err: { stderr: string }) => err.stderr,
        );
        assert.match(refused, /no more connections allowed \(max_client_conn = 1\)/);
        assert.doesNotMatch(refused, /SSL exchange/);
        const conninfo = `host=${p.host} port=${p.port} user=${t.scramUser.user} password=${t.scramUser.password} dbname=${t.database} sslmode=prefer`;
        const script =
          'import sys, psycopg\ntry:\n    psycopg.connect(sys.argv[1])\nexcept psycopg.OperationalError as e:\n    print(e.sqlstate, str(e).strip().splitlines()[-1])';
        const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', script, conninfo], { timeout: 20_000 });
        // psycopg 3.1 reports no sqlstate for a failed connect; libpq's text carries the FATAL.
        assert.match(stdout, /FATAL: +no more connections allowed \(max_client_conn = 1\)/);
        assert.doesNotMatch(stdout, /SSL exchange/);
        if (withTls) {
          // A TLS handshake with no SSLRequest before it (sslnegotiation=direct) is refused over TLS too.
          const direct = new pg.Client(p.pgConfig({ ssl: { rejectUnauthorized: false }, sslnegotiation: 'direct' }));
          await assert.rejects(direct.connect(), (err: { code?: string }) => err.code === '53300');
        }
      } finally {
        await holder.end();
        await p.stop();
      }
    });
  }

  // PgBouncer lets its console in beyond max_client_conn: a monitor (pgbouncer_exporter) logs in
  // over TCP, and is needed most when clients fill the instance.
  test('the console is let in over TCP beyond max_client_conn, silent sockets there or not; other clients are still refused (53300)', async () => {
    const p = await startPgtide(t, { max_client_conn: 1, admin_users: [t.scramUser.user] });
    const holder = new pg.Client(p.pgConfig());
    const consoles = [0, 1].map(() => new pg.Client(p.pgConfig({ database: 'pgbouncer' })));
    // A monitor that hangs, a balancer's probe: connections that never send a startup packet.
    const silent: net.Socket[] = [];
    try {
      await holder.connect();
      const refused = new pg.Client(p.pgConfig());
      await assert.rejects(refused.connect(), (err: { code?: string }) => err.code === '53300');
      for (let i = 0; i < 30; i++) {
        const socket = net.connect(p.port, p.host);
        socket.on('error', () => {});
        silent.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
      }
      for (const c of consoles) {
        await c.connect();
        assert.ok((await c.query('SHOW POOLS')).rows.length > 0);
      }
      const stillRefused = new pg.Client(p.pgConfig());
      await assert.rejects(stillRefused.connect(), (err: { code?: string; message?: string }) => {
        return err.code === '53300' && /no more connections allowed \(max_client_conn = 1\)/.test(err.message ?? '');
      });
    } finally {
      for (const socket of silent) socket.destroy();
      await Promise.all([holder, ...consoles].map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  });

  test('a database that does not exist gets 3D000 and leaves no pool behind', async () => {
    const p = await startPgtide(t);
    try {
      for (let i = 0; i < 5; i++) {
        const c = new pg.Client(p.pgConfig({ database: `no_such_db_${i}` }));
        await assert.rejects(c.connect(), (err: { code?: string }) => err.code === '3D000');
      }
      assert.equal([...p.pgtide.context.pools.all()].length, 0);
    } finally {
      await p.stop();
    }
  });

  // As PgBouncer, whose query_wait_timeout covers a login waiting for its pool's first server:
  // directly the client would be refused at once, through pgtide it waited client_login_timeout
  // (60 s) and was then told its login had not completed.
  test('query_wait_timeout ends a login that waits for the first server of an unreachable backend', async () => {
    const [closedPort] = (await freePorts(1)) as [number];
    const p = await startPgtide(t, {
      query_wait_timeout: 1,
      backends: [{ name: 'primary', host: '127.0.0.1', port: closedPort, weight: 1, role: 'primary' }],
    });
    try {
      const c = new pg.Client(p.pgConfig({ connectionTimeoutMillis: 10_000 }));
      c.on('error', () => {});
      const started = Date.now();
      await assert.rejects(
        c.connect(),
        (err: { code?: string; message: string }) => err.code === '57014' && /query_wait_timeout/.test(err.message),
      );
      assert.ok(Date.now() - started < 5000);
    } finally {
      await p.stop();
    }
  });

  test('query_wait_timeout gives a queued client 57014 when no server frees up', async () => {
    const p = await startPgtide(t, { default_pool_size: 1, query_wait_timeout: 0.5 });
    try {
      const holder = new pg.Client(p.pgConfig());
      await holder.connect();
      await holder.query('BEGIN');
      const waiter = new pg.Client(p.pgConfig());
      waiter.on('error', () => {});
      await waiter.connect();
      const started = Date.now();
      await assert.rejects(
        waiter.query('SELECT 1'),
        (err: { code?: string; message: string }) => err.code === '57014' && /query_wait_timeout/.test(err.message),
      );
      assert.ok(Date.now() - started < 2000);
      await holder.query('COMMIT');
      await holder.end();
    } finally {
      await p.stop();
    }
  });

  test('idle_transaction_timeout closes a client idle in a transaction and frees its server', async () => {
    const p = await startPgtide(t, { default_pool_size: 1, idle_transaction_timeout: 0.5 });
    try {
      const idle = new pg.Client(p.pgConfig());
      idle.on('error', () => {});
      await idle.connect();
      await idle.query('BEGIN');
      const other = new pg.Client(p.pgConfig());
      await other.connect();
      const { rows } = await other.query('SELECT 7 AS seven');
      assert.equal(rows[0].seven, 7);
      await assert.rejects(idle.query('SELECT 1'));
      await other.end();
    } finally {
      await p.stop();
    }
  });

  test('session pooling keeps one server per client and resets it afterwards', async () => {
    const p = await startPgtide(t, { pool_mode: 'session', default_pool_size: 1 });
    try {
      const a = new pg.Client(p.pgConfig());
      await a.connect();
      await a.query(`SET application_name = 'session_a'`);
      const pid1 = (await a.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid;
      const pid2 = (await a.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid;
      assert.equal(pid1, pid2);
      await a.end();
      const b = new pg.Client(p.pgConfig());
      await b.connect();
      const { rows } = await b.query(
        'SELECT pg_catalog.current_setting($1) AS app, pg_catalog.pg_backend_pid() AS pid',
        ['application_name'],
      );
      assert.equal(rows[0].pid, pid1);
      assert.notEqual(rows[0].app, 'session_a', 'DISCARD ALL must have reset the session');
      await b.end();
    } finally {
      await p.stop();
    }
  });

  // Found by a helper: DISCARD ALL leaves the random seed, and the next client's random() gave
  // the first value after the last client's setseed(0.5) (0.985…), every time.
  test("session pooling closes a server whose client set the random seed: the next client's random() is its own", async () => {
    const p = await startPgtide(t, { pool_mode: 'session', default_pool_size: 1 });
    try {
      const pidOf = async (c: pg.Client) => (await c.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid;
      const a = new pg.Client(p.pgConfig());
      await a.connect();
      const seeded = await pidOf(a);
      await a.query('SELECT pg_catalog.setseed(0.5)');
      const first = (await a.query('SELECT pg_catalog.random() AS r')).rows[0].r;
      await a.query('SELECT pg_catalog.setseed(0.5)');
      await a.end();
      const b = new pg.Client(p.pgConfig());
      await b.connect();
      assert.notEqual(await pidOf(b), seeded, 'a new server connection');
      assert.notEqual((await b.query('SELECT pg_catalog.random() AS r')).rows[0].r, first);
      await b.end();
    } finally {
      await p.stop();
    }
  });

  test('statement pooling refuses transaction blocks', async () => {
    const p = await startPgtide(t, { pool_mode: 'statement' });
    try {
      const c = new pg.Client(p.pgConfig());
      const errors: { code?: string }[] = [];
      c.on('error', (err) => errors.push(err as { code?: string }));
      await c.connect();
      assert.equal((await c.query('SELECT 3 AS three')).rows[0].three, 3);
      await c.query('BEGIN').catch(() => undefined);
      await waitFor('the client to be closed with 0A000', async () => errors.some((e) => e.code === '0A000'));
    } finally {
      await p.stop();
    }
  });
});
