// pg_prepared_statements through pgtide lists what the client prepared, under its own names, as
// PostgreSQL does for its own session: not pgtide's shared copies of every client's statements.
// Clients read it to learn what they prepared (psycopg's own tests count its rows; code checks
// for a name before preparing it). Each scenario runs direct to the primary and through pgtide,
// and the two must give the same rows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { WireClient, dataRows, directLogin, parse, query, sync, type WireLogin } from '../support/pipeline.js';

const t = currentTopology();

type Target = { host: string; port: number };

async function connected(target: Target): Promise<pg.Client> {
  const client = new pg.Client(scramLogin(t, target));
  await client.connect();
  return client;
}

async function rows(client: pg.Client, q: string | pg.QueryConfig, values?: unknown[]): Promise<unknown[][]> {
  const result = await client.query({ ...(typeof q === 'string' ? { text: q } : q), values, rowMode: 'array' });
  return result.rows;
}

const LIST = 'SELECT name, statement, from_sql FROM pg_prepared_statements ORDER BY prepare_time';

/** What one client sees of its statements, step by step, while another client prepares its own. */
async function scenario(target: Target): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  const other = await connected(target);
  const client = await connected(target);
  try {
    await rows(other, { name: 'theirs', text: 'SELECT 1 AS theirs' });
    seen['none yet'] = await rows(client, 'SELECT count(*)::int FROM pg_prepared_statements');
    await rows(client, { name: 's1', text: 'SELECT $1::int AS x' }, [1]);
    await rows(client, { name: 's2', text: "SELECT 'it''s' AS y" });
    seen['two, in order'] = await rows(client, LIST);
    seen['types of one'] = await rows(
      client,
      "SELECT parameter_types::text FROM pg_prepared_statements WHERE name = 's1'",
    );
    seen['qualified, aliased, with a parameter'] = await rows(
      client,
      'SELECT p.name FROM pg_catalog.pg_prepared_statements AS p WHERE p.name = $1',
      ['s2'],
    );
    seen['columns qualified by the view'] = await rows(
      client,
      'SELECT pg_prepared_statements.name FROM pg_prepared_statements ORDER BY 1',
    );
    seen['in a subquery, next to another statement'] = await rows(
      client,
      'SELECT (SELECT count(*)::int FROM pg_prepared_statements), 1',
    );
    // A named statement reading the view lists itself, and what the client has when it runs.
    const listing = { name: 'listing', text: 'SELECT name FROM pg_prepared_statements ORDER BY name' };
    seen['a named listing'] = await rows(client, listing);
    await rows(client, { name: 's3', text: 'SELECT 3' });
    seen['the named listing after a Parse'] = await rows(client, listing);
    await client.query('DEALLOCATE s1');
    seen['the named listing after a DEALLOCATE'] = await rows(client, listing);
    seen['the other client'] = await rows(other, 'SELECT name FROM pg_prepared_statements');
    await client.query('PREPARE by_sql AS SELECT 42');
    seen['with an SQL PREPARE'] = await rows(client, LIST);
    return seen;
  } finally {
    await client.end();
    await other.end();
  }
}

describe('pg_prepared_statements lists the client’s own statements', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
  });
  after(() => p.stop());

  test('through pgtide, the same rows as direct', async () => {
    const direct = await scenario(t.primary);
    assert.deepEqual(direct['two, in order'], [
      ['s1', 'SELECT $1::int AS x', false],
      ['s2', "SELECT 'it''s' AS y", false],
    ]);
    assert.deepEqual(direct['the named listing after a Parse'], [['listing'], ['s1'], ['s2'], ['s3']]);
    assert.deepEqual(await scenario(p), direct);
  });

  test('a text in the client’s own encoding, holding the dollar quote pgtide puts texts in', async () => {
    const listed = async (login: WireLogin) => {
      const w = await WireClient.connect(login);
      try {
        await w.exchange(query("SET client_encoding = 'LATIN1'"));
        // é in LATIN1: one byte that is no UTF-8.
        const latin = parse('latin', "SELECT 'X$pgtide$' AS e");
        latin[latin.indexOf('X')] = 0xe9;
        await w.exchange(latin, sync());
        const answer = await w.exchange(query('SELECT name, statement FROM pg_prepared_statements'));
        return answer.filter((m) => m.type === 'D').map((m) => m.body.toString('latin1'));
      } finally {
        await w.close();
      }
    };
    const direct = await listed(directLogin(t));
    assert.equal(direct.length, 1);
    assert.ok(direct[0]!.includes("SELECT 'é$pgtide$' AS e"), direct[0]);
    assert.deepEqual(await listed(p.wireLogin()), direct);
  });

  test('a client with no statement of its own sees none of the pool’s', async () => {
    const preparer = await connected(p);
    const reader = await connected(p);
    try {
      for (let i = 0; i < 5; i++) await rows(preparer, { name: `p${i}`, text: `SELECT ${i}` });
      // The one server connection holds the preparer's five copies.
      const all = await rows(preparer, 'SELECT count(*)::int FROM pg_catalog.pg_prepared_statements');
      assert.deepEqual(all, [[5]]);
      assert.deepEqual(await rows(reader, 'SELECT count(*)::int FROM pg_prepared_statements'), [[0]]);
      assert.deepEqual(await rows(reader, 'TABLE pg_prepared_statements'), []);
    } finally {
      await preparer.end();
      await reader.end();
    }
  });

  // Its start went before pgtide had read the text, which was then not rewritten: the client
  // read the server's list, other clients' statements and their texts.
  test('nor when the query comes in two pieces', async () => {
    const preparer = await connected(p);
    const reader = await WireClient.connect(p.wireLogin());
    try {
      for (let i = 0; i < 3; i++) await rows(preparer, { name: `q${i}`, text: `SELECT ${i} AS cut` });
      const list = query('SELECT count(*)::int FROM pg_prepared_statements');
      for (const cut of [1, 3, 6, 20]) {
        reader.send(list.subarray(0, cut));
        await new Promise((resolve) => setTimeout(resolve, 30));
        reader.send(list.subarray(cut));
        assert.deepEqual(dataRows(await reader.untilReady(1, 5000)), [['0']], `cut at ${cut}`);
      }
    } finally {
      await preparer.end();
      await reader.close();
    }
  });
});
