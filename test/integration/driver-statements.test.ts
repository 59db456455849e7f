// Issue #12: what drivers do with prepared statements on their own (psycopg's DEALLOCATE ALL
// through the extended protocol, postgres.js's re-prepare on 0A000, node-postgres named
// queries on pinned clients) must keep pgtide's map of shared server statements right, for
// the client and for every later client of the same server. Each scenario runs direct to the
// primary first where the comparison matters, which proves the scenario itself right.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { currentTopology } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  DEBIAN_PYTHON,
  DRIVERS_DIR,
  assertScriptPassed,
  runScript,
  scramUserEnv,
  type DriverScript,
} from '../support/driver-script.js';
import {
  WireClient,
  bind,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  holdServer,
  normalise,
  parse,
  query,
  sync,
  useWirePgtide,
  withStaleableTable,
  type Message,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();
const direct = { host: t.primary.host, port: t.primary.port };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('psycopg 3 on its default settings (auto-prepare, DEALLOCATE ALL after ROLLBACK and DROP, cache eviction, pipeline mode)', {
  timeout: 115_000,
}, () => {
  let two: RunningPgtide;
  let one: RunningPgtide;
  let onStandby: RunningPgtide;
  before(async () => {
    two = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 2 });
    one = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
    onStandby = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 2,
      backends: clusterBackends(t, [0, ...t.standbys.map(() => 1)]),
    });
  });
  after(async () => {
    await two.stop();
    await one.stop();
    await onStandby.stop();
  });

  async function assertRounds(
    target: { host: string; port: number },
    scenario: string,
    clients: number,
    rounds: number,
  ): Promise<void> {
    const script: DriverScript = {
      name: `psycopg-defaults.py ${scenario}`,
      command: DEBIAN_PYTHON,
      args: [DRIVERS_DIR + 'psycopg-defaults.py', scenario, String(clients), String(rounds)],
      packages: 'python3-psycopg',
      files: [[DEBIAN_PYTHON, 'python3']],
    };
    assertScriptPassed(script, await runScript(script, scramUserEnv(t, target), 70_000), clients * rounds);
  }

  for (const scenario of ['rollback', 'drop', 'evict', 'pipeline']) {
    test(`${scenario}: direct, 6 clients x 10 rounds`, () => assertRounds(direct, scenario, 6, 10));
    test(`${scenario}: through pgtide, 6 clients x 10 rounds on 2 server connections`, () =>
      assertRounds(two, scenario, 6, 10));
  }
  test('all three, 3 clients x 10 rounds on 1 server connection: no client breaks the next', () =>
    assertRounds(one, 'all', 3, 10));
  // Found by a helper: the write, queued behind a read that waited for its standby (the replay
  // of the client's last write), went there with it and was refused (25006) once the read's rows
  // had reached the client (9 of 60 rounds here before).
  test('pipeline_write: direct, 6 clients x 10 rounds', () => assertRounds(direct, 'pipeline_write', 6, 10));
  test('pipeline_write: through pgtide with reads on the standbys, 6 clients x 10 rounds', () =>
    assertRounds(onStandby, 'pipeline_write', 6, 10));
});

const SHARED = 'SELECT $1::int * 3 AS v';

