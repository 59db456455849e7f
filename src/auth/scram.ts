// SCRAM-SHA-256 building blocks shared by both sides of an exchange (RFC 5802, RFC 7677).
// Everything here is pure; the per-exchange state lives in scram-server.ts / scram-client.ts.
import { isAscii } from 'node:buffer';
import { hash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { takeRandom } from './random-pool.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
export const SCRAM_KEY_LENGTH = 32;
/** PostgreSQL's defaults (scram_iterations, SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
export const SCRAM_SALT_LENGTH = 16;
/** Real SCRAM messages are a few hundred bytes; the cap bounds parsing work on hostile input. */
export const SCRAM_MAX_MESSAGE_LENGTH = 4096;

const SHA256_BLOCK = 64;
const INNER_PAD = 0x36;
const OUTER_PAD = 0x5c;

/**
 * HMAC-SHA-256 (RFC 2104) over two one-shot hashes. A createHmac object costs OpenSSL a digest
 * lookup by name at every call, which profiles put at several times the hashing itself in a
 * login; the one-shot hash uses a digest Node.js keeps.
 */
export function hmac(key: Buffer, data: string | Buffer): Buffer {
  return Buffer.from(hmacDigest(key, data, 'binary'), 'latin1');
}

/** HMAC-SHA-256 in base64, as a SCRAM server signature is sent. */
export function hmacBase64(key: Buffer, data: string | Buffer): string {
  return hmacDigest(key, data, 'base64');
}

function hmacDigest(key: Buffer, data: string | Buffer, encoding: 'binary' | 'base64'): string {
  const k = key.length > SHA256_BLOCK ? sha256(key) : key;
  const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const inner = Buffer.allocUnsafe(SHA256_BLOCK + length);
  const outer = Buffer.allocUnsafe(SHA256_BLOCK + SCRAM_KEY_LENGTH);
  for (let i = 0; i < SHA256_BLOCK; i++) {
    const byte = i < k.length ? k[i]! : 0;
    inner[i] = byte ^ INNER_PAD;
    outer[i] = byte ^ OUTER_PAD;
  }
  if (typeof data === 'string') inner.write(data, SHA256_BLOCK);
  else data.copy(inner, SHA256_BLOCK);
  outer.write(digest(inner, 'binary'), SHA256_BLOCK, 'latin1');
  return digest(outer, encoding);
}

export function sha256(data: Buffer): Buffer {
  return Buffer.from(digest(data, 'binary'), 'latin1');
}

/**
 * A one-shot SHA-256 (no Hash object per call, and a digest Node.js looks up once) as a string:
 * the digest as a Buffer costs Node.js an ArrayBuffer of its own (a backing store that V8's
 * garbage collector must track and sweep), about three times the hashing of a short input,
 * where a 'binary' string (latin1: one character per byte) copied into a Buffer from Node.js's
 * pool costs little.
 */
function digest(data: Buffer, encoding: 'binary' | 'base64'): string {
  return hash('sha256', data, encoding);
}

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Length-checked, constant-time comparison (timingSafeEqual throws on unequal lengths). */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function randomNonce(): string {
  return takeRandom(18).toString('base64');
}

// RFC 4013 mapping tables: C.1.2 (non-ASCII spaces) map to SPACE, B.1 maps to nothing.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// biome-ignore lint/suspicious/noMisleadingCharacterClass: RFC 3454 lists code points, each matched alone
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// A subset of the RFC 4013 prohibited output (controls, private use, surrogates,
// non-characters, directional and tagging format characters).
const PROHIBITED =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: RFC 3454 lists code points, each matched alone
  /[\p{Cc}\p{Co}\p{Cs}\p{Noncharacter_Code_Point}\u0340\u0341\u06DD\u070F\u180E\u200E\u200F\u2028-\u202E\u2061-\u2063\u206A-\u206F\uFFF9-\uFFFD\u{E0001}\u{E0020}-\u{E007F}]/u;

/**
 * SASLprep (RFC 4013) as PostgreSQL applies it to passwords: map, NFKC-normalise, and when
 * the result holds a prohibited character use the password unchanged (PostgreSQL does the
 * same, so such passwords still work). Simplified: the bidirectional rule and the
 * Unicode 3.2 unassigned-code-point check are not applied, so a password relying on those
 * may derive a different key than libpq does.
 */
export function saslPrep(password: string): string {
  // ASCII needs no mapping, and ASCII controls are prohibited, which means "use as is".
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  const prepared = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  return prepared === '' || PROHIBITED.test(prepared) ? password : prepared;
}

export function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(saslPrep(password), salt, iterations, SCRAM_KEY_LENGTH, 'sha256');
}

export function clientKeyOf(salted: Buffer): Buffer {
  return hmac(salted, 'Client Key');
}

export function serverKeyOf(salted: Buffer): Buffer {
  return hmac(salted, 'Server Key');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (Buffer.from silently skips garbage); null when the text is not base64. */
export function decodeBase64(text: string): Buffer | null {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A SCRAM message as text, or null when it is oversized or not valid UTF-8. */
export function decodeMessage(data: Buffer | string): string | null {
  if (typeof data === 'string') return data.length <= SCRAM_MAX_MESSAGE_LENGTH ? data : null;
  if (data.length > SCRAM_MAX_MESSAGE_LENGTH) return null;
  // Clients send ASCII (nonces, base64, an empty n=): no decoder call for them.
  if (isAscii(data)) return data.toString('latin1');
  try {
    return utf8.decode(data);
  } catch {
    return null;
  }
}

export interface ScramAttribute {
  name: string;
  value: string;
}

const EQUALS = 0x3d;

function isLetter(code: number): boolean {
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x7a;
}

/** Splits `a=value,b=value`; null unless every part is a one-letter attribute. */
export function parseAttributes(text: string): ScramAttribute[] | null {
  const attributes: ScramAttribute[] = [];
  // By indexOf, not split: String.prototype.split leaves the JIT for V8's runtime and makes an
  // array of parts only to slice each again.
  let start = 0;
  for (;;) {
    const comma = text.indexOf(',', start);
    const end = comma < 0 ? text.length : comma;
    if (end - start < 2 || text.charCodeAt(start + 1) !== EQUALS || !isLetter(text.charCodeAt(start))) return null;
    attributes.push({ name: text[start]!, value: text.slice(start + 2, end) });
    if (comma < 0) return attributes;
    start = comma + 1;
  }
}

/** RFC 5802 "printable": the nonce alphabet, any visible ASCII except ','. */
export function isPrintable(text: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(text);
}
