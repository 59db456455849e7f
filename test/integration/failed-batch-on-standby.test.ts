// A batch that fails on a read's standby while a Query sent inside it is owed. Found by
// pgJDBC's AutoRollbackTestSuite (autosave=always, after a DEALLOCATE ALL it keeps in its
// cache): the driver writes Bind and Execute of a statement the server no longer has and its
// SAVEPOINT Query, then the next statement and the Sync. PostgreSQL fails the Bind, skips
// the Query and everything else up to that Sync, and answers once. Through pgtide the second
// write was held behind the read for the Query's ReadyForQuery, which never came (the client
// hung, the server stayed taken, 5 of 10 rounds), or, when the error came first, left the read's
// server and ran on the primary: the INSERT the server would have skipped was committed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { bind, errorCodes, execute, parse, query, sync, WireClient } from '../support/pipeline.js';

const t = currentTopology();

describe('a batch failing on a standby with a Query inside it answers as PostgreSQL', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    await sqlOn(t.primary, 'CREATE TABLE IF NOT EXISTS skipped_rows (v int)');
    await sqlOn(t.primary, `GRANT ALL ON skipped_rows TO ${t.scramUser.user}`);
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]) });
  });
  after(async () => {
    await p?.stop();
    await sqlOn(t.primary, 'DROP TABLE IF EXISTS skipped_rows');
  });

  for (const named of [true, false])
    for (const errorFirst of [false, true])
      test(`${named ? 'a client with named statements' : 'a client without'}, the rest of the batch sent ${errorFirst ? 'after' : 'before'} the error came: 26000, one ReadyForQuery, nothing of the batch ran`, async () => {
        const c = await WireClient.connect(p.wireLogin());
        try {
          for (let round = 0; round < 5; round++) {
            // A named statement: pgtide maps the client's statements from now on.
            if (named) await c.exchange(parse(`s_known_${round}`, 'SELECT 1'), sync());
            c.send(bind('', 's_gone'), execute(), query('SELECT 2'));
            const first = errorFirst ? await c.until('E') : [];
            c.send(parse('', 'INSERT INTO skipped_rows VALUES (1)'), bind('', ''), execute(), sync());
            const answers = [...first, ...(await c.untilReady(1, 5000))];
            assert.deepEqual(
              answers.map((m) => m.type),
              ['E', 'Z'],
              `round ${round}: ${JSON.stringify(answers.map((m) => m.type))}`,
            );
            assert.deepEqual(errorCodes(answers), ['26000']);
            const next = await c.exchange(query('SELECT 3 AS three'));
            assert.deepEqual(errorCodes(next), [], `round ${round}: the connection goes on`);
          }
        } finally {
          await c.close();
        }
        const [row] = await sqlOn(t.primary, 'SELECT count(*)::int AS n FROM skipped_rows');
        assert.equal(row!.n, 0, 'a statement PostgreSQL skips after the failed Bind ran');
      });
});
