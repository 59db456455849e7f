import { HEADER_SIZE } from './types.js';

export interface MessageSink {
  /** Called for each complete message whose type byte is marked in `collect`.
   *  body = payload without the 5-byte header; a subarray of the chunk when the message lies
   *  whole inside it (no copy), else ONE Buffer assembled once from the pieces.
   *  For a type collected by its head only (see collectTable), a body cut across chunks is
   *  delivered as its first HEAD_BYTES bytes: enough for the names a Bind starts with, without
   *  copying the parameters that follow them. So is a bounded type's body when the
   *  AssemblyBudget cannot hold it whole; `MessageScanner.truncated` then says so.
   *  end = offset in the CURRENT chunk just past this message's last byte
   *  (so the message started at end - 5 - body.length, negative if it began in an earlier chunk).
   *  Return false to stop scanning this chunk right after this message (scan() then returns end). */
  onMessage(type: number, body: Buffer, end: number): boolean;
}

const EMPTY = Buffer.alloc(0);
const INITIAL_ASSEMBLY = 64 * 1024;
/** How much of a head-only message's body is kept when it is cut across chunks. */
export const HEAD_BYTES = 256;
/** MessageScanner.headerFill once the whole header is read: the body comes. */
const IN_BODY = HEADER_SIZE;
const WHOLE = 1,
  HEAD = 2,
  BOUNDED = 3;

/** Table for MessageScanner.collect: e.g. collectTable('ZEKS'); `heads`: types of which only
 *  the start of the body is needed (their bodies may be large); `bounded`: types wanted whole,
 *  but of which only the head is kept when the scanner's AssemblyBudget cannot hold the body. */
export function collectTable(types: string, heads = '', bounded = ''): Uint8Array {
  const table = new Uint8Array(256);
  for (let i = 0; i < types.length; i++) table[types.charCodeAt(i) & 0xff] = WHOLE;
  for (let i = 0; i < heads.length; i++) table[heads.charCodeAt(i) & 0xff] = HEAD;
  for (let i = 0; i < bounded.length; i++) table[bounded.charCodeAt(i) & 0xff] = BOUNDED;
  return table;
}

/**
 * Bytes that the scanners sharing it may hold assembling bounded bodies cut across chunks:
 * without it, every client sending a statement of max_packet_size would make pgtide hold
 * one copy of it (4 clients × 250 MB took the process past 1 GiB). A body is reserved whole
 * by its declared length when its header arrives, and given back when it is delivered.
 */
export class AssemblyBudget {
  used = 0;

  constructor(readonly limit: number) {}

  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** The longest message PostgreSQL reads during authentication: a length of PG_MAX_AUTH_TOKEN_LENGTH
 *  (65535, its own four bytes included), after the type byte. A client that has not logged in
 *  makes pgtide hold no more. */
export const AUTH_MESSAGE_MAX = 1 + 65_535;

/**
 * Finds typed-message boundaries in a byte stream that arrives in arbitrary chunks, so the
 * proxy can forward chunks untouched and still know where each message ends. Only bodies of
 * collected types are ever materialised; the rest are counted down, never copied.
 */
export class MessageScanner {
  collect: Uint8Array;
  /** The protocol violation found; every scan after it fails. */
  error = '';

  private maxPacketSize: number;
  /** Bytes of the current message's header read: 0 at a boundary, 1 to 4 while a header
   *  straddles chunks, IN_BODY while its body comes. A straddling header's type byte and
   *  length bytes (big-endian) gather in `type` and `bodyLength`: a scanner holds no buffer
   *  between messages, and every idle client has a scanner, so it has no more fields than that. */
  private headerFill = 0;
  private type = 0;
  /** Body bytes of the current message still to come, of its bodyLength. */
  private remaining = 0;
  private bodyLength = 0;
  /** Collected body being assembled across chunks, or null when the body is skipped. */
  private assembly: Buffer | null = null;
  private assemblyFill = 0;
  /** The assembly keeps only the body's head (it never grows). */
  private headOnly = false;
  /** Bytes of the budget the current assembly holds. */
  private reserved = 0;
  /** During onMessage: the body of a bounded type is only its head (the budget was spent). */
  truncated = false;
  /** During onMessage: the message came across chunks (its start went with an earlier one; a
   *  head-only type's body is only its head). */
  assembled = false;

  constructor(
    maxPacketSize: number,
    collect: Uint8Array,
    private readonly budget: AssemblyBudget | null = null,
  ) {
    this.maxPacketSize = maxPacketSize;
    this.collect = collect;
  }

  /** Messages of up to `maxPacketSize` bytes are legal from now on (a login that succeeded). */
  allow(maxPacketSize: number): void {
    this.maxPacketSize = maxPacketSize;
  }

  /** True when not inside a message (all bytes so far form complete messages). */
  get atBoundary(): boolean {
    return this.headerFill === 0;
  }

  /** Bytes of a message header received so far when the last chunk ended inside one (0 otherwise). */
  get partialHeaderLength(): number {
    return this.headerFill === IN_BODY ? 0 : this.headerFill;
  }

  /** Type byte of a message whose header is incomplete at the end of the last chunk. */
  get partialHeaderType(): number {
    return this.headerFill > 0 && this.headerFill < IN_BODY ? this.type : 0;
  }

  /** The type of the message the last chunk ended inside, once its header came whole; 0 otherwise. */
  get cutType(): number {
    return this.headerFill === IN_BODY ? this.type : 0;
  }

  /** The body length the header of that message (see cutType) claims. */
  get cutBodyLength(): number {
    return this.bodyLength;
  }

