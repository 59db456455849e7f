import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rowShape, sameRowShape } from '../../src/protocol/row-shape.js';
import * as encode from '../../src/protocol/encode.js';

const T = 0x54,
  NO_DATA = 0x6e;
const INT4 = 23,
  TEXT = 25;

/** The shape of a RowDescription of `columns`, as if they came from table `tableOid`. */
function shape(columns: { name: string; typeOid: number }[], tableOid = 0): Buffer {
  const body = Buffer.from(encode.rowDescription(columns).subarray(5));
  // The table OID of each field, after its name.
  let off = 2;
  for (let i = 0; i < columns.length; i++) {
    off = body.indexOf(0, off) + 1;
    body.writeUInt32BE(tableOid, off);
    body.writeUInt16BE(i + 1, off + 4);
    off += 18;
  }
  return rowShape(T, body);
}

describe('row shapes', () => {
  it('the same names, types and modifiers are the same shape, whatever table they come from', () => {
    assert.equal(
      sameRowShape(shape([{ name: 'v', typeOid: INT4 }], 16384), shape([{ name: 'v', typeOid: INT4 }], 16999)),
      true,
    );
  });

  it('another type, name or number of columns is another shape', () => {
    const v = shape([{ name: 'v', typeOid: INT4 }]);
    assert.equal(sameRowShape(v, shape([{ name: 'v', typeOid: TEXT }])), false);
    assert.equal(sameRowShape(v, shape([{ name: 'w', typeOid: INT4 }])), false);
    assert.equal(
      sameRowShape(
        v,
        shape([
          { name: 'v', typeOid: INT4 },
          { name: 'w', typeOid: INT4 },
        ]),
      ),
      false,
    );
  });

  it("a column's format code counts, unless formats are left out (a portal's against a statement's)", () => {
    const text = shape([{ name: 'v', typeOid: INT4 }]);
    const binary = Buffer.from(text);
    binary.writeUInt16BE(1, binary.length - 2);
    assert.equal(sameRowShape(text, binary), false);
    assert.equal(sameRowShape(text, binary, false), true);
    assert.equal(sameRowShape(binary, shape([{ name: 'v', typeOid: TEXT }]), false), false);
  });

  it('NoData matches NoData only', () => {
    const none = rowShape(NO_DATA, Buffer.alloc(0));
    assert.equal(sameRowShape(none, rowShape(NO_DATA, Buffer.alloc(0))), true);
    assert.equal(sameRowShape(none, shape([])), false);
  });

  it('a malformed RowDescription matches nothing, not even itself', () => {
    const cut = rowShape(T, Buffer.from(encode.rowDescription([{ name: 'v', typeOid: INT4 }]).subarray(5, 12)));
    assert.equal(sameRowShape(cut, cut), false);
    assert.equal(sameRowShape(rowShape(T, Buffer.from([0])), rowShape(T, Buffer.from([0]))), false);
  });
});
