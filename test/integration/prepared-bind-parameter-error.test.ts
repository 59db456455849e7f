// A named statement whose Bind fails on a parameter's value: `$1::regclass` given a relation
// that does not exist fails with 42P01 while PostgreSQL reads the value, before any planning.
// pgtide took that error for its shared statement's (as when re-planning it against a dropped
// table fails) and made a new version of it: every later run of the statement got 0A000 "cached
// plan must not change result type" for the client's life, and the client left its server, its
// currval() with it (DBD::Pg's own suite: last_insert_id after a sequence's rename).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, scramLogin, sqlOn } from '../support/topology.js';
import { startPgtide } from '../support/pgtide.js';

const t = currentTopology();

/** Each value run in turn by one named statement: its rows' `r`, or the error's SQLSTATE. */
async function runNamed(c: pg.Client, name: string, text: string, values: string[]): Promise<string[]> {
  const answers: string[] = [];
  for (const value of values) {
    try {
      answers.push(String((await c.query({ name, text, values: [value] })).rows[0].r));
    } catch (err) {
      answers.push((err as { code: string }).code);
    }
  }
  return answers;
}

describe('a Bind that fails on a parameter value', { timeout: 60_000 }, () => {
  test("is the client's error alone: the statement runs again as on PostgreSQL, and currval() stays", async () => {
    await sqlOn(
      t.primary,
      `DROP SEQUENCE IF EXISTS bind_value_seq; CREATE SEQUENCE bind_value_seq; GRANT ALL ON bind_value_seq TO ${t.scramUser.user}`,
    );
    const p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 2 });
    const direct = new pg.Client(scramLogin(t, t.primary));
    const pooled = new pg.Client(p.pgConfig());
    try {
      await direct.connect();
      await pooled.connect();
      const cases = [
        ['SELECT $1::regclass::text AS r', ['no_such_rel', 'pg_class', 'pg_class'], ['42P01', 'pg_class', 'pg_class']],
        ['SELECT $1::regtype::text AS r', ['no_such_type', 'int4', 'text'], ['42704', 'integer', 'text']],
        ['SELECT $1::regprocedure::text AS r', ['no_such_fn(int)', 'now()', 'now()'], ['42883', 'now()', 'now()']],
      ] as const;
      for (const [i, [text, values, expected]] of cases.entries()) {
        assert.deepEqual(await runNamed(direct, `value_${i}`, text, [...values]), expected, `${text} directly`);
        assert.deepEqual(await runNamed(pooled, `value_${i}`, text, [...values]), expected, text);
      }
      // The client keeps its server: no other client wrote there, and the failed Bind is its own.
      const next = (await pooled.query("SELECT nextval('bind_value_seq')::int AS n")).rows[0].n;
      assert.deepEqual(await runNamed(pooled, 'cur', 'SELECT currval($1)::text AS r', ['no_such_seq']), ['42P01']);
      const { rows } = await pooled.query({
        name: 'cur',
        text: 'SELECT currval($1)::text AS r',
        values: ['bind_value_seq'],
      });
      assert.equal(rows[0].r, String(next));
    } finally {
      await direct.end();
      await pooled.end();
      await p.stop();
      await sqlOn(t.primary, 'DROP SEQUENCE bind_value_seq');
    }
  });
});
