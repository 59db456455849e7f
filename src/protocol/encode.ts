import { SSL_REQUEST_CODE, CANCEL_REQUEST_CODE, PROTOCOL_3_0 } from './startup.js';
import { AuthenticationCode, BackendMessage, FrontendMessage } from './types.js';

export { SQLSTATE } from './sqlstate.js';

/** Bytes `s` takes as a String (NUL-terminated). */
function cstringSize(s: string): number {
  return Buffer.byteLength(s, 'utf8') + 1;
}

/**
 * Fills a Buffer allocated once at its final size. The caller states the size up front;
 * done() checks it was exact, so a size miscalculation fails loudly instead of sending a
 * corrupt frame.
 */
class MessageWriter {
  private readonly buf: Buffer;
  private pos = 0;

  /** type < 0: an untyped startup-phase packet (length word only). */
  constructor(type: number, bodySize: number) {
    const headerSize = type < 0 ? 4 : 5;
    this.buf = Buffer.allocUnsafe(headerSize + bodySize);
    if (type >= 0) this.buf[this.pos++] = type;
    this.int32(bodySize + 4);
  }

  int32(v: number): this {
    this.pos = this.buf.writeInt32BE(v | 0, this.pos);
    return this;
  }

  int16(v: number): this {
    this.pos = this.buf.writeInt16BE(v, this.pos);
    return this;
  }

  byte(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }

  /** Throws on an embedded NUL: it would end the String early and desynchronise the peer. */
  cstring(s: string): this {
    if (s.includes('\0')) throw new RangeError('protocol string contains a NUL character');
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  bytes(b: Buffer | string): this {
    this.pos += typeof b === 'string' ? this.buf.write(b, this.pos, 'utf8') : b.copy(this.buf, this.pos);
    return this;
  }

  done(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`message size mismatch: wrote ${this.pos} of ${this.buf.length}`);
    return this.buf;
  }
}

function byteSize(data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}

/** Error text may quote anything (config values, names); an error path must never throw. */
function withoutNul(s: string): string {
  return s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}

/** ErrorResponse/NoticeResponse body: (code letter, String)* then a 0 byte. */
function fieldsMessage(type: number, fields: [letter: string, value: string][]): Buffer {
  let size = 1;
  for (const [, value] of fields) size += 1 + cstringSize(value);
  const w = new MessageWriter(type, size);
  for (const [letter, value] of fields) w.byte(letter.charCodeAt(0)).cstring(value);
  return w.byte(0).done();
}

function severityFields(severity: string, code: string, message: string): [string, string][] {
  return [
    ['S', severity],
    ['V', severity],
    ['C', withoutNul(code)],
    ['M', withoutNul(message)],
  ];
}

export function errorResponse(
  severity: 'ERROR' | 'FATAL' | 'PANIC',
  code: string,
  message: string,
  detail?: string,
  hint?: string,
  /** PostgreSQL's function name (field R): some drivers decide on it (postgres.js re-prepares on RevalidateCachedQuery). */
  routine?: string,
): Buffer {
  const fields = severityFields(severity, code, message);
  if (detail !== undefined) fields.push(['D', withoutNul(detail)]);
  if (hint !== undefined) fields.push(['H', withoutNul(hint)]);
  if (routine !== undefined) fields.push(['R', withoutNul(routine)]);
  return fieldsMessage(BackendMessage.ErrorResponse, fields);
}

export function noticeResponse(severity: 'NOTICE' | 'WARNING' | 'LOG', code: string, message: string): Buffer {
  return fieldsMessage(BackendMessage.NoticeResponse, severityFields(severity, code, message));
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return new MessageWriter(BackendMessage.ReadyForQuery, 1).byte(status.charCodeAt(0)).done();
}

function authentication(code: number, data: string | Buffer = ''): Buffer {
  return new MessageWriter(BackendMessage.Authentication, 4 + byteSize(data)).int32(code).bytes(data).done();
}

export function authenticationOk(): Buffer {
  return authentication(AuthenticationCode.Ok);
}

export function authenticationCleartextPassword(): Buffer {
  return authentication(AuthenticationCode.CleartextPassword);
}

export function authenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw new RangeError('MD5 salt must be 4 bytes');
  return authentication(AuthenticationCode.MD5Password, salt);
}

