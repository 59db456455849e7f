// Client messages of the extended protocol as a statement rewrite reads and writes them: a
// Bind or Describe under another statement name, whether a Describe of a portal follows, and
// how many result formats a Bind sets.
import { FrontendMessage } from '../protocol/types.js';

const { Describe: D } = FrontendMessage;
const STATEMENT = 0x53;

/** Whether the message at `next` is a Describe of the portal data[portalStart, portalEnd) (it tells the client the shape). */
export function describesPortal(data: Buffer, next: number, portalStart: number, portalEnd: number): boolean {
  const portalLength = portalEnd - portalStart;
  return (
    next + 6 + portalLength < data.length &&
    data[next] === D &&
    data[next + 5] !== STATEMENT &&
    data.readUInt32BE(next + 1) === 6 + portalLength &&
    data.compare(data, portalStart, portalEnd, next + 6, next + 6 + portalLength) === 0
  );
}

/** A Bind or Describe with the statement name swapped: `head` is what precedes the name. */
export function renamed(type: number, head: Buffer, name: string, tail: Buffer | null): Buffer {
  const nameBytes = Buffer.byteLength(name);
  const bodySize = head.length + nameBytes + 1 + (tail ? tail.length : 0);
  const b = Buffer.allocUnsafe(5 + bodySize);
  b[0] = type;
  b.writeUInt32BE(4 + bodySize, 1);
  let pos = 5 + head.copy(b, 5);
  pos += b.write(name, pos);
  b[pos++] = 0;
  if (tail) tail.copy(b, pos);
  return b;
}

/** How many result format codes the Bind ending at `end` carries, its statement name ending at
 *  `nameEnd` (the parameters are stepped over, not read); -1 for a malformed one. */
export function resultFormatCount(data: Buffer, nameEnd: number, end: number): number {
  let pos = nameEnd + 1;
  if (pos + 2 > end) return -1;
  pos += 2 + 2 * data.readInt16BE(pos);
  if (pos + 2 > end) return -1;
  const params = data.readInt16BE(pos);
  pos += 2;
  for (let i = 0; i < params; i++) {
    if (pos + 4 > end) return -1;
    const length = data.readInt32BE(pos);
    pos += 4 + Math.max(length, 0);
  }
  return pos + 2 > end ? -1 : data.readInt16BE(pos);
}
