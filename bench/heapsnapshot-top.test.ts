import assert from 'node:assert/strict';
import { test } from 'node:test';
import { categories, growth } from './heapsnapshot-top.js';

/** A snapshot in V8's layout: nodes as flat [type, name, self_size] triples, names in `strings`. */
function snapshot(nodes: [kind: number, name: string, size: number][]) {
  const strings = [...new Set(nodes.map(([, name]) => name))];
  return {
    snapshot: {
      meta: { node_fields: ['type', 'name', 'self_size'], node_types: [['hidden', 'object', 'string', 'closure']] },
    },
    nodes: nodes.flatMap(([kind, name, size]) => [kind, strings.indexOf(name), size]),
    strings,
  };
}

test('sums self size and counts per kind and name; strings are one category whatever their text', () => {
  const c = categories(
    snapshot([
      [1, 'ClientSession', 700],
      [1, 'ClientSession', 700],
      [2, 'abc', 24],
      [2, 'de', 20],
      [3, 'onData', 56],
    ]),
  );
  assert.deepEqual(c.get('object ClientSession'), { name: 'object ClientSession', count: 2, bytes: 1400 });
  assert.deepEqual(c.get('(string)'), { name: '(string)', count: 2, bytes: 44 });
  assert.deepEqual(c.get('closure onData'), { name: 'closure onData', count: 1, bytes: 56 });
});

test('growth lists what changed between two snapshots, largest growth first', () => {
  const before = categories(
    snapshot([
      [1, 'Socket', 300],
      [3, 'onData', 56],
      [1, 'Pool', 200],
    ]),
  );
  const after = categories(
    snapshot([
      [1, 'Socket', 300],
      [1, 'Socket', 300],
      [1, 'Pool', 200],
      [2, 'x', 16],
    ]),
  );
  assert.deepEqual(growth(after, before), [
    { name: 'object Socket', count: 1, bytes: 300 },
    { name: '(string)', count: 1, bytes: 16 },
    { name: 'closure onData', count: -1, bytes: -56 },
  ]);
});
