import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterBackends, startPgtide } from '../support/pgtide.js';

test('auth_type = "trust" is warned about at start, and only then', async () => {
  const t = currentTopology();
  const trusting = await startPgtide(t, { auth_type: 'trust' });
  await trusting.stop();
  const checking = await startPgtide(t);
  await checking.stop();
  const warned = (logs: Record<string, unknown>[]) => logs.some((l) => l['level'] === 40 && String(l['msg']).startsWith('auth_type = "trust"'));
  assert.equal(warned(trusting.logs), true);
  assert.equal(warned(checking.logs), false);
});

test('a cluster without state_dir is warned about at start; one backend or a state_dir is not', async (t) => {
  const topology = currentTopology();
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backends = clusterBackends(topology, [1, 1, 1]);
  const runs = [
    await startPgtide(topology, { backends }),
    await startPgtide(topology, { backends, state_dir: dir }),
    await startPgtide(topology),
  ];
  for (const run of runs) await run.stop();
  const warned = (logs: Record<string, unknown>[]) => logs.some((l) => l['level'] === 40 && String(l['msg']).startsWith('state_dir is not set'));
  assert.deepEqual(runs.map((r) => warned(r.logs)), [true, false, false]);
});
