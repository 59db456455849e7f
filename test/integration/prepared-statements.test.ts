// Issue #4: protocol-level named prepared statements work in transaction pooling as they do on
// a dedicated connection, whichever pooled server runs each transaction.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';
import { currentTopology, sqlOn } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { DROPPED_PORTAL } from '../../src/proxy/session/unnamed-portal.js';
import {
  WireClient,
  bind,
  close,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  holdServer,
  normalise,
  onEveryServer,
  parse,
  query,
  sync,
  type Message,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();
const run = promisify(execFile);
const POOL_SIZE = 2;

const direct: pg.ClientConfig = {
  host: t.primary.host,
  port: t.primary.port,
  user: t.scramUser.user,
  password: t.scramUser.password,
  database: t.database,
};
const isCode = (code: string) => (e: { code?: string }) => e.code === code;

describe('named prepared statements in transaction pooling', { timeout: 60_000 }, () => {
  let p: RunningPgtide;

  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE });
  });
  after(async () => {
    await p.stop();
  });

  test('node-postgres: 20 clients × 50 named queries on 2 servers, shared and private names, no errors', {
    timeout: 20_000,
  }, async () => {
    const errors: string[] = [];
    const SHARED = 'SELECT $1::int + 1 AS v';
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const c = new pg.Client(p.pgConfig());
        await c.connect();
        try {
          // The same name everywhere, once with the same text (deduplicated on the servers) and
          // once with a text of its own per client (must never be confused with another's).
          const statements = [
            { name: 'ps_shared', text: SHARED, expect: (n: number) => String(n + 1) },
            { name: 'ps_own', text: `SELECT $1::text || '-c${i}' AS v`, expect: (n: number) => `${n}-c${i}` },
            {
              name: `ps_c${i}`,
              text: `SELECT ($1::int * ${i + 2})::text AS v`,
              expect: (n: number) => String(n * (i + 2)),
            },
          ];
          for (let round = 0; round < 50; round++) {
            const s = statements[round % statements.length]!;
            const n = i * 1000 + round;
            const inTransaction = round % 5 === 4;
            try {
              if (inTransaction) await c.query('BEGIN');
              const { rows } = await c.query({ name: s.name, text: s.text, values: [n] });
              if (inTransaction) await c.query('COMMIT');
              if (String(rows[0]?.v) !== s.expect(n)) errors.push(`client ${i} ${s.name}(${n}) gave ${rows[0]?.v}`);
            } catch (err) {
              errors.push(`client ${i} ${s.name}: ${(err as Error).message}`);
              if (inTransaction) await c.query('ROLLBACK').catch(() => undefined);
            }
          }
        } finally {
          await c.end();
        }
      }),
    );
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} failed queries`);
    // Twenty clients prepared the shared text: each server holds it at most once (its own list,
    // pg_prepared_statement(): the view would show the reading client's).
    const perServer = await onEveryServer<{ n: number }>(
      p.pgConfig(),
      POOL_SIZE,
      `SELECT count(*)::int AS n FROM pg_catalog.pg_prepared_statement() WHERE statement = '${SHARED}'`,
    );
    for (const [pid, rows] of perServer)
      assert.ok(rows[0]!.n <= 1, `server ${pid} prepared the shared text ${rows[0]!.n} times`);
  });

  test('postgres.js prepare: true: 20 clients, pipelined queries, 2 servers, no errors', {
    timeout: 20_000,
  }, async () => {
    const errors: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const sql = postgres({
          host: p.host,
          port: p.port,
          user: t.scramUser.user,
          pass: t.scramUser.password,
          database: t.database,
          max: 1,
          prepare: true,
          onnotice: () => undefined,
        });
        try {
          for (let batch = 0; batch < 5; batch++) {
            // One connection with ten queries in flight: postgres.js pipelines them.
            await Promise.all(
              Array.from({ length: 10 }, async (_, k) => {
                const n = i * 100 + batch * 10 + k;
                try {
                  const rows =
                    k % 2 === 0
                      ? await sql`SELECT ${n}::int * 2 AS v, ${`c${i}`}::text AS who`
                      : await sql`SELECT ${String(n)}::text || '!' AS v, ${`c${i}`}::text AS who`;
                  const want = k % 2 === 0 ? n * 2 : `${n}!`;
                  if (rows[0]?.v !== want || rows[0]?.who !== `c${i}`)
                    errors.push(`client ${i} query ${n} gave ${JSON.stringify(rows[0])}`);
                } catch (err) {
                  errors.push(`client ${i} query ${n}: ${(err as Error).message}`);
                }
              }),
            );
          }
        } finally {
          await sql.end({ timeout: 5 });
        }
      }),
    );
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} failed queries`);
  });

  test('ALTER TABLE … TYPE under a statement prepared on both servers: its executions fail with 0A000 on either server, as on PostgreSQL', {
    timeout: 20_000,
  }, async () => {
    const admin = new pg.Client(direct);
    await admin.connect();
    try {
      for (const table of ['ps_alter_direct', 'ps_alter_pooled']) {
        await admin.query(`DROP TABLE IF EXISTS ${table}`);
        await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
        await admin.query(`INSERT INTO ${table} VALUES (1, 10)`);
      }
      const alter = (table: string) => admin.query(`ALTER TABLE ${table} ALTER COLUMN v TYPE text USING 'new-' || v`);

      // What PostgreSQL itself does: the statement's result changed shape, so every execution
      // fails until the client prepares it again. pgtide once hid this, running the statement
      // afresh, but a client that keeps the first description (PHP's PDO through libpq sends
      // the same messages as node-postgres) then decoded rows of the new shape with the old one.
      const d = new pg.Client(direct);
      await d.connect();
      const directQuery = { name: 'ps_alter', text: 'SELECT * FROM ps_alter_direct WHERE id = $1', values: [1] };
      for (let i = 0; i < 3; i++) assert.equal((await d.query(directQuery)).rows[0].v, 10);
      await alter('ps_alter_direct');
      await assert.rejects(d.query(directQuery), isCode('0A000'));
      await d.end();

      const c = new pg.Client(p.pgConfig());
      await c.connect();
      const pooledQuery = {
        name: 'ps_alter',
        text: 'SELECT t.*, pg_catalog.pg_backend_pid() AS pid FROM ps_alter_pooled t WHERE id = $1',
        values: [1],
      };
      /** Runs the query with the server it ran on last held by another client. */
      const elsewhere = async (pid: number) => {
        const release = await holdServer(p.pgConfig(), pid, POOL_SIZE);
        try {
          return (await c.query(pooledQuery)).rows[0];
        } finally {
          await release();
        }
      };
      const first = (await c.query(pooledQuery)).rows[0];
      assert.equal(first.v, 10);
      const second = await elsewhere(first.pid);
      assert.equal(second.v, 10);
      assert.notEqual(second.pid, first.pid, 'the statement must be prepared on both servers');

      await alter('ps_alter_pooled');
      await assert.rejects(c.query(pooledQuery), isCode('0A000'));
      await assert.rejects(elsewhere(second.pid), isCode('0A000'));
      await assert.rejects(elsewhere(first.pid), isCode('0A000'));
      // Prepared again under another name, it runs with the new shape.
      const again = (await c.query({ ...pooledQuery, name: 'ps_alter_again' })).rows[0];
      assert.equal(again.v, 'new-10');
      await c.end();
    } finally {
      await admin.query('DROP TABLE IF EXISTS ps_alter_direct, ps_alter_pooled');
      await admin.end();
    }
  });

  test('node-postgres: a named statement used while its table is dropped (42P01) runs again once the table is made again, as on PostgreSQL', {
    timeout: 20_000,
  }, async () => {
    // node-postgres describes portals, never its statements. The 42P01 of a Bind made a new
    // version of the shared statement, of no known shape, and a client told only a portal's
    // shape counted as holding an old one for good: 0A000 at every later Bind, where PostgreSQL
    // re-plans the statement against the new table and, its columns the same, runs it.
    const admin = new pg.Client(direct);
    await admin.connect();
    const steps = async (config: pg.ClientConfig, table: string): Promise<string[]> => {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.query(`CREATE TABLE ${table} (id int, v int)`);
      await admin.query(`INSERT INTO ${table} VALUES (1, 10)`);
      const c = new pg.Client(config);
      await c.connect();
      const q = { name: 'ps_recreate', text: `SELECT v FROM ${table} WHERE id = $1`, values: [1] };
      const outcome = async (): Promise<string> => {
        try {
          return JSON.stringify((await c.query(q)).rows);
        } catch (e) {
          return (e as { code?: string }).code ?? String(e);
        }
      };
      const seen = [await outcome()];
      await admin.query(`DROP TABLE ${table}`);
      seen.push(await outcome());
      await admin.query(`CREATE TABLE ${table} (id int, v int)`);
      await admin.query(`INSERT INTO ${table} VALUES (1, 11)`);
      seen.push(await outcome(), await outcome());
      // A column of another type: PostgreSQL's own 0A000, through pgtide too.
      await admin.query(`ALTER TABLE ${table} ALTER COLUMN v TYPE text`);
      seen.push(await outcome());
      await c.end();
      return seen;
    };
    try {
      const expected = ['[{"v":10}]', '42P01', '[{"v":11}]', '[{"v":11}]', '0A000'];
      assert.deepEqual(await steps(direct, 'ps_recreate_direct'), expected);
      assert.deepEqual(await steps(p.pgConfig(), 'ps_recreate_pooled'), expected);
    } finally {
      await admin.query('DROP TABLE IF EXISTS ps_recreate_direct, ps_recreate_pooled');
      await admin.end();
    }
  });
});

