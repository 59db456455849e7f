// With standard_conforming_strings = off a backslash escapes a quote in a plain string:
// `'it\'s'` is one string. pgtide reads text as PostgreSQL does with it on, and ruby-pg's suite
// found it rewriting a client's statement names inside such a text's strings: the string after
// `'it\'s'` came back changed (`; DEALLOCATE "pgtide_15"; `) and the client's `foo` was forgotten
// (26000 at its next run), or a string naming pg_prepared_statements became a syntax error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import { startPgtide } from '../support/pgtide.js';

const t = currentTopology();

/** What a client with standard_conforming_strings = off and a statement `foo` gets. */
async function answers(config: pg.ClientConfig): Promise<unknown[]> {
  const c = new pg.Client({ ...config, options: '-c standard_conforming_strings=off' });
  await c.connect();
  try {
    const got: unknown[] = [];
    await c.query({ name: 'foo', text: 'SELECT 42 AS n' });
    got.push((await c.query("SELECT 'it\\'s' AS a, '; DEALLOCATE foo; ' AS b")).rows);
    got.push((await c.query({ name: 'foo', text: 'SELECT 42 AS n' })).rows);
    got.push((await c.query("SELECT 'it\\'s' AS a, 'x FROM pg_prepared_statements y' AS b")).rows);
    got.push((await c.query("SELECT 'it\\'s' AS a, $1::text AS b", ['; EXECUTE foo'])).rows);
    return got;
  } finally {
    await c.end();
  }
}

describe('standard_conforming_strings = off', { timeout: 60_000 }, () => {
  test('a text whose strings name statements reaches the server as the client wrote it', async () => {
    const p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 2 });
    try {
      const expected = await answers(scramLogin(t, t.primary));
      assert.deepEqual(expected[0], [{ a: "it's", b: '; DEALLOCATE foo; ' }]);
      assert.deepEqual(await answers(p.pgConfig()), expected);
    } finally {
      await p.stop();
    }
  });
});
