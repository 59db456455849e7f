// The unnamed statement prepared in one batch and bound in the next, as pgx v4 runs every query
// with parameters when its statement cache is off (`statement_cache_capacity=0`): Parse '',
// Describe statement, Sync; then Bind '', Describe portal, Execute, Sync. Through pgtide the
// two batches are two transactions, and between them the server may run pgtide's own queries
// (the WAL position after a write, the probe of a pinned client) or another client's: each
// replaces the unnamed statement, and pgx's own suite (TestQueryErrorWithNilStatementCacheMode)
// got 26000 "unnamed prepared statement does not exist" for its INSERT. Every answer is
// compared with a direct connection's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '../../src/config/types.js';
import { currentTopology, scramLogin } from '../support/topology.js';
import {
  WireClient,
  bind,
  close,
  dataRows,
  errorCodes,
  describe as describeMessage,
  execute,
  normalise,
  parse,
  query,
  sameAnswers,
  sync,
  useWirePgtide,
} from '../support/pipeline.js';

const t = currentTopology();
const direct = scramLogin(t, t.primary);

/** pgx v4's Exec or Query with arguments and no statement cache: the answers to both batches. */
async function prepareThenRun(c: WireClient, text: string, params: string[]): Promise<string[]> {
  const prepared = await c.exchange(parse('', text), describeMessage('S', ''), sync());
  const ran = await c.exchange(bind('', '', params), describeMessage('P', ''), execute(), sync());
  return normalise([...prepared, ...ran]);
}

/** `batch` written in two pieces, cut `at` bytes in, the second a little later: pgtide reads them apart. */
async function writeInTwo(c: WireClient, batch: Buffer, at: number): Promise<void> {
  c.send(batch.subarray(0, at));
  await new Promise((resolve) => setTimeout(resolve, 30));
  c.send(batch.subarray(at));
}

async function freshTable(c: WireClient, name: string): Promise<void> {
  await c.exchange(query(`DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (id text PRIMARY KEY)`));
}

/** Between a client's writes, as a driver sends each request: pgtide (in this process) reads
 *  them apart, and now and then an answer comes between. */
const pause = () => new Promise((resolve) => setTimeout(resolve, Math.random() < 0.5 ? 0 : 1));

/** Transaction pooling with `default_pool_size`, every read on a standby. */
function readsOnStandbys(poolSize: number): Partial<Config> {
  return {
    pool_mode: 'transaction',
    default_pool_size: poolSize,
    backends: [
      { name: 'primary', host: t.primary.host, port: t.primary.port, weight: 0, role: 'primary' },
      ...t.standbys.map((s) => ({ name: s.name, host: s.host, port: s.port, weight: 1, role: 'standby' as const })),
    ],
  };
}

