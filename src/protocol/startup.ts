import { SQLSTATE } from './sqlstate.js';
import { FrontendMessage } from './types.js';

export const SSL_REQUEST_CODE = 80877103,
  GSSENC_REQUEST_CODE = 80877104,
  CANCEL_REQUEST_CODE = 80877102,
  PROTOCOL_3_0 = 196608;
/** The newest minor version of protocol 3 pgtide speaks to clients: 3.2 (PostgreSQL 18) differs
 *  from 3.0 only in the length of the cancel key, and a 4-byte key is valid in both. */
export const LATEST_MINOR = 2;
/** Same bound as PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
export const MAX_STARTUP_PACKET = 10000;

/** 3.0 cancel keys are 4 bytes; 3.2 allows up to 256. */
const MIN_CANCEL_SECRET = 4;
const MAX_CANCEL_SECRET = 256;
const PROTOCOL_OPTION_PREFIX = '_pq_.';

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; secret: Buffer /* 4 bytes in 3.0; up to 256 in 3.2 */ }
  | {
      kind: 'startup';
      major: number;
      minor: number;
      params: Map<string, string>;
      unknownProtocolOptions: string[] /* names starting with _pq_. */;
    }
  /** A Terminate where a startup packet belongs (node-postgres ending while it connects). */
  | { kind: 'terminate' }
  | { kind: 'error'; sqlstate: string; message: string };

function violation(message: string): StartupPacket {
  return { kind: 'error', sqlstate: SQLSTATE.PROTOCOL_VIOLATION, message };
}

const TERMINATE = FrontendMessage.Terminate;

/** A printable type byte where a length's high byte belongs: the client skipped the startup.
 *  A Terminate there is a client giving up before it began, which PostgreSQL closes without
 *  a word (its length word is merely invalid, a server-log-only error). */
function typedMessageError(firstByte: number): StartupPacket {
  if (firstByte === TERMINATE) return { kind: 'terminate' };
  const printable = firstByte >= 0x21 && firstByte <= 0x7e;
  return violation(
    printable
      ? `expected a startup packet but received a message of type '${String.fromCharCode(firstByte)}'`
      : 'invalid length of startup packet',
  );
}

/**
 * Accumulates bytes before the first typed message. Feed chunks; it returns a packet when
 * one is complete, plus how many bytes of the chunk were consumed (the rest belongs to what
 * follows, e.g. TLS bytes after SSLRequest or typed messages after the startup packet).
 * After returning a packet it is ready for the next one; reset() discards a partial packet.
 */
export class StartupReader {
  /** An SSLRequest (or GSSENCRequest) was answered: PostgreSQL answers each once, and neither
   *  after TLS began; another is read as the unknown protocol version it then is. */
  private sslDone = false;
  private gssDone = false;
  /** Length word, gathered byte by byte because it may straddle chunks. */
  private lengthBytes = 0;
  private length = 0;
  /** The packet (length word included), allocated once the length is known and valid. */
  private packet: Buffer | null = null;
  private fill = 0;

  /** TLS begins (an SSLRequest answered 'S', or a direct TLS connection): no encryption request
   *  is answered after it. */
  tlsStarted(): void {
    this.sslDone = true;
    this.gssDone = true;
  }

  /** Nothing of the connection read yet: the only place a TLS handshake may begin without an
   *  SSLRequest (PostgreSQL 17's direct TLS, libpq's sslnegotiation=direct). */
  get atConnectionStart(): boolean {
    return !this.sslDone && !this.gssDone && this.lengthBytes === 0;
  }

  /** Discards a partial packet; what was answered is kept. */
  reset(): void {
    this.lengthBytes = 0;
    this.length = 0;
    this.packet = null;
    this.fill = 0;
  }

  push(chunk: Buffer): { packet: StartupPacket; consumed: number } | null {
    let pos = 0;
    while (this.lengthBytes < 4) {
      if (pos >= chunk.length) return null;
      const byte = chunk[pos++]!;
      // Reject as soon as the length can no longer be <= MAX_STARTUP_PACKET (0x2710), so a
      // typed message is reported without waiting for more bytes.
      if (this.lengthBytes < 2 && byte !== 0) return this.finish(typedMessageError(byte), pos);
      this.length = (this.length << 8) | byte;
      this.lengthBytes++;
    }
    if (this.packet === null) {
      if (this.length < 8 || this.length > MAX_STARTUP_PACKET) {
        return this.finish(violation('invalid length of startup packet'), pos);
      }
      // The whole packet is in this chunk: parse it in place, no copy.
      if (pos === 4 && chunk.length >= this.length) {
        return this.finish(parseStartupPacket(chunk.subarray(0, this.length)), this.length);
      }
      this.packet = Buffer.allocUnsafe(this.length);
      this.packet.writeInt32BE(this.length, 0);
      this.fill = 4;
    }
    const take = Math.min(this.length - this.fill, chunk.length - pos);
    chunk.copy(this.packet, this.fill, pos, pos + take);
    this.fill += take;
    pos += take;
    if (this.fill < this.length) return null;
    return this.finish(parseStartupPacket(this.packet), pos);
  }

  private finish(packet: StartupPacket, consumed: number): { packet: StartupPacket; consumed: number } {
    this.reset();
    if (packet.kind === 'ssl') {
      if (this.sslDone) packet = unsupportedProtocol(SSL_REQUEST_CODE);
      this.sslDone = true;
    } else if (packet.kind === 'gssenc') {
      if (this.gssDone) packet = unsupportedProtocol(GSSENC_REQUEST_CODE);
      this.gssDone = true;
    }
    return { packet, consumed };
  }
}

