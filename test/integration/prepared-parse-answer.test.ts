// A Parse that needs no server (session/parse-answer.ts): between transactions, a Parse and Sync
// of a statement some server already parsed is answered by pgtide, so a client that prepares
// synchronously while other clients hold every server in their transactions does not wait for
// one (pgbench -M prepared deadlocked so: see prepared-statements.test.ts).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import {
  type WireClient,
  bind,
  dataRows,
  errorCodes,
  execute,
  holdServer,
  normalise,
  parse,
  sync,
  useWirePgtide,
} from '../support/pipeline.js';
import { decodeErrorFields } from '../../src/protocol/backend.js';

const t = currentTopology();
const POOL_SIZE = 2;

describe('a Parse and Sync between transactions', { timeout: 60_000 }, () => {
  // Its text returns the pid of the server that runs it.
  const TEXT = 'SELECT pg_catalog.pg_backend_pid() AS pid, $1::int + 1 AS v';
  const held: (() => Promise<void>)[] = [];
  const releaseAll = async () => {
    for (const release of held.splice(0)) await release();
  };
  // Before pgtide stops (hooks run in order).
  after(releaseAll);
  // Short, so that a client left waiting for a server fails in seconds, not in 120.
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE, query_wait_timeout: 3 });
  let client: WireClient;
  /** The server that prepared TEXT first, and the one that never did. */
  let first = 0;
  let other = 0;

  /** Keeps the last free server of the pool inside a transaction; returns its pid. */
  const holdFree = async () => {
    const c = new pg.Client(wire.pgtide().pgConfig());
    await c.connect();
    await c.query('BEGIN');
    held.push(async () => {
      await c.query('COMMIT');
      await c.end();
    });
    return (await c.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid as number;
  };

  test('of a statement a server parsed is answered while every server is held in a transaction', async () => {
    const preparer = await wire.connect();
    client = await wire.connect();
    const ran = await preparer.exchange(parse('mine', TEXT), bind('', 'mine', ['1']), execute(), sync());
    first = Number(dataRows(ran)[0]![0]);
    held.push(await holdServer(wire.pgtide().pgConfig(), first, POOL_SIZE));
    other = await holdFree();
    assert.notEqual(other, first);
    const answer = await client.exchange(parse('s1', TEXT), sync()).catch((err: Error) => {
      assert.fail(`no answer while the pool was busy (${err.message})`);
    });
    assert.deepEqual(normalise(answer), ['1 ', 'Z I']);
  });

  test('its name then runs on a server that never prepared the statement', async () => {
    // The server `other` becomes free; `first` stays held.
    await held.pop()!();
    const answer = await client.exchange(bind('', 's1', ['41']), execute(), sync());
    assert.deepEqual(errorCodes(answer), []);
    assert.deepEqual(dataRows(answer), [[String(other), '42']]);
  });

  test("under a name in use, it gets PostgreSQL's 42P05 from a server", async () => {
    const answer = await client.exchange(parse('s1', TEXT), sync());
    assert.deepEqual(errorCodes(answer), ['42P05']);
    assert.equal(
      decodeErrorFields(answer.find((m) => m.type === 'E')!.body).message,
      'prepared statement "s1" already exists',
    );
    assert.equal(answer.at(-1)!.type, 'Z');
  });

  test('of a text no server parsed yet waits for a server, whose syntax error the client gets', async () => {
    assert.equal(await holdFree(), other);
    client.send(parse('fresh', 'SELECT 7 AS fresh_text'), sync());
    // Every server is held: the Parse must wait for one.
    await assert.rejects(client.untilReady(1, 500), /timed out/);
    await releaseAll();
    assert.deepEqual(normalise(await client.untilReady()), ['1 ', 'Z I']);
    const failed = await client.exchange(parse('broken', 'SELEC 1'), sync());
    assert.deepEqual(errorCodes(failed), ['42601']);
    assert.deepEqual(
      failed.map((m) => m.type),
      ['E', 'Z'],
    );
    // The failed name is free: the client can take it for a statement that parses.
    const again = await client.exchange(parse('broken', 'SELECT 8'), bind('', 'broken'), execute(), sync());
    assert.deepEqual(errorCodes(again), []);
    assert.deepEqual(dataRows(again), [['8']]);
  });
});

describe('a statement whose table was dropped', { timeout: 30_000 }, () => {
  const TEXT = 'SELECT count(*) FROM parse_answer_dropped';
  /** Run as the test user, who owns the table. */
  const ddl = async (sql: string) => {
    const c = new pg.Client(wire.pgtide().pgConfig());
    await c.connect();
    await c.query(sql).finally(() => c.end());
  };
  after(() => ddl('DROP TABLE IF EXISTS parse_answer_dropped'));
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE });

  test("is parsed by a server again once a use of it failed: the client gets PostgreSQL's 42P01", async () => {
    await ddl('CREATE TABLE parse_answer_dropped (id int)');
    const user = await wire.connect();
    const client = await wire.connect();
    assert.deepEqual(dataRows(await user.exchange(parse('q', TEXT), bind('', 'q'), execute(), sync())), [['0']]);
    await ddl('DROP TABLE parse_answer_dropped');
    assert.deepEqual(errorCodes(await user.exchange(bind('', 'q'), execute(), sync())), ['42P01']);
    const answer = await client.exchange(parse('q', TEXT), sync());
    assert.deepEqual(errorCodes(answer), ['42P01']);
    assert.equal(answer.at(-1)!.type, 'Z');
  });
});
