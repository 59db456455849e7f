// pgx v4 (statement cache on, its default) prepares a statement once (Parse, Describe
// statement, Sync) and then binds it with one result format per column of the description it
// holds, followed by a Describe of its portal: Bind, Describe portal, Execute, Sync. After the
// table changes, PostgreSQL fails that Bind with 0A000 "cached plan must not change result
// type", on which pgx drops the statement and prepares it again. pgtide ran the request again,
// prepared afresh, since the client asks for the portal's shape; but its Bind still carries the
// old shape's formats, and the client got 08P01 "bind message has 3 result formats but query
// has 2 columns" for ever (pgx's own TestStmtCacheInvalidationConn).
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

/** A Bind (text parameters) with the result format codes given, one per column as pgx sends them. */
function bindWithFormats(statement: string, params: string[], formats: number[]): Buffer {
  const plain = bind('', statement, params);
  const codes = Buffer.alloc(2 + 2 * formats.length);
  codes.writeInt16BE(formats.length);
  for (const [i, f] of formats.entries()) codes.writeInt16BE(f, 2 + 2 * i);
  const message = Buffer.concat([plain.subarray(0, plain.length - 2), codes]);
  message.writeInt32BE(message.length - 1, 1);
  return message;
}

/** pgx's Query of a statement it prepared: Bind, Describe portal, Execute, Sync. */
function run(statement: string, formats: number[]): Buffer[] {
  return [bindWithFormats(statement, ['1'], formats), describeMessage('P', ''), execute(), sync()];
}

describe('a stale plan bound with one result format per column of the old shape', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  for (const [name, login] of [
    ['direct', () => scramLogin(t, t.primary)],
    ['through pgtide', () => wire.login()],
  ] as const) {
    test(`${name}: 0A000, and the statement prepared again works`, async () => {
      const c = await WireClient.connect(login());
      try {
        await c.exchange(
          query(
            'DROP TABLE IF EXISTS stale_formats; CREATE TABLE stale_formats (id int PRIMARY KEY, f1 int, f2 int); INSERT INTO stale_formats VALUES (1, 2, 3)',
          ),
        );
        await c.exchange(parse('s1', 'SELECT * FROM stale_formats WHERE id = $1'), describeMessage('S', 's1'), sync());
        assert.deepEqual(dataRows(await c.exchange(...run('s1', [0, 0, 0]))), [['1', '2', '3']]);
        await c.exchange(query('ALTER TABLE stale_formats DROP COLUMN f1'));
        assert.deepEqual(errorCodes(await c.exchange(...run('s1', [0, 0, 0]))), ['0A000']);
        // pgx prepares it again under a new name, and binds with the new shape's formats.
        await c.exchange(parse('s2', 'SELECT * FROM stale_formats WHERE id = $1'), describeMessage('S', 's2'), sync());
        assert.deepEqual(dataRows(await c.exchange(...run('s2', [0, 0]))), [['1', '3']]);
      } finally {
        await c.close();
      }
    });
  }
});
