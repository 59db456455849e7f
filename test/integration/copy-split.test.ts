// COPY FROM STDIN under the read/write split. A driver may send a COPY's Query, its CopyData and
// its CopyDone in one write, before the server's CopyInResponse (asyncpg does): PostgreSQL runs
// the COPY. Through pgtide it must run on the primary, its rows land, and the session's later
// statements go where they belong: no write left on a standby, no Sync taken for part of a COPY.
// Each conversation runs direct to the primary first; pgtide must answer it the same way.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { copyFail, flush } from '../../src/protocol/encode.js';
import { currentTopology, scramLogin, sqlOn, standbysCaughtUp } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { sleep } from '../support/reader.js';
import {
  bind,
  copyData,
  dataRows,
  describe as describeMessage,
  execute,
  normalise,
  parse,
  query,
  sync,
  WireClient,
  type Message,
  useWirePgtide,
  type WireLogin,
} from '../support/pipeline.js';
import {
  assertScriptPassed,
  DEBIAN_PYTHON,
  DRIVERS_DIR,
  runScript,
  scramUserEnv,
  type DriverScript,
} from '../support/driver-script.js';

const t = currentTopology();
const TABLE = 'copy_split_rows';
const COPY_IN = `COPY ${TABLE} FROM STDIN`;
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);
const WRITE_AFTER = `INSERT INTO ${TABLE} VALUES (99, 'written after')`;
const COUNT = `SELECT count(*)::int AS n FROM ${TABLE}`;

/** One write, then the messages read until `until` (a ReadyForQuery by default) came `count` times. */
interface Step {
  send: Buffer[];
  until?: string;
  count?: number;
}

/** A step's own writes, then a read in an extended batch (its Sync must count), then a write. */
const AFTER: Step[] = [{ send: [parse('', COUNT), bind('', ''), execute(), sync()] }, { send: [query(WRITE_AFTER)] }];

const CONVERSATIONS: [string, Step[]][] = [
  [
    'a simple COPY, its data and its CopyDone in one write',
    [{ send: [query(COPY_IN), copyData('1\tone\n2\ttwo\n'), copyData('3\tthree\n'), COPY_DONE] }],
  ],
  [
    'the same after a statement prepared with a Flush (asyncpg: the read of the table columns)',
    [
      {
        send: [parse('columns', `SELECT * FROM ${TABLE} LIMIT 1`), describeMessage('S', 'columns'), flush()],
        until: 'T',
      },
      { send: [query(COPY_IN), copyData('1\tone\n2\ttwo\n'), COPY_DONE] },
    ],
  ],
  [
    'a COPY and only its first data in one write, the rest and the CopyDone in the next',
    [
      {
        send: [parse('columns', `SELECT * FROM ${TABLE} LIMIT 1`), describeMessage('S', 'columns'), flush()],
        until: 'T',
      },
      { send: [query(COPY_IN), copyData('1\tone\n')], until: 'G' },
      { send: [copyData('2\ttwo\n'), COPY_DONE] },
    ],
  ],
  [
    'an extended COPY: Parse, Bind, Execute, its data, CopyDone and Sync in one write',
    [{ send: [parse('', COPY_IN), bind('', ''), execute(), copyData('1\tone\n2\ttwo\n'), COPY_DONE, sync()] }],
  ],
  [
    'an extended COPY with a Sync before its data (tokio-postgres), the data, CopyDone and Sync after the CopyInResponse',
    [
      { send: [parse('', COPY_IN), bind('', ''), execute(), sync()], until: 'G' },
      { send: [copyData('1\tone\n2\ttwo\n'), COPY_DONE, sync()] },
    ],
  ],
  // pgJDBC with prepareThreshold=1: its first Parse of the name holds what follows the batch's
  // Sync until the batch is answered, which it is not before the COPY has its data: it hung.
  [
    'a named extended COPY, data and CopyDone after the CopyInResponse (pgJDBC)',
    [
      {
        send: [parse('copy_named', COPY_IN), bind('', 'copy_named'), describeMessage('P', ''), execute(), sync()],
        until: 'G',
      },
      { send: [copyData('1\tone\n'), COPY_DONE, sync()] },
    ],
  ],
  [
    'a named extended COPY, a CopyFail after the CopyInResponse (pgJDBC: COPY by a Statement)',
    [
      {
        send: [parse('copy_failed', COPY_IN), bind('', 'copy_failed'), describeMessage('P', ''), execute(), sync()],
        until: 'G',
      },
      { send: [copyFail('COPY commands are only supported using the CopyManager API.'), sync()] },
    ],
  ],
  [
    'a COPY inside BEGIN … COMMIT, all in one write',
    [{ send: [query('BEGIN'), query(COPY_IN), copyData('1\tone\n2\ttwo\n'), COPY_DONE, query('COMMIT')], count: 3 }],
  ],
  [
    'a COPY ended by CopyFail in the same write',
    [{ send: [query(COPY_IN), copyData('1\tone\n'), copyFail('changed my mind')] }],
  ],
  [
    'a COPY the server refuses at once (no such column), its data and CopyDone in the same write',
    [{ send: [query(`COPY ${TABLE} (nosuch) FROM STDIN`), copyData('1\n'), COPY_DONE] }],
  ],
];

