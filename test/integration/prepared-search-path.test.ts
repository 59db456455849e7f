// Clients of one pool whose search_path differs (a schema per tenant) prepare the same statement
// text over tables of other shapes. Found by Bun.SQL (named statements, pipelined): the
// statement was shared between them, so PostgreSQL revalidated a copy prepared under one
// tenant's search_path under the other's, and failed it with 0A000 "cached plan must not
// change result type" (16-36 of 100 queries; none directly).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, sqlOn } from '../support/topology.js';
import {
  type WireClient,
  bind,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  normalise,
  parse,
  query,
  sync,
  useWirePgtide,
} from '../support/pipeline.js';

const t = currentTopology();

describe('the same statement text under two search paths', { timeout: 60_000 }, () => {
  // One server: every tenant's statements meet on it.
  const wire = useWirePgtide(t, {
    default_pool_size: 1,
    backends: [{ name: 'primary', host: t.primary.host, port: t.primary.port, weight: 1, role: 'primary' }],
  });

  test("each client reads its own tenant's table, as directly", async () => {
    await sqlOn(
      t.primary,
      `DROP SCHEMA IF EXISTS sp_a CASCADE; DROP SCHEMA IF EXISTS sp_b CASCADE; CREATE SCHEMA sp_a; CREATE SCHEMA sp_b;
       CREATE TABLE sp_a.items (id int, v int8); INSERT INTO sp_a.items VALUES (1, 10);
       CREATE TABLE sp_b.items (id int, v text); INSERT INTO sp_b.items VALUES (1, 'b1');
       GRANT USAGE ON SCHEMA sp_a, sp_b TO PUBLIC; GRANT SELECT ON sp_a.items, sp_b.items TO PUBLIC`,
    );
    try {
      for (let round = 0; round < 6; round++) {
        const tenants = [
          ['sp_a', '10'],
          ['sp_b', 'b1'],
        ] as const;
        // By the startup packet, or by SET.
        const bySet = round % 2 === 1;
        const clients = await Promise.all(
          tenants.map(async ([schema]) => {
            const c = await wire.connect(bySet ? {} : { options: `-c search_path=${schema}` });
            if (bySet) assert.deepEqual(errorCodes(await c.exchange(query(`SET search_path = ${schema}`))), []);
            return c;
          }),
        );
        const answers = await Promise.all(
          clients.map((c: WireClient) => {
            const runs = Array.from({ length: 5 }, () => [bind('', 'q', ['1']), execute()]).flat();
            return c.exchange(parse('q', 'SELECT v FROM items WHERE id = $1'), ...runs, sync());
          }),
        );
        for (const [i, [schema, value]] of tenants.entries()) {
          assert.deepEqual(errorCodes(answers[i]!), [], `round ${round}, ${schema}`);
          assert.deepEqual(dataRows(answers[i]!), Array(5).fill([value]), `round ${round}, ${schema}`);
        }
        await Promise.all(clients.map((c) => c.close()));
      }
    } finally {
      await sqlOn(t.primary, 'DROP SCHEMA sp_a CASCADE; DROP SCHEMA sp_b CASCADE');
    }
  });

  // The tenant pattern transaction pooling recommends: the search_path set for the transaction
  // only (SET LOCAL), or by SET inside it, with statements prepared after it in that transaction.
  test('a statement prepared after a SET search_path in its transaction reads that path, as directly', async () => {
    await sqlOn(
      t.primary,
      `DROP SCHEMA IF EXISTS sp_c CASCADE; DROP SCHEMA IF EXISTS sp_d CASCADE; CREATE SCHEMA sp_c; CREATE SCHEMA sp_d;
       CREATE TABLE sp_c.items (id int, v int8); INSERT INTO sp_c.items VALUES (1, 10);
       CREATE TABLE sp_d.items (id int, v text, w text); INSERT INTO sp_d.items VALUES (1, 'd1', 'd2');
       GRANT USAGE ON SCHEMA sp_c, sp_d TO PUBLIC; GRANT SELECT ON sp_c.items, sp_d.items TO PUBLIC`,
    );
    try {
      for (const set of ['SET LOCAL', 'SET']) {
        for (let round = 0; round < 3; round++) {
          const tenants = [
            ['sp_c', [['1', '10']]],
            ['sp_d', [['1', 'd1', 'd2']]],
          ] as const;
          for (const [schema, rows] of round % 2 === 0 ? tenants : [...tenants].reverse()) {
            const c = await wire.connect();
            try {
              const answer = await c.exchange(
                query(`BEGIN; ${set} search_path = ${schema}`),
                parse(`q${round}`, 'SELECT * FROM items WHERE id = $1'),
                describeMessage('S', `q${round}`),
                bind('', `q${round}`, ['1']),
                execute(),
                sync(),
              );
              assert.deepEqual(errorCodes(answer), [], `${set}, round ${round}, ${schema}`);
              assert.deepEqual(dataRows(answer), rows, `${set}, round ${round}, ${schema}`);
              const columns = normalise(answer).filter((line) => line.startsWith('T '));
              assert.equal(columns.length, 1);
              assert.equal(columns[0]!.includes('w\\x00'), schema === 'sp_d', `${set}, round ${round}: ${columns[0]}`);
              assert.deepEqual(errorCodes(await c.exchange(query('COMMIT'))), []);
            } finally {
              await c.close();
            }
          }
        }
      }
    } finally {
      await sqlOn(t.primary, 'DROP SCHEMA sp_c CASCADE; DROP SCHEMA sp_d CASCADE');
    }
  });
});
