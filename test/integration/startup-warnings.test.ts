import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import { startPgtide } from '../support/pgtide.js';

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
