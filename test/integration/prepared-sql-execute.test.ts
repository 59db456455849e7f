// SQL that names a statement the client prepared by protocol (Parse with a name, as asyncpg's
// prepare(name=...) and psycopg do) or the other way round, run twice: direct to the primary
// and through pgtide in transaction pooling. pgtide renames protocol statements on its server
// connections, so an `EXECUTE name` it did not map found no statement there (26000). One server
// connection holding two statements: a statement two others were prepared after must be prepared
// there again before it runs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import { clusterBackends } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';
import {
  bind,
  dataRows,
  describe as describeMessage,
  directLogin,
  execute,
  normalise,
  parse,
  query,
  stepAnswers,
  sync,
  useWirePgtide,
  withStaleableTable,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();

/** One exchange of a scenario: the messages sent (their Syncs and Queries each get a ReadyForQuery). */
type Step = Buffer[];

/** Runs steps directly and through the pgtide `wire` starts; asserts that the answers through
 *  pgtide are PostgreSQL's own, message for message, and returns them. */
function comparedWithPostgres(wire: ReturnType<typeof useWirePgtide>) {
  async function run(to: WireLogin, steps: Step[]): Promise<string[][]> {
    const c = await wire.connect(undefined, to);
    const answers = await stepAnswers(c, steps);
    await c.close();
    return answers;
  }
  return async (steps: Step[]): Promise<string[][]> => {
    const expected = await run(directLogin(t), steps);
    const got = await run(wire.login(), steps);
    assert.deepEqual(got, expected);
    return got;
  };
}

describe('SQL EXECUTE, EXPLAIN EXECUTE, CREATE TABLE AS EXECUTE and DEALLOCATE of protocol-prepared statements', {
  timeout: 60_000,
}, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1, max_prepared_statements: 2 });
  const assertAsPostgres = comparedWithPostgres(wire);

  /** Prepares `name` by protocol, then two other statements: the server's two slots hold those. */
  const prepared = (name: string, text: string): Step[] => [
    [parse(name, text), sync()],
    [parse(`${name}_a`, `SELECT 'a ${name}'`), parse(`${name}_b`, `SELECT 'b ${name}'`), sync()],
    [bind('', `${name}_a`), execute(), bind('', `${name}_b`), execute(), sync()],
  ];

  test('EXECUTE name and EXECUTE name(args), on a server that lacks the statement and on one that has it', async () => {
    const got = await assertAsPostgres([
      ...prepared('triple', 'SELECT $1::int * 3 AS tripled'),
      [query('EXECUTE triple(7)')],
      [query('execute TRIPLE (8)')],
      ...prepared('two', 'SELECT 2 AS two'),
      [query('EXECUTE two')],
      [query('EXECUTE two; EXECUTE triple(1); EXECUTE two')],
      // Its two others again: the server holds neither triple nor two.
      prepared('two', 'SELECT 2 AS two')[2]!,
      [parse('', 'EXECUTE triple(5)'), bind('', ''), execute(), sync()],
    ]);
    assert.match(got[3]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0221/);
    assert.match(got.at(-1)!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0215/);
  });

  // asyncpg's fetchval('EXECUTE name') after prepare(..., name=name) prepares 'EXECUTE name' as a
  // named statement of its own: its text is the client's alone (26000 before it was mapped).
  test('EXECUTE name as the text of a named statement: described and run, on servers that lack either', async () => {
    const got = await assertAsPostgres([
      ...prepared('inner1', 'SELECT $1::int * 5 AS fived'),
      [parse('outer1', 'EXECUTE inner1(3)'), describeMessage('S', 'outer1'), sync()],
      [bind('', 'outer1'), execute(), sync()],
      // Its two others again: the server holds neither statement, and outer1 is prepared after inner1.
      prepared('inner1', '')[2]!,
      [bind('', 'outer1'), execute(), sync()],
      // The name dropped: outer1 names a statement the client no longer has (PostgreSQL's
      // 26000), never the copy of the one it dropped.
      [query('DEALLOCATE inner1')],
      [bind('', 'outer1'), execute(), sync()],
      // The name made again with another text: outer1 runs the new inner1 (or fails) as
      // PostgreSQL's own outer1 does.
      [parse('inner1', 'SELECT $1::int * 7 AS sevenfold'), sync()],
      [bind('', 'outer1'), execute(), sync()],
      // A name the client does not have: PostgreSQL's 26000, with that name; once it prepares
      // it, the statement runs it, as PostgreSQL looks the name up at each run.
      [parse('outer2', 'EXECUTE nobody'), bind('', 'outer2'), execute(), sync()],
      [parse('nobody', 'SELECT 4 AS four'), bind('', 'outer2'), execute(), sync()],
      [query('SELECT 1')],
    ]);
    assert.match(got[4]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0215/);
    assert.match(got[6]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0215/);
    assert.match(got[8]!.join(), /26000 prepared statement "inner1" does not exist/);
    assert.match(got[11]!.join(), /26000 prepared statement "nobody" does not exist/);
    assert.match(got[12]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x014/);
  });

  // asyncpg's prepare(name=) describes its statement, so the copy prepared for an EXECUTE of it
  // is doubted at once (its shape unchecked): it was closed before the EXECUTE's own Parse, which
  // then failed with 26000 (asyncpg's fetchval('EXECUTE name') on a server the prepare had not
  // gone to, with reads on a standby).
  test('EXECUTE name as the text of a named statement, of a statement the client described', async () => {
    const got = await assertAsPostgres([
      [parse('inner3', 'SELECT 11 AS eleven'), describeMessage('S', 'inner3'), sync()],
      ...prepared('inner3', '').slice(1),
      [parse('outer3', 'EXECUTE inner3'), describeMessage('S', 'outer3'), sync()],
      [bind('', 'outer3'), execute(), sync()],
      [bind('', 'outer3'), execute(), sync()],
    ]);
    assert.match(got[4]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0211/);
    assert.match(got[5]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0211/);
  });

  // PostgreSQL looks the EXECUTEd name up each time the statement runs: after a DEALLOCATE, or
  // a PREPARE of the name with another text, SQL EXECUTE of the outer statement answers as its
  // Bind does (a reviewer: the dropped copy's rows, 'old', where PostgreSQL said 26000 or 'new').
  test('SQL EXECUTE of a statement whose text EXECUTEs a name dropped or made again since', async () => {
    const got = await assertAsPostgres([
      [parse('inner4', "SELECT 'old' AS v"), describeMessage('S', 'inner4'), sync()],
      [parse('outer4', 'EXECUTE inner4'), describeMessage('S', 'outer4'), sync()],
      [query('EXECUTE outer4')],
      [query('DEALLOCATE inner4')],
      [query('EXECUTE outer4')],
      [query("PREPARE inner4 AS SELECT 'new' AS v")],
      [query('EXECUTE outer4')],
      [bind('', 'outer4'), execute(), sync()],
    ]);
    assert.match(got[2]!.join(), /old/);
    assert.match(got[4]!.join(), /26000 prepared statement "inner4" does not exist/);
    assert.match(got[6]!.join(), /new/);
  });

  // pgtide answers a Parse itself when no server is linked and a server parsed the same text
  // before: another client's copy of 'EXECUTE shared_name', made when it had no such statement,
  // is no copy of this client's, whose EXECUTE must run its own statement.
  test('an EXECUTE text another client parsed first, parsed with no server linked', async () => {
    const other = await wire.connect();
    await other.exchange(parse('a_ex', 'EXECUTE shared_name'), sync());
    await other.close();
    const got = await assertAsPostgres([
      [parse('shared_name', 'SELECT 5 AS five'), sync()],
      [parse('b_ex', 'EXECUTE shared_name'), sync()],
      [bind('', 'b_ex'), execute(), sync()],
    ]);
    assert.match(got[2]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x015/);
  });

  test('a quoted name is the exact protocol name; an unquoted one is folded to lower case', async () => {
    const got = await assertAsPostgres([
      ...prepared('Mixed Case', 'SELECT 5 AS five'),
      [query('EXECUTE "Mixed Case"')],
      ...prepared('Upper', 'SELECT 6 AS six'),
      [query('EXECUTE Upper')],
      [query('EXECUTE "Upper"')],
      // In UTF-8 only ASCII letters fold: ÉTÉ names ÉtÉ.
      ...prepared('ÉtÉ', 'SELECT 7 AS seven'),
      [query('EXECUTE ÉTÉ')],
    ]);
    assert.match(got[3]![1]!, /^D /);
    assert.match(got[7]![0]!, /^E ERROR 26000 prepared statement "upper" does not exist/);
    assert.match(got[8]![1]!, /^D /);
    assert.match(got[12]![1]!, /^D /);
  });

  test('EXPLAIN EXECUTE and CREATE TABLE AS EXECUTE', async () => {
    await assertAsPostgres([
      ...prepared('explained', 'SELECT $1::int AS n'),
      [query('EXPLAIN (COSTS OFF) EXECUTE explained(3)')],
      ...prepared('filler', 'SELECT g AS n FROM generate_series(1, 3) g'),
      [query('CREATE TABLE sqlexec_made AS EXECUTE filler')],
      [query('SELECT sum(n)::int AS total FROM sqlexec_made')],
      [query('EXPLAIN (COSTS OFF) CREATE TABLE sqlexec_unmade AS EXECUTE explained(1) WITH NO DATA')],
      [query('DROP TABLE sqlexec_made')],
    ]);
  });

  test('DEALLOCATE of a protocol statement, and EXECUTE of it after the DEALLOCATE in the same text', async () => {
    const got = await assertAsPostgres([
      ...prepared('gone', 'SELECT 9 AS nine'),
      [query('EXECUTE gone; DEALLOCATE gone; EXECUTE gone')],
      [query('EXECUTE gone')],
      [bind('', 'gone'), execute(), sync()],
    ]);
    assert.match(got[3]!.join(), /26000 prepared statement "gone" does not exist/);
  });

  test('errors name the client statement; a statement that no longer parses fails the EXECUTE, not the session', async () => {
    const got = await assertAsPostgres([
      ...prepared('counted', 'SELECT $1::int AS n'),
      [query('EXECUTE counted(1, 2)')],
      [query('EXECUTE counted')],
      [query('CREATE TABLE sqlexec_dropped (v int)')],
      ...prepared('dropped', 'SELECT v FROM sqlexec_dropped'),
      [query('DROP TABLE sqlexec_dropped')],
      [query('EXECUTE dropped')],
      [query('BEGIN')],
      [query('EXECUTE dropped')],
      [query('EXECUTE counted(1)')],
      [query('ROLLBACK')],
      [query('EXECUTE counted(4)')],
    ]);
    assert.match(got[3]![0]!, /42601 wrong number of parameters for prepared statement "counted"/);
    assert.match(got[10]![0]!, /42P01 relation "sqlexec_dropped" does not exist/);
  });

  test('a copy EXECUTE prepared after a table change is checked before a Bind of a client holding the old description', async () => {
    await withStaleableTable(t.primary, 'sqlexec_stale', async (changeType) => {
      const c = await wire.connect();
      const described = normalise(
        await c.exchange(parse('old', 'SELECT v FROM sqlexec_stale'), describeMessage('S', 'old'), sync()),
      );
      assert.match(described[2]!, /^T .*v\\x00/);
      for (const step of prepared('old', 'SELECT 1').slice(1)) await c.exchange(...step);
      await changeType();
      // Its rows come with their description: the new shape, as a Bind would give one that
      // never held the old description (PostgreSQL's own EXECUTE there fails with 0A000).
      assert.deepEqual(dataRows(await c.exchange(query('EXECUTE old'))), [['new-7']]);
      const bound = normalise(await c.exchange(bind('', 'old'), execute(), sync()));
      assert.match(bound[0]!, /^E ERROR 0A000 cached plan must not change result type/);
    });
  });

  test('SQL PREPARE, then the protocol Bind and Describe of its name', async () => {
    await assertAsPostgres([
      [query('PREPARE sqlprep AS SELECT $1::int + 1 AS plus')],
      [describeMessage('S', 'sqlprep'), bind('', 'sqlprep', ['41']), execute(), sync()],
      [query('EXECUTE sqlprep(1)')],
      [query('DEALLOCATE sqlprep')],
      [bind('', 'sqlprep', ['41']), execute(), sync()],
    ]);
  });

  test('EXECUTE inside a transaction block and in a failed one', async () => {
    const got = await assertAsPostgres([
      ...prepared('inblock', 'SELECT 11 AS eleven'),
      [query('BEGIN')],
      [query('EXECUTE inblock')],
      [query('SELECT 1/0')],
      [query('EXECUTE inblock')],
      [query('ROLLBACK')],
      [query('EXECUTE inblock')],
    ]);
    assert.match(got[6]![0]!, /25P02/);
  });
});

