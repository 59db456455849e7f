import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defineFlags } from '../../src/proxy/session/flags.js';

class Flagged {
  flags = 0;
  declare a: boolean;
  declare b: boolean;
  declare c: boolean;
}
defineFlags<Flagged>(Flagged.prototype, ['a', 'b', 'c']);

describe('session flags', () => {
  it('read false at first, and each set or cleared without touching the others', () => {
    const x = new Flagged();
    assert.deepEqual([x.a, x.b, x.c], [false, false, false]);
    x.b = true;
    assert.deepEqual([x.a, x.b, x.c], [false, true, false]);
    x.a = true;
    x.c = true;
    x.b = false;
    assert.deepEqual([x.a, x.b, x.c], [true, false, true]);
    x.c = true;
    assert.equal(x.c, true, 'setting a set flag keeps it set');
    assert.equal(x.flags, 0b101);
  });

  it('are bits of one field, not fields of their own', () => {
    const x = new Flagged();
    x.a = true;
    assert.deepEqual(Object.keys(x), ['flags']);
    const y = new Flagged();
    assert.equal(y.a, false, 'instances do not share their flags');
  });

  it('refuse more flags than one small integer holds', () => {
    const names = Array.from({ length: 31 }, (_, i) => `f${i}`);
    assert.throws(() => defineFlags({ flags: 0 } as never, names as never), RangeError);
    assert.doesNotThrow(() => defineFlags({ flags: 0 } as never, names.slice(0, 30) as never));
  });
});
