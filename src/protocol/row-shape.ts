// The result shape of a prepared statement as a Describe of it tells the client: a RowDescription
// or NoData. Compared as PostgreSQL compares a re-planned statement's result with the one it
// described ("cached plan must not change result type"): column names, types and modifiers
// count; the table and column a field comes from do not (a table made again has a new OID).
import { BackendMessage } from './types.js';

/** Per field after its name: table OID (4), column number (2), then what the shape is made of:
 *  type OID (4), type size (2), type modifier (4), format code (2). */
const SOURCE_SIZE = 4 + 2;
const TYPE_SIZE = 4 + 2 + 4 + 2;

/** A copy of the answer to a Describe of a statement (a RowDescription or NoData body), kept with
 *  its type byte, in memory of its own (see kept-buffer.ts). */
export function rowShape(type: number, body: Buffer): Buffer {
  const shape = Buffer.allocUnsafeSlow(1 + body.length);
  shape[0] = type;
  body.copy(shape, 1);
  return shape;
}

/**
 * Whether two shapes (see rowShape) describe the same result; a malformed one matches nothing.
 * Without `formats`, the columns' format codes do not count: a portal's description has those
 * its Bind asked for, a statement's has 0 (text) for every column.
 */
export function sameRowShape(a: Buffer, b: Buffer, formats = true): boolean {
  const typeSize = formats ? TYPE_SIZE : TYPE_SIZE - 2;
  if (a[0] !== b[0]) return false;
  if (a[0] !== BackendMessage.RowDescription) return a.length === b.length;
  if (a.length < 3 || b.length < 3) return false;
  const fields = a.readInt16BE(1);
  if (fields !== b.readInt16BE(1)) return false;
  let offA = 3;
  let offB = 3;
  for (let i = 0; i < fields; i++) {
    const nameEndA = a.indexOf(0, offA);
    const nameEndB = b.indexOf(0, offB);
    if (nameEndA < 0 || nameEndB < 0) return false;
    const typeA = nameEndA + 1 + SOURCE_SIZE;
    const typeB = nameEndB + 1 + SOURCE_SIZE;
    if (typeA + TYPE_SIZE > a.length || typeB + TYPE_SIZE > b.length) return false;
    if (a.compare(b, offB, nameEndB, offA, nameEndA) !== 0) return false;
    if (a.compare(b, typeB, typeB + typeSize, typeA, typeA + typeSize) !== 0) return false;
    offA = typeA + TYPE_SIZE;
    offB = typeB + TYPE_SIZE;
  }
  return offA === a.length && offB === b.length;
}