describe('pgbench -M prepared through pgtide', { timeout: 60_000 }, () => {
  const BENCH_DB = 'pgtide_ps_bench';
  let p: RunningPgtide;

  before(async () => {
    await sqlOn(t.primary, `DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`, [], 'postgres');
    await sqlOn(t.primary, `CREATE DATABASE ${BENCH_DB} OWNER ${t.scramUser.user}`, [], 'postgres');
    await run('pgbench', [
      '-i',
      '-s',
      '1',
      '-q',
      '-h',
      t.primary.socketDir,
      '-p',
      String(t.primary.port),
      '-U',
      t.scramUser.user,
      BENCH_DB,
    ]);
    // A client left waiting for a server fails in seconds, not in 120.
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE, query_wait_timeout: 5 });
  });
  after(async () => {
    await p?.stop();
    await sqlOn(t.primary, `DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`, [], 'postgres');
  });
  const pgbench = (args: string[]) =>
    run(
      'pgbench',
      ['-h', p.host, '-p', String(p.port), '-U', t.scramUser.user, '-M', 'prepared', '-n', ...args, BENCH_DB],
      {
        env: { ...process.env, PGPASSWORD: t.scramUser.password },
        timeout: 45_000,
      },
    ).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      assert.fail(`pgbench exited with ${err.code}: ${err.stderr?.slice(0, 2000)}`);
    });

  test('50 clients, pool size 2, select-only: exit 0 and no failed transactions', async () => {
    const { stdout, stderr } = await pgbench(['-S', '-c', '50', '-j', '2', '-t', '100']);
    const out = stdout + stderr;
    assert.match(out, /number of transactions actually processed: 5000\/5000/);
    assert.match(out, /number of failed transactions: 0 /);
    // pgbench only logs a failed PREPARE (e.g. 42P05 from a server another client prepared)
    // and runs on: such lines are failures too.
    assert.doesNotMatch(out, /error/i);
  });

  test('TPC-B, 12 clients on 2 threads, pool size 2: every transaction commits and the balances agree', async () => {
    // Each thread waits in PQprepare for BEGIN's ParseComplete while its other clients hold
    // servers in their transactions: the Parse must not wait for a server (session/parse-answer.ts).
    const { stdout, stderr } = await pgbench(['-c', '12', '-j', '2', '-t', '40']);
    const out = stdout + stderr;
    assert.match(out, /number of transactions actually processed: 480\/480/);
    assert.match(out, /number of failed transactions: 0 /);
    assert.doesNotMatch(out, /error/i);
    const [sums] = await sqlOn(
      t.primary,
      `SELECT (SELECT sum(abalance) FROM pgbench_accounts)::bigint AS a, (SELECT sum(bbalance) FROM pgbench_branches)::bigint AS b,
        (SELECT sum(tbalance) FROM pgbench_tellers)::bigint AS t, (SELECT sum(delta) FROM pgbench_history)::bigint AS h,
        (SELECT count(*) FROM pgbench_history)::int AS n`,
      [],
      BENCH_DB,
    );
    assert.equal(sums.n, 480);
    assert.deepEqual([sums.b, sums.t, sums.h], [sums.a, sums.a, sums.a]);
  });
});

