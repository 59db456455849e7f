// A shared prepared statement that went stale on a standby: a read a client never described
// before runs again unseen, as it does on the primary (postgres.js's own suite met the 0A000
// when its reads went to standbys). Primary weight 0, so reads go to the two standbys.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  WireClient,
  bind,
  dataRows,
  describe as describeMessage,
  errorCodes,
  execute,
  normalise,
  parse,
  sync,
  type WireLogin,
} from '../support/pipeline.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const TABLE = 'stale_on_standby';
const TEXT = `SELECT v, pg_catalog.pg_is_in_recovery() AS standby FROM ${TABLE}`;

/** Until every standby has replayed what the primary wrote so far. */
async function standbysCaughtUp(): Promise<void> {
  const [row] = await sqlOn<{ lsn: string }>(t.primary, 'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn');
  for (const standby of t.standbys) {
    await waitFor(`${standby.name} replays ${row!.lsn}`, async () => {
      const [r] = await sqlOn<{ done: boolean }>(
        standby,
        'SELECT pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
        [row!.lsn],
      );
      return r!.done;
    });
  }
}

describe('a stale shared statement on a standby', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let login: WireLogin;
  before(async () => {
    p = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 2,
      backends: clusterBackends(t, [0, 1, 1]),
    });
    login = {
      host: p.host,
      port: p.port,
      user: t.scramUser.user,
      password: t.scramUser.password,
      database: t.database,
    };
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (v int); INSERT INTO ${TABLE} VALUES (7); GRANT ALL ON ${TABLE} TO PUBLIC`,
    );
    await standbysCaughtUp();
  });
  after(async () => {
    await p.stop();
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${TABLE}`);
  });

  test('a client that never described it gets the new rows, not 0A000', async () => {
    // Prepared on every server of both standbys' pools by clients that described it.
    const earlier: WireClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await WireClient.connect(login);
      earlier.push(c);
      const got = await c.exchange(parse('s', TEXT), describeMessage('S', 's'), bind('', 's'), execute(), sync());
      assert.deepEqual(dataRows(got), [['7', 't']], normalise(got).join(' | '));
    }
    await Promise.all(earlier.map((c) => c.close()));
    await sqlOn(t.primary, `ALTER TABLE ${TABLE} ALTER COLUMN v TYPE text USING 'new-' || v`);
    await standbysCaughtUp();
    const fresh = await WireClient.connect(login);
    try {
      const got = await fresh.exchange(parse('s', TEXT), describeMessage('S', 's'), bind('', 's'), execute(), sync());
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.deepEqual(
        dataRows(got).map((row) => row[0]),
        ['new-7'],
      );
    } finally {
      await fresh.close();
    }
  });
});
