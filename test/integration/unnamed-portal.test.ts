// PostgreSQL 18 crashes (signal 11, every backend of the server restarted) on an Execute of
// the unnamed portal that a simple Query failing inside a transaction block left behind, once
// other messages came between: pgtide sends such an Execute under a name no portal has (see
// src/proxy/session/unnamed-portal.ts). A driver's own use of the unnamed portal answers as
// directly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import {
  WireClient,
  bind,
  dataRows,
  errorCodes,
  execute,
  parse,
  query,
  sameAnswers,
  stepAnswers,
  sync,
  useWirePgtide,
} from '../support/pipeline.js';

const t = currentTopology();
const direct = scramLogin(t, t.primary);

function serverCrashes(): number {
  return readFileSync(t.primary.logFile, 'utf8').split('terminated by signal').length - 1;
}

describe('an Execute of the unnamed portal after a simple Query', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction' });

  const failedQuery = [query('BEGIN'), query('FETCH 3 FROM no_such_cursor')];
  for (const [name, steps] of [
    [
      'with a Parse and a Sync between',
      [[failedQuery[0]!], [failedQuery[1]!], [parse('s1', 'SELECT 1'), sync()], [execute(), sync()]],
    ],
    ['all in one write', [[...failedQuery, parse('s1', 'SELECT 1'), sync(), execute(), sync()]]],
    [
      'with a Bind of it refused between',
      [
        [query('BEGIN'), parse('s1', 'SELECT 1'), sync()],
        [query('CLOSE no_such_cursor')],
        [bind('', 's1'), sync()],
        [execute(), sync()],
      ],
    ],
  ] as const) {
    test(`that failed in a transaction block, ${name}: 34000, and the server runs on`, async () => {
      const bystander = new pg.Client(wire.pgtide().pgConfig());
      await bystander.connect();
      await bystander.query('BEGIN');
      const crashes = serverCrashes();
      const c = await WireClient.connect(wire.login());
      try {
        const answers: string[] = [];
        for (const step of steps) answers.push(...errorCodes(await c.exchange(...step)));
        assert.equal(answers.at(-1), '34000', JSON.stringify(answers));
        assert.deepEqual(errorCodes(await c.exchange(query('ROLLBACK'))), []);
      } finally {
        await c.close();
      }
      assert.equal(serverCrashes(), crashes, 'the primary crashed');
      assert.equal((await bystander.query('SELECT 2 AS two')).rows[0].two, 2);
      await bystander.end();
    });
  }

  // Its first bytes alone in a read went before pgtide could tell it from any other Execute:
  // PostgreSQL read the freed portal (25P02 here; the crash above elsewhere).
  test('that failed in a transaction block, the Execute written in two pieces: 34000', async () => {
    const crashes = serverCrashes();
    const last = Buffer.concat([execute(), sync()]);
    for (const cut of [1, 3, 5, 6, 9]) {
      const c = await WireClient.connect(wire.login());
      try {
        for (const step of [[failedQuery[0]!], [failedQuery[1]!], [parse('', 'SELECT 1'), sync()]])
          await c.exchange(...step);
        c.send(last.subarray(0, cut));
        await new Promise((resolve) => setTimeout(resolve, 30));
        c.send(last.subarray(cut));
        assert.deepEqual(errorCodes(await c.untilReady(1, 5000)), ['34000'], `cut at ${cut}`);
        assert.deepEqual(errorCodes(await c.exchange(query('ROLLBACK'))), []);
      } finally {
        await c.close();
      }
    }
    assert.equal(serverCrashes(), crashes, 'the primary crashed');
  });

  /** Runs `steps` direct to the primary, then through pgtide: the same answers. */
  const sameAsDirect = async (steps: Buffer[][]) =>
    (await sameAnswers([direct, wire.login()], (c) => stepAnswers(c, steps))).flat();

  test('bound in an earlier batch of the transaction, it runs as directly', async () => {
    const answers = await sameAsDirect([
      [query('BEGIN')],
      [parse('', 'SELECT 41 + 1'), bind('', ''), sync()],
      [execute(), sync()],
      [query('COMMIT')],
    ]);
    assert.ok(
      answers.some((m) => m.startsWith('D ') && m.endsWith('42')),
      JSON.stringify(answers),
    );
  });

  test('a ROLLBACK bound and run in the failed block ends it as directly', async () => {
    await sameAsDirect([
      [query('BEGIN')],
      [query('FETCH 1 FROM no_such_cursor')],
      [parse('', 'ROLLBACK'), bind('', ''), execute(), sync()],
      [query('SELECT 1')],
    ]);
  });

  // Found by tokio-postgres: its query after a failed block's ROLLBACK, pipelined before the
  // failure's answer came, got 34000, and a transaction begun after it 25P02.
  test('bound and run in one batch after a ROLLBACK pipelined behind the failure, it runs as directly', async () => {
    const answers = await sameAsDirect([
      [parse('s42', 'SELECT 42'), sync()],
      [query('BEGIN')],
      [query('SELECT 1/0')],
      [
        query('SELECT 1'),
        query('ROLLBACK'),
        bind('', 's42'),
        execute(),
        sync(),
        query('BEGIN'),
        parse('', 'SELECT 43'),
        bind('', ''),
        execute(),
        sync(),
        query('COMMIT'),
      ],
    ]);
    const rows = answers.filter((m) => m.startsWith('D '));
    assert.deepEqual(rows.length, 2, JSON.stringify(answers));
  });

  test('dropped by a Query that succeeded: 34000, as directly', async () => {
    for (const login of [direct, wire.login()]) {
      const c = await WireClient.connect(login);
      try {
        await c.exchange(query('BEGIN'));
        await c.exchange(parse('', 'SELECT 1'), bind('', ''), sync());
        await c.exchange(query('SELECT 2'));
        const answers = await c.exchange(execute(), sync());
        assert.deepEqual(errorCodes(answers), ['34000']);
        assert.deepEqual(dataRows(answers), []);
      } finally {
        await c.close();
      }
    }
  });
});
