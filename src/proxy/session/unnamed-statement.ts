// The client's unnamed statement when it is prepared in one batch and bound in a later one
// (pgx v4 with its statement cache off: Parse '', Describe, Sync; then Bind '', Execute, Sync).
// The two batches are two transactions to pgtide, and between them the server may serve
// another client, or run pgtide's own simple queries (settings given to the server, a deferred
// BEGIN, a reset), each of which replaces the unnamed statement: the Bind got 26000.
// So pgtide keeps a copy of such a Parse and prepares it again on the server before the Bind
// runs. Drivers that send the Parse and its Bind in one batch cost a field write, no copy.
import * as encode from '../../protocol/encode.js';
import { FrontendMessage } from '../../protocol/types.js';
import { STATEMENT } from '../../protocol/frontend.js';
import { ServerQueryError } from '../../pool/own-query.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import type { ServerPeer } from '../../pool/server-peer.js';
import type { ClientSession } from '../client-session.js';
import { replaceMessage, type EditSession } from './chunk-edits.js';

export type UnnamedSession = Pick<
  ClientSession,
  'unnamedParseBody' | 'keptUnnamedParse' | 'keptUnnamedUnsent' | 'unnamedToRestore' | 'server' | 'unnamedMine'
> &
  EditSession;

/** The statement name a Bind or Describe of an unnamed statement the client has not prepared
 *  goes under (see unnamedUsed): the server's 26000 names it. */
export const NO_UNNAMED_STATEMENT = '<no unnamed statement prepared on this connection>';
const NO_UNNAMED_NAME = Buffer.from(NO_UNNAMED_STATEMENT);

/** An unnamed Parse (its body, a view of the client's bytes; null when only its head was kept). */
export function unnamedParsed(s: UnnamedSession, body: Buffer | null): void {
  s.unnamedParseBody = body;
  s.keptUnnamedParse = null;
  // A choice's setter looks its value up (client-session.ts): not at every Parse.
  if (!s.unnamedMine) s.unnamedMine = true;
}

/**
 * A Bind or Describe of the unnamed statement (the message `type`, its `body` ending at `end`
 * of the chunk being scanned, `nameAt` where its statement name is). Prepared in this batch, it
 * runs where the batch goes. Kept from an earlier batch, it is prepared again on a server yet to
 * be linked, before the bytes that wait for it (see unnamedToRestore: that copy, whatever the
 * client parses after the Bind, which the scan may reach first); the linked server may lack it too, when the client pipelined
 * it behind another transaction that took another server (see lacksUnnamed): such bytes wait
 * for that server's answers (mustDefer), and only a Bind that cannot wait goes on there. None
 * the client made that pgtide can run (no Parse since its last transaction ended, no copy kept),
 * or a linked server without it: the server may hold another client's, which the Bind would run
 * (a client read another's rows where PostgreSQL answers 26000). It goes under
 * NO_UNNAMED_STATEMENT, which the server fails with 26000 as well. A message cut across chunks
 * is decided at its head (see unnamedCut).
 */
export function unnamedUsed(s: UnnamedSession, type: number, body: Buffer, end: number, nameAt: number): void {
  if (s.unnamedParseBody !== null) {
    if (type === FrontendMessage.Bind) s.unnamedParseBody = null;
    return;
  }
  if (!missesUnnamed(s)) return;
  const renamed = encode.messageOf(type, [body.subarray(0, nameAt), NO_UNNAMED_NAME, body.subarray(nameAt)]);
  replaceMessage(s, end - 5 - body.length, end, renamed);
}

/** A Bind or Describe of the unnamed statement, its Parse not in its batch, must go under
 *  NO_UNNAMED_STATEMENT (see unnamedUsed); otherwise it runs as it is, the copy kept prepared
 *  first on a server yet to be linked. */
function missesUnnamed(s: UnnamedSession): boolean {
  const server = s.server;
  const kept = s.keptUnnamedParse;
  if (kept === null ? s.unnamedMine : server === null || !lacksUnnamed(s, server)) {
    // Its Parse among the bytes waiting too, before it: it goes where they go.
    if (server === null && kept !== null && !s.keptUnnamedUnsent) s.unnamedToRestore ??= kept;
    return false;
  }
  return true;
}

/** Where the statement name of a Bind or Describe whose body starts at `bodyAt` of `chunk` lies
 *  in that body: NAMES_CUT when it is not in the chunk, NAMED when it is no unnamed statement's. */
export function unnamedNameAt(chunk: Buffer, type: number, bodyAt: number): number {
  if (type === FrontendMessage.Describe) {
    if (bodyAt + 1 >= chunk.length) return bodyAt < chunk.length && chunk[bodyAt] !== STATEMENT ? NAMED : NAMES_CUT;
    return chunk[bodyAt] === STATEMENT && chunk[bodyAt + 1] === 0 ? 1 : NAMED;
  }
  const portalEnd = chunk.indexOf(0, bodyAt);
  if (portalEnd < 0 || portalEnd + 1 >= chunk.length) return NAMES_CUT;
  return chunk[portalEnd + 1] === 0 ? portalEnd + 1 - bodyAt : NAMED;
}

const NAMED = -2;
export const NAMES_CUT = -1;

/**
 * The chunk ends inside a Bind or a Describe, which the scan delivers to unnamedUsed only once
 * whole, when its first bytes have gone to a server: lib/pq's Bind of a parameter above 64 KiB,
 * its Parse in the batch before, ran the unnamed statement another client had left on that
 * server (wrong rows, that client's side effects), or failed with 26000. Decided here from its
 * names instead, when the chunk holds them; `data` is the chunk as it goes (earlier messages
 * edited), ending with the same bytes. A head cut before its names only gets the copy kept
 * prepared again.
 */
