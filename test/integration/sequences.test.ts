// currval() and lastval() in transaction pooling: they answer from what nextval did earlier in
// the server's session (an INSERT's serial default), so they run on the primary, cost the server
// no reset, and answer with the client's own value or, where another client wrote last, as a
// session that called no nextval (55000): never with another client's id.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { currentTopology, sqlOn } from '../support/topology.js';
import {
  WireClient,
  dataRows,
  describe as describeMessage,
  errorCodes,
  normalise,
  parse,
  query,
  sync,
} from '../support/pipeline.js';

const t = currentTopology();
const TABLE = 'seq_state_test';
const SEQUENCE = `${TABLE}_id_seq`;
// A table written with no sequence, and a sequence called by name only.
const PLAIN = 'seq_state_plain';
const NAMED = 'seq_state_named';

async function connect(p: RunningPgtide): Promise<pg.Client> {
  const c = new pg.Client(p.pgConfig());
  await c.connect();
  return c;
}

async function insert(c: pg.Client, label: string): Promise<number> {
  const { rows } = await c.query(`INSERT INTO ${TABLE} (label) VALUES ($1) RETURNING id`, [label]);
  return rows[0].id;
}

/** The value, or the SQLSTATE PostgreSQL refused it with. */
async function answer(c: pg.Client, sql: string, params: unknown[] = []): Promise<number | string> {
  try {
    const { rows } = await c.query({ text: sql, values: params, rowMode: 'array' });
    return Number(rows[0]?.[0]);
  } catch (err) {
    return (err as { code: string }).code;
  }
}