describe('the unnamed statement bound in a later batch than its Parse', { timeout: 60_000 }, () => {
  // A standby takes the reads, read_your_writes (the default) reads the WAL position after each write.
  const wire = useWirePgtide(t, readsOnStandbys(1));

  /** Runs `scenario` direct to the primary, then through pgtide: the same answers. Returns them. */
  const sameAsDirect = (scenario: (c: WireClient) => Promise<string[]>) =>
    sameAnswers([direct, wire.login()], scenario);

  /** The same INSERT twice (the second fails on its key: proof that the first ran), then a SELECT. */
  async function insertTwiceThenCount(c: WireClient, table: string): Promise<string[]> {
    const insert = `INSERT INTO ${table} (id) VALUES ($1)`;
    return [
      ...(await prepareThenRun(c, insert, ['abc'])),
      ...(await prepareThenRun(c, insert, ['abc'])),
      ...(await prepareThenRun(c, `SELECT count(*) FROM ${table} WHERE id <> $1`, ['x'])),
    ];
  }

  test('an INSERT and a SELECT with parameters answer as directly', async () => {
    const answers = await sameAsDirect(async (c) => {
      await freshTable(c, 'unnamed_across_syncs');
      return insertTwiceThenCount(c, 'unnamed_across_syncs');
    });
    assert.ok(answers.some((m) => m.startsWith('E ERROR 23505')));
  });

  test('a pinned client (a temporary table) whose server pgtide probes between its transactions', async () => {
    const answers = await sameAsDirect(async (c) => {
      await c.exchange(query('CREATE TEMPORARY TABLE unnamed_pinned (id text PRIMARY KEY)'));
      return insertTwiceThenCount(c, 'unnamed_pinned');
    });
    assert.ok(answers.some((m) => m.startsWith('E ERROR 23505')));
  });

  // psqlODBC (UseServerSidePrepare=0, or UseDeclareFetch=1) prepares, then asks for the
  // statement's columns in a batch of its own, then binds: the Describe got 26000 through pgtide.
  test('a Describe of the statement in a batch of its own, between Parse and Bind, answers as directly', async () => {
    const table = 'unnamed_described';
    const answers = await sameAsDirect(async (c) => {
      // The same table for both runs: its oid is in the row descriptions.
      await c.exchange(query(`CREATE TABLE IF NOT EXISTS ${table} (id text); TRUNCATE ${table}`));
      const got: string[] = [];
      for (const [text, params] of [
        [`INSERT INTO ${table} (id) VALUES ($1)`, ['one']],
        [`SELECT id, length(id) AS n FROM ${table} WHERE id = $1`, ['one']],
      ] as const) {
        got.push(...normalise(await c.exchange(parse('', text), sync())));
        got.push(...normalise(await c.exchange(describeMessage('S', ''), sync())));
        got.push(
          ...normalise(await c.exchange(bind('', '', [...params]), describeMessage('P', ''), execute(), sync())),
        );
      }
      return got;
    });
    assert.ok(!answers.some((m) => m.startsWith('E ')), answers.join('\n'));
  });

  test("two clients on one server connection: each binds its own statement, not the other's", async () => {
    const a = await wire.connect();
    const b = await wire.connect();
    await a.exchange(parse('', 'SELECT $1::text AS a'), describeMessage('S', ''), sync());
    await b.exchange(parse('', 'SELECT $1::int * 2 AS b'), describeMessage('S', ''), sync());
    const ranA = await a.exchange(bind('', '', ['mine']), execute(), sync());
    const ranB = await b.exchange(bind('', '', ['21']), execute(), sync());
    assert.deepEqual(dataRows(ranA), [['mine']]);
    assert.deepEqual(dataRows(ranB), [['42']]);
  });

  // lib/pq sends every query with parameters so. A Bind longer than one read of pgtide's (64
  // KiB) was scanned whole only after its start had gone to the server, without the copy of its
  // statement: on the primary, where the cut Bind goes, it failed with 26000.
  test('a Bind longer than one read, its Parse (on a standby) in the batch before: answers as directly', async () => {
    const answers = await sameAsDirect(async (c) => {
      const got: string[] = [];
      for (const size of [100_000, 65_600, 300_000])
        got.push(...(await prepareThenRun(c, 'SELECT octet_length($1::text) AS n', ['a'.repeat(size)])));
      return got;
    });
    assert.ok(!answers.some((m) => m.startsWith('E ')), answers.join('\n'));
  });

  test('a Close of the statement in a batch of its own: a later Bind fails with 26000, as directly', async () => {
    for (const login of [direct, wire.login()]) {
      const c = await WireClient.connect(login);
      try {
        await c.exchange(parse('', 'SELECT 3 AS n'), describeMessage('S', ''), sync());
        assert.deepEqual(errorCodes(await c.exchange(close('S', ''), sync())), []);
        const ran = await c.exchange(bind('', ''), execute(), sync());
        assert.deepEqual([errorCodes(ran), dataRows(ran)], [['26000'], []]);
      } finally {
        await c.close();
      }
    }
  });

  test('a pinned listener gets the notifications sent while its statement is prepared again', async () => {
    const listener = await wire.connect();
    // Direct: the listener holds the pool's one server connection.
    const notifier = await WireClient.connect(direct);
    await listener.exchange(query('LISTEN unnamed_busy'));
    let notifying = true;
    const notifications = (async () => {
      while (notifying) await notifier.exchange(query("NOTIFY unnamed_busy, 'hello'"));
    })();
    let heard = 0;
    try {
      for (let i = 0; i < 100; i++) {
        const prepared = await listener.exchange(parse('', 'SELECT $1::int + 1'), describeMessage('S', ''), sync());
        const ran = await listener.exchange(bind('', '', [String(i)]), execute(), sync());
        assert.deepEqual(dataRows(ran), [[String(i + 1)]]);
        heard += [...prepared, ...ran].filter((m) => m.type === 'A').length;
      }
    } finally {
      notifying = false;
      await notifications;
      await notifier.close();
    }
    assert.ok(heard > 0, 'no notification reached the listener');
  });
});

