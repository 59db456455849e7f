// Clients pinned by temporary tables of one name and different columns, each with a named
// statement of the same text (`SELECT * FROM tmp_shape`): on PostgreSQL the text reads each
// session's own table. pgtide shared one statement between them, so the second client's
// Describe made the first one's description look outdated, and the first client's next Bind
// got pgtide's 0A000 "cached plan must not change result type" (pgx's own suite:
// TestConnCopyFromLarge running beside TestConnCopyFromSmall, each with its temporary `foo`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import {
  bind,
  dataRows,
  describe as describeMessage,
  directLogin,
  errorCodes,
  execute,
  normalise,
  parse,
  query,
  sync,
  useWirePgtide,
  WireClient,
  type Message,
} from '../support/pipeline.js';

const t = currentTopology();

function columns(count: number): string {
  return Array.from({ length: count }, (_, i) => `c${i} int`).join(', ');
}

function values(count: number): string {
  return Array.from({ length: count }, (_, i) => String(i)).join(', ');
}

/** The number of fields of the RowDescription among `messages`, -1 without one. */
function fieldCount(messages: Message[]): number {
  const row = messages.find((m) => m.type === 'T');
  return row === undefined ? -1 : row.body.readInt16BE(0);
}

/** Two clients with their own temporary `tmp_shape` of 7 and 8 columns; each prepares the same
 *  text and describes it, then both run it twice, in both orders: the columns each client got. */
async function temporaryShapes(connect: () => Promise<WireClient>): Promise<string[]> {
  const clients = [await connect(), await connect()];
  const got: string[] = [];
  try {
    for (const [i, c] of clients.entries()) {
      const n = 7 + i;
      const created = await c.exchange(
        query(`CREATE TEMP TABLE tmp_shape (${columns(n)}); INSERT INTO tmp_shape VALUES (${values(n)})`),
      );
      assert.deepEqual(errorCodes(created), []);
    }
    for (const c of clients) {
      const described = await c.exchange(
        parse('shape', 'SELECT * FROM tmp_shape'),
        describeMessage('S', 'shape'),
        sync(),
      );
      got.push(`described ${fieldCount(described)}`);
    }
    for (const order of [clients, [...clients].reverse()]) {
      for (const c of order) {
        const ran = await c.exchange(bind('', 'shape'), execute(), sync());
        const codes = errorCodes(ran);
        got.push(codes.length > 0 ? normalise(ran).join(' | ') : `ran ${dataRows(ran)[0]?.length}`);
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return got;
}

describe('named statements of one text over temporary tables of different shapes', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 4 });

  test("each pinned client's statement reads its own table, as on PostgreSQL", async () => {
    const expected = ['described 7', 'described 8', 'ran 7', 'ran 8', 'ran 8', 'ran 7'];
    assert.deepEqual(await temporaryShapes(() => WireClient.connect(directLogin(t))), expected, 'directly');
    for (let round = 0; round < 3; round++)
      assert.deepEqual(await temporaryShapes(() => wire.connect()), expected, `round ${round}`);
  });
});