describe('DEALLOCATE in every form keeps the shared statements right, pool size 1', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  /** B's statement of the same text must still run; A's is gone, its name free again. */
  async function afterDeallocate(a: WireClient, b: WireClient, aName: string): Promise<void> {
    const got = await b.exchange(bind('', 'b1', ['5']), execute(), sync());
    assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
    assert.deepEqual(dataRows(got), [['15']]);
    assert.deepEqual(errorCodes(await a.exchange(bind('', aName, ['1']), execute(), sync())), ['26000']);
    const again = await a.exchange(parse(aName, SHARED), bind('', aName, ['2']), execute(), sync());
    assert.deepEqual(dataRows(again), [['6']], normalise(again).join(' | '));
  }

  const forms: [string, (name: string) => Buffer[]][] = [
    ['simple DEALLOCATE ALL', () => [query('DEALLOCATE ALL')]],
    ['simple DEALLOCATE PREPARE name', (n) => [query(`DEALLOCATE PREPARE ${n}`)]],
    ['DEALLOCATE name inside a multi-statement query', (n) => [query(`SELECT 1; DEALLOCATE "${n}"; SELECT 2`)]],
    ['DEALLOCATE ALL inside a multi-statement query', () => [query('SELECT 1; DEALLOCATE ALL')]],
    [
      'extended DEALLOCATE ALL (psycopg after ROLLBACK)',
      () => [parse('', 'DEALLOCATE ALL'), bind('', ''), describeMessage('P', ''), execute(), sync()],
    ],
    [
      'extended DEALLOCATE name (psycopg cache eviction)',
      (n) => [parse('', `DEALLOCATE ${n}`), bind('', ''), describeMessage('P', ''), execute(), sync()],
    ],
    [
      'extended DEALLOCATE PREPARE "name"',
      (n) => [parse('', `deallocate prepare "${n}"`), bind('', ''), execute(), sync()],
    ],
    [
      'a named statement DEALLOCATE ALL (postgres.js)',
      () => [parse('dx', 'DEALLOCATE ALL'), bind('', 'dx'), execute(), sync()],
    ],
  ];
  forms.forEach(([form, messages], i) => {
    test(`${form}: the client's statement goes, the next client's of the same text still runs`, async () => {
      const a = await wire.connect();
      const b = await wire.connect();
      const aName = `a_${i}`;
      assert.deepEqual(errorCodes(await a.exchange(parse(aName, SHARED), sync())), []);
      assert.deepEqual(errorCodes(await b.exchange(parse('b1', SHARED), bind('', 'b1', ['1']), execute(), sync())), []);
      const got = await a.exchange(...messages(aName));
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.ok(
        got.some((m) => m.type === 'C' && m.body.toString().startsWith('DEALLOCATE')),
        normalise(got).join(' | '),
      );
      await afterDeallocate(a, b, aName);
      await Promise.all([a.close(), b.close()]);
    });
  });

  test('DEALLOCATE of a name the client does not have: 26000, as PostgreSQL answers', async () => {
    const a = await wire.connect();
    const got = await a.exchange(parse('', 'DEALLOCATE nobody_has_it'), bind('', ''), execute(), sync());
    assert.deepEqual(errorCodes(got), ['26000']);
    assert.deepEqual(errorCodes(await a.exchange(query('DEALLOCATE nobody_has_it'))), ['26000']);
    await a.close();
  });

  /** The server name pgtide gave SHARED, from the server's own list (the view shows the client's). */
  async function serverNameOf(c: WireClient): Promise<string> {
    const rows = dataRows(
      await c.exchange(query(`SELECT name FROM pg_catalog.pg_prepared_statement() WHERE statement = '${SHARED}'`)),
    );
    assert.equal(rows.length, 1);
    return rows[0]![0]!;
  }

  for (const [how, drop] of [
    ['a DEALLOCATE of its server name', (name: string) => query(`DEALLOCATE "${name}"`)],
    ['a DO block running DEALLOCATE ALL', () => query(`DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$`)],
  ] as const) {
    test(`a statement dropped behind pgtide's back (${how}): the next Bind is prepared again and runs, in and out of a transaction`, async () => {
      const a = await wire.connect();
      const b = await wire.connect();
      await b.exchange(parse('b1', SHARED), bind('', 'b1', ['1']), execute(), sync());
      await a.exchange(drop(await serverNameOf(a)));
      const got = await b.exchange(bind('', 'b1', ['2']), execute(), sync());
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.deepEqual(dataRows(got), [['6']]);
      // Inside a transaction block nothing can run again: the error passes, the map is corrected.
      await a.exchange(drop(await serverNameOf(a)));
      const inBlock = await b.exchange(query('BEGIN'), bind('', 'b1', ['3']), execute(), sync(), query('ROLLBACK'));
      assert.ok(
        errorCodes(inBlock).every((c) => c === '26000'),
        normalise(inBlock).join(' | '),
      );
      const next = await b.exchange(bind('', 'b1', ['4']), execute(), sync());
      assert.deepEqual(dataRows(next), [['12']], normalise(next).join(' | '));
      await Promise.all([a.close(), b.close()]);
    });
  }
});

