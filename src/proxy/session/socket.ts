// The client's socket and its session: one set of handlers for every session (the socket carries
// its session), where bound methods would cost each client four functions.
import type net from 'node:net';
import { SQLSTATE } from '../../protocol/encode.js';
import { beginRead, endRead } from '../../event-clock.js';
import { writeDirect } from '../../pool/direct-write.js';
import type { ClientSession } from '../client-session.js';
import { copyOfRead, shareReads } from './shared-reads.js';
import { State } from './state.js';

const SESSION = Symbol('pgtide.session');
type SessionSocket = net.Socket & { [SESSION]: SocketSession };

/** What of the session these functions use. */
export type SocketSession = Pick<
  ClientSession,
  | 'clientPaused'
  | 'close'
  | 'ctx'
  | 'dispatch'
  | 'encrypted'
  | 'fatal'
  | 'onClientEnd'
  | 'remote'
  | 'server'
  | 'serverPaused'
  | 'socket'
  | 'state'
>;

/** Makes `socket` the session's, its events handled for that session. */
export function bindSocket(s: SocketSession, socket: net.Socket): void {
  s.socket = socket;
  (socket as SessionSocket)[SESSION] = s;
  socket.on('data', onSocketData);
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
  socket.on('error', onSocketError);
  socket.on('drain', onSocketDrain);
}

/** Stops handling `socket` (a TLS socket takes it over). */
export function unbindSocket(socket: net.Socket): void {
  socket.removeListener('data', onSocketData);
  socket.removeListener('end', onSocketEnd);
  socket.removeListener('close', onSocketClose);
  socket.removeListener('error', onSocketError);
  socket.removeListener('drain', onSocketDrain);
}

/**
 * A client's reads skip the stream's 'data' events (see shared-reads.ts) once TLS can no longer
 * begin on its socket (its startup packet came in plain text, or client TLS is not configured,
 * which only a restart changes), from when its stream holds no byte read before and is not
 * paused: bytes it holds come first, as 'data' events, each of which tries again.
 */
export function shareClientReads(s: SocketSession): void {
  const state = s.state;
  if (s.encrypted || s.clientPaused) return;
  if (
    state === State.Startup
      ? s.ctx.clientTls !== null
      : state !== State.Auth && state !== State.Ready && state !== State.Waiting && state !== State.Linked
  )
    return;
  if (s.socket.readableLength === 0)
    shareReads(s.socket, onSocketRead as (this: net.Socket, length: number) => boolean);
}

/** socket.write's answer, the stream's machinery skipped when the socket is plain (see direct-write.ts). */
export function writeToClient(s: Pick<SocketSession, 'encrypted' | 'socket'>, message: Buffer): boolean {
  return s.encrypted ? s.socket.write(message) : writeDirect(s.socket, message);
}

/** A read while the session is paused (a resume and a pause in one tick start the handle
 *  reading again) is taken, and the reads stop there until the session resumes. */
function onSocketRead(this: SessionSocket, length: number): boolean {
  const s = this[SESSION];
  dispatch(s, copyOfRead(length));
  return !s.clientPaused;
}

/** Until the session reads through the shared buffer: each event may be the one it switches after. */
function onSocketData(this: SessionSocket, chunk: Buffer): void {
  const s = this[SESSION];
  if (dispatch(s, chunk)) shareClientReads(s);
}

/**
 * A bug reached by one client's bytes must cost that client only, never the process and
 * everyone else on it: the session is closed with XX000 and the error logged. False then.
 */
function dispatch(s: SocketSession, chunk: Buffer): boolean {
  beginRead();
  try {
    s.dispatch(chunk);
    return true;
  } catch (err) {
    s.ctx.log.error({ client: s.remote, err: (err as Error).stack }, 'internal error while handling client data');
    s.fatal(SQLSTATE.INTERNAL_ERROR, 'internal error in pgtide; the connection is closed');
    return false;
  } finally {
    endRead();
  }
}

/** The client's FIN (listener.ts keeps the socket half-open): answers still owed go out first. */
function onSocketEnd(this: SessionSocket): void {
  this[SESSION].onClientEnd();
}

function onSocketClose(this: SessionSocket): void {
  this[SESSION].close();
}

function onSocketError(this: SessionSocket, err: Error): void {
  const s = this[SESSION];
  s.ctx.log.debug({ client: s.remote, err: err.message }, 'client socket error');
}

/** The client read what was written to it: the server paused for it (see onServerData) may send again. */
function onSocketDrain(this: SessionSocket): void {
  const s = this[SESSION];
  if (s.serverPaused) {
    s.serverPaused = false;
    s.server?.resumeReading();
  }
}
