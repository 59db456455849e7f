// Where `pgtide start` / `pgtide check` find their configuration without --config.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_CONFIG_PATHS, findDefaultConfig } from '../../src/config/default-path.js';

test('the working directory comes first, then /etc/pgtide', () => {
  assert.deepEqual(DEFAULT_CONFIG_PATHS, ['pgtide.toml', '/etc/pgtide/pgtide.toml']);
});

test('the first existing candidate wins; none found is undefined', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-default-path-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cwd = join(dir, 'cwd');
  const etc = join(dir, 'etc', 'pgtide.toml');
  mkdirSync(cwd);
  mkdirSync(join(dir, 'etc'));
  const candidates = ['pgtide.toml', etc];
  assert.equal(findDefaultConfig(cwd, candidates), undefined);
  writeFileSync(etc, '');
  assert.equal(findDefaultConfig(cwd, candidates), etc);
  writeFileSync(join(cwd, 'pgtide.toml'), '');
  assert.equal(findDefaultConfig(cwd, candidates), join(cwd, 'pgtide.toml'));
});
