import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import {
  clockTicksPerSecond,
  pageSize,
  parseMachineBusyTicks,
  parseProcStat,
  readMachineBusyTicks,
  readTreeCpuTicks,
  readTreeRssPages,
  treeTicks,
  type ProcStat,
} from './proc-cpu.js';

test('reads pid, ppid, utime + stime, cutime + cstime and rss (fields 1, 4, 14–17, 24 of /proc/<pid>/stat)', () => {
  const stat = '4242 (node) S 1 4242 4242 0 -1 4194304 100 0 0 0 731 268 40 2 20 0 11 0 500 1000 2000';
  assert.deepEqual(parseProcStat(stat), {
    pid: 4242,
    ppid: 1,
    ownTicks: 731 + 268,
    reapedChildrenTicks: 42,
    rssPages: 2000,
  });
});

test('counts fields after the last ")" when the command name holds spaces and parentheses', () => {
  const stat = '7 (a) b (c) R 3 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 9 9';
  assert.deepEqual(parseProcStat(stat), { pid: 7, ppid: 3, ownTicks: 11, reapedChildrenTicks: 0, rssPages: 9 });
});

test('rejects text that is not a stat line', () => {
  assert.throws(() => parseProcStat('no parenthesis here'), /not a \/proc\/<pid>\/stat line/);
  assert.throws(() => parseProcStat('1 (x) S 1 2'), /no pid\/ppid/);
});

const proc = (pid: number, ppid: number, ownTicks: number, reapedChildrenTicks = 0): ProcStat => ({
  pid,
  ppid,
  ownTicks,
  reapedChildrenTicks,
  rssPages: 0,
});

test('a tree sums the root, its descendants and their reaped children, and nothing else', () => {
  const stats = [
    proc(1, 0, 1000),
    proc(10, 1, 5, 7), // root: 7 ticks of exited children
    proc(11, 10, 20),
    proc(12, 11, 3, 1), // grandchild
    proc(13, 1, 500), // a sibling of the root: not counted
  ];
  assert.equal(treeTicks(stats, 10), 5 + 7 + 20 + 3 + 1);
  assert.equal(treeTicks(stats, 12), 4);
});

test('a tree whose root is gone is an error, and a ppid cycle does not loop', () => {
  assert.throws(() => treeTicks([proc(1, 0, 1)], 99), /process 99 is not running/);
  assert.equal(treeTicks([proc(2, 3, 1), proc(3, 2, 1)], 2), 2);
});

test('reads a live tree: it grows while a child process computes', async () => {
  const hz = await clockTicksPerSecond();
  const busyMs = Math.ceil((5 * 1000) / hz) + 50; // over 5 ticks of busy CPU
  const before = await readTreeCpuTicks(process.pid);
  const child = spawn(process.execPath, ['-e', `const t = Date.now() + ${busyMs}; while (Date.now() < t);`]);
  await new Promise((resolve) => child.once('exit', resolve));
  // The child has exited and been reaped: its time now lives in our cutime/cstime.
  assert.ok((await readTreeCpuTicks(process.pid)) - before >= 5);
});

test('reads the resident memory of a live tree: it counts a child that holds memory', async () => {
  const pages = (64 * 1024 * 1024) / (await pageSize());
  const before = await readTreeRssPages(process.pid);
  // The child fills 64 MiB (so that every page is resident), says so, and waits to be killed.
  const child = spawn(process.execPath, [
    '-e',
    'globalThis.b = Buffer.alloc(64 * 1024 * 1024, 1); console.log("ok"); setInterval(() => {}, 1000);',
  ]);
  await new Promise((resolve) => child.stdout.once('data', resolve));
  try {
    assert.ok((await readTreeRssPages(process.pid)) - before >= pages);
  } finally {
    child.kill();
  }
});

test('machine busy ticks: user, nice, system, irq, softirq and steal of the cpu line; not idle, iowait or guest', () => {
  const stat = 'cpu  100 2 30 5000 40 6 7 8 90 1\ncpu0 50 1 15 2500 20 3 3 4 45 0\nintr 1\n';
  assert.equal(parseMachineBusyTicks(stat), 100 + 2 + 30 + 6 + 7 + 8);
  assert.throws(() => parseMachineBusyTicks('cpu0 1 2 3 4 5 6 7 8\n'), /not the cpu line/);
  assert.throws(() => parseMachineBusyTicks('cpu 1 2 x 4 5 6 7 8\n'), /not a tick count/);
  assert.throws(() => parseMachineBusyTicks('cpu 1 2 3\n'), /not the cpu line/);
});

test('reads the machine busy ticks: they grow while a child process computes', async () => {
  const hz = await clockTicksPerSecond();
  const before = await readMachineBusyTicks();
  const busyMs = Math.ceil((5 * 1000) / hz) + 50;
  const child = spawn(process.execPath, ['-e', `const t = Date.now() + ${busyMs}; while (Date.now() < t);`]);
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok((await readMachineBusyTicks()) - before >= 5);
});