describe('stale plans on shared statements', { timeout: 60_000 }, () => {
  for (const poolSize of [1, 2]) {
    describe(`pool size ${poolSize}`, () => {
      let p: RunningPgtide;
      before(async () => {
        p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: poolSize });
      });
      after(() => p.stop());

      /**
       * Two postgres.js clients (each caches a statement's RowDescription, and prepares again on
       * 0A000 or 42804) run the same texts before and after a column changes type.
       */
      async function postgresJsTranscript(target: { host: string; port: number }, table: string): Promise<unknown[]> {
        const transcript: unknown[] = [];
        await withStaleableTable(t.primary, table, async (changeType) => {
          const connect = () =>
            postgres({
              ...target,
              user: t.scramUser.user,
              pass: t.scramUser.password,
              database: t.database,
              max: 1,
              onnotice: () => undefined,
            });
          const a = connect();
          const b = connect();
          const note = async (what: string, run: () => Promise<unknown>) => {
            try {
              transcript.push([what, await run()]);
            } catch (err) {
              transcript.push([what, (err as { code?: string }).code ?? String(err)]);
            }
          };
          const select = (sql: postgres.Sql, what: string) =>
            note(what, async () => {
              const rows = await sql.unsafe(`SELECT v FROM ${table}`, [], { prepare: true });
              return rows.map((r) => [typeof r.v, r.v]);
            });
          const insert = (sql: postgres.Sql, what: string, v: unknown) =>
            note(
              what,
              async () =>
                (
                  await sql.unsafe(`INSERT INTO ${table} (v) VALUES ($1) RETURNING v`, [v as string], { prepare: true })
                )[0]!.v,
            );
          try {
            for (let i = 0; i < 3; i++) await select(a, 'a before');
            await select(b, 'b before');
            await insert(b, 'b insert before', 8);
            await changeType();
            await select(b, 'b after');
            await select(a, 'a after');
            await select(a, 'a again');
            await select(b, 'b again');
            await insert(a, 'a insert after', 'nine');
          } finally {
            await Promise.all([a.end({ timeout: 5 }), b.end({ timeout: 5 })]);
          }
        });
        return transcript;
      }

      test('postgres.js: the rows it decodes match the description it holds; it prepares again as on a direct connection', async () => {
        const want = await postgresJsTranscript(direct, `stale_js_direct_${poolSize}`);
        const got = await postgresJsTranscript(p, `stale_js_pooled_${poolSize}`);
        assert.deepEqual(got, want);
      });

      test("a new client's Parse after another client met the stale plan: prepared afresh, also inside a transaction block", async () => {
        await withStaleableTable(t.primary, `stale_new_${poolSize}`, async (changeType) => {
          const text = `SELECT v, pg_catalog.pg_backend_pid() AS pid FROM stale_new_${poolSize}`;
          const first = new pg.Client(p.pgConfig());
          await first.connect();
          try {
            // Prepared on every server of the pool.
            const pid = (await first.query({ name: 'n1', text })).rows[0].pid as number;
            if (poolSize > 1) {
              const release = await holdServer(p.pgConfig(), pid, poolSize);
              await first.query({ name: 'n1', text }).finally(release);
            }
            await changeType();
            // The client's own statement is stale: 0A000, as on PostgreSQL. node-postgres describes
            // each portal it runs, but libpq's clients send the same messages and keep the first
            // description (PHP's PDO), so pgtide runs nothing again unseen.
            await assert.rejects(first.query({ name: 'n1', text }), (err: { code?: string }) => err.code === '0A000');
            // Both servers' copies are stale: a new client's Parse in a transaction is prepared afresh.
            const release = poolSize > 1 ? await holdServer(p.pgConfig(), pid, poolSize) : async () => undefined;
            try {
              const later = new pg.Client(p.pgConfig());
              await later.connect();
              try {
                await later.query('BEGIN');
                const { rows } = await later.query({ name: 'n2', text });
                await later.query('COMMIT');
                assert.equal(rows[0].v, 'new-7');
                if (poolSize > 1) assert.notEqual(rows[0].pid, pid);
              } finally {
                await later.end();
              }
            } finally {
              await release();
            }
          } finally {
            await first.end();
          }
        });
      });

      test("a statement another client prepared before the change: a new client's first autocommit use runs", async () => {
        await withStaleableTable(t.primary, `stale_first_${poolSize}`, async (changeType) => {
          const login: WireLogin = {
            host: p.host,
            port: p.port,
            user: t.scramUser.user,
            password: t.scramUser.password,
            database: t.database,
          };
          const text = `SELECT v FROM stale_first_${poolSize}`;
          const a = await WireClient.connect(login);
          await a.exchange(parse('s', text), describeMessage('S', 's'), bind('', 's'), execute(), sync());
          await changeType();
          const b = await WireClient.connect(login);
          const got: Message[] = await b.exchange(
            parse('s', text),
            describeMessage('S', 's'),
            bind('', 's'),
            execute(),
            sync(),
          );
          assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
          assert.deepEqual(dataRows(got), [['new-7']]);
          // A held the old description and never asked again: it gets PostgreSQL's 0A000, not rows of another shape.
          const old = await a.exchange(bind('', 's'), execute(), sync());
          assert.deepEqual(errorCodes(old), ['0A000'], normalise(old).join(' | '));
          await Promise.all([a.close(), b.close()]);
        });
      });

      /**
       * A client prepares and describes `text` (it selects its backend pid last), the column
       * changes type, and its next Bind/Execute (inside BEGIN … COMMIT when `inBlock`) lands on
       * the other server, which never had the statement. Returns that answer, the COMMIT's, and
       * the answer to a fresh Parse and Describe of the same text by the same client.
       */
      async function bindElsewhere(
        table: string,
        text: string,
        inBlock: boolean,
      ): Promise<{ first: Message[]; got: Message[]; commit: Message[]; again: Message[] }> {
        let result: { first: Message[]; got: Message[]; commit: Message[]; again: Message[] } | undefined;
        await withStaleableTable(t.primary, table, async (changeType) => {
          const login: WireLogin = {
            host: p.host,
            port: p.port,
            user: t.scramUser.user,
            password: t.scramUser.password,
            database: t.database,
          };
          const a = await WireClient.connect(login);
          try {
            const first = await a.exchange(
              parse('s', text),
              describeMessage('S', 's'),
              bind('', 's'),
              execute(),
              sync(),
            );
            const pid = Number(dataRows(first)[0]!.at(-1));
            await changeType();
            const release = await holdServer(p.pgConfig(), pid, poolSize);
            try {
              if (inBlock) await a.exchange(query('BEGIN'));
              const got = await a.exchange(bind('', 's'), execute(), sync());
              const commit = inBlock ? await a.exchange(query('COMMIT')) : [];
              const again = await a.exchange(
                parse('s2', text),
                describeMessage('S', 's2'),
                bind('', 's2'),
                execute(),
                sync(),
              );
              result = { first, got, commit, again };
            } finally {
              await release();
            }
          } finally {
            await a.close();
          }
        });
        return result!;
      }

      const tag = (messages: Message[]) =>
        messages.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, m.body.length - 1));

      // postgres.js's own suite met this: a client's cached description, then its Bind lands on
      // a server that never had the statement, so nothing there is stale and no one sees 0A000.
      for (const inBlock of [false, true]) {
        const where = inBlock ? ', inside a transaction block' : '';
        test(`a client holding the old description binds on a server that lacks the statement${where}: 0A000, not rows of the new shape`, {
          skip: poolSize === 1 && 'needs a second server connection',
        }, async () => {
          const table = `stale_elsewhere_${poolSize}_${inBlock ? 'block' : 'auto'}`;
          const { got, commit, again } = await bindElsewhere(
            table,
            `SELECT v, pg_catalog.pg_backend_pid() AS pid FROM ${table}`,
            inBlock,
          );
          assert.deepEqual(errorCodes(got), ['0A000'], normalise(got).join(' | '));
          assert.deepEqual(dataRows(got), []);
          // As PostgreSQL ends a transaction block that failed.
          if (inBlock) assert.deepEqual(tag(commit), ['ROLLBACK']);
          // Described again, the statement runs with its new shape.
          assert.deepEqual(errorCodes(again), [], normalise(again).join(' | '));
          assert.equal(dataRows(again)[0]![0], 'new-7');
        });

        test(`the same, but the statement's own result did not change shape${where}: it runs there, no 0A000`, {
          skip: poolSize === 1 && 'needs a second server connection',
        }, async () => {
          const table = `same_elsewhere_${poolSize}_${inBlock ? 'block' : 'auto'}`;
          const { first, got, commit } = await bindElsewhere(
            table,
            `SELECT v IS NOT NULL AS present, pg_catalog.pg_backend_pid() AS pid FROM ${table}`,
            inBlock,
          );
          assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
          const [row] = dataRows(got);
          assert.equal(row![0], 't');
          // It ran on the other server, where pgtide had to prepare it afresh.
          assert.notEqual(row![1], dataRows(first)[0]![1]);
          if (inBlock) assert.deepEqual(tag(commit), ['COMMIT']);
        });
      }

      test('another client prepared it afresh on the other server after the change: there too, the client holding the old description gets 0A000', {
        skip: poolSize === 1 && 'needs a second server connection',
      }, async () => {
        const table = `stale_copied_${poolSize}`;
        await withStaleableTable(t.primary, table, async (changeType) => {
          const login: WireLogin = {
            host: p.host,
            port: p.port,
            user: t.scramUser.user,
            password: t.scramUser.password,
            database: t.database,
          };
          const text = `SELECT v, pg_catalog.pg_backend_pid() AS pid FROM ${table}`;
          const a = await WireClient.connect(login);
          try {
            const first = await a.exchange(
              parse('s', text),
              describeMessage('S', 's'),
              bind('', 's'),
              execute(),
              sync(),
            );
            const pid = dataRows(first)[0]![1];
            await changeType();
            const release = await holdServer(p.pgConfig(), Number(pid), poolSize);
            try {
              // A new client, node-postgres' way (its portal described): the new rows.
              const b = await WireClient.connect(login);
              const other = await b.exchange(
                parse('n', text),
                bind('', 'n'),
                describeMessage('P', ''),
                execute(),
                sync(),
              );
              await b.close();
              assert.deepEqual(errorCodes(other), [], normalise(other).join(' | '));
              const [row] = dataRows(other);
              assert.equal(row![0], 'new-7');
              assert.notEqual(row![1], pid);
              const got = await a.exchange(bind('', 's'), execute(), sync());
              assert.deepEqual(errorCodes(got), ['0A000'], normalise(got).join(' | '));
            } finally {
              await release();
            }
          } finally {
            await a.close();
          }
        });
      });

      test('a client that leaves while its Bind waits for a shape check: that server is closed at once, not drained for 10 s', {
        skip: poolSize === 1 && 'needs a second server connection',
      }, async () => {
        const table = `check_left_${poolSize}`;
        await withStaleableTable(t.primary, table, async () => {
          const login: WireLogin = {
            host: p.host,
            port: p.port,
            user: t.scramUser.user,
            password: t.scramUser.password,
            database: t.database,
          };
          const a = await WireClient.connect(login);
          const first = await a.exchange(
            parse('s', `SELECT v, pg_catalog.pg_backend_pid() AS pid FROM ${table}`),
            describeMessage('S', 's'),
            bind('', 's'),
            execute(),
            sync(),
          );
          const release = await holdServer(p.pgConfig(), Number(dataRows(first)[0]![1]), poolSize);
          try {
            // One write: the Bind waits for the check on the other server when the Terminate is read.
            a.send(bind('', 's'), execute(), sync(), Buffer.from([0x58, 0, 0, 0, 4]));
            await a.close();
            const started = Date.now();
            const b = new pg.Client(p.pgConfig());
            await b.connect();
            try {
              await b.query('SELECT 1');
            } finally {
              await b.end();
            }
            assert.ok(Date.now() - started < 5000, `the next client waited ${Date.now() - started} ms for a server`);
          } finally {
            await release();
          }
        });
      });

      test('postgres.js (prepare: true, max: 1) after ALTER TABLE … TYPE, its cached statement on a server without it: the new rows or an error, never old-typed ones', {
        skip: poolSize === 1 && 'needs a second server connection',
      }, async () => {
        const table = `stale_js_elsewhere_${poolSize}`;
        await withStaleableTable(t.primary, table, async (changeType) => {
          const sql = postgres({
            host: p.host,
            port: p.port,
            user: t.scramUser.user,
            pass: t.scramUser.password,
            database: t.database,
            max: 1,
            onnotice: () => undefined,
          });
          try {
            // A tagged query: the extended protocol, prepared once, then Bind/Execute/Sync alone
            // (sql.unsafe without parameters would use the simple protocol).
            const run = () => sql`SELECT v, pg_catalog.pg_backend_pid() AS pid FROM ${sql(table)}`;
            const [before] = await run();
            assert.equal(before!.v, 7);
            await changeType();
            const release = await holdServer(p.pgConfig(), before!.pid as number, poolSize);
            try {
              const outcome = await run().then(
                (rows) => rows.map((r) => [typeof r.v, r.v]),
                (err: { code?: string }) => err.code ?? String(err),
              );
              assert.ok(
                outcome === '0A000' || JSON.stringify(outcome) === JSON.stringify([['string', 'new-7']]),
                JSON.stringify(outcome),
              );
              // postgres.js prepares again after 0A000: its next run decodes the new rows.
              const [after] = await run();
              assert.equal(after!.v, 'new-7');
            } finally {
              await release();
            }
          } finally {
            await sql.end({ timeout: 5 });
          }
        });
      });
    });
  }
});