/** A CopyData of 100,000 bytes whose last bytes are a whole Query message: PostgreSQL reads
 *  them as COPY data, and never runs them. */
function copyDataHiding(sql: string): Buffer {
  const hidden = query(sql);
  const payload = Buffer.concat([Buffer.alloc(100_000 - hidden.length, 'a'), hidden]);
  const header = Buffer.alloc(5);
  header[0] = 0x64;
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}

/** What the client reads in the whole conversation, and the rows on the primary after it. */
async function converse(login: WireLogin, steps: Step[]): Promise<{ answers: string[]; rows: unknown[] }> {
  await sqlOn(t.primary, `TRUNCATE ${TABLE}`);
  await standbysCaughtUp();
  const c = await WireClient.connect(login);
  const got: Message[] = [];
  try {
    for (const step of [...steps, ...AFTER]) {
      c.send(...step.send);
      const until = step.until ?? 'Z';
      const deadline = Date.now() + 10_000;
      for (let left = step.count ?? 1; left > 0; ) {
        const m = await c.next(deadline);
        got.push(m);
        // A refusal ends the step too: the run goes on, and its answers differ from PostgreSQL's.
        if (m.type === until || m.type === 'Z') left--;
      }
    }
  } finally {
    await c.close();
  }
  const rows = await sqlOn(t.primary, `SELECT id, note FROM ${TABLE} ORDER BY id`);
  return { answers: normalise(got), rows };
}

async function assertAnsweredAsDirect(p: RunningPgtide, steps: Step[]): Promise<void> {
  const direct = await converse(scramLogin(t, t.primary), steps);
  const through = await converse(p.wireLogin(), steps);
  assert.deepEqual(through.answers, direct.answers);
  assert.deepEqual(through.rows, direct.rows);
}

