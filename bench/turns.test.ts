import assert from 'node:assert/strict';
import { test } from 'node:test';
import { turnOrder } from './turns.js';

const TARGETS = ['direct', 'pgtide', 'pgbouncer', 'node-forward', 'connect-floor', 'pgtide@b', 'pgtide@c'];

/** How often each target takes each place, and each ordered pair runs back to back, over `rounds`. */
function tally(
  targets: readonly string[],
  rounds: number,
): { places: Map<string, number>; pairs: Map<string, number> } {
  const places = new Map<string, number>();
  const pairs = new Map<string, number>();
  for (let round = 1; round <= rounds; round++) {
    const order = turnOrder(targets, round);
    assert.deepEqual([...order].sort(), [...targets].sort(), `round ${round} runs every target once`);
    for (let i = 0; i < order.length; i++) {
      const place = `${order[i]} in place ${i}`;
      places.set(place, (places.get(place) ?? 0) + 1);
      if (i > 0) {
        const pair = `${order[i - 1]} then ${order[i]}`;
        pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
      }
    }
  }
  return { places, pairs };
}

test('with an even number of targets, n rounds give every place and every predecessor once', () => {
  for (const n of [2, 4, 6]) {
    const targets = TARGETS.slice(0, n);
    const { places, pairs } = tally(targets, n);
    assert.equal(places.size, n * n);
    assert.deepEqual(new Set(places.values()), new Set([1]));
    assert.equal(pairs.size, n * (n - 1));
    assert.deepEqual(new Set(pairs.values()), new Set([1]));
  }
});

test('with an odd number of targets, 2n rounds give every place and every predecessor twice', () => {
  for (const n of [3, 5, 7]) {
    const targets = TARGETS.slice(0, n);
    const { places, pairs } = tally(targets, 2 * n);
    assert.equal(places.size, n * n);
    assert.deepEqual(new Set(places.values()), new Set([2]));
    assert.equal(pairs.size, n * (n - 1));
    assert.deepEqual(new Set(pairs.values()), new Set([2]));
  }
});

test('in the bench default of five rounds no target keeps one place or one predecessor', () => {
  for (const n of [3, 4, 5, 6]) {
    const targets = TARGETS.slice(0, n);
    const rounds = [1, 2, 3, 4, 5].map((round) => turnOrder(targets, round));
    for (const target of targets) {
      const places = new Set(rounds.map((order) => order.indexOf(target)));
      assert.ok(places.size >= 3, `${target} of ${n}: places ${[...places]}`);
      const before = rounds.map((order) => order[order.indexOf(target) - 1] ?? '(first)');
      const most = Math.max(...before.map((b) => before.filter((x) => x === b).length));
      assert.ok(most <= 2, `${target} of ${n} runs right after one target ${most} times in 5 rounds`);
    }
  }
});

test('one target runs alone', () => {
  assert.deepEqual(turnOrder(['pgtide'], 3), ['pgtide']);
  assert.deepEqual(turnOrder([], 3), []);
});
