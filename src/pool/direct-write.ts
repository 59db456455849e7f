// A forwarded chunk written to the socket's handle at once, as net.Socket's own write does once
// its stream machinery (the Writable's state, its callback and the nextTick after it) has run.
// Only when the stream holds nothing (no buffered or corked write, not ending, connected): the
// kernel then gets the bytes in the same order either way. A write the kernel cannot take at
// once stays with libuv, which writes it before any later one; the caller waits for 'drain', as
// after a full stream. The form of the handle's write used here (no request object) is that of
// the Node.js line pgtide ships; others keep socket.write.
import type net from 'node:net';

/** What libuv keeps writing when the kernel took only part of a chunk. */
interface PendingWrite {
  oncomplete: ((this: PendingWrite, status: number) => void) | null;
  buffer: Buffer | null;
  writeStatus: number | null;
  socket: net.Socket | null;
}

interface StreamHandle {
  writeBuffer(req: null, data: Uint8Array): number | PendingWrite;
  readonly writeQueueSize: number;
}

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);

/** Node.js 24.22 and later 24.x: a handle's writeBuffer takes no request object (checked in a test). */
export const directWritesAvailable = major === 24 && minor >= 22;

function handleOf(socket: net.Socket): StreamHandle | null | undefined {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle;
}

/** socket.write(chunk)'s answer: false when the caller should wait for 'drain'. */
export function writeDirect(socket: net.Socket, chunk: Buffer): boolean {
  const handle = handleOf(socket);
  if (
    !directWritesAvailable ||
    !handle ||
    socket.writableLength !== 0 ||
    socket.writableCorked !== 0 ||
    socket.writableEnded ||
    socket.destroyed ||
    socket.connecting
  )
    return socket.write(chunk);
  const result = handle.writeBuffer(null, chunk);
  if (result === 0) return true;
  if (typeof result === 'number') {
    socket.destroy(writeError(result));
    return false;
  }
  result.buffer = chunk;
  result.socket = socket;
  result.oncomplete = onWritten;
  // Completed inside the call, before oncomplete was there to hear it.
  const status = result.writeStatus;
  if (status !== null) {
    result.writeStatus = null;
    result.oncomplete(status);
  }
  return false;
}

/** Nothing written to `socket` is still waiting, in the stream or in libuv: the kernel has it all. */
export function allWritten(socket: net.Socket): boolean {
  return socket.writableLength === 0 && !writePending(socket);
}

/** Whether libuv still holds bytes written by writeDirect (the chunk is not free to reuse). */
export function writePending(socket: net.Socket): boolean {
  const handle = handleOf(socket);
  return handle != null && handle.writeQueueSize > 0;
}

function onWritten(this: PendingWrite, status: number): void {
  const socket = this.socket!;
  this.socket = null;
  this.buffer = null;
  if (status < 0) {
    if (!socket.destroyed) socket.destroy(writeError(status));
    return;
  }
  if (socket.destroyed || writePending(socket)) return;
  // A stream write came after this one and is still under way: the stream's own 'drain' when it
  // ends is the one the paused side waits for, which it emits only when told one is wanted.
  if (socket.writableLength > 0)
    (socket as unknown as { _writableState: { needDrain: boolean } })._writableState.needDrain = true;
  else socket.emit('drain');
}

function writeError(status: number): Error {
  const err: NodeJS.ErrnoException = new Error(`write failed (libuv error ${status})`);
  err.errno = status;
  return err;
}
