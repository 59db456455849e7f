// The messages between the primary of `workers = N` and its workers: a malformed one is
// ignored rather than acted on, and the channel drops rather than queue without bound.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedChannel, isWorkerMessage, parseWorkerSlot } from '../../src/workers/messages.js';

describe('worker messages', () => {
  test('a question and its answer are recognised; their ids and who asks are integers', () => {
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'metrics' } }));
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'show', item: 'pools' } }));
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'kill_client', id: 7, user: 'ops' } }));
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'close_needed', database: null } }));
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'close_needed', database: 'app' } }));
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'free_database', database: 'app' } }));
    assert.ok(isWorkerMessage({ kind: 'answer', id: 3, to: 1, from: 0, answer: [] }));
    assert.ok(isWorkerMessage({ kind: 'answer', id: 3, to: 1, from: 0, answer: null }));
  });

  test('malformed questions and answers are not messages', () => {
    for (const message of [
      { kind: 'ask', id: 3, to: 1 },
      { kind: 'ask', id: '3', to: 1, question: { kind: 'metrics' } },
      { kind: 'ask', id: 3, to: 1, question: { kind: 'show' } },
      { kind: 'ask', id: 3, to: 1, question: { kind: 'kill_client', id: 'x', user: 'ops' } },
      { kind: 'ask', id: 3, to: 1, question: { kind: 'drop tables' } },
      { kind: 'ask', id: 3, to: 1, question: { kind: 'close_needed' } },
      { kind: 'ask', id: 3, to: 1, question: { kind: 'free_database', database: null } },
      { kind: 'answer', id: 3, to: 1, answer: [] },
      { kind: 'answer', id: 3.5, to: 1, from: 0, answer: [] },
      { kind: 'metrics-request', id: 1, to: 0 },
      null,
      'ready',
    ]) {
      assert.equal(isWorkerMessage(message), false, JSON.stringify(message));
    }
  });

  test('a relayed pg_terminate_backend or pg_cancel_backend carries its pid, kind and caller', () => {
    const good = { kind: 'signal', pid: 1_074_000_000, terminate: true, user: 'app', superuser: false };
    assert.ok(isWorkerMessage(good));
    for (const wrong of [
      { ...good, pid: '1' },
      { ...good, terminate: 1 },
      { ...good, user: null },
      { ...good, superuser: 'yes' },
      { kind: 'signal', pid: 5 },
    ])
      assert.equal(isWorkerMessage(wrong), false, JSON.stringify(wrong));
  });

  test("a schema fence's message carries a WAL position in decimal, or null; its announcement is a question", () => {
    assert.ok(isWorkerMessage({ kind: 'ask', id: 3, to: 1, question: { kind: 'fence' } }));
    for (const lsn of ['0', '18446744073709551615', null])
      assert.ok(isWorkerMessage({ kind: 'fence', lsn }), String(lsn));
    for (const lsn of ['', 'begin', '-1', '0x10', '1.5', 12, '123456789012345678901', undefined])
      assert.equal(isWorkerMessage({ kind: 'fence', lsn }), false, String(lsn));
  });

  test('the slot the primary sets is parsed; anything else is refused', () => {
    assert.deepEqual(parseWorkerSlot('1/4'), { id: 1, count: 4 });
    assert.equal(parseWorkerSlot(undefined), undefined);
    assert.throws(() => parseWorkerSlot('4/4'), /malformed worker slot/);
    assert.throws(() => parseWorkerSlot('a/b'), /malformed worker slot/);
  });

  test('a channel drops messages while 1000 are unwritten, and takes them again once written', () => {
    const pending: (() => void)[] = [];
    const channel = new BoundedChannel((_message, written) => (pending.push(() => written(null)), true));
    for (let i = 0; i < 1000; i++) assert.ok(channel.post({ kind: 'ready' }));
    assert.equal(channel.post({ kind: 'ready' }), false);
    pending.shift()!();
    assert.ok(channel.post({ kind: 'ready' }));
  });
});