function useCopyTable(): void {
  before(async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id int, note text);
      GRANT ALL ON ${TABLE} TO ${t.scramUser.user}`,
    );
    await standbysCaughtUp();
  });
  after(() => sqlOn(t.primary, `DROP TABLE IF EXISTS ${TABLE}`));
}

describe('COPY FROM STDIN sent with its data in one write, reads on standbys', { timeout: 120_000 }, () => {
  useCopyTable();
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', backends: clusterBackends(t, [0, 1, 1]) });
  });
  after(() => p.stop());

  for (const [name, steps] of CONVERSATIONS) {
    test(`${name}: the answers and the rows of a direct connection, then a read and a write that work`, () =>
      assertAnsweredAsDirect(p, steps));
  }

  // The first row fails the COPY (22P02) while the next CopyData is half sent: its rest comes
  // after the COPY's ReadyForQuery, and is COPY data still, whatever its bytes look like.
  const late = copyDataHiding(`INSERT INTO ${TABLE} VALUES (666, 'smuggled')`);
  test('a COPY failed while a CopyData is on its way: the rest of it is read as COPY data, never run, and the session goes on', () =>
    assertAnsweredAsDirect(p, [
      { send: [query(COPY_IN)], until: 'G' },
      { send: [copyData('not a number\tbad\n'), late.subarray(0, 50_000)] },
      { send: [late.subarray(50_000), COPY_DONE, query("SELECT 'after copy'")] },
    ]));

  test('a COPY, its data, its CopyDone and the FIN in one write, rows slow to insert: the rows land, as on a direct connection', async () => {
    // A row trigger that sleeps: the server's CopyInResponse comes well before the COPY's end.
    await sqlOn(
      t.primary,
      `CREATE OR REPLACE FUNCTION copy_split_slow() RETURNS trigger LANGUAGE plpgsql AS
         'BEGIN PERFORM pg_catalog.pg_sleep(0.2); RETURN NEW; END';
       CREATE OR REPLACE TRIGGER copy_split_slow BEFORE INSERT ON ${TABLE}
         FOR EACH ROW WHEN (NEW.note = 'slow') EXECUTE FUNCTION copy_split_slow()`,
    );
    const leave = async (login: WireLogin) => {
      await sqlOn(t.primary, `TRUNCATE ${TABLE}`);
      const c = await WireClient.connect(login);
      c.sendAndEnd(query(COPY_IN), copyData('1\tslow\n2\tslow\n'), COPY_DONE);
      const answers = normalise(await c.untilClosed());
      return { answers, rows: await sqlOn(t.primary, `SELECT id FROM ${TABLE} ORDER BY id`) };
    };
    try {
      const direct = await leave(scramLogin(t, t.primary));
      assert.deepEqual(direct.rows, [{ id: 1 }, { id: 2 }]);
      assert.deepEqual(await leave(p.wireLogin()), direct);
    } finally {
      await sqlOn(t.primary, `DROP TRIGGER copy_split_slow ON ${TABLE}; DROP FUNCTION copy_split_slow()`);
    }
  });

  for (const flushed of [true, false]) {
    test(`an extended COPY ${flushed ? 'answered up to its CommandComplete (a Flush)' : 'sent in full but for its Sync'}, the client gone before its Sync: rolled back, as on a direct connection`, async () => {
      const leave = async (login: WireLogin) => {
        await sqlOn(t.primary, `TRUNCATE ${TABLE}`);
        const c = await WireClient.connect(login);
        try {
          const batch = [parse('', COPY_IN), bind('', ''), execute(), copyData('1\tone\n2\ttwo\n'), COPY_DONE];
          c.send(...batch, ...(flushed ? [flush()] : []));
          if (flushed) {
            const deadline = Date.now() + 10_000;
            while ((await c.next(deadline)).type !== 'C');
          } else await sleep(300);
        } finally {
          await c.close();
        }
        await sleep(300);
        return sqlOn(t.primary, `SELECT id FROM ${TABLE} ORDER BY id`);
      };
      assert.deepEqual(await leave(scramLogin(t, t.primary)), []);
      assert.deepEqual(await leave(p.wireLogin()), []);
    });
  }

  test('COPY … TO STDOUT of a table, a read, still runs on a standby', async () => {
    const standbys = new Set(t.standbys.map((s) => s.name));
    const onStandbys = () => {
      let xacts = 0;
      for (const pool of p.pgtide.context.pools.all()) if (standbys.has(pool.key.backend)) xacts += pool.stats.xacts;
      return xacts;
    };
    await sqlOn(t.primary, `TRUNCATE ${TABLE}; INSERT INTO ${TABLE} VALUES (7, 'seven')`);
    await standbysCaughtUp();
    const c = await WireClient.connect(p.wireLogin());
    try {
      const before = onStandbys();
      const got = await c.exchange(query(`COPY ${TABLE} TO STDOUT`));
      assert.deepEqual(normalise(got.filter((m) => m.type === 'd')), ['d 7\\x09seven\\x0a']);
      assert.equal(onStandbys(), before + 1);
    } finally {
      await c.close();
    }
  });

  test("postgres.js: COPY FROM STDIN through its writable stream (and its CopyFail after the COPY's ReadyForQuery), then a write", async () => {
    await sqlOn(t.primary, `TRUNCATE ${TABLE}`);
    const { user, password } = t.scramUser;
    const sql = postgres(`postgres://${user}:${password}@${p.host}:${p.port}/${t.database}`, {
      max: 1,
      onnotice: () => undefined,
    });
    try {
      const stream = await sql`COPY ${sql(TABLE)} FROM STDIN`.writable();
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.write('1\tone\n');
        stream.end('2\ttwo\n', () => resolve());
      });
      // Its CopyFail comes after the COPY's ReadyForQuery: it reaches pgtide on its own.
      await new Promise((r) => setTimeout(r, 200));
      await sql.unsafe(WRITE_AFTER);
      assert.deepEqual(
        (await sql.unsafe(`SELECT id FROM ${TABLE} ORDER BY id`)).map((r) => r.id),
        [1, 2, 99],
      );
    } finally {
      await sql.end();
    }
  });
});

