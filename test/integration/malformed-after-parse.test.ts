// A malformed Bind (its body a lone NUL, or empty) after a Parse of a read, the Parse in a write
// of its own: PostgreSQL answers 08P01 and the client goes on. pgtide takes a Bind whose
// statement it cannot read for a write, so the batch the read began on a standby moves to the
// primary; a Sync in the chunk that moved it was owed twice there, and once the client left, its
// server stayed linked to it for good (a helper: 20 such clients took every server of the
// primary, and writes waited with no answer). Any Bind taken for a write there did the same.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import {
  directLogin,
  errorCodes,
  normalise,
  parse,
  query,
  sync,
  useWirePgtide,
  WireClient,
  type WireLogin,
} from '../support/pipeline.js';
import { int32 } from '../support/raw-client.js';

const t = currentTopology();
const pause = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('a Bind taken for a write after a Parse of a read in a write of its own', { timeout: 60_000 }, () => {
  // Reads on the standbys, as the helper's demo had them; one server per pool.
  const wire = useWirePgtide(t, {
    default_pool_size: 1,
    query_wait_timeout: 5,
    backends: [
      { name: 'primary', host: t.primary.host, port: t.primary.port, weight: 0, role: 'primary' },
      ...t.standbys.map((s) => ({ name: s.name, host: s.host, port: s.port, weight: 1, role: 'standby' as const })),
    ],
  });

  for (const [name, body] of [
    ['whose body is a lone NUL', Buffer.from([0])],
    ['whose body is empty', Buffer.alloc(0)],
    ['of a statement never prepared', Buffer.from('\0nope\0\0\0\0\0\0\0', 'latin1')],
  ] as const) {
    test(`a Bind ${name}: answered as by PostgreSQL, and the server is free once the client leaves`, async () => {
      const bind = Buffer.concat([Buffer.from('B'), int32(4 + body.length), body]);
      // Each in a write of its own, then the Parse with the Bind, then the Bind with the Sync.
      const variants = [
        [[parse('', 'SELECT 1')], [bind], [sync()]],
        [[parse('', 'SELECT 1'), bind], [sync()]],
        [[parse('', 'SELECT 1')], [bind, sync()]],
      ];
      const answers = async (login: WireLogin) => {
        const got: string[] = [];
        for (const writes of variants) {
          const c = await WireClient.connect(login);
          for (const write of writes) {
            c.send(...write);
            await pause();
          }
          got.push(
            normalise(await c.untilReady().catch((e: Error) => [{ type: e.message, body: Buffer.alloc(0) }])).join(' '),
          );
          await c.close();
        }
        return got;
      };
      const expected = await answers(directLogin(t));
      assert.deepEqual(await answers(wire.login()), expected);
      // A write needs the primary's one server.
      const next = await wire.connect();
      const ddl = 'CREATE TABLE IF NOT EXISTS malformed_after_parse (v int); DROP TABLE malformed_after_parse';
      assert.deepEqual(errorCodes(await next.exchange(query(ddl))), []);
      await next.close();
    });
  }
});
