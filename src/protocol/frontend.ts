/**
 * Decoders for the client messages the proxy must read. Each takes the body (payload without
 * the 5-byte header) and returns null when it is malformed; the caller answers 08P01.
 * Strict like PostgreSQL's pq_getmsgend: trailing bytes make a message malformed.
 */

/** A NUL-terminated String starting at `offset`; null if it has no terminator. */
export function readCString(buf: Buffer, offset: number): { value: string; next: number } | null {
  if (offset < 0 || offset >= buf.length) return null;
  const end = buf.indexOf(0, offset);
  if (end === -1) return null;
  return { value: buf.toString('utf8', offset, end), next: end + 1 };
}

/** A String that must fill the body exactly. */
function wholeCString(body: Buffer): string | null {
  const s = readCString(body, 0);
  return s !== null && s.next === body.length ? s.value : null;
}

/** 'Q' */
export function decodeQuery(body: Buffer): string | null {
  return wholeCString(body);
}

export interface ParseMsg {
  name: string;
  query: string;
  paramTypes: number[];
}

/** 'P': statement name, query, Int16 count, that many parameter type OIDs. */
export function decodeParse(body: Buffer): ParseMsg | null {
  const name = readCString(body, 0);
  if (name === null) return null;
  const query = readCString(body, name.next);
  if (query === null || query.next + 2 > body.length) return null;
  const count = body.readInt16BE(query.next);
  const typesStart = query.next + 2;
  if (count < 0 || typesStart + count * 4 !== body.length) return null;
  const paramTypes = new Array<number>(count);
  for (let i = 0; i < count; i++) paramTypes[i] = body.readUInt32BE(typesStart + i * 4);
  return { name: name.value, query: query.value, paramTypes };
}

/** 'B': only the portal and statement names; parameters are forwarded untouched. */
export function decodeBindNames(body: Buffer): { portal: string; statement: string } | null {
  const portal = readCString(body, 0);
  if (portal === null) return null;
  const statement = readCString(body, portal.next);
  if (statement === null) return null;
  return { portal: portal.value, statement: statement.value };
}

/**
 * Parameter `index` (1-based) of a Bind as an integer: decimal digits in text format (with the
 * spaces and '+' PostgreSQL's integer input allows), or a binary int2, int4 or int8. -1 when the
 * body does not hold it (a head cut short, a malformed Bind), or it is NULL or no such integer.
 */
export function bindParamInteger(body: Buffer, index: number): number {
  const portalEnd = body.indexOf(0);
  const nameEnd = portalEnd < 0 ? -1 : body.indexOf(0, portalEnd + 1);
  if (nameEnd < 0 || index < 1) return -1;
  let at = nameEnd + 1;
  if (at + 2 > body.length) return -1;
  const formats = body.readInt16BE(at);
  const formatsAt = at + 2;
  at = formatsAt + formats * 2;
  if (formats < 0 || at + 2 > body.length) return -1;
  if (index > body.readInt16BE(at) || (formats > 1 && index > formats)) return -1;
  const format = formats === 0 ? 0 : body.readInt16BE(formatsAt + (formats === 1 ? 0 : (index - 1) * 2));
  at += 2;
  for (let i = 1; ; i++) {
    if (at + 4 > body.length) return -1;
    const length = body.readInt32BE(at);
    at += 4;
    if (i === index) return length < 0 || at + length > body.length ? -1 : integerValue(body, at, length, format);
    if (length > 0) at += length;
  }
}

function integerValue(body: Buffer, at: number, length: number, format: number): number {
  if (format === 1) {
    if (length === 2) return body.readInt16BE(at);
    if (length === 4) return body.readInt32BE(at);
    if (length !== 8) return -1;
    const n = body.readBigInt64BE(at);
    return n >= 0n && n <= 0x7fffffffn ? Number(n) : -1;
  }
  const text = /^\s*\+?([0-9]{1,10})\s*$/.exec(body.toString('latin1', at, at + length));
  return text === null ? -1 : Number(text[1]);
}

/** The first byte of a Close or Describe of a statement ('S'). */
export const STATEMENT = 0x53;
/** Of a portal ('P'). */
export const PORTAL = 0x50;

/** Close and Describe share a layout: Byte1 'S' or 'P', then the name. */
function decodeTarget(body: Buffer): { kind: 'S' | 'P'; name: string } | null {
  if (body.length < 2) return null;
  const kind = body[0];
  if (kind !== STATEMENT && kind !== PORTAL) return null;
  const name = readCString(body, 1);
  if (name === null || name.next !== body.length) return null;
  return { kind: kind === STATEMENT ? 'S' : 'P', name: name.value };
}

/** 'C' */
export function decodeClose(body: Buffer): { kind: 'S' | 'P'; name: string } | null {
  return decodeTarget(body);
}

/** 'D' */
export function decodeDescribe(body: Buffer): { kind: 'S' | 'P'; name: string } | null {
  return decodeTarget(body);
}

/** 'p' answering AuthenticationCleartextPassword or AuthenticationMD5Password. */
export function decodePassword(body: Buffer): string | null {
  return wholeCString(body);
}

/** 'p' answering AuthenticationSASL: mechanism, Int32 length (-1 = none), data. data is a copy. */
export function decodeSASLInitialResponse(body: Buffer): { mechanism: string; data: Buffer } | null {
  const mechanism = readCString(body, 0);
  if (mechanism === null || mechanism.next + 4 > body.length) return null;
  const length = body.readInt32BE(mechanism.next);
  const dataStart = mechanism.next + 4;
  if (length === -1) return dataStart === body.length ? { mechanism: mechanism.value, data: Buffer.alloc(0) } : null;
  if (length < 0 || dataStart + length !== body.length) return null;
  return { mechanism: mechanism.value, data: Buffer.from(body.subarray(dataStart)) };
}

/** 'p' answering AuthenticationSASLContinue: the whole body is mechanism data. */
export function decodeSASLResponse(body: Buffer): Buffer {
  return body;
}
