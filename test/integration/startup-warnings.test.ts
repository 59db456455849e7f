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
  const warned = (logs: Record<string, unknown>[]) =>
    logs.some((l) => l['level'] === 40 && String(l['msg']).startsWith('auth_type = "trust"'));
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
  const warned = (logs: Record<string, unknown>[]) =>
    logs.some((l) => l['level'] === 40 && String(l['msg']).startsWith('state_dir is not set'));
  assert.deepEqual(
    runs.map((r) => warned(r.logs)),
    [true, false, false],
  );
});

test('a healthy cluster starts without a warning: roles learnt at start are logged at info', async (t) => {
  const topology = currentTopology();
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = await startPgtide(topology, { backends: clusterBackends(topology, [1, 1, 1]), state_dir: dir });
  await run.stop();
  const warnings = run.logs.filter((l) => Number(l['level']) >= 40).map((l) => l['msg']);
  assert.deepEqual(warnings, []);
  const learnt = run.logs.filter((l) => l['msg'] === 'backend role changed');
  assert.deepEqual(
    learnt.map((l) => [l['level'], l['from'], l['to']]),
    [
      [30, 'unknown', 'primary'],
      [30, 'unknown', 'standby'],
      [30, 'unknown', 'standby'],
    ],
  );
});