describe('SQL EXECUTE of a protocol-prepared statement routes as its Bind would', { timeout: 60_000 }, () => {
  // Primary weight 0: a read goes to a standby, a write to the primary. Eventual: under
  // read_your_writes a read right after this client's primary transaction goes to the primary
  // whenever the standbys lag more than read_your_writes_timeout (read-your-writes.test.ts).
  const wire = useWirePgtide(t, {
    pool_mode: 'transaction',
    consistency: 'eventual',
    backends: clusterBackends(t, [0, 1, 1]),
  });
  const WHERE = 'pg_catalog.pg_is_in_recovery() AS standby, $1::int AS n';

  test('a read to a standby, a write or arguments that call functions to the primary', async () => {
    const c = await wire.connect();
    await c.exchange(
      parse('reads', `SELECT ${WHERE}`),
      parse('writes', `/* pgtide: primary */ SELECT ${WHERE}`),
      sync(),
    );
    const standby = async (sql: string) => dataRows(await c.exchange(query(sql)))[0]![0];
    // pg_is_in_recovery's volatility is looked up at its first sight: until then it runs on the primary.
    await waitFor('a read on a standby', async () => (await standby('EXECUTE reads(1)')) === 't');
    for (let i = 0; i < 5; i++) {
      assert.equal(await standby('EXECUTE reads(1)'), 't');
      assert.equal(await standby('EXECUTE writes(1)'), 'f');
      assert.equal(await standby(`EXECUTE reads(pg_catalog.length('ab'))`), 'f');
    }
  });

  test('the session state a statement makes pins its EXECUTE: alone, in a multi-statement query, in an unnamed Parse', async () => {
    const pinnedNow = () => [...wire.pgtide().pgtide.context.clients].filter((c) => c.pinned).length;
    const c = await wire.connect();
    // Its Parse pins (it may run): the probe after the transaction finds nothing yet.
    await c.exchange(parse('makes', 'PREPARE sqlexec_made AS SELECT 1'), sync());
    await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    for (const step of [
      [query('EXECUTE makes')],
      [query('SELECT 1; EXECUTE makes; SELECT 2')],
      [parse('', 'EXECUTE makes'), bind('', ''), execute(), sync()],
    ]) {
      await c.exchange(...step);
      assert.equal(pinnedNow(), 1);
      assert.deepEqual(dataRows(await c.exchange(query('EXECUTE sqlexec_made'))), [['1']]);
      await c.exchange(query('DEALLOCATE sqlexec_made'));
      await waitFor('the client to be unpinned', () => pinnedNow() === 0);
    }
  });
});

