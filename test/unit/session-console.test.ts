import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '../../src/config/types.js';
import * as encode from '../../src/protocol/encode.js';
import type { AdminHooks } from '../../src/proxy/context.js';
import { answerConsoleQuery, consoleRole } from '../../src/proxy/session/console.js';

describe('the admin console session', () => {
  it('admin_users may run every command, stats_users only look, others not at all', () => {
    const config = { admin_users: ['root'], stats_users: ['watcher', 'root'] } as unknown as Config;
    assert.equal(consoleRole(config, 'root'), 'admin');
    assert.equal(consoleRole(config, 'watcher'), 'stats');
    assert.equal(consoleRole(config, 'app'), null);
  });

  it('answers a Query with what the admin side returns, then ReadyForQuery, in one corked batch', () => {
    const asked: { sql: string; user: string; admin: boolean }[] = [];
    const admin = { run: (req) => (asked.push(req), [encode.commandComplete('SHOW')]) } as AdminHooks;
    const events: string[] = [];
    const out = {
      cork: () => events.push('cork'),
      uncork: () => events.push('uncork'),
      write: (m: Buffer) => (events.push(String.fromCharCode(m[0]!)), true),
    };
    answerConsoleQuery(out, admin, Buffer.from('SHOW POOLS\0'), 'watcher', false);
    assert.deepEqual(asked, [{ sql: 'SHOW POOLS', user: 'watcher', admin: false }]);
    assert.deepEqual(events, ['cork', 'C', 'Z', 'uncork']);
  });
});
