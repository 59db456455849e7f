// A socket that speaks raw bytes to pgtide, for inputs no real driver would send.
import net from 'node:net';
import { decodeErrorFields, type ErrorFields } from '../../src/protocol/backend.js';
import type { CancelKeyHolder, CancelKeys } from '../../src/proxy/cancel-keys.js';

export interface RawOutcome {
  /** Every byte pgtide sent before closing (or before the wait ended). */
  received: Buffer;
  closed: boolean;
  /** The first ErrorResponse pgtide sent, if any. */
  error: ErrorFields | null;
}

export function rawConnect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** A CancelRequest (protocol 1234.5678) on a connection of its own, as libpq sends it;
 *  resolves once the receiver has closed that connection. `secret`: a 3.0 key's 4 bytes as a
 *  number, or the key's bytes (3.2 keys are up to 256). */
export function sendCancelRequest(host: string, port: number, pid: number, secret: number | Buffer): Promise<void> {
  const key = typeof secret === 'number' ? int32(secret) : secret;
  const packet = Buffer.concat([int32(12 + key.length), int32(80877102), int32(pid), key]);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => socket.end(packet));
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
}

/** Send the chunks (with a pause between them) and collect the answer until close or `waitMs`. */
export async function rawExchange(port: number, chunks: Buffer[], waitMs = 2000): Promise<RawOutcome> {
  const socket = await rawConnect(port);
  const parts: Buffer[] = [];
  let closed = false;
  socket.on('data', (d) => parts.push(d));
  socket.on('error', () => {});
  const done = new Promise<void>((resolve) => {
    socket.on('close', () => {
      closed = true;
      resolve();
    });
    setTimeout(resolve, waitMs);
  });
  for (const chunk of chunks) {
    if (!socket.writable) break;
    socket.write(chunk);
    await new Promise((r) => setTimeout(r, 20));
  }
  await done;
  socket.destroy();
  const received = Buffer.concat(parts);
  return { received, closed, error: firstError(received) };
}

/** SSLRequest and GSSENCRequest: the request codes 1234.5679 and 1234.5680. */
export const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
export const GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);

/**
 * Sends an encryption request on `socket` and resolves with the answer: its one byte ('S',
 * 'N'), or `E <severity> <SQLSTATE>` for an ErrorResponse after which the peer closed, or
 * 'no answer' when nothing came within `waitMs`.
 */
export function askEncryption(socket: net.Socket, request: Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const done = (answer: string) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      resolve(answer);
    };
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length === 1 && (got[0] === 0x53 || got[0] === 0x4e)) done(got.toString());
    };
    const onClose = () => {
      const e = firstError(got);
      done(e ? `E ${e.severity} ${e.code}` : `closed after ${JSON.stringify(got.toString('latin1'))}`);
    };
    const timer = setTimeout(() => done('no answer'), waitMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => {});
    socket.write(request);
  });
}

/** The first ErrorResponse in a stream of typed messages starting at `off`. */
export function firstError(bytes: Buffer, off = 0): ErrorFields | null {
  while (off + 5 <= bytes.length) {
    const type = bytes[off]!;
    const len = bytes.readUInt32BE(off + 1);
    if (type === 0x45) return decodeErrorFields(bytes.subarray(off + 5, off + 1 + len));
    off += 1 + len;
  }
  return null;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A StartupMessage of protocol 3.`minor`. */
export function startupPacket(params: Record<string, string>, minor = 0): Buffer {
  const body = Buffer.concat([
    int32(196608 + minor),
    ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)),
    Buffer.from([0]),
  ]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** A key as another instance would issue it, for a CancelRequest sent by hand. */
export function issuedKey(keys: CancelKeys<CancelKeyHolder>): CancelKeyHolder {
  const key = { cancelPid: 0, cancelSecret: 0 };
  if (!keys.issue(key)) throw new Error('no cancel key left to issue');
  return key;
}
