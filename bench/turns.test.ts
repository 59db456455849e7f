import assert from 'node:assert/strict';
import { test } from 'node:test';
import { turnOrder } from './turns.js';

const TARGETS = ['direct', 'pgtide', 'pgbouncer', 'node-forward', 'connect-floor'] as const;

test('each round runs every target once', () => {
  for (let round = 1; round <= 50; round++) {
    const order = turnOrder(TARGETS, round);
    assert.deepEqual([...order].sort(), [...TARGETS].sort(), `round ${round}`);
  }
});

test('a round always gets the same order, so a run can be repeated', () => {
  for (let round = 1; round <= 10; round++) assert.deepEqual(turnOrder(TARGETS, round), turnOrder(TARGETS, round));
});

test('over five rounds no target keeps its place or its predecessor', () => {
  for (const targets of [TARGETS, [...TARGETS, 'pgtide@b'], TARGETS.slice(0, 3)]) {
    const rounds = [1, 2, 3, 4, 5].map((round) => turnOrder(targets, round));
    for (const target of targets) {
      const places = new Set(rounds.map((order) => order.indexOf(target)));
      assert.ok(places.size >= 2, `${target} always in place ${[...places]} of ${targets.length}`);
      const before = new Set(rounds.map((order) => order[order.indexOf(target) - 1] ?? '(first)'));
      assert.ok(before.size >= 2, `${target} always right after ${[...before]}`);
    }
  }
});

test('over many rounds every target takes every place', () => {
  const seen = new Map<string, Set<number>>(TARGETS.map((t) => [t, new Set()]));
  for (let round = 1; round <= 40; round++) {
    const order = turnOrder(TARGETS, round);
    for (let place = 0; place < order.length; place++) seen.get(order[place]!)!.add(place);
  }
  for (const [target, places] of seen) assert.equal(places.size, TARGETS.length, target);
});

test('one target runs alone', () => {
  assert.deepEqual(turnOrder(['pgtide'], 3), ['pgtide']);
  assert.deepEqual(turnOrder([], 3), []);
});