describe('max_prepared_statements bounds the statements each server connection keeps', { timeout: 60_000 }, () => {
  let p: RunningPgtide;

  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1, max_prepared_statements: 5 });
  });
  after(async () => {
    await p.stop();
  });

  test('one client cycling through 20 statements on pool size 1: all succeed, never more than 5 on the server', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    try {
      let most = 0;
      for (let round = 0; round < 40; round++) {
        const k = round % 20;
        const { rows } = await c.query({ name: `lru_${k}`, text: `SELECT $1::int + ${k} AS v`, values: [round] });
        assert.equal(rows[0].v, round + k);
        const n = (await c.query('SELECT count(*)::int AS n FROM pg_catalog.pg_prepared_statement()')).rows[0]
          .n as number;
        most = Math.max(most, n);
      }
      assert.ok(most <= 5, `the server held ${most} prepared statements`);
      assert.ok(most >= 1, 'no statement was prepared on the server at all');
    } finally {
      await c.end();
    }
  });
});

/** One exchange of a raw script: `elsewhere` runs it on another pooled server than the last. */
interface Step {
  send: Buffer[];
  elsewhere?: boolean;
}

interface ScriptRun {
  answers: Message[][];
  /** Backend pids before and after each `elsewhere` step (pgtide only). */
  moves: [number, number][];
}