describe('pinned clients and stale plans: every wait ends', { timeout: 60_000 }, () => {
  const TYPES: [string, string[]][] = [
    ['integer', ['1', '-2']],
    ['text', ['a', 'b']],
    ['double precision', ['1.5']],
    ['boolean', ['true']],
    ['bigint', ['9007199254740993']],
    ['varchar(5)', ['abc']],
    ['date', ['2020-01-02']],
    ['numeric', ['3.25']],
  ];

  for (const poolSize of [1, 2]) {
    test(`node-postgres type coercion: 3 clients at a time, each a temporary table and the same named query text, type after type, pool size ${poolSize}`, async () => {
      const p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: poolSize });
      const errors: string[] = [];
      /** One client per type, as node-postgres's tests take one from a new pool; a stuck query fails after 5 s. */
      const coerce = async (worker: number, type: string, values: string[]) => {
        const c = new pg.Client(p.pgConfig({ query_timeout: 5000 }));
        c.on('error', () => undefined);
        await c.connect();
        try {
          await c.query(`CREATE TEMP TABLE test_type (col ${type})`);
          for (const value of values) {
            await c.query('INSERT INTO test_type (col) VALUES ($1)', [value]);
            const { rows } = await c.query({
              name: `get type ${type}`,
              text: 'SELECT col FROM test_type',
              rowMode: 'array',
              types: { getTypeParser: () => (v: string) => v },
            });
            if (rows.length !== 1) errors.push(`client ${worker} ${type}: ${rows.length} rows`);
            await c.query('DELETE FROM test_type');
          }
          await c.query('DROP TABLE test_type');
        } catch (err) {
          errors.push(`client ${worker} ${type}: ${(err as Error).message}`);
        } finally {
          await c.end().catch(() => undefined);
        }
      };
      try {
        await Promise.all(
          [0, 1, 2].map(async (worker) => {
            for (let round = 0; round < 3; round++)
              for (const [type, values] of TYPES) await coerce(worker, type, values);
          }),
        );
        assert.deepEqual(errors, []);
      } finally {
        await p.stop();
      }
    });
  }

  describe('pool size 1', () => {
    const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

    test('a pinned client pipelines a named statement whose text another client prepared for another column type: answered', async () => {
      const a = await wire.connect();
      await a.exchange(query('CREATE TEMP TABLE pin_t (col int); INSERT INTO pin_t VALUES (1)'));
      assert.deepEqual(
        dataRows(await a.exchange(parse('q', 'SELECT col FROM pin_t'), bind('', 'q'), execute(), sync())),
        [['1']],
      );
      await a.exchange(query('DROP TABLE pin_t'));
      // Unpinned by the check after the DROP: its server, with the statement, goes back to the pool.
      await sleep(200);
      await a.close();
      // Pinned, b holds the only server: it leaves whatever happens, so the next test gets it.
      const b = await wire.connect();
      try {
        await b.exchange(query(`CREATE TEMP TABLE pin_t (col text); INSERT INTO pin_t VALUES ('x')`));
        // Pinned and linked again after the pin check: its first named statement arrives on a live link.
        await sleep(200);
        const got = await b.exchange(
          parse('q2', 'SELECT col FROM pin_t'),
          bind('', 'q2'),
          execute(),
          sync(),
          bind('', 'q2'),
          execute(),
          sync(),
        );
        assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
        assert.deepEqual(dataRows(got), [['x'], ['x']]);
      } finally {
        await b.close();
      }
    });

    for (const [how, pinning] of [
      ['a temporary table', 'CREATE TEMP TABLE pin_keep (x int)'],
      ['setseed(), for good', 'SELECT pg_catalog.setseed(0.5)'],
    ] as const)
      test(`a client pinned by ${how} whose statement went stale: run again on its own server, answered (it waited for ever)`, async () => {
        await withStaleableTable(t.primary, 'pin_stale', async (changeType) => {
          const a = await wire.connect();
          await a.exchange(query(pinning));
          assert.deepEqual(
            dataRows(await a.exchange(parse('q', 'SELECT v FROM pin_stale'), bind('', 'q'), execute(), sync())),
            [['7']],
          );
          await changeType();
          const got = await a.exchange(bind('', 'q'), execute(), sync());
          assert.deepEqual(dataRows(got), [['new-7']], normalise(got).join(' | '));
          await a.close();
        });
      });
  });
});