// Four statements a chain needs on one server: more than the two slots above.
describe('a chain of protocol-prepared statements that EXECUTE each other', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
  const assertAsPostgres = comparedWithPostgres(wire);

  // A chain of statements that EXECUTE each other (asyncpg prepares of explicit names): each
  // link runs what its name denotes now, its middle one made again included (a reviewer's
  // 3-level chain failed with 26000 once a link had been made again).
  test('a chain of statements that EXECUTE each other, its middle link made again', async () => {
    const got = await assertAsPostgres([
      // One batch each, as asyncpg prepares them.
      [parse('c0', 'SELECT $1::int + 1 AS v'), describeMessage('S', 'c0'), sync()],
      [parse('c1', 'EXECUTE c0(1)'), describeMessage('S', 'c1'), sync()],
      [parse('c2', 'EXECUTE c1'), describeMessage('S', 'c2'), sync()],
      [parse('c3', 'EXECUTE c2'), describeMessage('S', 'c3'), sync()],
      [query('EXECUTE c3')],
      [bind('', 'c2'), execute(), sync()],
      [query('EXECUTE c3')],
      [query('DEALLOCATE c1')],
      [query('PREPARE c1 AS SELECT 40 + 2 AS v')],
      [query('EXECUTE c3')],
      [bind('', 'c1'), execute(), sync()],
      [query('EXECUTE c3')],
    ]);
    assert.match(got[4]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x012/);
    assert.match(got[9]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0242/);
    assert.match(got[11]!.join(), /D \\x00\\x01\\x00\\x00\\x00\\x0242/);
  });
});

