import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clockTicksPerSecond, cpuTicksFromStat, readCpuTicks } from './proc-cpu.js';

test('adds utime and stime (fields 14 and 15 of /proc/<pid>/stat)', () => {
  const stat = '4242 (node) S 1 4242 4242 0 -1 4194304 100 0 0 0 731 268 0 0 20 0 11 0 500 1000 2000';
  assert.equal(cpuTicksFromStat(stat), 731 + 268);
});

test('counts fields after the last ")" when the command name holds spaces and parentheses', () => {
  const stat = '7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 9 9';
  assert.equal(cpuTicksFromStat(stat), 11);
});

test('rejects text that is not a stat line', () => {
  assert.throws(() => cpuTicksFromStat('no parenthesis here'), /not a \/proc\/<pid>\/stat line/);
  assert.throws(() => cpuTicksFromStat('1 (x) S 1 2'), /no utime\/stime/);
});

test('reads a live process: its CPU time grows while it computes', async () => {
  const before = await readCpuTicks(process.pid);
  const hz = await clockTicksPerSecond();
  const until = Date.now() + (3 * 1000) / hz + 50; // several ticks of busy CPU
  while (Date.now() < until) Math.sqrt(Math.random());
  assert.ok((await readCpuTicks(process.pid)) > before);
});
