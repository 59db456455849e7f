import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defineChoices, defineFlags } from '../../src/proxy/session/flags.js';
import { TOP_LEVEL_FIELDS, type Field } from '../../src/config/fields.js';
import { harness, loggedIn } from './session-harness.js';

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

function enumValues(field: Field): readonly string[] {
  if (field.kind !== 'enum') throw new TypeError(`not an enumeration: ${field.kind}`);
  return field.values;
}

class Chosen {
  choices = 0;
  declare mode: 'one' | 'two' | 'three';
  declare on: boolean;
  declare level: number;
}
defineChoices<Chosen>(Chosen.prototype, { mode: ['one', 'two', 'three'], on: [false, true], level: [0, 1, 2, 3, 4] });

describe('session choices', () => {
  it('read the first value at first, and each set without touching the others', () => {
    const x = new Chosen();
    assert.deepEqual([x.mode, x.on, x.level], ['one', false, 0]);
    x.level = 4;
    x.mode = 'three';
    assert.deepEqual([x.mode, x.on, x.level], ['three', false, 4]);
    x.on = true;
    x.mode = 'two';
    assert.deepEqual([x.mode, x.on, x.level], ['two', true, 4]);
    assert.deepEqual(Object.keys(x), ['choices'], 'bits of one field, not fields of their own');
  });

  it('refuse a value not listed, and more bits than one small integer holds', () => {
    const x = new Chosen();
    assert.throws(() => {
      x.mode = 'four' as never;
    }, RangeError);
    assert.equal(x.mode, 'one');
    const many = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`c${i}`, ['a', 'b', 'c']]));
    assert.throws(() => defineChoices({ choices: 0 } as never, many as never), RangeError);
  });

  it("hold every pool mode and consistency the configuration accepts, in a client's session", async () => {
    const { session } = loggedIn(await harness());
    for (const mode of enumValues(TOP_LEVEL_FIELDS.pool_mode)) {
      session.mode = mode as never;
      assert.equal(session.mode, mode);
    }
    for (const consistency of enumValues(TOP_LEVEL_FIELDS.consistency)) {
      session.consistency = consistency as never;
      assert.equal(session.consistency, consistency);
    }
    session.close();
  });
});
