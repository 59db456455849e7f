import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { ClientStatements } from '../../src/proxy/prepared-statements.js';
import { StatementRegistry } from '../../src/proxy/statement-registry.js';
import { ResponseTracker } from '../../src/proxy/response-tracker.js';
import { PreparedSet } from '../../src/pool/prepared-set.js';
import { PoolStats } from '../../src/pool/pool.js';
import * as encode from '../../src/protocol/encode.js';
import { BackendMessage } from '../../src/protocol/types.js';
import { Classifier } from '../../src/sql/index.js';
import { answerParses, parseAnswered, type ParseAnswerSession } from '../../src/proxy/session/parse-answer.js';
import { timeGrowth, type Clock } from './time-growth.js';

const classifier = new Classifier();
const parse = (name: string, text: string) => serialize.parse({ name, text, types: [] });
const bind = (statement: string) => serialize.bind({ statement, values: [] });

/** A session between transactions whose statements share `registry`, and what its client was sent. */
function session(registry: StatementRegistry) {
  const sent: Buffer[] = [];
  const stats = new PoolStats();
  const statements = new ClientStatements(registry, () => 'scope');
  const s = {
    ctx: { statements: registry },
    pendingBegin: null as string | null,
    pinned: false,
    pool: { stats },
    queuedSyncs: 1,
    socket: { cork() {}, uncork() {}, write: (b: Buffer) => sent.push(b) > 0 },
    statements,
  };
  return {
    s,
    sent,
    stats,
    statements,
    answer: (...m: Buffer[]) => answerParses(s as unknown as ParseAnswerSession, Buffer.concat(m)),
  };
}

/** A registry where a server answered the Parses of `parsed` texts with ParseComplete, as a tracked link reports them. */
function registryWith(parsed: string[]): StatementRegistry {
  const registry = new StatementRegistry((text, start, end) => classifier.classifyBytes(text, start, end));
  const statements = new ClientStatements(registry, () => 'scope');
  const set = new PreparedSet(100);
  const tracker = new ResponseTracker();
  tracker.onParseAnswered = (serverName, ok) =>
    parseAnswered({ statements, server: { prepared: set } } as never, serverName, ok);
  tracker.reset(set);
  statements.rewrite(
    Buffer.concat([...parsed.map((text, i) => parse(`setup${i}`, text)), serialize.sync()]),
    set,
    tracker,
    new PoolStats(),
    () => true,
  );
  for (const _ of parsed) tracker.onAnswer(BackendMessage.ParseComplete);
  return registry;
}

describe('answerParses: a Parse and Sync between transactions', () => {
  it('of statements a server parsed: ParseComplete each and ReadyForQuery idle, the names mapped, no sync point owed', () => {
    const c = session(registryWith(['SELECT 1', 'SELECT 2']));
    assert.equal(c.answer(parse('a', 'SELECT 1'), parse('b', 'SELECT 2'), serialize.sync()), true);
    assert.deepEqual(c.sent, [encode.parseComplete(), encode.parseComplete(), encode.readyForQuery('I')]);
    assert.deepEqual([c.statements.has('a'), c.statements.has('b'), c.statements.size], [true, true, 2]);
    assert.equal(c.s.queuedSyncs, 0);
    assert.deepEqual([c.stats.clientParses, c.stats.serverParses], [2, 0]);
  });

  it('costs each Parse alike, however many the request holds', () => {
    // Each name was looked for among the request's names before it: thousands of Parses (found
    // by a hostile-input helper) held the event loop. Against a request a sixteenth its size:
    // linear, some sixteen to forty times as long, where the search made it a hundred times and more.
    const registry = registryWith(['SELECT 1']);
    const requestTime = (n: number, clock: Clock) => {
      const c = session(registry);
      const request = Buffer.concat([
        ...Array.from({ length: n }, (_, i) => parse(`s${i}`, 'SELECT 1')),
        serialize.sync(),
      ]);
      const start = clock();
      assert.equal(c.answer(request), true);
      return clock() - start;
    };
    const growth = timeGrowth(requestTime, 1000, 16000);
    assert.ok(growth < 64, `16000 Parses took ${growth.toFixed(1)} times as long as 1000`);
  });

  it('goes to a server when anything in it is not known to parse, or not only Parses and a Sync', () => {
    const registry = registryWith(['SELECT 1']);
    const cases: [string, Buffer[]][] = [
      ['a text no server parsed', [parse('a', 'SELECT 3'), serialize.sync()]],
      ['one unknown among known', [parse('a', 'SELECT 1'), parse('b', 'SELECT 3'), serialize.sync()]],
      ['the unnamed statement', [parse('', 'SELECT 1'), serialize.sync()]],
      ['a name twice', [parse('a', 'SELECT 1'), parse('a', 'SELECT 1'), serialize.sync()]],
      ['no Sync', [parse('a', 'SELECT 1')]],
      ['a Flush instead', [parse('a', 'SELECT 1'), serialize.flush()]],
      ['a Bind after it', [parse('a', 'SELECT 1'), bind('a'), serialize.sync()]],
      ['a cut message', [parse('a', 'SELECT 1'), serialize.sync().subarray(0, 3)]],
    ];
    for (const [why, request] of cases) {
      const c = session(registry);
      assert.equal(c.answer(...request), false, why);
      assert.deepEqual([c.sent.length, c.statements.size, c.s.queuedSyncs], [0, 0, 1], why);
    }
  });

  it("goes to a server for a name in use (42P05 is the server's), inside a deferred BEGIN, or when pinned", () => {
    const registry = registryWith(['SELECT 1']);
    const inUse = session(registry);
    assert.equal(inUse.answer(parse('a', 'SELECT 1'), serialize.sync()), true);
    assert.equal(inUse.answer(parse('a', 'SELECT 1'), serialize.sync()), false);
    const deferred = session(registry);
    deferred.s.pendingBegin = 'BEGIN';
    assert.equal(deferred.answer(parse('a', 'SELECT 1'), serialize.sync()), false);
    const pinned = session(registry);
    pinned.s.pinned = true;
    assert.equal(pinned.answer(parse('a', 'SELECT 1'), serialize.sync()), false);
  });

  it('goes to a server once the statement was shown stale (its epoch grew)', () => {
    const registry = registryWith(['SELECT 1']);
    const c = session(registry);
    assert.equal(c.answer(parse('a', 'SELECT 1'), serialize.sync()), true);
    c.statements.statementNamed('pgtide_1')!.epoch++;
    assert.equal(c.answer(parse('b', 'SELECT 1'), serialize.sync()), false);
  });

  it('goes to a server once a server failed a Parse of it, until one parses it again', () => {
    const c = session(registryWith(['SELECT 1']));
    assert.equal(c.answer(parse('a', 'SELECT 1'), serialize.sync()), true);
    const s = { statements: c.statements, server: { prepared: new PreparedSet(10) } } as never;
    parseAnswered(s, 'pgtide_1', false);
    assert.equal(c.answer(parse('b', 'SELECT 1'), serialize.sync()), false);
    // A ParseComplete counts only from a server known to hold the current version.
    parseAnswered(s, 'pgtide_1', true);
    assert.equal(c.answer(parse('b', 'SELECT 1'), serialize.sync()), false);
  });
});
