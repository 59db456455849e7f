import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { StatementRegistry } from '../../src/proxy/statement-registry.js';
import { Classifier } from '../../src/sql/index.js';
import { takeOverStatements, type UntrackedSession } from '../../src/proxy/session/untracked.js';
import type { LinkedServer } from '../../src/pool/linked-server.js';
import * as encode from '../../src/protocol/encode.js';
import { PreparedSet } from '../../src/pool/prepared-set.js';
import { ResponseTracker } from '../../src/proxy/response-tracker.js';
import { PoolStats } from '../../src/pool/pool.js';

const classifier = new Classifier();
const ROW = encode.rowDescription([{ name: 'v', typeOid: 23 }]);

/** A client that sent `bytes` unmapped, and a server that lists `listed` ([name, text, type oids]) as its statements. */
function takeOver(bytes: Buffer, listed: [string, string, string][], requestFails = false) {
  const registry = new StatementRegistry((text, start, end) => classifier.classifyBytes(text, start, end));
  const s = {
    ctx: { statements: registry, log: { info() {} } },
    remote: 'client',
    scanner: { atBoundary: true },
    statementLink: { untrackedSent: [bytes], untrackedSize: bytes.length, whole: null },
    statements: null,
    statementsUntracked: true,
  } as unknown as UntrackedSession;
  const requests: Buffer[] = [];
  const server = {
    query: async () => listed,
    request: async (request: Buffer, _owner: unknown, _settings: boolean, shapes: Buffer[]) => {
      requests.push(request);
      if (requestFails) throw new Error('server connection closed');
      shapes.push(Buffer.concat([Buffer.from([0x54]), ROW.subarray(5)]));
      return [];
    },
  } as unknown as LinkedServer;
  return { s, requests, done: takeOverStatements(s, server) };
}

const parse = (name: string, text: string) => serialize.parse({ name, text, types: [] });

describe('named statements sent unmapped, taken over at the end of their transaction', () => {
  it('the names the server holds become mapped statements; their shapes are asked again and the names closed', async () => {
    const sent = Buffer.concat([
      parse('n1', 'SELECT $1::int'),
      serialize.describe({ type: 'S', name: 'n1' }),
      parse('n2', 'SELECT 2'),
      serialize.bind({ statement: 'n2' }),
      serialize.execute({}),
      serialize.sync(),
    ]);
    const { s, requests, done } = takeOver(sent, [
      ['n1', 'SELECT $1::int', '23'],
      ['n2', 'SELECT 2', ''],
    ]);
    await done;
    assert.equal(s.statementsUntracked, false);
    assert.equal(s.statements?.named('n1')?.serverName, 'pgtide_1');
    assert.equal(s.statements?.named('n2')?.serverName, 'pgtide_2');
    assert.deepEqual(requests, [
      Buffer.concat([
        encode.describeStatement('n1'),
        encode.closeStatement('n1'),
        encode.closeStatement('n2'),
        encode.sync(),
      ]),
    ]);
  });

  it('a Parse that failed leaves no name; a statement the server holds under another text keeps the client pinned', async () => {
    const failed = takeOver(Buffer.concat([parse('bad', 'SELEC 1'), serialize.sync()]), []);
    await failed.done;
    assert.equal(failed.s.statementsUntracked, false);
    assert.equal(failed.s.statements?.named('bad'), undefined);
    assert.deepEqual(failed.requests, [], 'nothing to close');

    const other = takeOver(Buffer.concat([parse('n', 'SELECT 1'), serialize.sync()]), [['n', 'SELECT 2', '']]);
    await other.done;
    assert.equal(other.s.statementsUntracked, true);
    assert.equal(other.s.statements, null);
  });

  it('a statement described there whose shape could not be asked again counts as described with an old one', async () => {
    const sent = Buffer.concat([
      parse('n1', 'SELECT 1'),
      serialize.describe({ type: 'S', name: 'n1' }),
      serialize.sync(),
    ]);
    const { s, done } = takeOver(sent, [['n1', 'SELECT 1', '']], true);
    await assert.rejects(done);
    const set = new PreparedSet(10);
    const tracker = new ResponseTracker();
    tracker.reset(set);
    const out = s.statements!.rewrite(
      Buffer.concat([serialize.bind({ statement: 'n1' }), serialize.execute({}), serialize.sync()]),
      set,
      tracker,
      new PoolStats(),
      () => true,
    );
    assert.ok(out.includes(Buffer.from('pgtide_old_shape\0')), out.toString('latin1'));
  });

  it('bytes that do not begin with a whole message teach nothing: the client stays pinned', async () => {
    const cut = takeOver(parse('n', 'SELECT 1').subarray(3), [['n', 'SELECT 1', '']]);
    await cut.done;
    assert.equal(cut.s.statementsUntracked, true);
    assert.equal(cut.s.statements, null);
  });
});
