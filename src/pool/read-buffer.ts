// Where a plain server socket's reads land: one 64 KiB buffer of ours, reused from read to read,
// instead of a fresh allocation per read. A chunk forwarded to a client whose socket could not
// take it at once stays referenced by that pending write, so the next read gets a new buffer.
const READ_BUFFER_SIZE = 65536;

export class ReusedReadBuffer {
  private buffer: Buffer | null = null;
  /** The last chunk read still sits in a pending client write. */
  held = false;

  /** For net's `onread.buffer`. */
  readonly next = (): Uint8Array => {
    if (this.held || !this.buffer) {
      this.held = false;
      this.buffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    }
    return this.buffer;
  };
}
