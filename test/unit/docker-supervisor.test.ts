// The supervisor's pure parts: restart backoff, log rotation, splitting its options from pgtide's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingLogFile } from '../../src/log-file.js';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, restartDelay, supervisorArgs } from '../../src/supervisor.js';

describe('restartDelay', () => {
  const backoff = { initialMs: 100, maxMs: 1000, stableMs: 60_000 };

  test('doubles after each quick crash, up to the cap', () => {
    const delays: number[] = [];
    let previous: number | null = null;
    for (let crash = 0; crash < 7; crash++) delays.push((previous = restartDelay(backoff, previous, 500)));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  });

  test('starts over after a run of stableMs', () => {
    assert.equal(restartDelay(backoff, 1000, 59_999), 1000);
    assert.equal(restartDelay(backoff, 1000, 60_000), 100);
  });
});

describe('RotatingLogFile', () => {
  const withDir = (fn: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
    try {
      fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test('appends to an existing file and rotates before passing maxBytes, keeping `keep` files', () =>
    withDir((dir) => {
      const path = join(dir, 'pgtide-pool1.log');
      writeFileSync(path, 'old\n');
      const log = new RotatingLogFile({ path, maxBytes: 10, keep: 2 });
      for (const line of ['aaaa\n', 'bbbb\n', 'cccc\n', 'dddd\n', 'eeee\n']) log.write(Buffer.from(line));
      log.close();
      assert.deepEqual(readdirSync(dir).sort(), ['pgtide-pool1.log', 'pgtide-pool1.log.1', 'pgtide-pool1.log.2']);
      // 'old' + 'aaaa' fill 9 bytes; each later file holds two 5-byte lines.
      assert.equal(readFileSync(path, 'utf8'), 'dddd\neeee\n');
      assert.equal(readFileSync(`${path}.1`, 'utf8'), 'bbbb\ncccc\n');
      assert.equal(readFileSync(`${path}.2`, 'utf8'), 'old\naaaa\n');
    }));

  test('a chunk larger than maxBytes is written whole, into a file of its own', () =>
    withDir((dir) => {
      const path = join(dir, 'p.log');
      const log = new RotatingLogFile({ path, maxBytes: 4, keep: 1 });
      log.write(Buffer.from('x\n'));
      log.write(Buffer.from('0123456789\n'));
      log.close();
      assert.equal(readFileSync(path, 'utf8'), '0123456789\n');
      assert.equal(readFileSync(`${path}.1`, 'utf8'), 'x\n');
    }));

  // Helper o1: a host's logrotate (or an operator) moved the supervisor's file on the log
  // volume; the next rotation found nothing to rename, threw, and the whole instance ended.
  test('a file moved or removed by someone else: the rotation writes a new file at the path', () =>
    withDir((dir) => {
      const path = join(dir, 'p.log');
      for (const away of [(p: string) => renameSync(p, join(dir, 'moved.log')), (p: string) => rmSync(p)]) {
        const log = new RotatingLogFile({ path, maxBytes: 10, keep: 2 });
        log.write(Buffer.from('aaaa\n'));
        away(path);
        for (const line of ['bbbb\n', 'cccc\n', 'dddd\n']) log.write(Buffer.from(line));
        log.close();
        assert.equal(readFileSync(path, 'utf8'), 'cccc\ndddd\n');
        assert.ok(!existsSync(`${path}.1`), 'nothing of the moved file to shift');
        rmSync(path);
      }
      assert.equal(readFileSync(join(dir, 'moved.log'), 'utf8'), 'aaaa\nbbbb\n');
    }));

  test('within a second of a move, lines go to a new file at the path, before any rotation', () =>
    withDir((dir) => {
      const path = join(dir, 'p.log');
      const log = new RotatingLogFile({ path, maxBytes: 1000, keep: 2 });
      log.write(Buffer.from('before\n'));
      renameSync(path, join(dir, 'moved.log'));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
      log.write(Buffer.from('after\n'));
      log.close();
      assert.equal(readFileSync(path, 'utf8'), 'after\n');
      assert.equal(readFileSync(join(dir, 'moved.log'), 'utf8'), 'before\n');
    }));

  test('keep = 0 truncates instead of keeping old files', () =>
    withDir((dir) => {
      const path = join(dir, 'p.log');
      const log = new RotatingLogFile({ path, maxBytes: 4, keep: 0 });
      log.write(Buffer.from('abc\n'));
      log.write(Buffer.from('def\n'));
      log.close();
      assert.deepEqual(readdirSync(dir), ['p.log']);
      assert.equal(readFileSync(path, 'utf8'), 'def\n');
    }));
});

describe('supervisorArgs', () => {
  test('removes its own options and passes the rest to the pooler', () => {
    const { childArgv, logFile } = supervisorArgs([
      'start',
      '--supervise',
      '--log-file',
      '/l/p.log',
      '-c',
      '/etc/p.toml',
      '--log-keep=2',
    ]);
    assert.deepEqual(childArgv, ['start', '-c', '/etc/p.toml']);
    assert.deepEqual(logFile, { path: '/l/p.log', maxBytes: DEFAULT_LOG_MAX_BYTES, keep: 2 });
  });

  test('without --log-file, output is not teed', () => {
    assert.deepEqual(supervisorArgs(['start', '--supervise', '--config', 'x']), {
      childArgv: ['start', '--config', 'x'],
    });
  });

  test('bad values are refused with the option named', () => {
    assert.throws(() => supervisorArgs(['start', '--log-file']), /--log-file needs a path/);
    assert.throws(
      () => supervisorArgs(['start', '--log-file', 'a', '--log-max-bytes', '100']),
      /--log-max-bytes must be an integer of at least 1024/,
    );
    assert.throws(() => supervisorArgs(['start', '--log-file', 'a', '--log-keep', '-1']), /--log-keep/);
    assert.throws(() => supervisorArgs(['start', '--log-file', 'a', '--log-max-bytes', '1e9']), /--log-max-bytes/);
    assert.equal(supervisorArgs(['start', '--log-file', 'a']).logFile?.keep, DEFAULT_LOG_KEEP);
  });
});
