import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReusedReadBuffer } from '../../src/pool/read-buffer.js';

test('reads reuse one buffer while no pending write holds the last chunk', () => {
  const reads = new ReusedReadBuffer();
  const first = reads.next();
  assert.equal(first.length, 65536);
  assert.equal(reads.next(), first);
});

test('a chunk held by a pending client write is never overwritten by the next read', () => {
  const reads = new ReusedReadBuffer();
  const first = reads.next();
  reads.held = true;
  const second = reads.next();
  assert.notEqual(second, first);
  assert.equal(reads.held, false);
  assert.equal(reads.next(), second);
});
