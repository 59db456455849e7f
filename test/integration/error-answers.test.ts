// PostgreSQL writes an ERROR on its own and the ReadyForQuery after it in a write of its own.
// A client that looks at the transaction status right after the error (node-postgres's
// txstatus test) needs both in one read: pgtide forwards them in one write.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import { bind, execute, parse, query, sync, useWirePgtide, type WireClient } from '../support/pipeline.js';

const t = currentTopology();
const ROUNDS = 40;

/** How many of `rounds` exchanges, each answered by an error and a ReadyForQuery, came in more than one read. */
async function splitAnswers(c: WireClient, messages: () => Buffer[], rounds = ROUNDS): Promise<number> {
  let split = 0;
  for (let i = 0; i < rounds; i++) {
    const reads = c.recordReads();
    const answer = await c.exchange(...messages());
    assert.equal(answer.at(-1)?.type, 'Z');
    assert.ok(answer.some((m) => m.type === 'E'));
    if (reads.length > 1) split++;
  }
  return split;
}

describe('an error and the ReadyForQuery after it reach the client in one read', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction' });

  test('a simple Query that fails, in and out of a transaction block', async () => {
    const c = await wire.connect();
    assert.equal(await splitAnswers(c, () => [query('SELECT no_such_column')]), 0, 'outside a block');
    await c.exchange(query('BEGIN'));
    assert.equal(
      await splitAnswers(c, () => [query('SELECT no_such_column')]),
      0,
      'in a block, failed after the first round',
    );
    await c.exchange(query('ROLLBACK'));
  });

  test('an error whose transaction takes PostgreSQL a while to abort', async () => {
    const c = await wire.connect();
    // The server writes the ERROR, then drops the tables the block made, then writes ReadyForQuery.
    const slowAbort = `DO $$ BEGIN
      FOR i IN 1..300 LOOP EXECUTE format('CREATE TABLE error_answers_%s (x int)', i); END LOOP;
      RAISE EXCEPTION 'after the tables';
    END $$`;
    assert.equal(await splitAnswers(c, () => [query(slowAbort)], 5), 0);
  });

  test('an extended-protocol batch whose Execute fails', async () => {
    const c = await wire.connect();
    const batch = () => [parse('', 'SELECT 1 / $1::int'), bind('', '', ['0']), execute(), sync()];
    assert.equal(await splitAnswers(c, batch), 0);
  });
});
