// Random bytes for logins (SCRAM nonces, cancel keys), drawn from a block that one OpenSSL
// call fills: every crypto.randomBytes call costs a trip into OpenSSL (and a getpid), a
// large share of a login's CPU. Each byte is handed out once; a used block is never
// refilled in place (a caller may still hold a view of it), a fresh one is allocated.
import { randomFillSync } from 'node:crypto';

const BLOCK_SIZE = 4096;

let block = Buffer.alloc(0);
let used = 0;

/** `n` (at most BLOCK_SIZE) cryptographically random bytes never handed out before, as a view
 *  of the current block: copy them or encode them, do not keep the view. */
export function takeRandom(n: number): Buffer {
  if (n > BLOCK_SIZE) throw new RangeError(`at most ${BLOCK_SIZE} random bytes at a time`);
  if (used + n > block.length) {
    block = randomFillSync(Buffer.allocUnsafeSlow(BLOCK_SIZE));
    used = 0;
  }
  const start = used;
  used += n;
  return block.subarray(start, used);
}

/** A fresh Buffer of `n` random bytes, safe to keep. */
export function randomBuffer(n: number): Buffer {
  return Buffer.from(takeRandom(n));
}

/** A random integer in [0, 2^bits), bits <= 32. */
export function randomBits(bits: number): number {
  return takeRandom(4).readUInt32BE(0) >>> (32 - bits);
}