/** packet = the whole packet, length word included; its length is already validated. */
function parseStartupPacket(packet: Buffer): StartupPacket {
  const code = packet.readInt32BE(4);
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
    if (packet.length !== 8) return violation('invalid length of encryption request');
    return { kind: code === SSL_REQUEST_CODE ? 'ssl' : 'gssenc' };
  }
  if (code === CANCEL_REQUEST_CODE) {
    const secretLength = packet.length - 12;
    if (secretLength < MIN_CANCEL_SECRET || secretLength > MAX_CANCEL_SECRET) {
      return violation('invalid length of cancel request packet');
    }
    // Copied: the key outlives the chunk it arrived in.
    return { kind: 'cancel', pid: packet.readUInt32BE(8), secret: Buffer.from(packet.subarray(12)) };
  }
  const major = code >>> 16;
  if (major !== 3) return unsupportedProtocol(code);
  return parseStartupParams(packet, major, code & 0xffff);
}

/** A version pgtide does not speak, or a request code it does not know (or answers no more):
 *  PostgreSQL refuses both as an unsupported protocol (0A000). A 3.x startup newer than 3.2 is
 *  answered with NegotiateProtocolVersion (see onStartupPacket). */
function unsupportedProtocol(code: number): StartupPacket {
  return {
    kind: 'error',
    sqlstate: SQLSTATE.FEATURE_NOT_SUPPORTED,
    message: `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: server supports 3.0 to 3.${LATEST_MINOR}`,
  };
}

function parseStartupParams(packet: Buffer, major: number, minor: number): StartupPacket {
  const params = new Map<string, string>();
  const unknownProtocolOptions: string[] = [];
  let pos = 8;
  for (;;) {
    const nameEnd = packet.indexOf(0, pos);
    if (nameEnd === -1) return violation('invalid startup packet layout: expected terminator as last byte');
    if (nameEnd === pos) break; // the empty name is the final terminator
    const valueEnd = packet.indexOf(0, nameEnd + 1);
    if (valueEnd === -1) return violation('invalid startup packet layout: expected terminator as last byte');
    const name = packet.toString('utf8', pos, nameEnd);
    const value = packet.toString('utf8', nameEnd + 1, valueEnd);
    pos = valueEnd + 1;
    // A name given twice takes its last value, as PostgreSQL takes it.
    if (!name.startsWith(PROTOCOL_OPTION_PREFIX)) params.set(name, value);
    else if (!unknownProtocolOptions.includes(name)) unknownProtocolOptions.push(name);
  }
  if (pos !== packet.length - 1) return violation('invalid startup packet layout: expected terminator as last byte');
  if (!params.get('user')) {
    return {
      kind: 'error',
      sqlstate: SQLSTATE.INVALID_AUTHORIZATION,
      message: 'no PostgreSQL user name specified in startup packet',
    };
  }
  return { kind: 'startup', major, minor, params, unknownProtocolOptions };
}

/** PostgreSQL's NAMEDATALEN - 1: the longest user or database name, in bytes. */
const MAX_NAME_BYTES = 63;

/** A startup packet's user or database name as PostgreSQL looks it up: cut to 63 bytes, so a
 *  longer name reaches the same role or database there and here. A cut inside a character
 *  leaves a name that matches nothing, as it does in PostgreSQL. */
export function startupName(name: string): string {
  if (name.length <= MAX_NAME_BYTES / 3) return name;
  const bytes = Buffer.from(name, 'utf8');
  return bytes.length <= MAX_NAME_BYTES ? name : bytes.toString('utf8', 0, MAX_NAME_BYTES);
}

/** A malformed `options` startup parameter, in PostgreSQL's words and with its SQLSTATE. */
export class StartupOptionsError extends Error {
  constructor(
    message: string,
    readonly sqlstate: '42601' | '42704',
  ) {
    super(message);
  }
}

/**
 * Parses libpq's `options` startup parameter (PGOPTIONS): whitespace-separated switches,
 * backslash escapes the next character. Only the GUC-setting switches `-c name=value`,
 * `-cname=value` and `--name=value` are accepted; dashes in names become underscores, as
 * PostgreSQL does. Anything else is an error rather than silently ignored.
 */
export function parseOptions(options: string): Map<string, string> | StartupOptionsError {
  const words = splitOptions(options);
  const settings = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let setting: string;
    if (word === '-c' && i + 1 < words.length) setting = words[++i]!;
    else if ((word.startsWith('--') || word.startsWith('-c')) && word.length > 2) setting = word.slice(2);
    else return new StartupOptionsError(`invalid command-line argument for server process: ${word}`, '42601');
    const eq = setting.indexOf('=');
    const flag = word.startsWith('--') ? '--' : '-c ';
    if (eq === -1) return new StartupOptionsError(`${flag}${setting} requires a value`, '42601');
    if (eq === 0) return new StartupOptionsError('unrecognized configuration parameter ""', '42704');
    settings.set(setting.slice(0, eq).replaceAll('-', '_'), setting.slice(eq + 1));
  }
  return settings;
}

/** What C's isspace() accepts in the C locale, as pg_split_opts uses it. */
const ASCII_SPACE = ' \t\n\v\f\r';

/** Same splitting rules as PostgreSQL's pg_split_opts. */
function splitOptions(options: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i]!;
    if (ch === '\\') {
      inWord = true;
      if (i + 1 < options.length) word += options[++i];
    } else if (ASCII_SPACE.includes(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
