// A simple Query pipelined inside an extended-protocol batch: after an error in the batch
// PostgreSQL discards every message up to Sync, the Query too, which then gets no
// ReadyForQuery. pgtide must give the client what PostgreSQL gives it directly and hand the
// server back at the Sync's ReadyForQuery (pool size 1: the next client gets it at once).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import {
  bind,
  describe as describeMessage,
  execute,
  normalise,
  parse,
  query,
  sync,
  useWirePgtide,
  type Message,
  type WireClient,
} from '../support/pipeline.js';

const t = currentTopology();
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything up to `readies` ReadyForQuery, then whatever else comes within 300 ms (nothing, if all is well). */
async function answers(c: WireClient, readies: number): Promise<string[]> {
  const got: Message[] = await c.untilReady(readies);
  try {
    for (;;) got.push(await c.next(Date.now() + 300));
  } catch {
    // Nothing more came.
  }
  return normalise(got);
}

describe('a Query pipelined after an extended-protocol error', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1, query_wait_timeout: 5 });
  const direct = () => ({ ...wire.login(), host: t.primary.host, port: t.primary.port });

  /** The pool's only server serves another client now; how long that took, in ms. */
  async function nextClientWait(): Promise<number> {
    const other = await wire.connect();
    const start = performance.now();
    const got = normalise(await other.exchange(query('SELECT 42 AS v')));
    assert.ok(
      got.some((line) => line.startsWith('D ') && line.endsWith('42')),
      got.join(' | '),
    );
    await other.close();
    return performance.now() - start;
  }

  /** The same bytes, direct and through pgtide, give the same messages. */
  async function same(send: (c: WireClient) => Promise<void>, readies: number): Promise<string[]> {
    const d = await wire.connect(undefined, direct());
    await send(d);
    const want = await answers(d, readies);
    const c = await wire.connect();
    await send(c);
    assert.deepEqual(await answers(c, readies), want);
    await c.close();
    await d.close();
    return want;
  }

  test('Parse, Bind, Execute failing, Query, Sync: one ReadyForQuery, as direct, and the server is free at once', async () => {
    const c = await wire.connect();
    const d = await wire.connect(undefined, direct());
    const batch = [parse('', 'SELECT 1/0'), bind('', ''), execute(), query('SELECT 2'), sync()];
    d.send(...batch);
    const want = await answers(d, 1);
    assert.equal(want.filter((line) => line.startsWith('Z')).length, 1, want.join(' | '));
    c.send(...batch);
    assert.deepEqual(await answers(c, 1), want);
    // The client is still connected, idle: the server is back in the pool.
    const waited = await nextClientWait();
    assert.ok(waited < 1000, `the next client waited ${waited.toFixed(0)} ms`);
    await c.close();
    await d.close();
  });

  test('with a Describe, as node-postgres sends (Parse, Bind, Describe, Execute failing, Query, Sync): as direct', async () => {
    await same(
      async (c) =>
        c.send(parse('', 'SELECT 1/0'), bind('', ''), describeMessage('P', ''), execute(), query('SELECT 2'), sync()),
      1,
    );
    assert.ok((await nextClientWait()) < 1000);
  });

  test("the Query's own error inside the batch: it and the Sync are answered, as direct", async () => {
    const want = await same(
      async (c) => c.send(parse('', 'SELECT 1'), bind('', ''), execute(), query('SELECT 1/0'), sync()),
      2,
    );
    assert.equal(want.filter((line) => line.startsWith('Z')).length, 2);
    assert.ok((await nextClientWait()) < 1000);
  });

  test('the batch and its error before the Query is sent (two chunks): as direct', async () => {
    await same(async (c) => {
      c.send(parse('', 'SELECT 1/0'), bind('', ''), execute(), FLUSH);
      await sleep(200);
      c.send(query('SELECT 2'), query('SELECT 3'), sync());
    }, 1);
    assert.ok((await nextClientWait()) < 1000);
  });

  test('a named statement failing (pgtide maps its name), then Query and Sync: as direct, and the server is free at once', async () => {
    await same(
      async (c) => c.send(parse('div0', 'SELECT 1/0'), bind('', 'div0'), execute(), query('SELECT 2'), sync()),
      1,
    );
    assert.ok((await nextClientWait()) < 1000);
  });

  test('a client that leaves after the error, before its Sync: its server is drained at once, not after 10 s', async () => {
    const c = await wire.connect();
    c.send(parse('', 'SELECT 1/0'), bind('', ''), execute(), query('SELECT 2'), FLUSH);
    await sleep(200);
    await c.close();
    const waited = await nextClientWait();
    assert.ok(waited < 1000, `the next client waited ${waited.toFixed(0)} ms`);
  });
});
