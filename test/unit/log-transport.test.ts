// The log file's writer runs in pino's worker thread (src/log-transport.ts): rotation there
// keeps the documented names, and a log volume that stops taking writes stalls the worker,
// never the event loop that serves clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLogFile } from '../../src/log.js';

/** A node process that runs `body` with `log`, a logger whose log_dir is `dir`. */
function loggingProcess(dir: string, instance: string, body: string) {
  const module = new URL('../../src/log.js', import.meta.url).href;
  const script = `
    import { createLogger } from ${JSON.stringify(module)};
    import { Writable } from 'node:stream';
    const log = createLogger(${JSON.stringify(instance)}, 'info', { logDir: ${JSON.stringify(dir)}, destination: new Writable({ write: (c, e, done) => done() }) });
    ${body}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return { child, output: () => stderr };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('rotation in the worker keeps pgtide-<instance>.log and .1 … .keep, each within maxBytes, no line lost or split', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pgtide-pool1.log');
  const file = openLogFile({ path, maxBytes: 1024, keep: 3 }, 'log_dir');
  const lines = Array.from({ length: 200 }, (_, i) => `{"n":${i},"msg":"${'x'.repeat(40)}"}`);
  for (const line of lines) file.write(`${line}\n`);
  const closed = new Promise<void>((resolve) => file.once('close', resolve));
  file.end();
  await closed;

  assert.deepEqual(readdirSync(dir).sort(), [
    'pgtide-pool1.log',
    'pgtide-pool1.log.1',
    'pgtide-pool1.log.2',
    'pgtide-pool1.log.3',
  ]);
  const kept = [`${path}.3`, `${path}.2`, `${path}.1`, path].map((p) => readFileSync(p, 'utf8'));
  for (const body of kept)
    assert.ok(Buffer.byteLength(body) <= 1024, `a file grew past maxBytes: ${Buffer.byteLength(body)}`);
  // Oldest to newest, the kept files are the tail of what was written, whole lines in order.
  const tail = kept.join('').split('\n').filter(Boolean);
  assert.deepEqual(tail, lines.slice(lines.length - tail.length));
  assert.ok(tail.length > 3 * (1024 / 60), 'the rotated files are full, not one line each');
});

test('the event loop keeps running while the log file takes no writes (the main thread never writes it)', {
  timeout: 30_000,
}, async (t) => {
  const dir = tempDir(t);
  // A FIFO that nobody reads: after 64 KiB, every write to it blocks until a reader drains it,
  // as a write to a stalled volume would. Opening our end non-blocking lets the writer open.
  const path = join(dir, 'pgtide-stall.log');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(reader));
  // 20,000 lines (about 2 MiB) in bursts of 100, one event-loop turn apart: the child reports
  // the longest wait of a 5 ms timer meanwhile. A synchronous write would block at the 64 KiB
  // mark for good, and the child would never report.
  const { child, output } = loggingProcess(
    dir,
    'stall',
    `
    let last = performance.now(), longest = 0;
    const timer = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now; }, 5);
    for (let burst = 0; burst < 200; burst++) {
      for (let i = 0; i < 100; i++) log.info({ burst, i, pad: 'y'.repeat(40) }, 'a line for a stalled log volume');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    clearInterval(timer);
    process.stdout.write(JSON.stringify({ longest }) + '\\n');
  `,
  );
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const report = await new Promise<string | null>((resolve) => {
    const timeout = setTimeout(() => resolve(null), 15_000);
    child.stdout.on('data', () => {
      if (out.includes('longest')) {
        clearTimeout(timeout);
        resolve(out);
      }
    });
  });
  assert.ok(report !== null, `the logging process stopped responding with its log file stalled: ${out}${output()}`);
  const { longest } = JSON.parse(report.trim().split('\n').at(-1)!) as { longest: number };
  // A loaded CI machine can delay a timer; a blocked write would delay it forever.
  assert.ok(longest < 2000, `the event loop stalled for ${longest} ms`);
});

test('lines logged just before process.exit() are in the file: the exit waits for the worker', {
  timeout: 30_000,
}, async (t) => {
  const dir = tempDir(t);
  // The worker is up (as in a running pooler) before the burst; then exit at once, with the
  // lines still in the main thread's queue.
  const { child, output } = loggingProcess(
    dir,
    'exit',
    `
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let i = 0; i < 20000; i++) log.info({ i }, 'line before exit');
    process.exit(3);
  `,
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 3, output());
  const lines = readFileSync(join(dir, 'pgtide-exit.log'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 20000);
  assert.equal((JSON.parse(lines.at(-1)!) as { i: number }).i, 19999);
});
