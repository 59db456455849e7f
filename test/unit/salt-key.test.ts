import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSaltKey, parseSaltKey, saltKeyFile } from '../../src/config/salt-key.js';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'pgtide-salt-key-'));
}

test('without state_dir each load draws a new key', () => {
  const a = loadSaltKey('', 'pool1');
  const b = loadSaltKey('', 'pool1');
  assert.equal(a.problem, null);
  assert.equal(a.key.length, 32);
  assert.notDeepEqual(a.key, b.key);
});

test('with state_dir the first load writes the key (owner only) and later loads read it back', () => {
  const dir = scratch();
  try {
    const stateDir = join(dir, 'state');
    const first = loadSaltKey(stateDir, 'pool1');
    assert.equal(first.problem, null);
    const file = saltKeyFile(stateDir, 'pool1');
    assert.equal(readFileSync(file, 'utf8'), `${first.key.toString('hex')}\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(loadSaltKey(stateDir, 'pool1'), first);
    // Another instance name, another key.
    assert.notDeepEqual(loadSaltKey(stateDir, 'pool2').key, first.key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged key file is reported and left alone; this run uses a new key', () => {
  const dir = scratch();
  try {
    const file = saltKeyFile(dir, 'pool1');
    writeFileSync(file, 'not a key\n');
    const loaded = loadSaltKey(dir, 'pool1');
    assert.match(loaded.problem ?? '', /is damaged \(not 64 hex digits\)/);
    assert.equal(loaded.key.length, 32);
    assert.equal(readFileSync(file, 'utf8'), 'not a key\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key that cannot be read or written is reported; this run uses a new key', () => {
  const dir = scratch();
  try {
    // state_dir names a file: reading under it fails with ENOTDIR.
    writeFileSync(join(dir, 'file'), '');
    assert.match(loadSaltKey(join(dir, 'file'), 'pool1').problem ?? '', /^cannot read /);
    // The temporary file's name is taken by a directory: writing fails.
    mkdirSync(`${saltKeyFile(dir, 'pool1')}.tmp`);
    const loaded = loadSaltKey(dir, 'pool1');
    assert.match(loaded.problem ?? '', /^cannot write /);
    assert.equal(loaded.key.length, 32);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key in text form is 64 lowercase hex digits', () => {
  const key = Buffer.alloc(32, 0xab);
  assert.deepEqual(parseSaltKey(key.toString('hex')), key);
  for (const bad of ['', 'ab'.repeat(31), 'AB'.repeat(32), `${'ab'.repeat(32)}\n`, 'zz'.repeat(32)])
    assert.equal(parseSaltKey(bad), null, bad);
});
