// `pgtide start` run directly gives itself a small young generation (src/young-generation.ts):
// the same process runs again with the cap, unless its operator chose a size.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { spawnPgtide } from '../support/pgtide-process.js';
import { SEMI_SPACE_MIB } from '../../src/young-generation.js';

const t = currentTopology();
const CAP = `--max-semi-space-size=${SEMI_SPACE_MIB}`;

function argsOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

describe('the young generation of a pooler started directly', { timeout: 60_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-young-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('is capped, in the same process that was started', async () => {
    const p = await spawnPgtide(t, dir, writeAuthFile(t, dir));
    try {
      const args = argsOf(p.child.pid!);
      assert.ok(args.includes(CAP), args.join(' '));
      assert.equal(args.filter((a) => a.startsWith('--max-semi-space-size')).length, 1);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  test("keeps the operator's own size from NODE_OPTIONS", async () => {
    // The child takes this process's environment as it is spawned.
    const saved = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = '--max-semi-space-size=32';
    const p = await spawnPgtide(t, dir, writeAuthFile(t, dir)).finally(() => {
      if (saved === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = saved;
    });
    try {
      const args = argsOf(p.child.pid!);
      assert.ok(!args.some((a) => a.startsWith('--max-semi-space-size')), args.join(' '));
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });
});
