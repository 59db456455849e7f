import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generator } from './fuzz-generator.js';
import { shrink } from './fuzz-shrink.js';
import { normalise } from './fuzz-wire.js';

test('shrink keeps only what the failure needs, and the last item', async () => {
  // Fails when 3 and 7 come before the final 9.
  const fails = async (c: number[]) => c.includes(3) && c.includes(7) && c.at(-1) === 9;
  assert.deepEqual(await shrink([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], fails, 100), [3, 7, 9]);
});

test('shrink stops asking after maxTries', async () => {
  let asked = 0;
  const fails = async () => (asked++, false);
  assert.deepEqual(await shrink([1, 2, 3, 4, 5], fails, 2), [1, 2, 3, 4, 5]);
  assert.equal(asked, 2);
});

test('protocol names in SQL are asked for: without them no simple query names s1 or s2', () => {
  const queries = (protocolNamesInSql: boolean) => {
    const next = generator(5, { avoidKnown: true, protocolNamesInSql });
    return Array.from({ length: 300 }, () => next().desc).filter((d) => d.startsWith('Q '));
  };
  assert.equal(queries(false).filter((d) => /\bs[12]\b/i.test(d)).length, 0);
  assert.ok(queries(true).filter((d) => /\bs[12]\b/i.test(d)).length > 0);
});

test('the same seed gives the same batches; avoiding known shapes leaves out DEALLOCATE after the start', () => {
  const take = (seed: number, avoidKnown: boolean) => {
    const next = generator(seed, { avoidKnown });
    return Array.from({ length: 300 }, () => next());
  };
  assert.deepEqual(take(5, false), take(5, false));
  for (const b of take(5, true)) {
    assert.doesNotMatch(b.desc.replace(/^P\(,"DEALLOCATE [^"]*"\) B\(,,0\) E\(,0\)/, ''), /P\([^,]*,"DEALLOCATE/);
  }
});

test('avoiding known shapes, no Parse EXECUTEs a name made by SQL PREPARE (known divergence 7)', () => {
  const parses = (avoidKnown: boolean) => {
    const next = generator(7, { avoidKnown });
    return Array.from({ length: 300 }, () => next().desc).join(' ');
  };
  assert.match(parses(false), /P\([^,]*,"EXECUTE /);
  assert.doesNotMatch(parses(true), /P\([^,]*,"EXECUTE /);
});

test('avoiding known shapes, the unnamed portal is executed or described only after its Bind in the same batch (known divergence 6)', () => {
  // Whether an Execute or Describe of '' comes with no Bind of '' since the batch began or its last Sync.
  const unbound = (avoidKnown: boolean) => {
    const next = generator(11, { avoidKnown });
    let found = 0;
    for (let i = 0; i < 400; i++) {
      let bound = false;
      for (const message of next().desc.split(' ')) {
        if (message === 'S') bound = false;
        else if (message.startsWith('B(,')) bound = true;
        else if (!bound && (message.startsWith('E(,') || message === 'DP()')) found++;
      }
    }
    return found;
  };
  assert.ok(unbound(false) > 0);
  assert.equal(unbound(true), 0);
});

test('normalise drops the table OID and column number of RowDescription', () => {
  const row = (table: number) =>
    Buffer.from([
      0,
      1,
      ...Buffer.from('x\0'),
      0,
      0,
      table >> 8,
      table & 255,
      0,
      1,
      0,
      0,
      0,
      23,
      0,
      4,
      255,
      255,
      255,
      255,
      0,
      0,
    ]);
  assert.equal(normalise({ type: 'T', body: row(16384) }), normalise({ type: 'T', body: row(16999) }));
  assert.equal(normalise({ type: 'T', body: row(1) }), 'RowDescription(x:23/4/-1/0)');
});
