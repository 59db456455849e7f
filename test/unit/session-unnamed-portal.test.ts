import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import { TransactionStatus } from '../../src/protocol/types.js';
import { Classifier, type Classification } from '../../src/sql/index.js';
import { editedChunk } from '../../src/proxy/session/chunk-edits.js';
import { collectTable, MessageScanner } from '../../src/protocol/scanner.js';
import {
  DROPPED_PORTAL,
  executeOfPortal,
  portalBatchEnded,
  portalBound,
  queryDropsPortal,
  type PortalSession,
} from '../../src/proxy/session/unnamed-portal.js';
import { execute, parse } from '../support/pipeline.js';

const { InTransaction, Failed } = TransactionStatus;

const classifier = new Classifier();

/** A simple Query, a Bind of the unnamed portal to a statement of this text (null: unknown)
 *  read while the server's last ReadyForQuery said `txStatus`, or a Sync. */
type Step = ['query'] | ['bind', string | null, number] | ['sync'];

function session(): PortalSession {
  return {
    unnamedPortalDropped: false,
    unnamedPortalRebinding: false,
    server: null,
    edits: null,
    syncEnd: -1,
    queuedSyncs: 0,
    scanner: new MessageScanner(1 << 20, collectTable('')),
  };
}

function server(txStatus: number, pending = 0): PortalSession['server'] {
  return { txStatus, syncs: { pending } } as PortalSession['server'];
}

/** The bytes the server gets for `exec`, sent after `steps` of the client's, in a chunk after a
 *  Parse, while its server's last ReadyForQuery said `txStatus` (Failed unless told). */
function sent(steps: Step[], exec: Buffer, txStatus: number = Failed): Buffer {
  const s = session();
  for (const step of steps) {
    if (step[0] === 'query') queryDropsPortal(s);
    else if (step[0] === 'sync') portalBatchEnded(s);
    else {
      s.server = server(step[2]);
      const runs: Classification | null = step[1] === null ? null : classifier.classify(step[1]);
      portalBound(s, runs);
    }
  }
  s.server = server(txStatus);
  const before = parse('s1', 'SELECT 1');
  const chunk = Buffer.concat([before, exec, encode.sync()]);
  s.syncEnd = chunk.length;
  executeOfPortal(s, exec.subarray(5), before.length + exec.length);
  if (s.edits === null) return chunk.subarray(before.length, chunk.length - 5);
  const out = editedChunk(s, chunk);
  assert.equal(s.syncEnd, out.length, 'the Sync still ends the chunk');
  assert.deepEqual(out.subarray(0, before.length), before);
  return out.subarray(before.length, out.length - 5);
}

const unnamed = execute('', 7);
const renamed = encode.execute(DROPPED_PORTAL, 7);

describe('an Execute of the unnamed portal', () => {
  for (const [steps, expected, why] of [
    [[], unnamed, 'nothing dropped it'],
    [[['query'], ['bind', 'SELECT 1', InTransaction]], unnamed, 'a Bind made it again'],
    [[['query'], ['bind', 'ROLLBACK', Failed]], unnamed, 'bound to a ROLLBACK in a failed block'],
    [[['query'], ['bind', '', Failed]], unnamed, 'bound to no statement in a failed block'],
    [[['query'], ['bind', null, Failed]], unnamed, 'bound to a statement pgtide does not know'],
    [[['query']], renamed, 'a simple Query dropped it'],
    [[['bind', 'SELECT 1', InTransaction], ['query']], renamed, 'a simple Query since its Bind'],
    [[['query'], ['bind', 'SELECT 1', Failed], ['sync']], renamed, 'a failed block refuses its Bind (25P02)'],
    [[['query'], ['bind', 'SELECT 1', Failed]], unnamed, "in that Bind's batch: skipped if it failed"],
  ] as const) {
    it(`${expected === unnamed ? 'goes as sent' : 'goes under a name no portal has'}: ${why}`, () => {
      assert.deepEqual(sent(steps as unknown as Step[], unnamed), expected);
    });
  }

  it('of a named portal always goes as sent', () => {
    const named = execute('c1', 0);
    assert.deepEqual(sent([['query']], named), named);
  });

  it('goes as sent after a Query that was answered outside a failed block: the server answers 34000', () => {
    assert.deepEqual(sent([['query']], unnamed, InTransaction), unnamed);
  });

  it('goes under a name no portal has while a Query may still fail: answers owed, or sync points in its chunk', () => {
    const owed = session();
    queryDropsPortal(owed);
    owed.server = server(InTransaction, 1);
    executeOfPortal(owed, unnamed.subarray(5), unnamed.length);
    assert.notEqual(owed.edits, null);
    const pipelined = session();
    queryDropsPortal(pipelined);
    pipelined.queuedSyncs = 2;
    executeOfPortal(pipelined, unnamed.subarray(5), unnamed.length);
    assert.notEqual(pipelined.edits, null);
  });

  it('keeps its row limit', () => {
    const out = sent([['query']], execute('', 42));
    assert.equal(out.readInt32BE(out.length - 4), 42);
  });

  it('is left alone when its start went in an earlier chunk', () => {
    const s = session();
    queryDropsPortal(s);
    s.server = server(Failed);
    executeOfPortal(s, unnamed.subarray(5), 3);
    assert.equal(s.edits, null);
  });
});
