// What pgtide keeps for long holds memory of its own, not a slice of a chunk shared with the
// small Buffers that come and go (see src/protocol/kept-buffer.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keptCopy } from '../../src/protocol/kept-buffer.js';
import { rowShape } from '../../src/protocol/row-shape.js';

describe('kept buffers', () => {
  it('a copy of a slice of a shared chunk has memory of its own, with the same bytes', () => {
    const shared = Buffer.from('cancel key bytes');
    const copy = keptCopy(shared.subarray(7, 10));
    assert.equal(copy.toString(), 'key');
    assert.equal(copy.buffer.byteLength, 3);
  });

  it('a row shape, kept as long as its statement, holds only its own bytes', () => {
    const body = Buffer.from([0, 0]);
    const shape = rowShape(0x54, body);
    assert.deepEqual([...shape], [0x54, 0, 0]);
    assert.equal(shape.buffer.byteLength, 3);
  });
});