export function authenticationSASL(mechanisms: string[]): Buffer {
  let size = 4 + 1;
  for (const m of mechanisms) size += cstringSize(m);
  const w = new MessageWriter(BackendMessage.Authentication, size).int32(AuthenticationCode.SASL);
  for (const m of mechanisms) w.cstring(m);
  return w.byte(0).done();
}

export function authenticationSASLContinue(data: string | Buffer): Buffer {
  return authentication(AuthenticationCode.SASLContinue, data);
}

export function authenticationSASLFinal(data: string | Buffer): Buffer {
  return authentication(AuthenticationCode.SASLFinal, data);
}

export function parameterStatus(name: string, value: string): Buffer {
  return new MessageWriter(BackendMessage.ParameterStatus, cstringSize(name) + cstringSize(value))
    .cstring(name)
    .cstring(value)
    .done();
}

/** pid is written as 32 raw bits, so signed and unsigned views of the same key both work; a
 *  secret given as a number is its 4 bytes as a 32-bit integer. */
export function backendKeyData(pid: number, secret: Buffer | number): Buffer {
  if (typeof secret === 'number')
    return new MessageWriter(BackendMessage.BackendKeyData, 8).int32(pid).int32(secret).done();
  return new MessageWriter(BackendMessage.BackendKeyData, 4 + secret.length).int32(pid).bytes(secret).done();
}

/** `version`: the whole version word (3.2 is 0x00030002), as PostgreSQL sends it and libpq reads
 *  it, though the protocol's documentation calls the field a minor version. */
export function negotiateProtocolVersion(version: number, unsupported: string[]): Buffer {
  let size = 8;
  for (const name of unsupported) size += cstringSize(name);
  const w = new MessageWriter(BackendMessage.NegotiateProtocolVersion, size).int32(version).int32(unsupported.length);
  for (const name of unsupported) w.cstring(name);
  return w.done();
}

/** StartupMessage for protocol 3.0. */
export function startupMessage(params: Record<string, string>): Buffer {
  const entries = Object.entries(params);
  let size = 4 + 1;
  for (const [name, value] of entries) size += cstringSize(name) + cstringSize(value);
  const w = new MessageWriter(-1, size).int32(PROTOCOL_3_0);
  for (const [name, value] of entries) w.cstring(name).cstring(value);
  return w.byte(0).done();
}

export function sslRequest(): Buffer {
  return new MessageWriter(-1, 4).int32(SSL_REQUEST_CODE).done();
}

export function cancelRequest(pid: number, secret: Buffer): Buffer {
  return new MessageWriter(-1, 8 + secret.length).int32(CANCEL_REQUEST_CODE).int32(pid).bytes(secret).done();
}

function cstringMessage(type: number, s: string): Buffer {
  return new MessageWriter(type, cstringSize(s)).cstring(s).done();
}

function emptyMessage(type: number): Buffer {
  return new MessageWriter(type, 0).done();
}

export function passwordMessage(password: string): Buffer {
  return cstringMessage(FrontendMessage.PasswordMessage, password);
}

export function saslInitialResponse(mechanism: string, data: string | Buffer): Buffer {
  const dataSize = byteSize(data);
  return new MessageWriter(FrontendMessage.PasswordMessage, cstringSize(mechanism) + 4 + dataSize)
    .cstring(mechanism)
    .int32(dataSize)
    .bytes(data)
    .done();
}

export function saslResponse(data: string | Buffer): Buffer {
  return new MessageWriter(FrontendMessage.PasswordMessage, byteSize(data)).bytes(data).done();
}

export function query(sql: string): Buffer {
  return cstringMessage(FrontendMessage.Query, sql);
}

/** A Query of text in the client's own bytes (its client_encoding, not necessarily UTF-8). */
export function queryOfBytes(text: Buffer): Buffer {
  return new MessageWriter(FrontendMessage.Query, text.length + 1).bytes(text).byte(0).done();
}

/**
 * One statement with text parameters through the extended protocol (unnamed statement and
 * portal, text results, then Sync): the values never become SQL text, so need no quoting.
 */
export function queryWithParams(sql: string, params: readonly string[]): Buffer {
  return Buffer.concat([parseText('', sql), bindText('', params), execute('', 0), sync()]);
}

/** Parse of a statement by name, its parameter types left to the server. */
export function parseText(name: string, sql: string): Buffer {
  return new MessageWriter(FrontendMessage.Parse, cstringSize(name) + cstringSize(sql) + 2)
    .cstring(name)
    .cstring(sql)
    .int16(0)
    .done();
}

