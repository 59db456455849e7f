import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '../../src/config/types.js';
import * as encode from '../../src/protocol/encode.js';
import type { AdminHooks } from '../../src/proxy/context.js';
import { answerConsoleQuery, consoleRole, type ConsoleClient } from '../../src/proxy/session/console.js';

/** A console client whose socket records what it is given: a message by its type byte. */
function client(run: AdminHooks['run']) {
  const events: string[] = [];
  const asked: Parameters<AdminHooks['run']>[0][] = [];
  const s: ConsoleClient = {
    socket: {
      writable: true,
      cork: () => events.push('cork'),
      uncork: () => events.push('uncork'),
      write: (m: Buffer) => (events.push(String.fromCharCode(m[0]!)), true),
    },
    ctx: { admin: { run: (req) => (asked.push(req), run(req)) } as AdminHooks },
    user: 'watcher',
    lastActive: 0,
    consoleAdmin: false,
    consoleAnswer: null,
  };
  return { s, events, asked };
}

describe('the admin console session', () => {
  it('admin_users may run every command, stats_users only look, others not at all', () => {
    const config = { admin_users: ['root'], stats_users: ['watcher', 'root'] } as unknown as Config;
    assert.equal(consoleRole(config, 'root'), 'admin');
    assert.equal(consoleRole(config, 'watcher'), 'stats');
    assert.equal(consoleRole(config, 'app'), null);
  });

  it('answers a Query with what the admin side returns, then ReadyForQuery, in one corked batch', () => {
    const { s, events, asked } = client(() => [encode.commandComplete('SHOW')]);
    answerConsoleQuery(s, Buffer.from('SHOW POOLS\0'));
    assert.deepEqual(
      asked.map(({ sql, user, admin }) => ({ sql, user, admin })),
      [{ sql: 'SHOW POOLS', user: 'watcher', admin: false }],
    );
    assert.deepEqual(events, ['cork', 'C', 'Z', 'uncork']);
    assert.equal(s.consoleAnswer, null);
  });

  it('tells the admin side when the client has left (WAIT_CLOSE stops waiting then)', () => {
    const { s, asked } = client(() => [encode.commandComplete('WAIT_CLOSE')]);
    answerConsoleQuery(s, Buffer.from('WAIT_CLOSE\0'));
    const gone = asked[0]!.gone!;
    assert.equal(gone(), false);
    (s.socket as { writable: boolean }).writable = false;
    assert.equal(gone(), true);
  });

  it('answers in order when an answer waits for other workers: the next query waits for it', async () => {
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const { s, events, asked } = client((req) =>
      req.sql === 'SHOW CLIENTS' ? slow.then(() => [encode.commandComplete('SLOW')]) : [encode.commandComplete('FAST')],
    );
    answerConsoleQuery(s, Buffer.from('SHOW CLIENTS\0'));
    answerConsoleQuery(s, Buffer.from('SHOW VERSION\0'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, [], 'an answer overtook the one before it');
    assert.deepEqual(
      asked.map((r) => r.sql),
      ['SHOW CLIENTS'],
      'the second query ran before the first was answered',
    );
    release();
    await s.consoleAnswer;
    assert.deepEqual(events, ['cork', 'C', 'Z', 'uncork', 'cork', 'C', 'Z', 'uncork']);
    assert.equal(s.consoleAnswer, null);
  });

  it('writes nothing to a client that left while its answer waited', async () => {
    const { s, events } = client(() => Promise.resolve([encode.commandComplete('SHOW')]));
    answerConsoleQuery(s, Buffer.from('SHOW POOLS\0'));
    (s.socket as { writable: boolean }).writable = false;
    await s.consoleAnswer;
    assert.deepEqual(events, []);
  });
});
