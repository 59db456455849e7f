// PostgreSQL 18 (18.4 measured) crashes with signal 11, restarting every backend of the server,
// on an Execute of the unnamed portal that a simple Query failing inside a transaction block
// left behind, once another message came between (a Parse and a Sync): the portal's statements
// point into memory freed since. The protocol says a simple Query drops the unnamed portal, so
// such an Execute has nothing to run and must fail with 34000: pgtide sends it under a name no
// portal has, which the server fails alike, and one client's bytes cannot end every client's
// server connections (a protocol fuzzer did, through pgtide, once a run in five).
import * as encode from '../../protocol/encode.js';
import { TransactionStatus } from '../../protocol/types.js';
import type { Classification } from '../../sql/index.js';
import type { ClientSession } from '../client-session.js';
import { replaceMessage, type EditSession } from './chunk-edits.js';

/** The portal name the server gets instead; its error names it. */
export const DROPPED_PORTAL = '<unnamed portal dropped by a simple Query>';

export type PortalSession = Pick<
  ClientSession,
  'unnamedPortalDropped' | 'unnamedPortalRebinding' | 'server' | 'queuedSyncs'
> &
  EditSession;

/** A simple Query: the unnamed portal is gone, on PostgreSQL too. */
export function queryDropsPortal(s: PortalSession): void {
  if (!s.unnamedPortalDropped) s.unnamedPortalDropped = true;
}

/**
 * A Bind of the unnamed portal since a simple Query dropped it, of a statement that counts as
 * `runs` (null: unknown). An Execute of its batch runs what it bound, or is skipped if it
 * failed, whatever the transaction is; so is one of a later batch, but for a Bind a failed
 * block refuses (25P02): that leaves the portal the failed Query left. Only a block known
 * failed when the Bind is read counts (not one whose failure is still on its way back, in a
 * pipeline; a ROLLBACK pipelined before the Bind may end one known failed, and the Bind then
 * succeeds: tokio-postgres got 34000 for its query after a ROLLBACK while the shield held the
 * whole batch's Execute).
 */
export function portalBound(s: PortalSession, runs: Classification | null): void {
  if (runs !== null && !acceptedByFailedBlock(runs) && s.server?.txStatus === TransactionStatus.Failed) {
    if (!s.unnamedPortalRebinding) s.unnamedPortalRebinding = true;
    return;
  }
  s.unnamedPortalDropped = false;
}

/** A Sync: a Bind of the unnamed portal that may have failed makes no later Execute safe. */
export function portalBatchEnded(s: PortalSession): void {
  if (s.unnamedPortalRebinding) s.unnamedPortalRebinding = false;
}

/** COMMIT, ROLLBACK, ROLLBACK TO SAVEPOINT, PREPARE TRANSACTION and no statement at all. */
function acceptedByFailedBlock(c: Classification): boolean {
  const kind = c.kind;
  return kind === 'commit' || kind === 'rollback' || kind === 'savepoint' || kind === 'two_phase' || kind === 'empty';
}

/**
 * An Execute (`body`, whole, ending at `end` of the chunk being scanned): of the unnamed
 * portal a simple Query dropped, and no Bind of it earlier in its batch, it is sent under
 * DROPPED_PORTAL while the transaction may be
 * a failed block (only a Query that failed in one leaves the portal): known failed, or with
 * answers still to come. Otherwise it goes as sent, and the server answers 34000 itself. A
 * message cut across chunks goes as it is: its start went already.
 */
export function executeOfPortal(s: PortalSession, body: Buffer, end: number): void {
  if (body[0] !== 0 || body.length !== 5 || !s.unnamedPortalDropped || s.unnamedPortalRebinding) return;
  const server = s.server;
  const mayHaveFailed =
    s.queuedSyncs > 0 ||
    (server !== null && (server.syncs.pending > 0 || server.txStatus === TransactionStatus.Failed));
  if (!mayHaveFailed) return;
  replaceMessage(s, end - 5 - body.length, end, encode.execute(DROPPED_PORTAL, body.readInt32BE(1)));
}
