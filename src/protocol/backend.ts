/**
 * Decoders for the server messages the proxy must read. Each takes the body (payload without
 * the 5-byte header). Servers are untrusted too: malformed input gives null, never a throw.
 */
import { messageOf } from './encode.js';
import { readCString } from './frontend.js';
import { BackendMessage, TransactionStatus } from './types.js';

export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  [k: string]: string | undefined;
}

/** Field codes of ErrorResponse/NoticeResponse ("Error and Notice Message Fields"). */
const FIELD_NAMES: Record<string, string> = {
  S: 'severity',
  V: 'severityNonLocalized',
  C: 'code',
  M: 'message',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

/** 'E' and 'N'. Unknown field codes are kept under their letter; a truncated body keeps what parsed. */
export function decodeErrorFields(body: Buffer): ErrorFields {
  const fields: ErrorFields = { severity: '', code: '', message: '' };
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const letter = String.fromCharCode(body[pos]!);
    const value = readCString(body, pos + 1);
    if (value === null) break;
    fields[FIELD_NAMES[letter] ?? letter] = value.value;
    pos = value.next;
  }
  return fields;
}

const FATAL = Buffer.from('FATAL'),
  PANIC = Buffer.from('PANIC');

/**
 * Whether an ErrorResponse ends the session (severity FATAL or PANIC): the server closes the
 * connection after it. Reads the non-localized severity ('V') when there is one (the 'S' may be
 * translated), and allocates nothing: it runs on the forward path.
 */
export function endsSession(body: Buffer): boolean {
  let localized = false;
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const code = body[pos];
    const end = body.indexOf(0, pos + 1);
    if (end < 0) return false;
    if (code === 0x56 || code === 0x53) {
      const fatal =
        end - pos - 1 === 5 &&
        (body.compare(FATAL, 0, 5, pos + 1, end) === 0 || body.compare(PANIC, 0, 5, pos + 1, end) === 0);
      if (code === 0x56) return fatal;
      localized = fatal;
    }
    pos = end + 1;
  }
  return localized;
}

/**
 * The SQLSTATE ('C' field) of an ErrorResponse, or '' when it has none. Only the code is read:
 * errors are counted as they pass to clients, without decoding the message.
 */
export function errorCode(body: Buffer): string {
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const end = body.indexOf(0, pos + 1);
    if (end < 0) return '';
    if (body[pos] === 0x43) return body.toString('latin1', pos + 1, end);
    pos = end + 1;
  }
  return '';
}

/** 'S' */
export function decodeParameterStatus(body: Buffer): { name: string; value: string } | null {
  const name = readCString(body, 0);
  if (name === null) return null;
  const value = readCString(body, name.next);
  if (value === null || value.next !== body.length) return null;
  return { name: name.value, value: value.value };
}

/** 'K': Int32 pid then the secret key (4 bytes in 3.0, up to 256 in 3.2). pid read unsigned; secret copied. */
export function decodeBackendKeyData(body: Buffer): { pid: number; secret: Buffer } | null {
  const secretLength = body.length - 4;
  if (secretLength < 4 || secretLength > 256) return null;
  return { pid: body.readUInt32BE(0), secret: Buffer.from(body.subarray(4)) };
}

/** 'R': Int32 code then code-specific data (copied: salts and SASL data outlive the chunk). */
export function decodeAuthentication(body: Buffer): { code: number; data: Buffer } | null {
  if (body.length < 4) return null;
  return { code: body.readInt32BE(0), data: Buffer.from(body.subarray(4)) };
}

const ROLLBACK_TAG = Buffer.from('ROLLBACK');

/**
 * Whether a CommandComplete ends a transaction or a subtransaction in a rollback: the tag of
 * ROLLBACK, ROLLBACK TO SAVEPOINT and of a COMMIT of a failed transaction. Allocates nothing.
 */
export function isRollbackComplete(body: Buffer): boolean {
  return (
    body.length > ROLLBACK_TAG.length &&
    body.compare(ROLLBACK_TAG, 0, ROLLBACK_TAG.length, 0, ROLLBACK_TAG.length) === 0
  );
}

/** 'Z' → TransactionStatus byte ('I', 'T' or 'E'), -1 if malformed. */
export function readyForQueryStatus(body: Buffer): number {
  if (body.length !== 1) return -1;
  const status = body[0];
  return status === TransactionStatus.Idle ||
    status === TransactionStatus.InTransaction ||
    status === TransactionStatus.Failed
    ? status
    : -1;
}

/** 'v': the newest version the server supports (the whole version word), and the protocol
 *  options it did not recognise. */
export function decodeNegotiateProtocolVersion(body: Buffer): { version: number; options: string[] } | null {
  if (body.length < 8) return null;
  const version = body.readInt32BE(0);
  const count = body.readInt32BE(4);
  // Each option takes at least its NUL, which bounds the loop by the body, not by `count`.
  if (count < 0 || count > body.length - 8) return null;
  const options: string[] = [];
  let pos = 8;
  for (let i = 0; i < count; i++) {
    const option = readCString(body, pos);
    if (option === null) return null;
    options.push(option.value);
    pos = option.next;
  }
  return pos === body.length ? { version, options } : null;
}

/** DataRow ('D') as text values (null for SQL NULL); null when malformed. */
export function decodeDataRow(body: Buffer): (string | null)[] | null {
  if (body.length < 2) return null;
  const count = body.readUInt16BE(0);
  const values: (string | null)[] = [];
  let off = 2;
  for (let i = 0; i < count; i++) {
    if (off + 4 > body.length) return null;
    const len = body.readInt32BE(off);
    off += 4;
    if (len === -1) {
      values.push(null);
      continue;
    }
    if (len < 0 || off + len > body.length) return null;
    values.push(body.toString('utf8', off, off + len));
    off += len;
  }
  return off === body.length ? values : null;
}

/** The byte that ends an ErrorResponse's fields. */
const FIELDS_END = Buffer.of(0);

/**
 * An ErrorResponse ('E', whole message) equal to `body`'s but with its Message field changed by
 * `edit`; every other field keeps its bytes. Null when the body is malformed.
 */
export function errorWithMessage(body: Buffer, edit: (message: string) => string): Buffer | null {
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const end = body.indexOf(0, pos + 1);
    if (end < 0) return null;
    if (body[pos] === 0x4d) {
      parts.push(Buffer.from('M' + edit(body.toString('utf8', pos + 1, end)).replaceAll('\0', '') + '\0', 'utf8'));
    } else {
      parts.push(body.subarray(pos, end + 1));
    }
    pos = end + 1;
  }
  if (pos >= body.length) return null;
  parts.push(FIELDS_END);
  return messageOf(BackendMessage.ErrorResponse, parts);
}
