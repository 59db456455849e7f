import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../support/free-ports.js';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { connectTo, spawnCli, spawnPgtide, writeConfig, type PgtideProcess } from '../support/pgtide-process.js';
import { waitFor } from '../support/wait.js';
import { watch } from '../support/child-output.js';

const t = currentTopology();

/** pgtide logging at info level, its statements too, to `dir` as instance `name`. */
function spawnLogging(dir: string, name: string): Promise<PgtideProcess> {
  return spawnPgtide(t, dir, writeAuthFile(t, dir), [
    `log_dir = "${dir}"`,
    'log_statements = true',
    'log_level = "info"',
    `instance_name = "${name}"`,
  ]);
}

test('log_dir receives the log with the instance name; log_statements logs statements; no password anywhere', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
  const p = await spawnLogging(dir, 'pool7');
  try {
    const c = await connectTo(t, p);
    await c.query(`SELECT 'logged statement 123' AS s`);
    await c.end();
    const file = join(dir, 'pgtide-pool7.log');
    const text = await waitFor('the statement in the log file', () => {
      try {
        const body = readFileSync(file, 'utf8');
        return body.includes('logged statement 123') ? body : false;
      } catch {
        return false;
      }
    });
    const lines = jsonLines(text);
    assert.ok(
      lines.every((l) => l['instance'] === 'pool7'),
      'every line names the instance',
    );
    assert.ok(!text.includes(t.scramUser.password), 'a password reached the log');
    assert.ok(!p.output().includes(t.scramUser.password), 'a password reached stdout');
  } finally {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The log file's lines, parsed. */
function fileLines(path: string): Record<string, unknown>[] {
  return jsonLines(readFileSync(path, 'utf8'));
}

/** One object per line: every line must be whole JSON. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Output and exit code of a process that is expected to end by itself. */
async function ended(child: ChildProcess): Promise<{ code: number | null; output: string }> {
  const { output, exited } = watch(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, output: output() };
}

test('the lines logged just before SIGTERM are in the log file when the process has exited', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
  const p = await spawnLogging(dir, 'term');
  try {
    const c = await connectTo(t, p);
    for (let i = 0; i < 300; i++) await c.query(`SELECT ${i} AS "statement before sigterm"`);
    await c.end();
    assert.equal(await p.stop('SIGTERM'), 0);
    const lines = fileLines(join(dir, 'pgtide-term.log'));
    const statements = lines.filter((l) => String(l['statement'] ?? '').includes('statement before sigterm'));
    assert.equal(statements.length, 300, 'every statement line');
    assert.equal(lines.at(-1)!['msg'], 'stopping', `the last line: ${JSON.stringify(lines.at(-1))}`);
  } finally {
    await p.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start that fails ends the log file with the fatal error, and the lines before it', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
  // The listen port is taken: pgtide has logged its first lines when binding fails.
  const taken = net.createServer();
  const [port] = (await freePorts(1)) as [number];
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
  try {
    const config = writeConfig(t, dir, writeAuthFile(t, dir), port, [
      `log_dir = "${dir}"`,
      'log_level = "info"',
      'instance_name = "fatal"',
    ]);
    const { code, output } = await ended(spawnCli(config));
    assert.equal(code, 1, output);
    const lines = fileLines(join(dir, 'pgtide-fatal.log'));
    assert.ok(
      lines.some((l) => l['msg'] === 'configuration read'),
      'the lines before the failure',
    );
    const last = lines.at(-1)!;
    assert.equal(last['level'], 60, `the last line is fatal: ${JSON.stringify(last)}`);
    assert.equal(last['msg'], 'could not start');
    assert.match(String(last['err']), /EADDRINUSE/);
  } finally {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a log_dir that cannot be written stops the start with an error that names log_dir', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
  try {
    const [port] = (await freePorts(1)) as [number];
    const missing = join(dir, 'no-such-dir');
    const config = writeConfig(t, dir, writeAuthFile(t, dir), port, [
      `log_dir = "${missing}"`,
      'instance_name = "nodir"',
    ]);
    const { code, output } = await ended(spawnCli(config));
    assert.equal(code, 1, output);
    assert.match(
      output,
      new RegExp(`pgtide: log_dir: cannot write the log file ${missing}/pgtide-nodir\\.log: ENOENT`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
