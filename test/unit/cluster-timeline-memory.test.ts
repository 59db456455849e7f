import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { TimelineMemory } from '../../src/cluster/timeline-memory.js';

describe('TimelineMemory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-timelines-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const log = createLogger('t', 'info', {
    destination: new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }),
  });

  test('only a newer timeline is news; a restart remembers it', () => {
    const memory = new TimelineMemory(dir, 'a', log);
    assert.equal(memory.newestOf('42'), null);
    assert.equal(memory.see('42', 1), true);
    assert.equal(memory.see('42', 3), true);
    assert.equal(memory.see('42', 2), false);
    assert.equal(memory.see('7', 1), true);
    const again = new TimelineMemory(dir, 'a', log);
    assert.equal(again.newestOf('42'), 3);
    assert.equal(again.newestOf('7'), 1);
    // Another instance keeps its own file.
    assert.equal(new TimelineMemory(dir, 'b', log).newestOf('42'), null);
  });

  test('without a directory nothing is written; a damaged file is logged and ignored', () => {
    const memory = new TimelineMemory('', 'a', log);
    assert.equal(memory.see('42', 9), true);
    assert.equal(new TimelineMemory(dir, 'a', log).newestOf('42'), 3);
    writeFileSync(join(dir, 'pgtide-c.state.json'), '{"timelines": {"42": "x", "abc": 5, "8": 2}');
    assert.equal(new TimelineMemory(dir, 'c', log).newestOf('8'), null);
    assert.ok(lines.some((l) => l.includes('damaged')));
    writeFileSync(join(dir, 'pgtide-d.state.json'), '{"timelines": {"42": "x", "abc": 5, "8": 2}}');
    const kept = new TimelineMemory(dir, 'd', log);
    assert.equal(kept.newestOf('8'), 2);
    assert.equal(kept.newestOf('42'), null);
    assert.equal(kept.newestOf('abc'), null);
  });

  test('the file is plain JSON', () => {
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'pgtide-a.state.json'), 'utf8')), {
      timelines: { 42: 3, 7: 1 },
    });
  });
});
