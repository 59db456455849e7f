import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AdminCommand } from '../../src/admin/commands.js';
import { SharedAdminState } from '../../src/workers/shared-state.js';

function after(...commands: AdminCommand[]): AdminCommand[] {
  const state = new SharedAdminState();
  for (const command of commands) state.apply(command);
  return state.replay();
}

describe('SharedAdminState: what a worker started again is told', () => {
  test('nothing in force: nothing to replay', () => {
    assert.deepEqual(after({ kind: 'reload' }, { kind: 'reconnect', database: null }), []);
  });

  test('a PAUSE of all, and of one database', () => {
    assert.deepEqual(after({ kind: 'pause', database: null }, { kind: 'pause', database: 'app' }), [
      { kind: 'pause', database: null },
      { kind: 'pause', database: 'app' },
    ]);
  });

  test("RESUME without a name ends the pause of all; with one, only that database's", () => {
    assert.deepEqual(
      after({ kind: 'pause', database: 'a' }, { kind: 'pause', database: 'b' }, { kind: 'resume', database: 'a' }),
      [{ kind: 'pause', database: 'b' }],
    );
    assert.deepEqual(after({ kind: 'pause', database: null }, { kind: 'resume', database: 'a' }), [
      { kind: 'pause', database: null },
    ]);
    // As in PgBouncer: a database paused by name stays paused through a PAUSE and RESUME of all.
    assert.deepEqual(
      after({ kind: 'pause', database: null }, { kind: 'pause', database: 'b' }, { kind: 'resume', database: null }),
      [{ kind: 'pause', database: 'b' }],
    );
  });

  test('KILL leaves its database paused until RESUME', () => {
    assert.deepEqual(after({ kind: 'kill', database: 'app' }), [{ kind: 'pause', database: 'app' }]);
    assert.deepEqual(after({ kind: 'kill', database: 'app' }, { kind: 'resume', database: 'app' }), []);
    assert.deepEqual(after({ kind: 'kill', database: 'app' }, { kind: 'resume', database: null }), [
      { kind: 'pause', database: 'app' },
    ]);
    assert.deepEqual(after({ kind: 'kill', database: null }, { kind: 'resume', database: null }), []);
    assert.deepEqual(after({ kind: 'kill', database: null }), [{ kind: 'pause', database: null }]);
  });

  test('DISABLE until ENABLE, independent of pauses', () => {
    assert.deepEqual(after({ kind: 'disable', database: 'app' }, { kind: 'resume', database: null }), [
      { kind: 'disable', database: 'app' },
    ]);
    assert.deepEqual(after({ kind: 'disable', database: 'app' }, { kind: 'enable', database: 'app' }), []);
  });
});