describe('currval and lastval in transaction pooling', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${TABLE}, ${PLAIN}; DROP SEQUENCE IF EXISTS ${NAMED};
       CREATE TABLE ${TABLE} (id serial PRIMARY KEY, label text); CREATE TABLE ${PLAIN} (x int);
       CREATE SEQUENCE ${NAMED};
       GRANT ALL ON ${TABLE}, ${SEQUENCE}, ${PLAIN}, ${NAMED} TO ${t.scramUser.user}`,
    );
    // Reads on the primary; one server connection to the primary, shared by every client.
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
  });
  after(async () => {
    await p?.stop();
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${TABLE}, ${PLAIN}; DROP SEQUENCE IF EXISTS ${NAMED}`);
  });

  test("after a client's INSERT, lastval() and currval() give its id, in simple and extended queries", async () => {
    const c = await connect(p);
    try {
      for (let i = 0; i < 5; i++) {
        const { rows } = await c.query(`INSERT INTO ${TABLE} (label) VALUES ('one-${i}') RETURNING id`);
        const id = rows[0].id;
        assert.equal(await answer(c, 'SELECT lastval()'), id, 'lastval()');
        assert.equal(await answer(c, `SELECT currval('${SEQUENCE}')`), id, 'currval, simple query');
        assert.equal(await answer(c, 'SELECT currval($1::regclass)', [SEQUENCE]), id, 'currval, extended');
      }
    } finally {
      await c.end();
    }
  });

  test("a client never reads another client's id: where another wrote last it gets 55000", async () => {
    const a = await connect(p);
    const b = await connect(p);
    try {
      const idA = await insert(a, 'a');
      const idB = await insert(b, 'b');
      assert.notEqual(idA, idB);
      // The one server connection ran b's INSERT last: a's value is not there any more.
      assert.equal(await answer(b, 'SELECT lastval()'), idB, "b's lastval()");
      assert.equal(await answer(a, 'SELECT lastval()'), '55000', "a's lastval()");
      assert.equal(await answer(a, `SELECT currval('${SEQUENCE}')`), '55000', "a's currval()");
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('a client that called no nextval gets 55000, as in its own session', async () => {
    const writer = await connect(p);
    const fresh = await connect(p);
    try {
      await insert(writer, 'writer');
      assert.equal(await answer(fresh, 'SELECT lastval()'), '55000');
      assert.equal(await answer(fresh, `SELECT currval('${SEQUENCE}')`), '55000');
    } finally {
      await writer.end();
      await fresh.end();
    }
  });

  test("a client's Parse of an INSERT, which runs nothing, does not make another client's value its own", async () => {
    const writer = await connect(p);
    const c = await WireClient.connect(p.wireLogin());
    try {
      await insert(writer, 'before-parse');
      // A driver preparing an INSERT (PDO, pgx, asyncpg): Parse, Describe, Sync, on the one server.
      await c.exchange(parse('ins', `INSERT INTO ${TABLE} (label) VALUES ($1)`), describeMessage('S', 'ins'), sync());
      const got = await c.exchange(query('SELECT lastval()'));
      assert.deepEqual(
        normalise(got.filter((m) => m.type === 'E' || m.type === 'D')).map((m) => m.slice(0, 13)),
        ['E ERROR 55000'],
      );
    } finally {
      await writer.end();
      await c.close();
    }
  });

  test("8 clients inserting at once over one server connection: each lastval() is the client's own id or 55000", async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(p)));
    const answers: (number | string)[] = [];
    try {
      await Promise.all(
        clients.map(async (c, n) => {
          for (let i = 0; i < 20; i++) {
            const id = await insert(c, `many-${n}-${i}`);
            const got = await answer(c, 'SELECT lastval()');
            answers.push(got === id ? 'own' : got);
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    assert.deepEqual(
      answers.filter((a) => a !== 'own' && a !== '55000'),
      [],
      'ids of other clients',
    );
  });

  test("a client's write that calls no nextval does not make another client's values its own", async () => {
    const a = await connect(p);
    const b = await connect(p);
    try {
      const named = await answer(a, `SELECT nextval('${NAMED}')`);
      assert.equal(typeof named, 'number');
      // b writes on the one server, where a's value of the named sequence is.
      await b.query(`INSERT INTO ${PLAIN} VALUES (1)`);
      assert.equal(await answer(b, `SELECT currval('${NAMED}')`), '55000', "b's currval of a's sequence");
      assert.equal(await answer(b, 'SELECT lastval()'), '55000', "b's lastval()");
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('inside one transaction, currval() follows the INSERT before it', async () => {
    const c = await connect(p);
    const other = await connect(p);
    try {
      await c.query('BEGIN');
      const { rows } = await c.query(`INSERT INTO ${TABLE} (label) VALUES ('in-block') RETURNING id`);
      const pending = insert(other, 'other');
      const value = await answer(c, `SELECT currval('${SEQUENCE}')`);
      await c.query('COMMIT');
      await pending;
      assert.equal(value, rows[0].id);
    } finally {
      await c.end();
      await other.end();
    }
  });
});

describe('currval and lastval of one client over several server connections', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${PLAIN}; DROP SEQUENCE IF EXISTS ${NAMED}; CREATE TABLE ${PLAIN} (x int);
       CREATE SEQUENCE ${NAMED}; GRANT ALL ON ${PLAIN}, ${NAMED} TO ${t.scramUser.user}`,
    );
    // Reads on the standbys, so every write is followed by the read of its WAL position.
    p = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 4,
      backends: clusterBackends(t, [0, 1, 1]),
    });
  });
  after(async () => {
    await p?.stop();
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${PLAIN}; DROP SEQUENCE IF EXISTS ${NAMED}`);
  });

  test('a nextval, then a write with no sequence sent with it, then currval() and lastval(): the nextval', async () => {
    const c = await WireClient.connect(p.wireLogin());
    /** The value of the one row, or the SQLSTATE of the refusal. */
    const answerOf = (messages: Awaited<ReturnType<WireClient['exchange']>>) =>
      errorCodes(messages)[0] ?? dataRows(messages)[0]?.[0];
    try {
      for (let i = 0; i < 20; i++) {
        // The INSERT comes while pgtide still reads the nextval's WAL position on its server.
        const first = await c.exchange(
          query(`SELECT nextval('${NAMED}')`),
          query(`INSERT INTO ${PLAIN} VALUES (${i})`),
        );
        const value = answerOf(first);
        assert.match(String(value), /^\d+$/);
        assert.equal(answerOf(await c.exchange(query(`SELECT currval('${NAMED}')`))), value, `round ${i}: currval`);
        assert.equal(answerOf(await c.exchange(query('SELECT lastval()'))), value, `round ${i}: lastval()`);
      }
    } finally {
      await c.close();
    }
  });

  test('DISCARD SEQUENCES and DISCARD ALL end the values of nextval, also run on a standby', async () => {
    const c = await connect(p);
    try {
      for (const discard of ['DISCARD SEQUENCES', 'DISCARD ALL']) {
        await c.query(`SELECT nextval('${NAMED}')`);
        await c.query(discard);
        assert.equal(await answer(c, 'SELECT lastval()'), '55000', `lastval() after ${discard}`);
        assert.equal(await answer(c, `SELECT currval('${NAMED}')`), '55000', `currval after ${discard}`);
      }
    } finally {
      await c.end();
    }
  });
});

// DBD::Pg's last_insert_id() with AutoCommit off sends BEGIN, a read of the catalog, then
// currval(): the transaction's server is taken before the currval is seen. Found by its own
// suite: in a pool no client had called currval in yet, one client's INSERT, then that
// transaction, got 55000 whenever the pool had opened another server since (the transaction
// took the newest idle server, not the one its nextval ran on).
describe('currval after a read in the same transaction', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id serial PRIMARY KEY, label text);
       GRANT ALL ON ${TABLE}, ${SEQUENCE} TO ${t.scramUser.user}`,
    );
    // Reads on the primary; two server connections. A plain BEGIN waits for the statement after
    // it, which routes the transaction: here a read, sent to the primary as a read.
    p = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 2,
      transaction_routing: 'first_statement',
    });
  });
  after(async () => {
    await p?.stop();
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${TABLE}`);
  });

  test("a client's transaction takes the server of its last write when idle: currval() gives its id", async () => {
    const c = await connect(p);
    const other = await connect(p);
    try {
      // `other` holds one server while c writes on the second; both then go back idle, the
      // one c wrote on first.
      await other.query('BEGIN');
      await other.query('SELECT 1');
      const id = await insert(c, 'alone');
      await other.query('COMMIT');
      await c.query('BEGIN');
      await c.query('SELECT count(*) FROM pg_catalog.pg_class WHERE relname = $1', [TABLE]);
      const got = await answer(c, `SELECT currval('${SEQUENCE}')`);
      await c.query('ROLLBACK');
      assert.equal(got, id);
    } finally {
      await c.end();
      await other.end();
    }
  });

  // Found by DBD::Pg's 03dbmethod.t on a rerun: a transaction of BEGIN, reads and ROLLBACK goes
  // to the primary as writes do, and at its end its server counted as the client's last
  // write's, where none of its nextval values are: the currval after it got 55000.
  test('transactions that only read between the write and the currval, on other servers, change nothing', async () => {
    // A plain BEGIN routes its transaction to the primary at once (the default routing).
    const two = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 2 });
    const c = await connect(two);
    const other = await connect(two);
    try {
      const id = await insert(c, 'then-reads');
      // `other` holds the server c wrote on; c's reads go to the second one.
      await other.query('BEGIN');
      await other.query('SELECT 1');
      await c.query('BEGIN');
      await c.query('SELECT 1');
      await c.query('ROLLBACK');
      await other.query('COMMIT');
      await c.query('BEGIN');
      const got = await answer(c, `SELECT currval('${SEQUENCE}')`);
      await c.query('ROLLBACK');
      assert.equal(got, id);
    } finally {
      await Promise.all([c.end(), other.end()]);
      await two.stop();
    }
  });

  // DBD::Pg sends `begin` alone, then its currval: the pool learned its clients read sequences
  // only from a currval in the chunk that routes a transaction, so a BEGIN right after a write
  // did not wait for the write's server (busy with its WAL position) and took another.
  test('after a currval seen inside a transaction, a BEGIN right after a write waits for its server', async () => {
    const split = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 2,
      backends: clusterBackends(t, [0, 1, 1]),
    });
    const c = await connect(split);
    try {
      await c.query('BEGIN');
      assert.equal(await answer(c, `SELECT currval('${SEQUENCE}')`), '55000');
      await c.query('ROLLBACK');
      const wrong: (number | string)[] = [];
      for (let round = 0; round < 10; round++) {
        const id = await insert(c, `round-${round}`);
        await c.query('BEGIN');
        const got = await answer(c, `SELECT currval('${SEQUENCE}')`);
        await c.query('ROLLBACK');
        if (got !== id) wrong.push(got);
      }
      assert.deepEqual(wrong, []);
    } finally {
      await c.end();
      await split.stop();
    }
  });

  test("where another client wrote since, it gets 55000, never that client's id", async () => {
    const one = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 1,
      transaction_routing: 'first_statement',
    });
    const a = await connect(one);
    const b = await connect(one);
    try {
      // The pool's clients read sequences: writes there are guarded from now on.
      assert.equal(await answer(a, 'SELECT lastval()'), '55000');
      const idA = await insert(a, 'a-then-read');
      const idB = await insert(b, 'b-then-read');
      assert.notEqual(idA, idB);
      await a.query('BEGIN');
      await a.query('SELECT count(*) FROM pg_catalog.pg_class WHERE relname = $1', [TABLE]);
      const got = await answer(a, `SELECT currval('${SEQUENCE}')`);
      await a.query('ROLLBACK');
      assert.equal(got, '55000', "a's currval() after b's INSERT on the one server");
    } finally {
      await Promise.all([a.end(), b.end()]);
      await one.stop();
    }
  });
});
