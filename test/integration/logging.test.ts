import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { spawnPgtide } from '../support/pgtide-process.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

test('log_dir receives the log with the instance name; log_statements logs statements; no password anywhere', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-log-'));
  const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
    `log_dir = "${dir}"`, 'log_statements = true', 'log_level = "info"', 'instance_name = "pool7"',
  ]);
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: p.port, user: t.scramUser.user, password: t.scramUser.password, database: t.database });
    await c.connect();
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
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.every((l) => l['instance'] === 'pool7'), 'every line names the instance');
    assert.ok(!text.includes(t.scramUser.password), 'a password reached the log');
    assert.ok(!p.output().includes(t.scramUser.password), 'a password reached stdout');
  } finally {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
