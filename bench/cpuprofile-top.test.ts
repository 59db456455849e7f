import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topSelfTime } from './cpuprofile-top.js';

test('charges each sample time to its function and sorts by self time', () => {
  const frame = (functionName: string, lineNumber: number) => ({ functionName, url: '', lineNumber });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', 0) },
      { id: 2, callFrame: frame('scan', 9) },
      { id: 3, callFrame: frame('', 4) },
      { id: 4, callFrame: frame('scan', 9) }, // the same function reached by another path
    ],
    samples: [2, 3, 4, 2],
    timeDeltas: [100, 50, 200, 150],
  };
  assert.deepEqual(topSelfTime(profile, 2), [
    { location: 'scan', micros: 450, share: 0.9 },
    { location: '(anonymous)', micros: 50, share: 0.1 },
  ]);
});
