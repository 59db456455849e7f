// The client's unnamed statement when it is prepared in one batch and bound in a later one
// (pgx v4 with its statement cache off: Parse '', Describe, Sync; then Bind '', Execute, Sync).
// The two batches are two transactions to pgtide, and between them the server may serve
// another client, or run pgtide's own simple queries (settings given to the server, a deferred
// BEGIN, a reset), each of which replaces the unnamed statement: the Bind got 26000.
// So pgtide keeps a copy of such a Parse and prepares it again on the server before the Bind
// runs. Drivers that send the Parse and its Bind in one batch cost a field write, no copy.
import * as encode from '../../protocol/encode.js';
import { ServerQueryError } from '../../pool/own-query.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import type { ServerPeer } from '../../pool/server-peer.js';
import type { ClientSession } from '../client-session.js';
import { replaceMessage, type EditSession } from './chunk-edits.js';

export type UnnamedSession = Pick<
  ClientSession,
  'unnamedParseBody' | 'keptUnnamedParse' | 'restoreUnnamed' | 'server' | 'unnamedMine'
> &
  EditSession;

/** The statement name a Bind or Describe of an unnamed statement the client has not prepared
 *  goes under (see foreignUnnamed): the server's 26000 names it. */
export const NO_UNNAMED_STATEMENT = '<no unnamed statement prepared on this connection>';
const NO_UNNAMED_NAME = Buffer.from(NO_UNNAMED_STATEMENT);

/** An unnamed Parse (its body, a view of the client's bytes; null when only its head was kept). */
export function unnamedParsed(s: UnnamedSession, body: Buffer | null): void {
  s.unnamedParseBody = body;
  s.keptUnnamedParse = null;
  // A choice's setter looks its value up (client-session.ts): not at every Parse.
  if (s.restoreUnnamed) s.restoreUnnamed = false;
  if (!s.unnamedMine) s.unnamedMine = true;
}

/**
 * A Bind or Describe of the unnamed statement (the message `body`, ending at `end` of the
 * chunk being scanned, `nameAt` where its statement name is) when the client has none that
 * pgtide can run: no Parse of it since its last transaction ended, no copy kept. Its server
 * may hold another client's, which the Bind would run (a client that never prepared one read
 * another's rows where PostgreSQL answers 26000): it goes under NO_UNNAMED_STATEMENT, which
 * the server fails with 26000 as well. A message cut across chunks goes as it is.
 */
export function foreignUnnamed(s: UnnamedSession, type: number, body: Buffer, end: number, nameAt: number): void {
  if (s.unnamedMine || s.unnamedParseBody !== null || s.keptUnnamedParse !== null) return;
  const header = Buffer.allocUnsafe(5);
  header[0] = type;
  header.writeUInt32BE(4 + body.length + NO_UNNAMED_NAME.length, 1);
  const renamed = Buffer.concat([header, body.subarray(0, nameAt), NO_UNNAMED_NAME, body.subarray(nameAt)]);
  replaceMessage(s, end - 5 - body.length, end, renamed);
}

/** A Bind of the unnamed statement: one prepared in an earlier batch runs on a server that may lack it. */
export function unnamedBound(s: UnnamedSession): void {
  if (s.unnamedParseBody !== null) s.unnamedParseBody = null;
  // A linked server lacks it only after pgtide's own queries there, which restore it (see restoreUnnamed).
  else if (s.keptUnnamedParse !== null && s.server === null) s.restoreUnnamed = true;
}

/** A Describe of the unnamed statement (psqlODBC: Parse '' and Sync, then Describe and Sync,
 *  then Bind): in a later batch than its Parse, the server may lack it, as for a Bind. */
export function unnamedDescribed(s: UnnamedSession): void {
  if (s.unnamedParseBody === null && s.keptUnnamedParse !== null && s.server === null) s.restoreUnnamed = true;
}

/** A Sync: an unnamed Parse of the batch that no Bind ran is kept for a later batch's Bind. */
export function unnamedBatchEnded(s: UnnamedSession): void {
  const body = s.unnamedParseBody;
  if (body === null) return;
  s.unnamedParseBody = null;
  s.keptUnnamedParse = Buffer.concat([encode.parseWithName('', body.subarray(1)), encode.sync()]);
}

/** A simple Query drops the unnamed statement, on PostgreSQL too: a later Bind of it fails as directly. */
export function unnamedDropped(s: UnnamedSession): void {
  if (s.unnamedMine) s.unnamedMine = false;
  if (s.keptUnnamedParse === null && s.unnamedParseBody === null) return;
  s.unnamedParseBody = null;
  s.keptUnnamedParse = null;
  if (s.restoreUnnamed) s.restoreUnnamed = false;
}

/**
 * Prepares the kept unnamed statement on `server`, after pgtide's own queries there; what the
 * server sends on its own meanwhile (a pinned listener's notifications) goes to `owner`. A text
 * the server now refuses (its table was dropped) leaves it unprepared: the client's Bind then
 * fails with 26000, where a direct connection fails it with the text's own error (42P01).
 */
export async function restoreUnnamed(s: UnnamedSession, server: LinkedServer, owner: ServerPeer | null): Promise<void> {
  s.restoreUnnamed = false;
  if (s.keptUnnamedParse === null) return;
  try {
    await server.request(s.keptUnnamedParse, owner, false);
  } catch (err) {
    if (!(err instanceof ServerQueryError)) throw err;
  }
}
