import { FrontendMessage, HEADER_SIZE } from './types.js';

const COPY_DATA = FrontendMessage.CopyData;

/**
 * Cuts a client's byte stream into pieces that hold whole messages only, so each message can
 * be rewritten in place: a message cut by the end of a chunk is kept until it is complete.
 * CopyData is the exception (it is never rewritten and may be large): its pieces pass at once.
 * Lengths are checked by the MessageScanner the pieces go to next; here a bad length simply
 * passes the bytes on so that the scanner reports it.
 */
export class WholeMessages {
  private held: Buffer | null = null;
  private heldFill = 0;
  /** Size of the held message once its header is known, else 0. */
  private heldSize = 0;
  /** CopyData bytes still to pass before the next message starts. */
  private copyRemaining = 0;

  constructor(private readonly maxPacketSize: number) {}

  split(chunk: Buffer, emit: (piece: Buffer) => void): void {
    let pos = 0;
    if (this.copyRemaining > 0) {
      pos = Math.min(this.copyRemaining, chunk.length);
      this.copyRemaining -= pos;
      emit(chunk.subarray(0, pos));
    } else if (this.held) {
      pos = this.fill(this.held, chunk);
      const whole = this.takeWhole();
      if (whole === null) return;
      emit(whole);
    }
    let off = pos;
    let badLength = false;
    while (chunk.length - off >= HEADER_SIZE) {
      const len = chunk.readInt32BE(off + 1);
      if (len < 4 || len + 1 > this.maxPacketSize) {
        badLength = true;
        break;
      }
      const end = off + 1 + len;
      if (end <= chunk.length) {
        off = end;
        continue;
      }
      if (chunk[off] === COPY_DATA) {
        this.copyRemaining = end - chunk.length;
        off = chunk.length;
      }
      break;
    }
    if (off > pos) emit(chunk.subarray(pos, off));
    if (off === chunk.length) return;
    if (badLength) return emit(chunk.subarray(off));
    // A cut message (or a cut header): keep a copy until the rest arrives.
    const held = Buffer.allocUnsafe(Math.max(HEADER_SIZE, chunk.length - off));
    this.held = held;
    this.heldFill = chunk.copy(held, 0, off);
    this.heldSize = 0;
    this.learnSize(held);
  }

  /** Take bytes for the held message from the start of `chunk`; returns how many were taken. */
  private fill(held: Buffer, chunk: Buffer): number {
    let taken = 0;
    if (this.heldFill < HEADER_SIZE) {
      taken = Math.min(HEADER_SIZE - this.heldFill, chunk.length);
      chunk.copy(held, this.heldFill, 0, taken);
      this.heldFill += taken;
      this.learnSize(held);
      if (this.heldSize === 0) return taken;
    }
    const want = Math.min(this.heldSize - this.heldFill, chunk.length - taken);
    // A length is only a claim: memory grows with the bytes that actually arrive.
    if (this.heldFill + want > held.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.heldSize, Math.max(this.heldFill + want, held.length * 2)));
      held.copy(grown, 0, 0, this.heldFill);
      this.held = held = grown;
    }
    chunk.copy(held, this.heldFill, taken, taken + want);
    this.heldFill += want;
    return taken + want;
  }

  /** Once the header is whole: the message's size (or the bytes so far when the length is bad). */
  private learnSize(held: Buffer): void {
    if (this.heldFill < HEADER_SIZE || this.heldSize > 0) return;
    const len = held.readInt32BE(1);
    this.heldSize = len >= 4 && len + 1 <= this.maxPacketSize ? len + 1 : this.heldFill;
  }

  /** The held message once it is whole (and no longer held), else null. */
  private takeWhole(): Buffer | null {
    const held = this.held;
    if (held === null || this.heldFill !== this.heldSize) return null;
    this.held = null;
    return held.length === this.heldSize ? held : held.subarray(0, this.heldSize);
  }
}
