// A shared prepared statement that went stale on a standby: a read a client never described
// before runs again unseen, as it does on the primary (postgres.js's own suite met the 0A000
// when its reads went to standbys). Primary weight 0, so reads go to the two standbys.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, sqlOn, standbysCaughtUp } from '../support/topology.js';
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
  query,
  sync,
  useWirePgtide,
  type Message,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();
const TABLE = 'stale_on_standby';
const TEXT = `SELECT v, pg_catalog.pg_is_in_recovery() AS standby FROM ${TABLE}`;

/** `name` (`column` int) holding one row, `value`, on every node; readable by every user. */
async function oneRowTable(name: string, column: string, value: number): Promise<void> {
  await sqlOn(
    t.primary,
    `DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (${column} int); INSERT INTO ${name} VALUES (${value}); GRANT ALL ON ${name} TO PUBLIC`,
  );
  await standbysCaughtUp();
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
    login = p.wireLogin();
    await oneRowTable(TABLE, 'v', 7);
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

describe('a table change one standby has not replayed yet', { timeout: 60_000 }, () => {
  // Reads go to standby2 alone, whose replay is paused after a column was added on the primary:
  // the primary and standby2 describe one statement with two shapes.
  const LAGGING = 'lag_shape';
  const SELECT_ALL = `SELECT *, pg_catalog.inet_server_port() AS port FROM ${LAGGING}`;
  const standby2 = t.standbys[1]!;
  const wire = useWirePgtide(t, {
    default_pool_size: 2,
    backends: clusterBackends(t, [0, 0, 1]),
    // Its reads do not wait for standby2 to replay what its transaction on the primary did.
    consistency: 'eventual',
    // Nor does standby2 leave the rotation for its paused replay: its lag by time counts from
    // the last transaction it replayed, which under a whole suite's load may be over 10 s old,
    // and the reads would then go to the primary and describe its shape.
    delay_threshold: 0,
    delay_threshold_by_time: 0,
  });
  before(async () => {
    await oneRowTable(LAGGING, 'id', 1);
    await sqlOn(standby2, 'SELECT pg_catalog.pg_wal_replay_pause()');
    await sqlOn(t.primary, `ALTER TABLE ${LAGGING} ADD COLUMN b text DEFAULT 'b'`);
  });
  after(async () => {
    await sqlOn(standby2, 'SELECT pg_catalog.pg_wal_replay_resume()');
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${LAGGING}`);
  });

  test('a client that described it on one never binds it on the other and decodes rows of the other shape', async () => {
    const [onPrimary, onStandby] = [await wire.connect(), await wire.connect()];
    // The text calls a function: it goes to the primary until the parser thread has read it,
    // which under a whole suite's load may take longer than the batches below.
    const deadline = Date.now() + 10_000;
    while (columns(await onStandby.exchange(parse('', SELECT_ALL), describeMessage('S', ''), sync())) !== 2) {
      assert.ok(Date.now() < deadline, 'the statement never went to standby2');
      await new Promise((r) => setTimeout(r, 20));
    }
    await onPrimary.exchange(query('SET pgtide.route = primary'));
    // The primary's description comes last (its batch sleeps first), after the standby's.
    onPrimary.send(
      parse('p', SELECT_ALL),
      describeMessage('S', 'p'),
      parse('', 'SELECT pg_catalog.pg_sleep(0.3)'),
      bind('', ''),
      execute(),
      sync(),
    );
    await new Promise((r) => setTimeout(r, 50));
    const standbyShape = await onStandby.exchange(parse('s', SELECT_ALL), describeMessage('S', 's'), sync());
    const primaryShape = await onPrimary.untilReady();
    assert.equal(columns(standbyShape), 2, normalise(standbyShape).join(' | '));
    assert.equal(columns(primaryShape), 3, normalise(primaryShape).join(' | '));

    await onPrimary.exchange(query('SET pgtide.route = standby'));
    const got = await onPrimary.exchange(bind('', 'p'), execute(), sync());
    const codes = errorCodes(got);
    if (codes.length > 0) assert.deepEqual(codes, ['0A000'], normalise(got).join(' | '));
    else
      for (const row of dataRows(got))
        assert.equal(row.length, 3, `a row of ${row.length} columns for a description of 3`);
  });

  function columns(messages: Message[]): number {
    return messages.find((m) => m.type === 'T')?.body.readInt16BE(0) ?? -1;
  }
});
