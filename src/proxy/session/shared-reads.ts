// A logged-in client's reads land in one buffer shared by every client socket of the process,
// through the read mode net.connect offers as `onread` (the server sockets use it: see
// pool/read-buffer.ts). A 'data' event costs a fresh 64 KiB allocation in C++ per read, then the
// stream's push, its event and a nextTick; this mode calls one function. net.Server offers no
// such option for the sockets it accepts, so the mode is switched on here through the fields the
// Socket constructor reads `onread` into. They are Node.js internals: when they are missing
// (another Node.js line), the socket keeps its 'data' events, which do the same work.
import net from 'node:net';
import tls from 'node:tls';

/** Reads never hand out more than this; a bigger message comes in several reads, as with 'data'. */
const SHARED_READ_SIZE = 65536;

interface ReadMode {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

type Handle = { useUserBuffer?: (buffer: Uint8Array) => void };

/** The socket fields behind `onread`, or null when this Node.js has none by those names. */
function findReadMode(): ReadMode | null {
  const probe = new net.Socket();
  const named = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  probe.destroy();
  const buffer = named.get('kBuffer');
  const callback = named.get('kBufferCb');
  const generator = named.get('kBufferGen');
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

const mode = findReadMode();
let shared: Buffer | null = null;

/** Whether this Node.js lets shareReads switch a socket over (a test pins it to the Node.js line we ship). */
export const sharedReadsAvailable = mode !== null;

/**
 * From now on `socket`'s reads call `onRead(length)`, with the socket as `this`: the bytes are
 * the first `length` of the shared buffer until the next read of any socket, and copyOfRead
 * gives them a buffer of their own. Returns false, changing nothing, for a TLS socket (its reads
 * are the TLS layer's) or when unavailable. Bytes the stream already holds (read while it was
 * paused) still come as 'data' events, before any read of the new mode: the caller keeps its
 * 'data' listener. onRead is one function for every socket, so a socket costs no closure.
 */
export function shareReads(socket: net.Socket, onRead: (this: net.Socket, length: number) => boolean): boolean {
  const handle = (socket as unknown as { _handle?: Handle | null })._handle;
  if (mode === null || !handle || typeof handle.useUserBuffer !== 'function' || socket.destroyed) return false;
  if (socket instanceof tls.TLSSocket) return false;
  if (readsShared(socket)) return true;
  const fields = socket as unknown as Record<symbol, unknown>;
  shared ??= Buffer.allocUnsafeSlow(SHARED_READ_SIZE);
  fields[mode.buffer] = shared;
  fields[mode.generator] = null;
  fields[mode.callback] = onRead;
  handle.useUserBuffer(shared);
  return true;
}

/** Whether shareReads switched `socket` over. */
export function readsShared(socket: net.Socket): boolean {
  return mode !== null && (socket as unknown as Record<symbol, unknown>)[mode.callback] != null;
}

/** The last read's bytes (see shareReads), in a buffer of their own. */
export function copyOfRead(length: number): Buffer {
  const chunk = Buffer.allocUnsafe(length);
  shared!.copy(chunk, 0, 0, length);
  return chunk;
}
