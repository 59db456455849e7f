// A client whose statements pgtide does not map (it prepared none by name) may still drop the
// server's: DISCARD ALL (ActiveRecord's reset!, poolers' reset queries run by hand) or DEALLOCATE
// ALL. Found by ActiveRecord's run: another client's prepared statement, run inside its
// transaction block on that server, then failed with 26000 naming pgtide's statement, where
// PostgreSQL runs it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import { bind, dataRows, errorCodes, execute, parse, query, sync, useWirePgtide } from '../support/pipeline.js';

const t = currentTopology();

describe('statements dropped by a client pgtide does not map them for', { timeout: 60_000 }, () => {
  // One server: the clients meet on it.
  const wire = useWirePgtide(t, {
    default_pool_size: 1,
    backends: [{ name: 'primary', host: t.primary.host, port: t.primary.port, weight: 1, role: 'primary' }],
  });

  for (const drop of ['DISCARD ALL', 'DEALLOCATE ALL', 'SELECT 1; DEALLOCATE ALL']) {
    test(`${drop}: another client's statement runs in its transaction block, as directly`, async () => {
      const a = await wire.connect();
      const b = await wire.connect();
      try {
        assert.deepEqual(errorCodes(await a.exchange(parse('answer', 'SELECT 42'), sync())), []);
        for (let round = 0; round < 4; round++) {
          // Or a client that leaves at once, while pgtide reads back the settings DISCARD ALL reset.
          const dropper = round % 2 === 0 ? b : await wire.connect();
          assert.deepEqual(errorCodes(await dropper.exchange(query(drop))), [], drop);
          if (dropper !== b) await dropper.close();
          const answer = await a.exchange(query('BEGIN'), bind('', 'answer'), execute(), sync(), query('COMMIT'));
          assert.deepEqual(errorCodes(answer), [], `round ${round}`);
          assert.deepEqual(dataRows(answer), [['42']], `round ${round}`);
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }
});
