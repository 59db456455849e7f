// pgx v4 prepares each statement once per connection (Parse, Describe statement, Sync), inside
// the transaction when the first use is there. A server connection may hold a copy of the same
// text that another client prepared before its table was dropped and created again with other
// columns. pgtide answered the new client's Parse from that copy, and the Describe failed with
// 0A000 "cached plan must not change result type" inside the transaction block, where nothing
// can run again: a fresh Parse on PostgreSQL is never stale (pgx's own
// TestStmtCacheInvalidationTx right after TestStmtCacheInvalidationConn failed so, now and
// then, depending on which server connection its transaction got).
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
const TEXT = 'SELECT * FROM stale_copy_block WHERE id = $1';

function run(statement: string): Buffer[] {
  return [bind('', statement, ['1']), describeMessage('P', ''), execute(), sync()];
}

describe('a Parse inside a transaction block of a text the server holds from before a table change', {
  timeout: 60_000,
}, () => {
  // One server connection: the second client's transaction surely meets the first one's copy.
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  for (const [name, login] of [
    ['direct', () => scramLogin(t, t.primary)],
    ['through pgtide', () => wire.login()],
  ] as const) {
    test(`${name}: the new client describes and runs the new shape, with no 0A000`, async () => {
      const a = await WireClient.connect(login());
      try {
        await a.exchange(
          query(
            'DROP TABLE IF EXISTS stale_copy_block; CREATE TABLE stale_copy_block (id int, f2 int); INSERT INTO stale_copy_block VALUES (1, 2)',
          ),
        );
        await a.exchange(query('BEGIN'));
        assert.deepEqual(errorCodes(await a.exchange(parse('s1', TEXT), describeMessage('S', 's1'), sync())), []);
        assert.deepEqual(dataRows(await a.exchange(...run('s1'))), [['1', '2']]);
        await a.exchange(query('COMMIT'));
      } finally {
        await a.close();
      }
      const b = await WireClient.connect(login());
      try {
        await b.exchange(
          query(
            'DROP TABLE stale_copy_block; CREATE TABLE stale_copy_block (id int, f1 int, f2 int); INSERT INTO stale_copy_block VALUES (1, 1, 2)',
          ),
        );
        await b.exchange(query('BEGIN'));
        assert.deepEqual(errorCodes(await b.exchange(parse('s1', TEXT), describeMessage('S', 's1'), sync())), []);
        assert.deepEqual(dataRows(await b.exchange(...run('s1'))), [['1', '1', '2']]);
        assert.deepEqual(errorCodes(await b.exchange(query('COMMIT'))), []);
        // Its next transaction binds the same copy.
        await b.exchange(query('BEGIN'));
        assert.deepEqual(dataRows(await b.exchange(...run('s1'))), [['1', '1', '2']]);
        await b.exchange(query('COMMIT'));
      } finally {
        await b.close();
      }
    });
  }
});