// psycopg 3's prepare=True: each text a named statement (Parse, Sync), then run with a Describe
// of its portal, and run so again when the text comes again. PostgreSQL never checks the result
// shape of an EXECUTE or a FETCH (a helper running PostgreSQL's prepare.sql so): the statement
// gives the shape of what it runs now, where pgtide answered 0A000 "cached plan must not change
// result type" once it had prepared the statement again (after an error, or on another server).
const runPrepared = (name: string, text: string): Step[] => [[parse(name, text), sync()], runAgain(name)];
const runAgain = (name: string): Step => [bind('', name), describeMessage('P', ''), execute(), sync()];

for (const [reads, backends] of [
  ['on the primary', undefined],
  ['on standbys', clusterBackends(t, [0, 1, 1])],
] as const) {
  describe(`statements whose result shape PostgreSQL never checks, reads ${reads}`, { timeout: 60_000 }, () => {
    const wire = useWirePgtide(t, { pool_mode: 'transaction', consistency: 'eventual', ...(backends && { backends }) });
    const assertAsPostgres = comparedWithPostgres(wire);

    test('EXECUTE of a name prepared again with another shape, after an error', async () => {
      const got = await assertAsPostgres([
        ...runPrepared('s0', 'PREPARE q1 AS SELECT 1 AS a'),
        ...runPrepared('s1', 'EXECUTE q1'),
        ...runPrepared('s2', 'PREPARE q1 AS SELECT 2'),
        ...runPrepared('s3', 'DEALLOCATE q1'),
        ...runPrepared('s4', 'PREPARE q1 AS SELECT 2'),
        runAgain('s1'),
        ...runPrepared('s5', 'SELECT 1/0'),
        [query('DEALLOCATE q1')],
        [query('PREPARE q1 AS SELECT 3 AS z')],
        runAgain('s1'),
      ]);
      assert.match(got[5]!.join(), /42P05/);
      assert.match(got[10]!.join(), /T .*\?column\?.*D \\x00\\x01\\x00\\x00\\x00\\x012/);
      assert.match(got[15]!.join(), /T .*z.*D \\x00\\x01\\x00\\x00\\x00\\x013/);
    });

    test('FETCH from a cursor declared again over another query', async () => {
      const got = await assertAsPostgres([
        [query('BEGIN'), query('DECLARE c CURSOR FOR SELECT 1 AS a')],
        ...runPrepared('f0', 'FETCH ALL FROM c'),
        [query('ROLLBACK')],
        [query("BEGIN; DECLARE c CURSOR FOR SELECT 'x'::text AS b")],
        runAgain('f0'),
        [query('COMMIT')],
      ]);
      assert.match(got[5]!.join(), /T .*b\\x00.*D \\x00\\x01\\x00\\x00\\x00\\x01x/);
    });
  });
}
