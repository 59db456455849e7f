// libpq's PQprepare then PQexecPrepared, as PHP's PDO (native prepares, its default for pgsql)
// sends them: Parse, Sync once; then Bind, Describe portal, Execute, Sync for every execution.
// PDO reads the columns from the first execution's RowDescription and keeps them for the
// statement's life, trusting PostgreSQL's promise that a prepared statement's result never
// changes shape: after a table change PostgreSQL fails the Bind with 0A000 "cached plan must not
// change result type". pgtide ran the statement again, prepared afresh, because the client asks
// for the portal's shape: PDO then read three columns with two descriptions and PHP crashed
// (SIGSEGV), or named a column after another statement's value (found by a soak of every
// driver under an ALTER TABLE now and then).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, scramLogin } from '../support/topology.js';
import {
  WireClient,
  bind,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  parse,
  query,
  sync,
  useWirePgtide,
} from '../support/pipeline.js';

const t = currentTopology();

/** PQexecPrepared: Bind, Describe portal, Execute, Sync. */
const execPrepared = (statement: string) => [bind('', statement), describeMessage('P', ''), execute(), sync()];

describe('a prepared statement whose table changed, executed with a Describe of its portal', {
  timeout: 60_000,
}, () => {
  const one = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  for (const [name, login, table] of [
    ['direct', () => scramLogin(t, t.primary), 'portal_stale_direct'],
    ['through pgtide, one server', () => one.login(), 'portal_stale_one'],
    // Not yet on two servers: a copy prepared afresh on the other server is checked only against
    // a shape a Describe of the statement told, not a portal's (see the closing note of the
    // seventeenth session); learning the portal's shape there made a standby's refusal of an
    // unlogged table reach node-postgres (routing.test.ts).
  ] as const) {
    test(`${name}: 0A000 after an ADD COLUMN, as long as the statement lives`, async () => {
      const c = await WireClient.connect(login());
      const other = await WireClient.connect(login());
      try {
        await c.exchange(
          query(
            `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int, a text); INSERT INTO ${table} VALUES (1, 'a')`,
          ),
        );
        await c.exchange(parse('pdo_stmt_00000001', `SELECT * FROM ${table}`), sync());
        assert.deepEqual(dataRows(await c.exchange(...execPrepared('pdo_stmt_00000001'))), [['1', 'a']]);
        await other.exchange(query(`ALTER TABLE ${table} ADD COLUMN b text DEFAULT 'b'`));
        for (let i = 0; i < 3; i++) {
          const got = await c.exchange(...execPrepared('pdo_stmt_00000001'));
          assert.deepEqual(
            { errors: errorCodes(got), rows: dataRows(got) },
            { errors: ['0A000'], rows: [] },
            `run ${i} after the change`,
          );
        }
        // Prepared again under a new name (PDO's next prepare()), it has the new shape.
        await c.exchange(parse('pdo_stmt_00000002', `SELECT * FROM ${table}`), sync());
        assert.deepEqual(dataRows(await c.exchange(...execPrepared('pdo_stmt_00000002'))), [['1', 'a', 'b']]);
      } finally {
        await c.exchange(query(`DROP TABLE IF EXISTS ${table}`)).catch(() => undefined);
        await c.close();
        await other.close();
      }
    });
  }
});
