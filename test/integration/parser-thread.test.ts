// Tier 2 off the event loop, through pgtide: a read the lexer cannot settle goes to the primary
// the first time its shape is met, while the parser thread reads it, and to a standby once the
// thread has answered; with other constants too, and as a named prepared statement.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

// Quoted names: the lexer cannot tell which function they call, so each needs the parser.
const BUILTIN = (s: string) => `SELECT "pg_catalog".lower('${s}') AS v, pg_catalog.pg_is_in_recovery() AS standby`;
const OWN = (n: number) => `SELECT "TideRate"(${n}) AS v, pg_catalog.pg_is_in_recovery() AS standby`;

describe('the SQL parser thread', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let client: pg.Client;
  const onStandby = async (query: string | pg.QueryConfig): Promise<boolean> =>
    (await client.query(query)).rows[0].standby as boolean;
  const parsed = () => p.pgtide.context.classifier.stats.parsed;

  before(async () => {
    await sqlOn(
      t.primary,
      `CREATE OR REPLACE FUNCTION "TideRate"(n int) RETURNS int LANGUAGE sql STABLE AS 'SELECT n * 2';
       GRANT EXECUTE ON FUNCTION "TideRate"(int) TO ${t.scramUser.user};`,
    );
    for (const node of t.standbys) {
      await waitFor(`${node.name} replays "TideRate"`, async () => {
        const rows = await sqlOn(node, `SELECT 1 FROM pg_catalog.pg_proc WHERE proname = 'TideRate'`);
        return rows.length > 0;
      });
    }
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]) });
    client = new pg.Client(p.pgConfig());
    await client.connect();
    // The parser is running (and, before it moved to its thread, loaded) before the tests.
    await waitFor('a first statement learned', () => onStandby(BUILTIN('warm-up')));
  });
  after(async () => {
    await client.end();
    await p.stop();
  });

  test('a new statement goes to the primary once, then to a standby, with any constants', async () => {
    const before = parsed();
    assert.equal(await onStandby(`${BUILTIN('a')} WHERE true`), false, 'first run: the parser had not read it');
    await waitFor('the parser thread to answer', async () => onStandby(`${BUILTIN('b')} WHERE true`));
    for (const s of ['c', 'another constant', "it''s"]) {
      assert.equal(await onStandby(`${BUILTIN(s)}   WHERE true -- spaced, commented`), true, s);
    }
    assert.equal(parsed() - before, 1, 'one parse for the statement, whatever its constants');
  });

  test("a user function's read learns its shape, then its volatility, then reads on a standby", async () => {
    assert.equal(await onStandby(OWN(1)), false);
    await waitFor('the parser and the catalog to answer', async () => onStandby(OWN(2)));
    assert.equal(await onStandby(OWN(3)), true);
  });

  test('a named prepared statement reaches the standbys at a later Bind', async () => {
    const text = 'SELECT "pg_catalog".upper($1) AS v, pg_catalog.pg_is_in_recovery() AS standby';
    const named = (v: string): pg.QueryConfig => ({ name: 'tide_upper', text, values: [v] });
    assert.equal(await onStandby(named('a')), false, 'its Parse: the parser had not read it');
    // node-postgres prepares the name once per connection: the runs below are Binds alone.
    await waitFor('a Bind to reach a standby', async () => onStandby(named('b')));
    assert.equal(await onStandby(named('c')), true);
  });

  test('/metrics counts what the classifier did, and a reload keeps counting', async () => {
    const events = async () => {
      const [metric] = (await p.pgtide.metrics.getMetricsAsJSON()).filter(
        (m) => m.name === 'pgtide_classifier_events_total',
      );
      return Object.fromEntries(metric!.values.map((v) => [v.labels['event'], v.value]));
    };
    const before = await events();
    assert.equal(await onStandby(`${BUILTIN('m')} WHERE 1 = 1`), false);
    await waitFor('the parser thread to answer', async () => onStandby(`${BUILTIN('n')} WHERE 1 = 1`));
    await client.query('SELECT 1');
    const after = await events();
    assert.equal(after['parse_asked']! - before['parse_asked']!, 1);
    assert.equal(after['parse_answered']! - before['parse_answered']!, 1);
    assert.ok(after['cache_hit']! > before['cache_hit']!, 'the second run used the learned facts');
    assert.ok(after['lexed']! > before['lexed']!, 'SELECT 1 needed the lexer alone');
    assert.equal(after['parse_dropped'], before['parse_dropped']);
    p.pgtide.reload(p.config);
    const reloaded = await events();
    for (const event of Object.keys(after)) assert.ok(reloaded[event]! >= after[event]!, `${event} fell at reload`);
  });
});
