import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ParserThread, type ParserThreadOptions } from '../../src/parser-thread.js';
import { Classifier, type Classification } from '../../src/sql/index.js';

const FAILING = new URL('./parser-thread-failing.js', import.meta.url);
const STUCK = new URL('./parser-thread-stuck.js', import.meta.url);

/**
 * A classifier with a real parser thread, stopped when test `t` ends (a failed assertion too:
 * a thread left running can keep the test process from ending); `errors` collects what the
 * thread's host logged.
 */
function withThread(
  t: TestContext,
  options: Partial<ParserThreadOptions> = {},
): {
  c: Classifier;
  thread: ParserThread;
  errors: string[];
} {
  const errors: string[] = [];
  const log = {
    error: (_: unknown, message: string) => void errors.push(message),
  } as unknown as ParserThreadOptions['log'];
  let c: Classifier | undefined;
  const thread = new ParserThread({
    onAnswer: (key, answer) => c?.learn(key, answer),
    onLost: (key) => c?.forget(key),
    log,
    ...options,
  });
  c = new Classifier({ parser: thread });
  t.after(() => thread.stop());
  return { c, thread, errors };
}

/** Classifies `sql` until it no longer awaits the parser. */
async function learned(c: Classifier, sql: string): Promise<Classification> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = c.classify(sql);
    if (!got.awaitingParser) return got;
    assert.ok(Date.now() < deadline, `the parser thread never answered ${sql}`);
    await sleep(10);
  }
}

describe('the parser thread', () => {
  it('starts at the first statement that needs it; its answers route later runs', async (t) => {
    const { c, thread } = withThread(t);
    assert.equal(c.classify('SELECT 1').route, 'read');
    assert.equal(thread.starts, 0);
    const first = c.classify('SELECT "pg_catalog".lower(\'A\')');
    assert.deepEqual([first.route, first.awaitingParser], ['write', true]);
    assert.equal(thread.starts, 1);
    const got = await learned(c, 'SELECT "pg_catalog".lower(\'B\')');
    assert.deepEqual([got.route, got.parsed], ['read', true]);
    assert.deepEqual(c.stats, { lexed: 1, parsed: 1, cacheHits: 1, queued: 1, dropped: 0 });
  });

  it('a thread that dies: its statements go to the primary, and it is started again', async (t) => {
    const { c, thread, errors } = withThread(t, { script: FAILING, restartDelayMs: 200 });
    assert.equal((await learned(c, 'SELECT "a"(1)')).functions?.[0], 'a');
    c.classify('SELECT "crash"(1)');
    c.classify('SELECT "b"(1)'); // asked of the same thread, after the crash: lost with it
    const deadline = Date.now() + 10_000;
    while (errors.length === 0 && Date.now() < deadline) await sleep(10);
    assert.match(errors[0] ?? '', /parser thread exited/);
    // Down for restartDelayMs: asked of no thread, so dropped, and still routed to the primary.
    assert.equal(c.classify('SELECT "b"(2)').awaitingParser, true);
    assert.equal(c.stats.dropped, 1);
    await sleep(250);
    const got = await learned(c, 'SELECT "b"(3)');
    assert.deepEqual([got.route, got.functions], ['write', ['b']]);
    assert.equal(thread.starts, 2);
  });

  it('a thread that stops answering is ended and started again', async (t) => {
    // Long enough that the new thread's answers, on a loaded machine, do not pass for a hang too.
    const { c, thread, errors } = withThread(t, { script: FAILING, restartDelayMs: 0, answerTimeoutMs: 1500 });
    c.classify('SELECT "hang"(1)');
    await sleep(20);
    c.classify('SELECT "c"(1)');
    const deadline = Date.now() + 10_000;
    while (errors.length < 2 && Date.now() < deadline) await sleep(10);
    assert.match(errors[0] ?? '', /stopped answering/);
    assert.match(errors[1] ?? '', /parser thread exited/);
    assert.deepEqual((await learned(c, 'SELECT "c"(2)')).functions, ['c']);
    assert.equal(thread.starts, 2);
  });

  it('a thread whose load never ends is ended and started again', async (t) => {
    const { c, thread, errors } = withThread(t, { script: STUCK, restartDelayMs: 0, loadTimeoutMs: 300 });
    c.classify('SELECT "e"(1)');
    const deadline = Date.now() + 10_000;
    while (errors.length < 2 && Date.now() < deadline) await sleep(10);
    assert.match(errors[0] ?? '', /stopped answering/);
    assert.match(errors[1] ?? '', /parser thread exited/);
    c.classify('SELECT "e"(2)');
    assert.equal(thread.starts, 2);
  });

  it('after stop, statements go to the primary and no thread starts', async (t) => {
    const { c, thread } = withThread(t);
    await thread.stop();
    assert.equal(c.classify('SELECT "d"(1)').awaitingParser, true);
    assert.equal(thread.starts, 0);
  });
});
