// A message whose names or text decide what pgtide sends (a Bind or Describe of the unnamed
// statement, an Execute of the unnamed portal a simple Query dropped, a Close, a text reading
// pg_prepared_statements, a client's first named Parse) is read whole before its bytes go,
// unless it is cut at the end of a read: then its first bytes would go before pgtide knows them
// (a client writing such a message in pieces reached PostgreSQL 18's crash on an Execute of a
// dropped portal through pgtide, ran another client's unnamed statement, and read the texts of
// other clients' statements in pg_prepared_statements). A short head is held back instead, and
// a Query or Parse up to MAX_HELD_TEXT whole, and scanned again at the front of the next read
// from the client; a longer one goes, a Bind decided by its names (see unnamedCut).
import { FrontendMessage } from '../../protocol/types.js';
import type { ClientSession } from '../client-session.js';
import { unnamedCut, type UnnamedSession } from './unnamed-statement.js';

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

/** Whether the message cut at the end of the chunk, `held` bytes of it there, waits for the rest. */
function holds(scanner: CutHeadSession['scanner'], held: number): boolean {
  const type = scanner.cutType || scanner.partialHeaderType;
  if (!decides(type)) return false;
  if (held <= MAX_HELD_HEAD) return true;
  return isText(type) && scanner.cutType !== 0 && scanner.cutBodyLength <= MAX_HELD_TEXT;
}

export type CutHeadSession = Pick<ClientSession, 'cutHead'> & UnnamedSession;

/**
 * The chunk just scanned ends inside a message: `data` (the chunk as it goes, ending with the
 * same bytes) without that message's start when it is one that decides and short enough to
 * hold, which then waits for the rest (see withCutHead); else as unnamedCut leaves it.
 */
export function cutMessage(s: CutHeadSession, chunk: Buffer, data: Buffer): Buffer {
  const scanner = s.scanner;
  const start = scanner.cutMessageStart(chunk.length);
  const held = chunk.length - start;
  if (start < 0 || !holds(scanner, held)) return unnamedCut(s, chunk, data);
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
