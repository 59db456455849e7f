import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Cleanup, runProgram, startService } from './processes.js';

test('cleanup runs its steps last-in first-out, once, and goes on past a failing step', async () => {
  const cleanup = new Cleanup();
  const order: string[] = [];
  cleanup.add('first', async () => void order.push('first'));
  cleanup.add('failing', async () => {
    order.push('failing');
    throw new Error('boom');
  });
  cleanup.add('last', async () => void order.push('last'));
  const errors: unknown[] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => void errors.push(args.join(' '));
  try {
    await Promise.all([cleanup.runAll(), cleanup.runAll()]);
  } finally {
    console.error = originalError;
  }
  assert.deepEqual(order, ['last', 'failing', 'first']);
  assert.deepEqual(errors, ['cleanup: failing failed: boom']);
});

test('runProgram returns the exit code and the output', async () => {
  const out = await runProgram(process.execPath, ['-e', 'console.log("out"); console.error("err"); process.exit(3)'], {
    env: process.env,
    timeoutMs: 10_000,
    signal: new AbortController().signal,
  });
  assert.deepEqual(out, { code: 3, stdout: 'out\n', stderr: 'err\n' });
});

test('startService reports a service that exits before it listens, with its log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-bench-test-'));
  try {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    server.close();
    await assert.rejects(
      startService({
        name: 'doomed',
        command: process.execPath,
        args: ['-e', 'console.error("bad config"); process.exit(2)'],
        port,
        logFile: join(dir, 'doomed.log'),
        stopSignal: 'SIGTERM',
      }),
      /doomed did not start: exited \(code 2\)[\s\S]*bad config/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startService resolves once the port accepts, and stop() ends the process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-bench-test-'));
  try {
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    probe.close();
    const service = await startService({
      name: 'listener',
      command: process.execPath,
      args: ['-e', `require('net').createServer().listen(${port}, '127.0.0.1')`],
      port,
      logFile: join(dir, 'listener.log'),
      stopSignal: 'SIGTERM',
    });
    assert.ok(service.pid > 0);
    await service.stop();
    assert.throws(() => process.kill(service.pid, 0), { code: 'ESRCH' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