describe('named Parses and their Sync written in small pieces, one server per backend', { timeout: 60_000 }, () => {
  // One standby: its one server is the only one reads may have.
  const wire = useWirePgtide(t, { ...readsOnStandbys(1), backends: readsOnStandbys(1).backends!.slice(0, 2) });

  test('are answered, as directly', async () => {
    for (const piece of [7, 40]) {
      await sameAnswers([direct, wire.login()], async (c) => {
        const tag = `p${piece}`;
        const all = Buffer.concat([
          ...[1, 2, 3].map((k) => parse(`${tag}_${k}`, `SELECT ${k} / $1::int AS r /* ${tag} */`)),
          sync(),
        ]);
        for (let at = 0; at < all.length; at += piece) {
          c.send(all.subarray(at, at + piece));
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        return normalise(await c.untilReady(1, 5000));
      });
    }
  });
});

describe('a Bind or Describe of the unnamed statement by a client that prepared none', { timeout: 60_000 }, () => {
  // One server: the client's transaction runs where another client's unnamed statement stays.
  const wire = useWirePgtide(t, {
    default_pool_size: 1,
    backends: [{ name: 'primary', host: t.primary.host, port: t.primary.port, weight: 1, role: 'primary' }],
  });

  test("fails with 26000 as directly, never running another client's statement", async () => {
    for (const login of [direct, wire.login()]) {
      const other = await WireClient.connect(login);
      await other.exchange(parse('', "SELECT 'not yours' AS v"), bind('', ''), execute(), sync());
      await other.close();
      const c = await WireClient.connect(login);
      try {
        for (let i = 0; i < 3; i++) {
          const ran = await c.exchange(bind('', ''), execute(), sync());
          assert.deepEqual(errorCodes(ran), ['26000']);
          assert.deepEqual(dataRows(ran), []);
          assert.deepEqual(errorCodes(await c.exchange(describeMessage('S', ''), sync())), ['26000']);
        }
        // Its own, prepared in the transaction before, runs.
        const own = await c.exchange(parse('', 'SELECT 7 AS v'), sync());
        assert.deepEqual(errorCodes(own), []);
        assert.deepEqual(dataRows(await c.exchange(bind('', ''), execute(), sync())), [['7']]);
      } finally {
        await c.close();
      }
    }
  });

  // Another client's statement left on the server ran with this client's value (lib/pq's Bind
  // of a parameter above 64 KiB, its Parse in the batch before): 7100000, where PostgreSQL
  // answers 100000, and the other statement's side effects with it.
  test("a Bind longer than one read runs the client's own statement, or fails with 26000: never another client's", async () => {
    const big = 'a'.repeat(100_000);
    for (const login of [direct, wire.login()]) {
      const c = await WireClient.connect(login);
      const other = await WireClient.connect(login);
      try {
        await c.exchange(parse('', 'SELECT octet_length($1::text) AS n'), describeMessage('S', ''), sync());
        const othersRan = await other.exchange(
          parse('', 'SELECT length($1::text) + 7000000 AS n'),
          bind('', '', ['x']),
          execute(),
          sync(),
        );
        assert.deepEqual(dataRows(othersRan), [['7000001']]);
        assert.deepEqual(dataRows(await c.exchange(bind('', '', [big]), execute(), sync())), [['100000']]);
        // None of its own since a simple Query: 26000, the other client's on the server.
        await c.exchange(query('SELECT 1'));
        await other.exchange(
          parse('', 'SELECT length($1::text) + 7000000 AS n'),
          bind('', '', ['x']),
          execute(),
          sync(),
        );
        const none = await c.exchange(bind('', '', [big]), execute(), sync());
        assert.deepEqual(errorCodes(none), ['26000']);
        assert.deepEqual(dataRows(none), []);
      } finally {
        await c.close();
        await other.close();
      }
    }
  });

  // Its first bytes alone in a read, before its names: they went before pgtide could read them.
  test('a Bind written with its first bytes alone, or its names, runs its own statement, or fails with 26000', async () => {
    for (const login of [direct, wire.login()]) {
      const c = await WireClient.connect(login);
      const other = await WireClient.connect(login);
      const runInPieces = async (value: string) => {
        await writeInTwo(c, Buffer.concat([bind('', '', [value]), execute(), sync()]), 3);
        return c.untilReady(1, 5000);
      };
      const othersStatement = () =>
        other.exchange(parse('', 'SELECT length($1::text) + 7000000 AS n'), bind('', '', ['x']), execute(), sync());
      try {
        for (const size of [10, 100_000]) {
          await c.exchange(parse('', 'SELECT octet_length($1::text) AS n'), describeMessage('S', ''), sync());
          await othersStatement();
          assert.deepEqual(dataRows(await runInPieces('a'.repeat(size))), [[String(size)]], `${size} bytes`);
          await c.exchange(query('SELECT 1'));
          await othersStatement();
          assert.deepEqual(errorCodes(await runInPieces('a'.repeat(size))), ['26000'], `${size} bytes, none`);
        }
        // A portal name longer than the head pgtide held (1 KiB): its statement name came later.
        const portal = 'p'.repeat(3000);
        await othersStatement();
        await writeInTwo(c, Buffer.concat([bind(portal, ''), execute(portal), sync()]), 2000);
        assert.deepEqual(errorCodes(await c.untilReady(1, 5000)), ['26000'], 'a long portal name');
        // A named statement's Bind longer than pgtide holds, its names in the first write.
        await writeInTwo(c, Buffer.concat([bind('', 'mine', ['v'.repeat(100_000)]), execute(), sync()]), 5000);
        assert.deepEqual(errorCodes(await c.untilReady(1, 5000)), ['26000'], 'a long Bind of a named statement');
      } finally {
        await c.close();
        await other.close();
      }
    }
  });

  test('a Bind whose portal name alone is over 64 KiB is refused with 08P01; the server serves the next client', async () => {
    const c = await WireClient.connect(wire.login());
    await c.exchange(query('SELECT 1'));
    await writeInTwo(c, Buffer.concat([bind('p'.repeat(70_000), ''), execute(), sync()]), 1000);
    assert.deepEqual(errorCodes(await c.untilClosed(5000)), ['08P01']);
    const next = await WireClient.connect(wire.login());
    try {
      assert.deepEqual(dataRows(await next.exchange(query('SELECT 3 AS v'))), [['3']]);
    } finally {
      await next.close();
    }
  });

  // The end of a Bind scanned across reads is no place for an edit: its last 261 bytes, a
  // parameter's, posing as a whole Bind were replaced by a longer one, and the server read the
  // bytes beyond the Bind's length as messages pgtide never saw.
  test('a long Bind whose parameter ends like a short Bind is not edited inside its parameter', async () => {
    const pose = Buffer.concat([Buffer.from('B\0\0\x01\x04'), Buffer.alloc(254, 0x61)]);
    const value = Buffer.concat([Buffer.alloc(100_000, 0x61), pose]).toString('latin1');
    for (const login of [direct, wire.login()]) {
      const c = await WireClient.connect(login);
      try {
        await c.exchange(query('SELECT 1'));
        const ran = await c.exchange(bind('', '', [value]), execute(), sync());
        assert.deepEqual(errorCodes(ran), ['26000']);
        assert.deepEqual(dataRows(await c.exchange(query('SELECT 2 AS v'))), [['2']]);
      } finally {
        await c.close();
      }
    }
  });
});

describe('the unnamed statement pipelined behind a write', { timeout: 60_000 }, () => {
  // Eight clients on two server connections and a standby. Each sends its Parse and Sync, a
  // named write and Sync, then a Bind of the unnamed statement, without waiting for answers:
  // the Parse may run on the standby, the write take an idle server of the primary, and the
  // Bind come while that write runs, on a server where the Parse never went.
  const wire = useWirePgtide(t, readsOnStandbys(2));

  test("each client's Bind runs its own statement, never another client's", async () => {
    const setup = await wire.connect();
    await setup.exchange(query('DROP TABLE IF EXISTS unnamed_behind_write; CREATE TABLE unnamed_behind_write (v int)'));
    const wrong: string[] = [];
    let rounds = 0;
    // At least 4 s and more than 1,000 rounds: a loaded machine (CI: 779 rounds in 4 s) runs longer.
    const [soonest, latest] = [Date.now() + 4_000, Date.now() + 30_000];
    const more = () => Date.now() < latest && (Date.now() < soonest || rounds <= 1_000);
    await Promise.all(
      Array.from({ length: 8 }, async (_, n) => {
        const c = await wire.connect();
        await c.exchange(parse('w', 'INSERT INTO unnamed_behind_write VALUES ($1)'), sync());
        for (let i = 0; more(); i++, rounds++) {
          c.send(parse('', `SELECT $1::text || '-${n}' AS v`), sync());
          await pause();
          c.send(bind('', 'w', [String(i)]), execute(), sync());
          await pause();
          // Every other round as psqlODBC binds: a Describe of the statement first.
          const describeFirst = i % 2 === 1 ? [describeMessage('S', '')] : [];
          c.send(...describeFirst, bind('', '', [String(i)]), execute(), sync());
          const got = await c.untilReady(3);
          const rows = dataRows(got);
          const codes = errorCodes(got);
          if (codes.length > 0 || rows.length !== 1 || rows[0]![0] !== `${i}-${n}`)
            wrong.push(`client ${n} round ${i}: ${JSON.stringify({ codes, rows })}`);
        }
      }),
    );
    assert.ok(rounds > 1_000, `only ${rounds} rounds`);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${rounds} rounds`);
  });
});

describe('the unnamed statement parsed again behind a Bind of the last one', { timeout: 60_000 }, () => {
  // The batches after the first Parse wait behind its standby, then are scanned together: the
  // second Parse is read before the first Bind has run. Direct, that Bind runs the first statement.
  const wire = useWirePgtide(t, readsOnStandbys(2));

  test('each Bind runs the statement parsed before it, never a later one nor another client’s', async () => {
    const wrong: string[] = [];
    let rounds = 0;
    const until = Date.now() + 3_000;
    await Promise.all(
      Array.from({ length: 4 }, async (_, n) => {
        const c = await wire.connect();
        // A named statement: pgtide follows the client's statements from then on.
        await c.exchange(parse('named', 'SELECT 1'), sync());
        for (let i = 0; Date.now() < until; i++, rounds++) {
          c.send(parse('', "SELECT 'old-' || $1::text AS v"), sync());
          await pause();
          // Read together by pgtide, held behind the first Parse's read.
          c.send(bind('', '', [String(i)]), execute(), sync());
          c.send(parse('', `SELECT $1::text || '-${n}' AS v`), sync());
          c.send(bind('', '', [String(i)]), execute(), sync());
          const got = await c.untilReady(4);
          const rows = dataRows(got).map((r) => r[0]);
          if (errorCodes(got).length > 0 || rows.join() !== `old-${i},${i}-${n}`)
            wrong.push(`client ${n} round ${i}: ${JSON.stringify({ codes: errorCodes(got), rows })}`);
        }
      }),
    );
    assert.ok(rounds > 500, `only ${rounds} rounds`);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${rounds} rounds`);
  });

  test('a server that holds an older unnamed statement of the same client does not pass for holding the last', async () => {
    const setup = await wire.connect();
    await setup.exchange(query('DROP TABLE IF EXISTS unnamed_older; CREATE TABLE unnamed_older (v int)'));
    const c = await wire.connect();
    await c.exchange(parse('w', 'INSERT INTO unnamed_older VALUES ($1)'), sync());
    const got: string[] = [];
    for (let i = 0; i < 60; i++) {
      // The first on a server of the primary (FOR UPDATE), the second on a standby; then a
      // write takes a server of the primary, often that first one, with the Bind behind it.
      await c.exchange(parse('', "SELECT 'older' AS v FROM (SELECT 1) AS s FOR UPDATE"), sync());
      await c.exchange(parse('', "SELECT 'last-' || $1::text AS v"), sync());
      c.send(bind('', 'w', [String(i)]), execute(), sync());
      await pause();
      c.send(bind('', '', [String(i)]), execute(), sync());
      const answers = await c.untilReady(2);
      got.push([...errorCodes(answers), ...dataRows(answers).map((r) => r[0])].join());
    }
    assert.deepEqual(
      got,
      Array.from({ length: 60 }, (_, i) => `last-${i}`),
    );
  });
});
