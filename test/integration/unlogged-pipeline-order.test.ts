// Found by a helper with libpq's pipeline mode (PostgreSQL's libpq_pipeline, and scripts of
// PQsendQueryParams / PQsendPrepare / PQsendQueryPrepared with a PQpipelineSync after each):
// a read of an unlogged table, refused by a standby and run again on the primary, while the
// batches the client pipelined after it took another way, gave the client the answers of those
// batches first: the read got the SET's CommandComplete, the SET the SHOW's row, the SHOW the
// read's rows; or it hung.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentTopology, sqlOn, standbysCaughtUp } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import {
  WireClient,
  bind,
  describe as describeMessage,
  directLogin,
  execute,
  normalise,
  parse,
  sync,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();
const TABLE = 'pipe_order_unlogged';

/** One statement as libpq's PQsendQueryParams sends it, with the PQpipelineSync after it. */
const params = (sql: string) => [parse('', sql), bind('', ''), describeMessage('P', ''), execute(), sync()];

/**
 * Each scenario's writes (one batch ended by its Sync, or more); `refusable`: the batch of the unlogged read that may get the
 * standby's refusal instead of its rows (docs/routing.md: a SET among the batches after it, or a
 * batch before it whose answer reached the client), while every batch gets its own answers, in order.
 */
const SCENARIOS: Record<string, { batches: Buffer[][]; refusable?: number }> = {
  'unlogged read, reads': {
    batches: [params(`SELECT count(*)::int FROM ${TABLE}`), params("SELECT 'b'"), params("SELECT 'c'")],
  },
  'unlogged read, SET, SHOW': {
    refusable: 0,
    batches: [
      params(`SELECT count(*)::int FROM ${TABLE}`),
      params("SET application_name = 'pipe_x1'"),
      params('SHOW application_name'),
    ],
  },
  'prepared unlogged read, then a read': {
    refusable: 1,
    batches: [
      [parse('pipe_s1', `SELECT count(*)::int FROM ${TABLE}`), sync()],
      [bind('', 'pipe_s1'), describeMessage('P', ''), execute(), sync()],
      params('SELECT 42'),
    ],
  },
  'prepared unlogged read, then a new statement': {
    refusable: 1,
    batches: [
      [parse('pipe_s1', `SELECT count(*)::int FROM ${TABLE}`), sync()],
      [bind('', 'pipe_s1'), describeMessage('P', ''), execute(), sync()],
      [parse('pipe_s2', 'SELECT 42'), bind('', 'pipe_s2'), describeMessage('P', ''), execute(), sync()],
    ],
  },
  // The read and the next batch in one write, the next one's statement held by the server from an
  // earlier round: its Parse waited there for the read's answer, then pgtide answered it at once,
  // ahead of the read run again on the primary: libpq took it for the read's answer and hung.
  'prepared unlogged read and a statement the server holds, in one write': {
    refusable: 1,
    batches: [
      [parse('pipe_s1', `SELECT count(*)::int FROM ${TABLE}`), sync()],
      [
        bind('', 'pipe_s1'),
        describeMessage('P', ''),
        execute(),
        sync(),
        parse('pipe_s2', 'SELECT 42'),
        bind('', 'pipe_s2'),
        describeMessage('P', ''),
        execute(),
        sync(),
      ],
    ],
  },
};

/** The answers cut at each ReadyForQuery: one list per batch. */
function perBatch(answers: string[]): string[][] {
  const batches: string[][] = [[]];
  for (const answer of answers) {
    batches.at(-1)!.push(answer);
    if (answer.startsWith('Z ')) batches.push([]);
  }
  return batches.slice(0, -1);
}

/** The standby's refusal in place of the batch's rows: what comes before its error, the error, its ReadyForQuery. */
function refused(got: readonly string[], expected: readonly string[]): boolean {
  const error = got.findIndex((m) => m.includes('0A000 cannot access temporary or unlogged relations'));
  return error >= 0 && got.length === error + 2 && got.slice(0, error).every((m, i) => m === expected[i]);
}

/** The writes one by one as libpq flushes them at a Sync, `gapMs` apart; every answer. */
async function run(login: WireLogin, batches: Buffer[][], gapMs: number): Promise<string[]> {
  const c = await WireClient.connect(login);
  try {
    for (const batch of batches) {
      c.send(...batch);
      if (gapMs > 0) await sleep(gapMs);
    }
    const syncs = batches.flat().filter((m) => m[0] === 0x53).length;
    return normalise(await c.untilReady(syncs, 5_000)).filter((m) => !m.startsWith('S '));
  } finally {
    await c.close();
  }
}

describe('an unlogged read refused by a standby, with batches pipelined after it', { timeout: 240_000 }, () => {
  test('every batch gets its own answers, in order, as directly', async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${TABLE}; CREATE UNLOGGED TABLE ${TABLE} AS SELECT g FROM generate_series(1, 2) g; GRANT SELECT ON ${TABLE} TO PUBLIC`,
    );
    await standbysCaughtUp(t);
    const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]) });
    try {
      const failures: string[] = [];
      for (const [name, { batches, refusable }] of Object.entries(SCENARIOS)) {
        const expected = perBatch(await run(directLogin(t), batches, 0));
        for (let round = 0; round < 30; round++) {
          const gap = round % 3;
          let got: string[][];
          try {
            got = perBatch(await run(p.wireLogin(), batches, gap));
          } catch (err) {
            got = [[`failed: ${(err as Error).message}`]];
          }
          const right =
            got.length === expected.length &&
            got.every(
              (answers, i) =>
                JSON.stringify(answers) === JSON.stringify(expected[i]) ||
                (i === refusable && refused(answers, expected[i]!)),
            );
          if (!right)
            failures.push(
              `${name}, gap ${gap} ms, round ${round}:\n  got      ${got.flat().join(' | ')}\n  expected ${expected.flat().join(' | ')}`,
            );
        }
      }
      assert.deepEqual(failures, []);
    } finally {
      await p.stop();
      await sqlOn(t.primary, `DROP TABLE ${TABLE}`);
    }
  });
});
