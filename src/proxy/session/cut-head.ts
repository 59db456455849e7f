// A message whose names decide what pgtide sends (a Bind or Describe of the unnamed statement,
// an Execute of the unnamed portal a simple Query dropped, a Close) is read whole before its
// bytes go, unless it is cut at the end of a read: then its first bytes would go before pgtide
// knows them (a client writing such a message in pieces reached PostgreSQL 18's crash on an
// Execute of a dropped portal through pgtide, and a Bind of another client's unnamed statement).
// A short head is held back instead, and scanned again at the front of the next read from the
// client; a long one (a Bind's parameters) goes, decided by its names (see unnamedCut).
import { FrontendMessage } from '../../protocol/types.js';
import type { ClientSession } from '../client-session.js';
import { unnamedCut, type UnnamedSession } from './unnamed-statement.js';

/** Beyond this, the head goes on: held, it would be copied again at every read. */
const MAX_HELD_HEAD = 1024;

function decides(type: number): boolean {
  return (
    type === FrontendMessage.Bind ||
    type === FrontendMessage.Describe ||
    type === FrontendMessage.Execute ||
    type === FrontendMessage.Close
  );
}

export type CutHeadSession = Pick<ClientSession, 'cutHead'> & UnnamedSession;

/**
 * The chunk just scanned ends inside a message: `data` (the chunk as it goes, ending with the
 * same bytes) without that message's head when it is short and one whose names decide, which
 * then waits for the rest (see withCutHead); else as unnamedCut leaves it.
 */
export function cutMessage(s: CutHeadSession, chunk: Buffer, data: Buffer): Buffer {
  const scanner = s.scanner;
  const start = scanner.cutMessageStart(chunk.length);
  const held = chunk.length - start;
  if (start < 0 || held > MAX_HELD_HEAD || !decides(scanner.cutType || scanner.partialHeaderType))
    return unnamedCut(s, chunk, data);
  // Nothing of it reached the session yet: collected bodies are delivered when whole.
  scanner.reset();
  // A copy: the read buffer is reused.
  s.cutHead = Buffer.from(chunk.subarray(start));
  return data.subarray(0, data.length - held);
}

/** The client's next bytes, after the head held back from its last read. */
export function withCutHead(s: Pick<ClientSession, 'cutHead'>, chunk: Buffer): Buffer {
  const head = s.cutHead!;
  s.cutHead = null;
  return Buffer.concat([head, chunk]);
}