describe('a COPY failed mid-CopyData on the one server of a pool', { timeout: 60_000 }, () => {
  useCopyTable();
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  test('the rest of the CopyData and the CopyDone end the transaction: the server serves the next client', async () => {
    const c = await wire.connect();
    const other = await wire.connect();
    c.send(query(COPY_IN));
    for (let m = await c.next(Date.now() + 5000); m.type !== 'G'; m = await c.next(Date.now() + 5000));
    const late = copyDataHiding('SELECT 1');
    // The COPY's error and ReadyForQuery come while the CopyData is half sent.
    c.send(copyData('not a number\tbad\n'), late.subarray(0, 50_000));
    await c.untilReady();
    c.send(late.subarray(50_000), COPY_DONE);
    // The first client now sits idle: the other one gets the pool's one server.
    const answer = await other.exchange(query("SELECT 'served'"));
    assert.deepEqual(dataRows(answer), [['served']]);
  });
});

describe('what follows a Query and is no COPY data opens a batch', { timeout: 60_000 }, () => {
  useCopyTable();
  let p: RunningPgtide;
  // One standby server: the next read meets the server the batch was left open on.
  before(async () => {
    p = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 1,
      backends: clusterBackends(t, [0, 1, 0]),
    });
  });
  after(() => p.stop());

  test('a Query and a Describe that fails in one write, the Sync in the next: the server waits for that Sync', () =>
    assertAnsweredAsDirect(p, [
      { send: [query('SELECT 1'), describeMessage('S', 'nosuch')], until: 'E' },
      { send: [sync()] },
    ]));
});

describe('asyncpg COPY FROM STDIN with reads on standbys', { timeout: 90_000 }, () => {
  const driver: DriverScript = {
    name: 'asyncpg copy',
    command: DEBIAN_PYTHON,
    args: [DRIVERS_DIR + 'asyncpg-copy.py'],
    packages: 'python3-asyncpg',
    files: [[DEBIAN_PYTHON, 'python3']],
  };
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', backends: clusterBackends(t, [0, 1, 1]) });
  });
  after(() => p.stop());

  test('the script direct to the primary: no error', async () => {
    assertScriptPassed(driver, await runScript(driver, scramUserEnv(t, t.primary), 60_000), 4 * 10);
  });

  test('through pgtide: every COPY runs on the primary, its rows land, the writes after it work', async () => {
    assertScriptPassed(driver, await runScript(driver, scramUserEnv(t, p), 60_000), 4 * 10);
  });
});