export function unnamedCut(s: UnnamedSession, chunk: Buffer, data: Buffer): Buffer {
  const type = s.scanner.cutType || s.scanner.partialHeaderType;
  if ((type !== FrontendMessage.Bind && type !== FrontendMessage.Describe) || s.unnamedParseBody !== null) return data;
  const start = s.scanner.cutMessageStart(chunk.length);
  const nameAt = start < 0 ? NAMES_CUT : unnamedNameAt(chunk, type, start + 5);
  if (nameAt === NAMED || !missesUnnamed(s) || nameAt < 0) return data;
  const bodyAt = start + 5;
  return Buffer.concat([
    data.subarray(0, data.length - (chunk.length - start)),
    encode.messageHeader(type, chunk.readUInt32BE(start + 1) - 4 + NO_UNNAMED_NAME.length),
    chunk.subarray(bodyAt, bodyAt + nameAt),
    NO_UNNAMED_NAME,
    chunk.subarray(bodyAt + nameAt),
  ]);
}

/**
 * The linked `server` lacks the client's kept unnamed statement: its copy went to another
 * server (the client's Parse, Sync; then a write, Sync, linking a new server; then the Bind,
 * each sent before the last was answered), or pgtide's own query there replaced it. The copy in
 * the bytes being scanned goes with them (keptUnnamedUnsent).
 */
export function lacksUnnamed(
  s: Pick<ClientSession, 'keptUnnamedParse' | 'keptUnnamedUnsent'>,
  server: LinkedServer,
): boolean {
  const kept = s.keptUnnamedParse;
  return kept !== null && !s.keptUnnamedUnsent && server.unnamedBy !== kept;
}

/**
 * The client's `chunk`, about to go to the linked `server`, binds or describes the unnamed
 * statement that server lacks (see lacksUnnamed). Only the messages' heads are read, the
 * chunk beginning at a message (else its messages cannot be told apart, and it goes on). COPY
 * data before it goes on too: the server may be waiting for it (a COPY FROM STDIN in the
 * extended protocol, its data sent before the server said it began) and answer nothing else.
 */
export function usesMissingUnnamed(
  s: Pick<ClientSession, 'keptUnnamedParse' | 'keptUnnamedUnsent' | 'scanner'>,
  server: LinkedServer,
  chunk: Buffer,
): boolean {
  if (!lacksUnnamed(s, server) || !s.scanner.atBoundary) return false;
  for (let at = 0; at + 5 < chunk.length; at += 1 + chunk.readUInt32BE(at + 1)) {
    const type = chunk[at];
    // A Parse of it first: it runs that one, wherever the chunk goes.
    if (type === FrontendMessage.Parse && chunk[at + 5] === 0) return false;
    if (type === FrontendMessage.CopyData || type === FrontendMessage.CopyDone || type === FrontendMessage.CopyFail)
      return false;
    if (type === FrontendMessage.Describe && chunk[at + 5] === STATEMENT && chunk[at + 6] === 0) return true;
    if (type !== FrontendMessage.Bind) continue;
    const portalEnd = chunk.indexOf(0, at + 5);
    // Its names cut off: it may be.
    if (portalEnd < 0 || portalEnd + 1 >= chunk.length || chunk[portalEnd + 1] === 0) return true;
  }
  return false;
}

/** Bytes holding the client's kept unnamed Parse went to `server` (see keptUnnamedUnsent). */
export function unnamedSent(s: UnnamedSession, server: LinkedServer): void {
  s.keptUnnamedUnsent = false;
  server.unnamedBy = s.keptUnnamedParse;
}

/** A Sync: an unnamed Parse of the batch that no Bind ran is kept for a later batch's Bind. */
export function unnamedBatchEnded(s: UnnamedSession): void {
  const body = s.unnamedParseBody;
  if (body === null) return;
  s.unnamedParseBody = null;
  s.keptUnnamedParse = Buffer.concat([encode.parseWithName('', body.subarray(1)), encode.sync()]);
  s.keptUnnamedUnsent = true;
}

/** A simple Query drops the unnamed statement, on PostgreSQL too: a later Bind of it fails as directly. */
export function unnamedDropped(s: UnnamedSession): void {
  if (s.unnamedMine) s.unnamedMine = false;
  if (s.keptUnnamedParse === null && s.unnamedParseBody === null) return;
  s.unnamedParseBody = null;
  s.keptUnnamedParse = null;
}

/**
 * Prepares the client's unnamed statement on `server`, after pgtide's own queries there: the
 * copy a waiting Bind needs, else the last kept. What the server sends on its own meanwhile (a
 * pinned listener's notifications) goes to `owner`. A text the server now refuses (its table
 * was dropped) leaves it unprepared: the client's Bind then fails with 26000, where a direct
 * connection fails it with the text's own error (42P01).
 */
export async function restoreUnnamed(s: UnnamedSession, server: LinkedServer, owner: ServerPeer | null): Promise<void> {
  const parse = s.unnamedToRestore ?? s.keptUnnamedParse;
  if (parse === null) return;
  try {
    await server.request(parse, owner, false);
    server.unnamedBy = parse;
  } catch (err) {
    // The server lost: the next one prepares it.
    if (!(err instanceof ServerQueryError)) throw err;
  }
  s.unnamedToRestore = null;
}