describe('raw protocol through pgtide answers as PostgreSQL does', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  const directLogin: WireLogin = {
    host: t.primary.host,
    port: t.primary.port,
    user: t.scramUser.user,
    password: t.scramUser.password,
    database: t.database,
  };
  const pooledLogin = (): WireLogin => ({ ...directLogin, host: p.host, port: p.port });

  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE });
  });
  after(async () => {
    await p.stop();
  });

  async function pidOf(w: WireClient): Promise<number> {
    return Number(dataRows(await w.exchange(query('SELECT pg_catalog.pg_backend_pid()')))[0]![0]);
  }

  /**
   * Runs the steps on one connection. Through pgtide a probe after each step learns its server
   * (the client is alone and the idle servers are a stack, so the probe gets the step's one),
   * and an `elsewhere` step runs while another client holds that server.
   */
  async function runScript(login: WireLogin, steps: Step[], pooled: boolean): Promise<ScriptRun> {
    const w = await WireClient.connect(login);
    const result: ScriptRun = { answers: [], moves: [] };
    try {
      let last = pooled ? await pidOf(w) : 0;
      for (const step of steps) {
        const release = pooled && step.elsewhere ? await holdServer(p.pgConfig(), last, POOL_SIZE) : null;
        try {
          result.answers.push(await w.exchange(...step.send));
          if (!pooled) continue;
          const now = await pidOf(w);
          if (release) result.moves.push([last, now]);
          last = now;
        } finally {
          await release?.();
        }
      }
    } finally {
      await w.close();
    }
    return result;
  }

  /** The script's answers straight from PostgreSQL and through pgtide; fails unless equal.
   *  `probed`: through pgtide, each step's server is learned (a script whose transaction blocks
   *  span steps runs without: the probe would run inside them). */
  /**
   * Runs `steps` directly and through pgtide: the same answers. At step `shieldedStep`, an
   * Execute of the unnamed portal that a simple Query failing in the block left is the one
   * known difference: PostgreSQL reads that portal's freed memory (25P02 here, a crash after
   * other messages reuse it), pgtide sends the Execute under a name no portal has (see
   * src/proxy/session/unnamed-portal.ts).
   */
  async function compare(steps: Step[], probed = true, shieldedStep = -1): Promise<Message[][]> {
    const expected = await runScript(directLogin, steps, false);
    const actual = await runScript(pooledLogin(), steps, probed);
    for (const [from, to] of actual.moves)
      assert.notEqual(to, from, 'a step meant for another server ran on the same one');
    actual.answers.forEach((answer, i) => {
      const wanted = normalise(expected.answers[i]!);
      if (i === shieldedStep) {
        const at = wanted.findIndex((line) => line.startsWith('E ERROR 25P02'));
        assert.ok(at >= 0, `step ${i}: PostgreSQL's answer to the Execute`);
        wanted[at] = `E ERROR 34000 portal "${DROPPED_PORTAL}" does not exist`;
      }
      assertSameAnswer(i, normalise(answer), wanted);
    });
    return expected.answers;
  }

  /** Fails on the first differing message, showing it with a little context, not 300 lines. */
  function assertSameAnswer(step: number, actual: string[], expected: string[]): void {
    const at = actual.findIndex((line, i) => line !== expected[i]);
    const first = at < 0 ? Math.min(actual.length, expected.length) : at;
    if (at < 0 && actual.length === expected.length) return;
    const window = (lines: string[]) => lines.slice(Math.max(0, first - 2), first + 4);
    assert.deepEqual(
      { step, message: first, received: actual.length, around: window(actual) },
      { step, message: first, received: expected.length, around: window(expected) },
    );
  }

  /** The ten named statements the pipeline reuses. */
  const pipelineParses = () =>
    Array.from({ length: 10 }, (_, i) => parse(`pipe_${i}`, `SELECT $1::int * ${i + 1} AS v${i}`));

  /**
   * 100 Parse/Bind/Execute reusing ten named statements (parsed in it unless `prepared`), with
   * a division by zero at number 50.
   */
  function pipeline(syncEvery: number, prepared = false): Buffer[] {
    const parses = prepared ? [] : pipelineParses();
    const messages: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const name = `pipe_${i % 10}`;
      if (i < parses.length) messages.push(parses[i]!);
      if (i === 50) messages.push(parse('', 'SELECT 1 / ($1::int - 50) AS boom'), bind('', '', [String(i)]));
      else messages.push(bind('', name, [String(i)]));
      if (i % 7 === 0) messages.push(describeMessage('P', ''));
      messages.push(execute());
      if ((i + 1) % syncEvery === 0) messages.push(sync());
    }
    return messages;
  }
  const count = (messages: Message[], type: string) => messages.filter((m) => m.type === type).length;

  test('direct: one Sync: 50 rows, then 22012, and the rest skipped', async () => {
    const [answer] = (await runScript(directLogin, [{ send: pipeline(100) }], false)).answers;
    assert.deepEqual(errorCodes(answer!), ['22012']);
    assert.equal(count(answer!, 'D'), 50);
    assert.equal(count(answer!, '1'), 11);
    assert.deepEqual(answer!.at(-1), { type: 'Z', body: Buffer.from('I') });
  });

  test('direct: a Sync after every 10: only the failing batch is lost', async () => {
    const [answer] = (await runScript(directLogin, [{ send: pipeline(10) }], false)).answers;
    assert.deepEqual(errorCodes(answer!), ['22012']);
    assert.equal(count(answer!, 'Z'), 10);
    assert.equal(count(answer!, 'D'), 90);
  });

  test('pipeline of 100 with one Sync: the same bytes as PostgreSQL', async () => {
    await compare([{ send: pipeline(100) }]);
  });

  test('pipeline of 100 with a Sync every 10, statements reused on another server: the same bytes', async () => {
    // Prepared in an earlier transaction, then the whole pipeline runs on the other server.
    await compare([{ send: [...pipelineParses(), sync()] }, { send: pipeline(10, true), elsewhere: true }]);
    await compare([{ send: pipeline(10) }]);
  });

  // Found by bench/difffuzz.ts (seeds 7 and 17 once the fuzzer read pg_prepared_statements): a
  // Describe of a portal whose Bind the server skipped after an error describes whatever portal
  // of that name the session has (here the unnamed one a failed simple Query left), and pgtide
  // took its NoData for the shape of the statement of the skipped Bind: the client's next Bind
  // of the statement got 0A000 where PostgreSQL runs it.
  test('a Describe of a portal whose Bind was skipped tells the client nothing of the statement (fuzz seed 17)', async () => {
    await compare(
      [
        {
          send: [
            parse('', "SELECT 'a' AS x, 2 AS y"),
            parse('s2', 'SELECT 1/0'),
            parse('s1', 'SELECT g FROM generate_series(1,5) g'),
            execute('', 0),
            sync(),
          ],
        },
        { send: [query('BEGIN READ ONLY')] },
        // Fails the block, and leaves its unnamed portal for the Describe below.
        { send: [query('DISCARD ALL')] },
        {
          send: [
            close('S', 's1'),
            execute('', 2),
            bind('', 's2'),
            sync(),
            describeMessage('P', ''),
            describeMessage('S', 's2'),
            sync(),
          ],
        },
        { send: [query('ROLLBACK')] },
        { send: [bind('p1', 's2'), sync()] },
      ],
      false,
      3,
    );
  });

  // The same with a Bind that ran, then a simple query (a failing DEALLOCATE) that takes the
  // unnamed portal over: the Describe of "" after it describes the query's portal (seed 125 of
  // FUZZ_PROTOCOL_NAMES_IN_SQL=1; the test fails without the change).
  test('a Describe of the unnamed portal after a simple query describes the query’s portal, not an earlier Bind’s (fuzz seed 125)', async () => {
    await compare(
      [
        { send: [parse('s1', 'SELECT g FROM generate_series(1,5) g'), sync()] },
        { send: [query('BEGIN')] },
        { send: [bind('', 's1'), sync()] },
        { send: [query('DEALLOCATE q1')] },
        {
          send: [
            describeMessage('P', ''),
            execute('', 2),
            bind('p1', 's2'),
            parse('s2', 'SELECT nonexistent_col'),
            sync(),
          ],
        },
        { send: [query('COMMIT')] },
        { send: [close('P', ''), bind('p1', 's1'), bind('p1', 's2', ['5']), sync(), bind('', 's1'), sync()] },
      ],
      false,
      4,
    );
  });

  test('Close a statement, then reuse its name with another text on another server', async () => {
    const answers = await compare([
      { send: [parse('reuse', 'SELECT 1 AS one'), bind('', 'reuse'), execute(), sync()] },
      { send: [close('S', 'reuse'), sync()], elsewhere: true },
      {
        send: [parse('reuse', 'SELECT $1::text AS two'), bind('', 'reuse', ['2']), execute(), sync()],
        elsewhere: true,
      },
      { send: [bind('', 'reuse', ['3']), execute(), sync()], elsewhere: true },
    ]);
    assert.deepEqual(dataRows(answers[2]!), [['2']]);
    assert.deepEqual(dataRows(answers[3]!), [['3']]);
  });

  test('Describe of a statement prepared in an earlier transaction, on another server', async () => {
    const answers = await compare([
      { send: [parse('described', 'SELECT $1::int AS a, $2::text AS b'), sync()] },
      { send: [describeMessage('S', 'described'), sync()], elsewhere: true },
    ]);
    assert.deepEqual(
      answers[1]!.map((m) => m.type),
      ['t', 'T', 'Z'],
    );
  });

  test('Parse of a name the client already has: 42P05, wherever it runs', async () => {
    const answers = await compare([
      { send: [parse('dup', 'SELECT 1'), sync()] },
      { send: [parse('dup', 'SELECT 2'), sync()], elsewhere: true },
      { send: [parse('dup', 'SELECT 2'), sync()], elsewhere: true },
    ]);
    assert.deepEqual(errorCodes(answers[1]!), ['42P05']);
    assert.deepEqual(errorCodes(answers[2]!), ['42P05']);
  });

  test('Bind of a name the client never prepared: 26000, even when another client prepared it', async () => {
    const other = await WireClient.connect(pooledLogin());
    try {
      await other.exchange(parse('someone_elses', 'SELECT 1'), sync());
      const answers = await compare([
        { send: [bind('', 'never_prepared'), execute(), sync()] },
        { send: [bind('', 'someone_elses'), execute(), sync()], elsewhere: true },
        { send: [describeMessage('S', 'someone_elses'), sync()], elsewhere: true },
      ]);
      for (const answer of answers) assert.deepEqual(errorCodes(answer), ['26000']);
    } finally {
      await other.close();
    }
  });

  test('DEALLOCATE name forgets it (Bind then 26000) and frees the name for reuse', async () => {
    const answers = await compare([
      { send: [parse('dealloc', 'SELECT 1 AS one'), sync()] },
      { send: [query('DEALLOCATE dealloc')], elsewhere: true },
      { send: [bind('', 'dealloc'), execute(), sync()], elsewhere: true },
      { send: [parse('dealloc', 'SELECT 2 AS two'), bind('', 'dealloc'), execute(), sync()], elsewhere: true },
      { send: [bind('', 'dealloc'), execute(), sync()], elsewhere: true },
    ]);
    assert.deepEqual(errorCodes(answers[2]!), ['26000']);
    assert.deepEqual(dataRows(answers[3]!), [['2']]);
    assert.deepEqual(dataRows(answers[4]!), [['2']]);
  });

  test('DISCARD ALL forgets every statement: the next Bind gives 26000', async () => {
    const answers = await compare([
      { send: [parse('gone_a', 'SELECT 1'), parse('gone_b', 'SELECT 2'), sync()] },
      { send: [parse('gone_c', 'SELECT 3'), sync()], elsewhere: true },
      { send: [query('DISCARD ALL')] },
      { send: [bind('', 'gone_a'), execute(), sync()], elsewhere: true },
      { send: [bind('', 'gone_c'), execute(), sync()], elsewhere: true },
      { send: [parse('gone_a', 'SELECT 4'), bind('', 'gone_a'), execute(), sync()] },
    ]);
    assert.deepEqual(errorCodes(answers[3]!), ['26000']);
    assert.deepEqual(errorCodes(answers[4]!), ['26000']);
    assert.deepEqual(dataRows(answers[5]!), [['4']]);
  });

  test('a pipeline through pgtide while other clients churn the pool: the same bytes', async () => {
    let churning = true;
    const churner = new pg.Client(p.pgConfig());
    await churner.connect();
    const churn = (async () => {
      while (churning) await churner.query('SELECT pg_catalog.pg_sleep(0.002)');
    })();
    try {
      await compare([
        { send: pipeline(10) },
        { send: pipeline(100, true), elsewhere: true },
        { send: pipeline(10, true), elsewhere: true },
      ]);
    } finally {
      churning = false;
      await churn;
      await churner.end();
    }
  });
});
