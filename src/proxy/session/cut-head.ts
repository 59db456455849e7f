// A message whose names or text decide what pgtide sends (a Bind or Describe of the unnamed
// statement, an Execute of the unnamed portal a simple Query dropped, a Close, a text reading
// pg_prepared_statements, a client's first named Parse) is read whole before its bytes go,
// unless it is cut at the end of a read: then its first bytes would go before pgtide knows them
// (a client writing such a message in pieces reached PostgreSQL 18's crash on an Execute of a
// dropped portal through pgtide, ran another client's unnamed statement, and read the texts of
// other clients' statements in pg_prepared_statements). A short head is held back instead, and
// a Query or Parse up to MAX_HELD_TEXT whole, and scanned again at the front of the next read
// from the client, and a Bind up to MAX_HELD_TEXT until its names are in; a longer one goes,
// a Bind decided by its names (see unnamedCut).
import { FrontendMessage } from '../../protocol/types.js';
import type { ClientSession } from '../client-session.js';
import { NAMES_CUT, unnamedCut, unnamedNameAt, type UnnamedSession } from './unnamed-statement.js';

/** Beyond this, the head goes on: held, it would be copied again at every read. */
const MAX_HELD_HEAD = 1024;
/** A Query or Parse up to this long is held whole: a text is only known once it has all come. */
const MAX_HELD_TEXT = 64 * 1024;

function isText(type: number): boolean {
  return type === FrontendMessage.Query || type === FrontendMessage.Parse;
}

function decides(type: number): boolean {
  return (
    type === FrontendMessage.Bind ||
    type === FrontendMessage.Describe ||
    type === FrontendMessage.Execute ||
    type === FrontendMessage.Close ||
    isText(type)
  );
}

/** Whether the message cut at `start` of the chunk, the rest to come, waits for it. */
function holds(scanner: CutHeadSession['scanner'], chunk: Buffer, start: number): boolean {
  const type = scanner.cutType || scanner.partialHeaderType;
  if (!decides(type)) return false;
  const held = chunk.length - start;
  if (held <= MAX_HELD_HEAD) return true;
  if (scanner.cutType === 0) return false;
  if (isText(type)) return scanner.cutBodyLength <= MAX_HELD_TEXT;
  return held <= MAX_HELD_TEXT && portalNameCut(chunk, type, start);
}

/** A Bind whose portal name goes on past the chunk: its statement name is still to come. */
function portalNameCut(chunk: Buffer, type: number, start: number): boolean {
  return type === FrontendMessage.Bind && unnamedNameAt(chunk, type, start + 5) === NAMES_CUT;
}

export type CutHeadSession = Pick<ClientSession, 'cutHead'> & UnnamedSession;

/** What the client is told of a Bind refused by cutMessage. */
export const LONG_PORTAL_NAME = `a Bind's portal name is longer than ${MAX_HELD_TEXT} bytes`;

/**
 * The chunk just scanned ends inside a message: `data` (the chunk as it goes, ending with the
 * same bytes) without that message's start when it is one that decides and short enough to
 * hold, which then waits for the rest (see withCutHead); else as unnamedCut leaves it. Null: a
 * Bind whose portal name alone is longer than the most held, refused (LONG_PORTAL_NAME), since
 * which statement it binds is not known before its first bytes would go.
 */
export function cutMessage(s: CutHeadSession, chunk: Buffer, data: Buffer): Buffer | null {
  const scanner = s.scanner;
  const start = scanner.cutMessageStart(chunk.length);
  if (start < 0) return unnamedCut(s, chunk, data);
  if (!holds(scanner, chunk, start))
    return portalNameCut(chunk, scanner.cutType || scanner.partialHeaderType, start)
      ? null
      : unnamedCut(s, chunk, data);
  // Nothing of it reached the session yet: collected bodies are delivered when whole.
  scanner.reset();
  // A copy: the read buffer is reused.
  s.cutHead = Buffer.from(chunk.subarray(start));
  return data.subarray(0, data.length - (chunk.length - start));
}

/** The client's next bytes, after the head held back from its last read. */
export function withCutHead(s: Pick<ClientSession, 'cutHead'>, chunk: Buffer): Buffer {
  const head = s.cutHead!;
  s.cutHead = null;
  return Buffer.concat([head, chunk]);
}