  /** Where the message the last chunk (of `chunkLength` bytes) ended inside began in that
   *  chunk; -1 when it began in an earlier one or when no message is cut. */
  cutMessageStart(chunkLength: number): number {
    if (this.headerFill === 0) return -1;
    if (this.headerFill < IN_BODY) return chunkLength >= this.headerFill ? chunkLength - this.headerFill : -1;
    const received = HEADER_SIZE + this.bodyLength - this.remaining;
    return chunkLength >= received ? chunkLength - received : -1;
  }

  reset(): void {
    this.headerFill = 0;
    this.type = 0;
    this.remaining = 0;
    this.dropAssembly();
    this.assemblyFill = 0;
    this.error = '';
  }

  /** Scan one chunk from `from`. Returns the offset where scanning stopped (chunk.length, or
   *  `end` if the sink returned false), or -1 on a protocol violation (see `error`); after
   *  -1 every scan returns -1 until reset(). */
  scan(chunk: Buffer, sink: MessageSink, from = 0): number {
    if (this.error !== '') return -1;
    const n = chunk.length;
    let pos = Math.min(Math.max(from, 0), n);
    for (;;) {
      if (this.headerFill === IN_BODY) {
        const take = Math.min(this.remaining, n - pos);
        if (this.assembly !== null) {
          const keep = this.headOnly ? Math.min(take, this.assembly.length - this.assemblyFill) : take;
          if (this.assemblyFill + keep > this.assembly.length)
            this.growAssembly(this.assembly, this.assemblyFill + keep);
          chunk.copy(this.assembly, this.assemblyFill, pos, pos + keep);
          this.assemblyFill += keep;
        }
        pos += take;
        this.remaining -= take;
        if (this.remaining > 0) return n;
        this.headerFill = 0;
        const body = this.assembly;
        if (body !== null) {
          this.truncated = this.headOnly && this.collect[this.type] === BOUNDED;
          this.assembled = true;
          this.dropAssembly();
          const more = sink.onMessage(this.type, body, pos);
          this.truncated = false;
          this.assembled = false;
          if (!more) return pos;
        }
        continue;
      }
      if (pos >= n) return n;

      if (this.headerFill === 0 && n - pos >= HEADER_SIZE) {
        // Fast path: the whole header is in this chunk.
        const type = chunk[pos]!;
        const len = chunk.readInt32BE(pos + 1);
        if (!this.checkHeader(type, len)) return -1;
        const end = pos + 1 + len;
        if (end <= n) {
          if (this.collect[type] !== 0 && !sink.onMessage(type, chunk.subarray(pos + HEADER_SIZE, end), end))
            return end;
          pos = end;
          continue;
        }
        this.startBody(type, len - 4);
        pos += HEADER_SIZE;
        continue;
      }

      // Slow path: the header straddles chunks; gather it byte by byte (the shifts keep the
      // length a signed 32-bit integer, as readInt32BE reads it).
      while (this.headerFill < HEADER_SIZE && pos < n) {
        const byte = chunk[pos++]!;
        if (this.headerFill++ === 0) {
          this.type = byte;
          this.bodyLength = 0;
        } else {
          this.bodyLength = (this.bodyLength << 8) | byte;
        }
      }
      if (this.headerFill < HEADER_SIZE) return n;
      const len = this.bodyLength;
      if (!this.checkHeader(this.type, len)) return -1;
      this.startBody(this.type, len - 4);
    }
  }

  private startBody(type: number, bodyLength: number): void {
    this.headerFill = IN_BODY;
    this.type = type;
    this.remaining = bodyLength;
    this.bodyLength = bodyLength;
    this.assemblyFill = 0;
    const collect = this.collect[type];
    this.headOnly = collect === HEAD;
    if (collect === BOUNDED && bodyLength > HEAD_BYTES && this.budget !== null) {
      if (this.budget.take(bodyLength)) this.reserved = bodyLength;
      else this.headOnly = true;
    }
    // A length is only a claim: memory grows with the bytes that actually arrive.
    if (collect !== 0) {
      this.assembly =
        bodyLength === 0
          ? EMPTY
          : Buffer.allocUnsafe(Math.min(bodyLength, this.headOnly ? HEAD_BYTES : INITIAL_ASSEMBLY));
    }
  }

  private growAssembly(assembly: Buffer, needed: number): void {
    const size = Math.min(this.bodyLength, Math.max(needed, assembly.length * 2));
    const grown = Buffer.allocUnsafe(size);
    assembly.copy(grown, 0, 0, this.assemblyFill);
    this.assembly = grown;
  }

  /** A bad header means we have lost the framing; nothing after it can be trusted. */
  private checkHeader(type: number, len: number): boolean {
    if (type === 0) {
      // No typed message uses 0; this is an untyped (startup-phase) packet such as a second
      // StartupMessage or SSLRequest, which must not reach a server.
      this.error = 'unexpected startup packet where a typed message was expected';
    } else if (len < 4) {
      this.error = `invalid message length ${len}`;
    } else if (len + 1 > this.maxPacketSize) {
      const limit = this.maxPacketSize === AUTH_MESSAGE_MAX ? 'the limit during authentication' : 'max_packet_size';
      this.error = `message of ${len + 1} bytes exceeds ${limit} ${this.maxPacketSize}`;
    } else {
      return true;
    }
    this.headerFill = 0;
    this.dropAssembly();
    return false;
  }

  /** Forgets the assembly (delivered or abandoned) and gives its bytes back to the budget. */
  private dropAssembly(): void {
    this.assembly = null;
    if (this.reserved > 0) {
      this.budget?.give(this.reserved); // reserved > 0 only ever comes from a budget
      this.reserved = 0;
    }
  }
}
