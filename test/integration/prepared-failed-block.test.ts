// Named statements around errors, run twice: direct to the primary and through pgtide in
// transaction pooling (one server connection, so a statement another client prepared is on
// it). Every answer must be PostgreSQL's own. Found by a differential fuzzer: in a failed
// transaction block pgtide answered a Parse itself and acted on DEALLOCATEs PostgreSQL refused,
// so a name the client had (or had not) differed from the server's from then on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import {
  bind,
  close,
  describe as describeMessage,
  directLogin,
  execute,
  parse,
  query,
  stepAnswers,
  sync,
  useWirePgtide,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();

/** One exchange of a scenario: the messages sent (their Syncs and Queries each get a ReadyForQuery). */
type Step = Buffer[];

describe('named statements in failed blocks and failed batches answer as PostgreSQL does', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
  const direct = () => directLogin(t);

  /**
   * Runs `steps` on one connection to `to`, after another connection there prepared `shared`
   * (so that through pgtide the server holds it), and returns every answer as comparable lines.
   */
  async function run(to: WireLogin, shared: string, steps: Step[]): Promise<string[][]> {
    const other = await wire.connect(undefined, to);
    await other.exchange(parse('other', shared), sync());
    const c = await wire.connect(undefined, to);
    const answers = await stepAnswers(c, steps);
    await c.close();
    await other.close();
    return answers;
  }

  async function assertAsPostgres(shared: string, steps: Step[]): Promise<string[][]> {
    const expected = await run(direct(), shared, steps);
    const got = await run(wire.login(), shared, steps);
    assert.deepEqual(got, expected);
    return got;
  }

  const failBlock: Step[] = [[query('BEGIN')], [query('SELECT 1/0')]];
  const runS1: Step = [bind('', 's1'), execute(), sync()];
  /** An error first in a batch: the server skips the rest of it. */
  const failFirst = [parse('', 'SELECT 1/0'), bind('', ''), execute()];
  /** A DEALLOCATE ALL skipped after an error: the names stay, pgtide is left unsure of what the server holds. */
  const doubtAll: Step = [...failFirst, parse('', 'DEALLOCATE ALL'), bind('', ''), execute(), sync()];

  test('a Parse in a failed block is refused with 25P02, and the name is free after ROLLBACK', async () => {
    const got = await assertAsPostgres('SELECT 1 AS a', [
      ...failBlock,
      [parse('s1', 'SELECT 1 AS a'), bind('', 's1'), execute(), sync()],
      [query('ROLLBACK')],
      [parse('s1', 'SELECT 1 AS a'), bind('', 's1'), execute(), sync()],
    ]);
    assert.match(got[2]![0]!, /25P02/);
    assert.deepEqual(got[4], ['1 ', '2 ', 'D \\x00\\x01\\x00\\x00\\x00\\x011', 'C SELECT 1\\x00', 'Z I']);
  });

  test('a Parse after an Execute and a Sync in the same write, in a failed block, is refused too', async () => {
    // An Execute with no Bind before it cannot end the block: pgtide once took any Execute as
    // a possible end and answered the Parse itself.
    const got = await assertAsPostgres('SELECT 3 AS c', [
      ...failBlock,
      [execute('p1'), sync(), parse('s1', 'SELECT 3 AS c'), sync()],
      [query('ROLLBACK')],
      [parse('s1', 'SELECT 3 AS c'), bind('', 's1'), execute(), sync()],
    ]);
    assert.match(got[2]![2]!, /25P02/);
  });

  test('a Parse after a refused Query in the same write, in a failed block, is refused too', async () => {
    await assertAsPostgres('SELECT 4 AS d', [
      ...failBlock,
      [query('SELECT 1'), parse('s1', 'SELECT 4 AS d'), sync()],
      [query('ROLLBACK')],
      [parse('s1', 'SELECT 4 AS d'), bind('', 's1'), execute(), sync()],
    ]);
  });

  test('a Parse after ROLLBACK in the same write is taken', async () => {
    await assertAsPostgres('SELECT 5 AS e', [
      ...failBlock,
      [parse('', 'ROLLBACK'), bind('', ''), execute(), sync(), parse('s1', 'SELECT 5 AS e'), sync()],
      runS1,
    ]);
  });

  test('a DEALLOCATE skipped after an error earlier in its batch drops nothing', async () => {
    await assertAsPostgres('SELECT 6 AS f', [
      [parse('s1', 'SELECT 6 AS f'), sync()],
      [...failFirst, parse('', 'DEALLOCATE s1'), bind('', ''), execute(), sync()],
      runS1,
      doubtAll,
      runS1,
      [...failFirst, parse('', 'DEALLOCATE s1'), parse('s1', 'SELECT 7 AS g'), sync()],
      runS1,
    ]);
  });

  test('a DEALLOCATE of a statement the server may have lost answers, in a failed block or with its table gone', async () => {
    // A DEALLOCATE ALL skipped after an error leaves pgtide unsure of what the server holds, so
    // the DEALLOCATEs below make the server hold the name again first. That once sent the
    // statement's own text, which failed (25P02 in the block, 42P01 with its table dropped),
    // and the server skipped the Query after it: the client waited for ever.
    await assertAsPostgres('SELECT 8 AS h', [
      [parse('s1', 'SELECT 8 AS h'), sync()],
      doubtAll,
      ...failBlock,
      [query('ROLLBACK; DEALLOCATE s1')],
      runS1,
      [query('CREATE TABLE pfb_gone (a int)')],
      [parse('s1', 'SELECT a FROM pfb_gone'), sync()],
      doubtAll,
      [query('DROP TABLE pfb_gone')],
      [query('DEALLOCATE s1')],
      runS1,
    ]);
  });

  test("pgtide's check of a statement's shape on a server that may have lost it stays hidden", async () => {
    // The client described s1, so its Bind on a server whose copy is in doubt waits for pgtide's
    // own Describe there; that Describe's ParameterDescription once reached the client.
    await assertAsPostgres('SELECT 9 AS i', [
      [parse('s1', 'SELECT $1::int AS a, $2::text AS b'), describeMessage('S', 's1'), sync()],
      doubtAll,
      [bind('', 's1', ['5', 'x']), execute(), sync()],
      doubtAll,
      [bind('', 's1'), execute(), sync()],
    ]);
  });

  test('a DEALLOCATE in the unnamed statement drops the name when a portal of it runs, not before', async () => {
    await assertAsPostgres('SELECT 10 AS j', [
      [parse('s1', 'SELECT 10 AS j'), sync()],
      [parse('', 'DEALLOCATE s1'), sync()],
      runS1,
      [parse('', 'DEALLOCATE ALL'), bind('', ''), sync()],
      runS1,
      [parse('', 'DEALLOCATE s1'), parse('s1', 'SELECT 11 AS k'), sync()],
      [parse('', 'DEALLOCATE s1'), bind('', ''), execute(), parse('s1', 'SELECT 11 AS k'), sync()],
      runS1,
    ]);
  });

  test('a Bind after a failed Parse of its name in the same write gets 26000 naming the client statement', async () => {
    const got = await assertAsPostgres('SELECT 12 AS l', [
      [parse('s1', 'SELECT nonexistent_col'), sync(), bind('', 's1'), execute(), sync()],
      [parse('s1', 'SELECT 1; SELECT 2'), bind('', 's1'), sync(), bind('', 's1'), sync()],
    ]);
    assert.match(got[0]![2]!, /26000 .*"s1"/);
  });

  test('a Parse of a name in use, in a failed block, gets 25P02 as well', async () => {
    await assertAsPostgres('SELECT 2 AS b', [
      [parse('s1', 'SELECT 2 AS b'), sync()],
      ...failBlock,
      [parse('s1', 'SELECT 2 AS b'), sync()],
      [query('ROLLBACK')],
      runS1,
    ]);
  });

  test('an empty statement is taken in a failed block, and its Bind refused', async () => {
    await assertAsPostgres('SELECT 8 AS i', [
      ...failBlock,
      [parse('s1', ''), bind('', 's1'), execute(), sync()],
      [parse('s2', ' ; '), sync()],
      [query('ROLLBACK')],
      runS1,
      [bind('', 's2'), execute(), sync()],
    ]);
  });

  test('ROLLBACK prepared in a failed block still ends it', async () => {
    await assertAsPostgres('SELECT 3 AS c', [
      ...failBlock,
      [parse('rb', 'ROLLBACK'), bind('', 'rb'), execute(), sync()],
      [parse('s1', 'SELECT 3 AS c'), sync()],
      runS1,
    ]);
  });

  test('DEALLOCATE refused in a failed block (simple Query, unnamed Parse, named statement) drops nothing', async () => {
    await assertAsPostgres('SELECT 4 AS d', [
      [parse('s1', 'SELECT 4 AS d'), parse('dealloc', 'DEALLOCATE s1'), sync()],
      ...failBlock,
      [query('DEALLOCATE s1')],
      [parse('', 'DEALLOCATE ALL'), bind('', ''), execute(), sync()],
      [bind('', 'dealloc'), execute(), sync()],
      [query('DISCARD ALL')],
      [query('ROLLBACK')],
      runS1,
      // Outside the block, the same DEALLOCATE does drop it.
      [query('DEALLOCATE s1')],
      runS1,
    ]);
  });

  test('ROLLBACK then DEALLOCATE in one Query, from a failed block, drops the statement', async () => {
    await assertAsPostgres('SELECT 5 AS e', [
      [parse('s1', 'SELECT 5 AS e'), sync()],
      ...failBlock,
      [query('ROLLBACK; DEALLOCATE s1')],
      runS1,
    ]);
  });

  test('a DEALLOCATE in a failing multi-statement Query drops the statement only if it ran before the error', async () => {
    // Prepared statements are not transactional: one deallocated before the failing statement
    // stays gone, one after it was never deallocated.
    const got = await assertAsPostgres('SELECT 8 AS h', [
      [parse('s1', 'SELECT 8 AS h'), sync()],
      [query('SELECT 1/0; DEALLOCATE s1')],
      runS1,
      [query('SELECT 1; DEALLOCATE s1; SELECT 1/0')],
      runS1,
      [parse('s1', 'SELECT 8 AS h'), parse('s2', 'SELECT 9 AS i'), sync()],
      [query('DEALLOCATE s2;; SELECT 1/0; DEALLOCATE ALL')],
      runS1,
      [bind('', 's2'), execute(), sync()],
    ]);
    assert.match(got[2]!.join(' '), /C SELECT 1/);
    assert.match(got[4]!.join(' '), /26000/);
    assert.match(got[7]!.join(' '), /C SELECT 1/);
    assert.match(got[8]!.join(' '), /26000/);
  });

  test('a DEALLOCATE after other requests in one write, of a statement the server may not hold, answers in order', async () => {
    // psycopg's pipeline mode evicting statements: pgtide makes the server hold the name
    // first, and once sent that before the requests ahead of the DEALLOCATE in the same bytes,
    // so their answers were taken for its hidden ones and the client got CloseComplete and
    // ParseComplete it never asked for (libpq then waits for ever).
    const selectThenDeallocate = (first: Buffer): Step => [
      parse('', 'SELECT 2 AS b'),
      bind('', ''),
      describeMessage('P', ''),
      execute(),
      first,
      bind('', ''),
      describeMessage('P', ''),
      execute(),
      sync(),
    ];
    await assertAsPostgres('SELECT 6 AS f', [
      [parse('s1', 'SELECT 6 AS f'), parse('s2', 'SELECT 7 AS g'), sync()],
      doubtAll,
      selectThenDeallocate(parse('', 'DEALLOCATE s1')),
      [query('SELECT 1'), query('DEALLOCATE s2')],
      [bind('', 's2'), execute(), sync()],
    ]);
  });

  test('a Close skipped after an error in its batch keeps the statement', async () => {
    await assertAsPostgres('SELECT 6 AS f', [
      [parse('s1', 'SELECT 6 AS f'), sync()],
      [parse('', 'SELECT 1/0'), bind('', ''), execute(), close('S', 's1'), sync()],
      runS1,
    ]);
  });

  test('a Close, a Parse and a Close of one name, skipped after an error, keep the first statement', async () => {
    // Each skipped Close gives back the statement it closed, last first: the second Close's
    // entry replaced the first's, so the name ended with neither (bench:fuzz seed 406).
    await assertAsPostgres('SELECT 6 AS f', [
      [parse('s1', 'SELECT 6 AS f'), sync()],
      [
        parse('', 'SELECT 1/0'),
        bind('', ''),
        execute(),
        close('S', 's1'),
        parse('s1', 'SELECT 7 AS g'),
        close('S', 's1'),
        sync(),
      ],
      runS1,
    ]);
  });

  test("a Parse of a name in use gets its text's own error first, else 42P05 naming the client's statement", async () => {
    await assertAsPostgres('SELECT 9 AS j', [
      [parse('s1', 'SELECT 9 AS j'), sync()],
      [parse('s1', 'SELECT no_such_column'), sync()],
      [parse('s1', 'SELECT 1; SELECT 2'), sync()],
      [parse('s1', 'SELEC 1'), sync()],
      [parse('s1', 'SELECT 10 AS k'), sync()],
      runS1,
    ]);
  });

  test("errors about a statement's Bind name the client's statement, not pgtide's", async () => {
    await assertAsPostgres('SELECT 7 AS g', [
      [parse('s1', 'SELECT 7 AS g'), sync()],
      [bind('', 's1', ['extra']), execute(), sync()],
      [parse('s2', 'SELECT $1::int AS h'), sync()],
      [bind('', 's2'), execute(), sync()],
    ]);
  });
  test('a Parse or Close skipped after an error changes no name for a Bind after its Sync in the same write', async () => {
    // The server held the statement (the other client's), so pgtide answered the Parse itself
    // and sent the Bind after the Sync under the server's name before the error came: the Bind
    // got BindComplete where PostgreSQL answers 26000. The skipped Close: the reverse.
    const got = await assertAsPostgres('SELECT 13 AS m', [
      [...failFirst, parse('s2', 'SELECT 13 AS m'), sync(), bind('', 's2'), execute(), sync()],
      [parse('s2', 'SELECT 13 AS m'), sync()],
      // A Close pgtide answers itself, skipped the same way, leaves the name.
      [...failFirst, close('S', 's2'), sync(), bind('', 's2'), execute(), sync()],
    ]);
    assert.match(got[0]![3]!, /26000 .*"s2"/);
    assert.equal(got[2]![3], '2 ');
  });

  test("pgtide's own Parse skipped after an error leaves no hole for a Bind after its Sync in the same write", async () => {
    // DEALLOCATE s3 drops the server's statement that s2 shares: pgtide prepares it again
    // before the Parse of s2 below, and once sent the Bind after the Sync to a server that
    // skipped that Parse (26000, where PostgreSQL binds s2).
    await assertAsPostgres('SELECT 14 AS n', [
      [parse('s2', 'SELECT 14 AS n'), parse('s3', 'SELECT 14 AS n'), sync()],
      [query('DEALLOCATE s3')],
      [...failFirst, parse('s2', 'SELECT 15 AS o'), sync(), bind('', 's2'), execute(), sync()],
      [...failFirst, describeMessage('S', 's2'), sync(), bind('', 's2'), execute(), sync()],
    ]);
  });
  test("a Bind's duplicate portal (42P03) is the client's error, not a stale statement", async () => {
    // pgtide took every class 42 error of a Bind for a failed re-plan: s1 got a new version,
    // and as the client had asked for its description (skipped after an error, so never
    // told it), its next Bind got 0A000 where PostgreSQL binds.
    await assertAsPostgres('SELECT 16 AS p', [
      [parse('s1', 'SELECT 16 AS p'), sync()],
      [...failFirst, describeMessage('S', 's1'), sync()],
      [query('BEGIN')],
      [bind('p1', 's1'), bind('p1', 's1'), sync()],
      [query('ROLLBACK')],
      runS1,
    ]);
  });
  test('an Execute of a ROLLBACK portal bound in an earlier write of the failed block ends it', async () => {
    // pgtide took the block to stay failed at an Execute with no Bind before it in the same
    // write, so it sent the Parse after it as one the server would refuse: the server, out of
    // the block by then, took it under pgtide's throwaway name and s1 was never created.
    await assertAsPostgres('SELECT 17 AS q', [
      ...failBlock,
      [parse('rb', 'ROLLBACK'), bind('', 'rb'), sync()],
      [execute(), parse('s1', 'SELECT 17 AS q'), sync()],
      [describeMessage('S', 's1'), sync()],
      runS1,
    ]);
  });
  test('DISCARD ALL or DEALLOCATE that fails before any statement of its Query ran drops nothing', async () => {
    // pgtide kept the names gone after any error of the Query, as if a DEALLOCATE before the
    // failing statement had run: DISCARD ALL refused in a transaction block (25001) then left
    // the client without s1 (26000 where PostgreSQL describes it).
    await assertAsPostgres('SELECT 18 AS r', [
      [parse('s1', 'SELECT 18 AS r'), sync()],
      [query('BEGIN')],
      [query('DISCARD ALL')],
      [describeMessage('S', 's1'), sync()],
      [query('ROLLBACK')],
      runS1,
      [query('SELECT 1/0; DEALLOCATE s1')],
      runS1,
      [query('DEALLOCATE s1; SELECT 1/0')],
      runS1,
    ]);
  });
  test('a Bind the server refuses in a failed block leaves no portal that could end it', async () => {
    // Since any Bind in the block was taken as a portal that could end it, an Execute in a
    // later write made pgtide unsure the block had failed, and it answered the Parse after it
    // itself (the server holds the text for the other client) where PostgreSQL refuses it.
    await assertAsPostgres('SELECT 19 AS s', [
      [parse('s2', 'SELECT 19 AS s'), sync()],
      ...failBlock,
      [bind('p1', 's2'), sync(), bind('', 's1'), sync()],
      [execute('p1'), sync(), parse('s1', 'SELECT 19 AS s'), sync()],
      [query('ROLLBACK')],
      runS1,
    ]);
  });

  test('a Parse of a name in use, in a failed block, with a text that runs there, gets 42P05', async () => {
    // The server lacked the statement: pgtide prepared its text first, to have the server
    // answer 42P05, and in the failed block that Parse got 25P02.
    await assertAsPostgres('SELECT 20 AS t', [
      [parse('s2', 'SELECT 20 AS t, 1 AS u'), sync()],
      [parse('s3', 'SELECT 20 AS t, 1 AS u'), sync()],
      [query('DEALLOCATE s3')],
      ...failBlock,
      [parse('s2', 'COMMIT'), sync(), parse('s2', ''), sync()],
      [query('ROLLBACK')],
      [bind('', 's2'), execute(), sync()],
    ]);
  });
  test('a failed Parse then a Close of its name, skipped, leave no name', async () => {
    // The Parse's failure was undone first (its name was already closed, so nothing to
    // forget), then the skipped Close gave the name back: the client had a statement that
    // never parsed, and its Bind got the text's error where PostgreSQL answers 26000.
    await assertAsPostgres('SELECT 21 AS v', [
      [parse('s2', 'SELECT nonexistent_col'), close('S', 's2'), sync()],
      [bind('', 's2'), execute(), sync()],
    ]);
  });
  test('a Parse after the Sync of a failed Parse of the same name, in the same write, creates it', async () => {
    // pgtide took the first Parse to have created s2 and sent the second as a Parse of a name
    // in use, under the first one's server name: the server, which had refused the first,
    // took the second text under that name, and the client was left without s2 (26000).
    await assertAsPostgres('SELECT 22 AS w', [
      [parse('s2', 'SELECT nonexistent_col'), sync(), parse('s2', 'SELECT 22 AS w'), sync()],
      [bind('', 's2'), execute(), sync()],
      [parse('s3', 'SELECT nonexistent_col'), sync()],
    ]);
  });
  test('a Parse after the Sync of a batch that fails the block, in the same write, is refused', async () => {
    // The server held the text (the other client's), and the block had not failed yet when
    // pgtide read the write: it answered the Parse itself, where PostgreSQL refuses it (25P02).
    await assertAsPostgres('SELECT 23 AS x', [
      [query('BEGIN')],
      [...failFirst, sync(), parse('s1', 'SELECT 23 AS x'), sync()],
      [query('ROLLBACK')],
      runS1,
      // Waiting in the middle of a batch, what went before it in the batch is answered first.
      [...failFirst, sync(), parse('', 'SELECT 1'), bind('', ''), parse('s3', 'SELECT 23 AS x'), ...runS1],
    ]);
  });
  test('a portal bound after a Parse refused in a failed block cannot end it', async () => {
    // The unnamed Parse is refused, so the server skips its Bind and Execute: pgtide took the
    // Execute of a portal of the unnamed statement as a possible end of the block, and prepared
    // s1's own text (the server was unsure to hold it) before the Parse of s1 in use, which the
    // server refused (25P02) where PostgreSQL answers 42P05.
    await assertAsPostgres('SELECT 25 AS z', [
      [parse('s1', 'SELECT 25 AS z'), sync()],
      doubtAll,
      ...failBlock,
      [parse('', 'DEALLOCATE s1'), bind('', ''), execute(), sync(), parse('s1', ''), sync()],
      [query('ROLLBACK')],
      runS1,
    ]);
  });
  test('a Parse waiting for its shape check after an Execute that ends a failed block is taken', async () => {
    // The Parse waited for pgtide's check of its statement's shape (described before, no longer
    // on the server), and went on once the Execute was answered, with no ReadyForQuery since the
    // block failed: pgtide took the block as failed still, and sent the Parse as one the server
    // must refuse. The server, out of the block, took it under pgtide's throwaway name.
    await assertAsPostgres('SELECT 26 AS a', [
      [parse('s2', 'BEGIN'), describeMessage('S', 's2'), parse('rb', 'ROLLBACK'), sync()],
      [close('S', 's2'), sync()],
      doubtAll,
      ...failBlock,
      [bind('p1', 'rb'), sync()],
      [execute('p1'), parse('s2', 'BEGIN'), sync()],
      [bind('', 's2'), execute(), sync()],
    ]);
  });
  test('a Parse of a name in use after the Sync of a batch that fails the block, in the same write, gets 42P05', async () => {
    // The server lacked the statement, and the block had not failed yet when pgtide read the
    // write: it prepared the statement's own text first, which the failed block refused (25P02).
    await assertAsPostgres('SELECT 27 AS b', [
      [parse('s2', 'SELECT 27 AS b'), sync()],
      doubtAll,
      [query('BEGIN')],
      [bind('p1', 'nonexistent'), sync(), parse('s2', 'ROLLBACK'), sync()],
      [query('ROLLBACK')],
      [bind('', 's2'), execute(), sync()],
    ]);
  });
  test('an Execute of an empty portal bound before the block failed leaves it failed', async () => {
    // Found by the differential fuzzer (seed 1941): any Execute after a Bind of the unnamed
    // statement, whose text pgtide did not keep, was taken as a possible end of the block. The
    // empty portal runs there (EmptyQueryResponse) and the block stays failed, so the Parse of
    // s2 in use with a text that runs there gets 42P05; pgtide, unsure of the block, prepared
    // s2's own text (the server lacked it) and the failed block refused that with 25P02.
    const got = await assertAsPostgres('SELECT 28 AS c, 1 AS u', [
      [parse('s2', 'SELECT 28 AS c, 1 AS u'), sync()],
      [parse('s3', 'SELECT 28 AS c, 1 AS u'), sync()],
      [query('DEALLOCATE s3')],
      [query('BEGIN')],
      [parse('', ''), bind('', ''), parse('bad', 'SELECT 1/0'), bind('p9', 'bad'), sync()],
      [execute(), parse('s2', 'ROLLBACK'), sync()],
      [query('ROLLBACK')],
      [bind('', 's2'), execute(), sync()],
    ]);
    assert.match(got[5]!.join(' '), /42P05/);
  });
  test('an Execute of one portal does not end a failed block another portal could end', async () => {
    // Seed 3779 of the fuzzer: a ROLLBACK bound in the block made an Execute of any portal a
    // possible end of it.
    const got = await assertAsPostgres('SELECT 29 AS d, 1 AS u', [
      [parse('rb', 'ROLLBACK'), parse('e', ''), sync()],
      [parse('s2', 'SELECT 29 AS d, 1 AS u'), sync()],
      [parse('s3', 'SELECT 29 AS d, 1 AS u'), sync()],
      [query('DEALLOCATE s3')],
      [query('BEGIN')],
      [bind('p1', 'e'), bind('p2', 'rb'), parse('bad', 'SELECT 1/0'), bind('p9', 'bad'), sync()],
      [execute('p1'), parse('s2', 'ROLLBACK'), sync()],
      [execute('p2'), parse('s2', 'ROLLBACK'), sync()],
      [bind('', 's2'), execute(), sync()],
    ]);
    assert.match(got[6]!.join(' '), /42P05/);
  });
  test('an Execute of a ROLLBACK portal bound after the block failed in the same write ends it', async () => {
    // The block failed in the write that bound the portal, after pgtide had read it: only a
    // Bind in a block pgtide knew had failed counted as a portal that may end it. The Parse
    // after this Execute went as one the server must refuse; the server, out of the block by
    // then, took it under pgtide's throwaway name instead of creating s1.
    await assertAsPostgres('SELECT 24 AS y', [
      [parse('rb', 'ROLLBACK'), sync()],
      [query('BEGIN')],
      [...failFirst, sync(), bind('p1', 'rb'), sync()],
      [execute('p1'), parse('s1', 'SELECT 24 AS y'), sync()],
      runS1,
    ]);
  });
});
