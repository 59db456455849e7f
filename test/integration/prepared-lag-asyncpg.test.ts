// asyncpg's statement cache against a standby that lags behind a table change: PostgreSQL fails
// a connection's cached statement once per change (0A000), which asyncpg prepares again and
// retries once by itself; through pgtide, whose reads go to servers of both shapes while the
// standby lags, a connection must not meet it twice for one change.
import { after, before, describe, test } from 'node:test';
import { currentTopology, sqlOn, standbysCaughtUp } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';
import {
  assertScriptPassed,
  DEBIAN_PYTHON,
  DRIVERS_DIR,
  runScript,
  scramUserEnv,
  type DriverScript,
} from '../support/driver-script.js';

const t = currentTopology();

describe('asyncpg while a standby lags behind a table change', { timeout: 90_000 }, () => {
  // Reads spread over the primary and both standbys; standby2 replays the ADD COLUMN 2 s late.
  const LAG_TABLE = 'asyncpg_lag_rows';
  const standby2 = t.standbys[1]!;
  const driver: DriverScript = {
    name: 'asyncpg lag',
    command: DEBIAN_PYTHON,
    args: [DRIVERS_DIR + 'asyncpg-lag.py'],
    packages: 'python3-asyncpg',
    files: [[DEBIAN_PYTHON, 'python3']],
  };
  let p: RunningPgtide;
  /** The table of the script: a row per client, owned by the user it runs as (it adds a column). */
  async function lagTable(): Promise<void> {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${LAG_TABLE}; CREATE TABLE ${LAG_TABLE} (id int PRIMARY KEY, label text);
       INSERT INTO ${LAG_TABLE} SELECT g, 'row ' || g FROM generate_series(0, 7) AS g;
       ALTER TABLE ${LAG_TABLE} OWNER TO ${t.scramUser.user}`,
    );
    await standbysCaughtUp();
  }
  before(async () => {
    p = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 2,
      backends: clusterBackends(t, [1, 1, 1]),
      consistency: 'eventual',
    });
  });
  after(async () => {
    await p.stop();
    await sqlOn(standby2, 'SELECT pg_catalog.pg_wal_replay_resume()');
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${LAG_TABLE}`);
  });

  test('the script direct to the primary (no standby there): no error', async () => {
    await lagTable();
    assertScriptPassed(driver, await runScript(driver, { ...scramUserEnv(t, t.primary), LAG_TABLE }, 60_000), 8 * 150);
  });

  test('gets no InvalidCachedStatementError: at most one 0A000 per connection, which asyncpg retries', async () => {
    await lagTable();
    await sqlOn(standby2, 'SELECT pg_catalog.pg_wal_replay_pause()');
    const run = runScript(driver, { ...scramUserEnv(t, p), LAG_TABLE }, 60_000);
    await waitFor(
      'the column added on the primary',
      async () => {
        const rows = await sqlOn(
          t.primary,
          `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) '${LAG_TABLE}'::pg_catalog.regclass AND attname OPERATOR(pg_catalog.=) 'extra'`,
        );
        return rows.length > 0;
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    await sqlOn(standby2, 'SELECT pg_catalog.pg_wal_replay_resume()');
    assertScriptPassed(driver, await run, 8 * 150);
  });
});