/** Bind of the unnamed portal to the statement `name`, with text parameters and text results. */
export function bindText(name: string, params: readonly string[]): Buffer {
  let size = 1 + cstringSize(name) + 2 + 2 + 2;
  for (const value of params) size += 4 + Buffer.byteLength(value, 'utf8');
  const bind = new MessageWriter(FrontendMessage.Bind, size).cstring('').cstring(name).int16(0).int16(params.length);
  for (const value of params) bind.int32(Buffer.byteLength(value, 'utf8')).bytes(value);
  return bind.int16(0).done();
}

export function terminate(): Buffer {
  return emptyMessage(FrontendMessage.Terminate);
}

export function sync(): Buffer {
  return emptyMessage(FrontendMessage.Sync);
}

export function commandComplete(tag: string): Buffer {
  return cstringMessage(BackendMessage.CommandComplete, tag);
}

export function emptyQueryResponse(): Buffer {
  return emptyMessage(BackendMessage.EmptyQueryResponse);
}

/** Per field after the name: table OID, column number, type OID, type size, type modifier, format. */
const FIELD_TRAILER_SIZE = 4 + 2 + 4 + 2 + 4 + 2;

/** Text-format columns not taken from a table, as an admin console reports them. */
export function rowDescription(columns: { name: string; typeOid: number }[]): Buffer {
  let size = 2;
  for (const c of columns) size += cstringSize(c.name) + FIELD_TRAILER_SIZE;
  const w = new MessageWriter(BackendMessage.RowDescription, size).int16(columns.length);
  for (const c of columns) w.cstring(c.name).int32(0).int16(0).int32(c.typeOid).int16(-1).int32(-1).int16(0);
  return w.done();
}

export function dataRow(values: (string | null)[]): Buffer {
  let size = 2;
  for (const v of values) size += 4 + (v === null ? 0 : Buffer.byteLength(v, 'utf8'));
  const w = new MessageWriter(BackendMessage.DataRow, size).int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else w.int32(Buffer.byteLength(v, 'utf8')).bytes(v);
  }
  return w.done();
}

export function parseComplete(): Buffer {
  return emptyMessage(BackendMessage.ParseComplete);
}

export function bindComplete(): Buffer {
  return emptyMessage(BackendMessage.BindComplete);
}

export function noData(): Buffer {
  return emptyMessage(BackendMessage.NoData);
}

export function closeComplete(): Buffer {
  return emptyMessage(BackendMessage.CloseComplete);
}

/** Close of a prepared statement ('S'), by name. */
export function closeStatement(name: string): Buffer {
  return new MessageWriter(FrontendMessage.Close, 1 + cstringSize(name)).byte(0x53).cstring(name).done();
}

/** Describe of a prepared statement ('S'), by name. */
export function describeStatement(name: string): Buffer {
  return new MessageWriter(FrontendMessage.Describe, 1 + cstringSize(name)).byte(0x53).cstring(name).done();
}

/** Execute of a portal, by name, returning at most `maxRows` rows (0: all). */
export function execute(portal: string, maxRows: number): Buffer {
  return new MessageWriter(FrontendMessage.Execute, cstringSize(portal) + 4).cstring(portal).int32(maxRows).done();
}

/** CopyFail: the frontend ends a COPY IN in failure; the server answers with an error (57014). */
export function copyFail(reason: string): Buffer {
  return cstringMessage(FrontendMessage.CopyFail, reason);
}

export function flush(): Buffer {
  return emptyMessage(FrontendMessage.Flush);
}

/** A message of `type` whose body is `parts`, one after another (a client's message edited). */
export function messageOf(type: number, parts: readonly Buffer[]): Buffer {
  let size = 0;
  for (const part of parts) size += part.length;
  const w = new MessageWriter(type, size);
  for (const part of parts) w.bytes(part);
  return w.done();
}

/** The header of a message of `type` whose body of `bodySize` bytes goes apart (a message cut across reads). */
export function messageHeader(type: number, bodySize: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header[0] = type;
  header.writeUInt32BE(4 + bodySize, 1);
  return header;
}

/** Parse of a named statement: `rest` is the query String and parameter types as the client sent them. */
export function parseWithName(name: string, rest: Buffer): Buffer {
  return new MessageWriter(FrontendMessage.Parse, cstringSize(name) + rest.length).cstring(name).bytes(rest).done();
}
