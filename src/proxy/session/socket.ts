// The client's socket and its session: one set of handlers for every session (the socket carries
// its session), where bound methods would cost each client four functions.
import type net from 'node:net';
import { SQLSTATE } from '../../protocol/encode.js';
import type { ClientSession } from '../client-session.js';
import { copyOfRead, shareReads } from './shared-reads.js';

const SESSION = Symbol('pgtide.session');
type SessionSocket = net.Socket & { [SESSION]: SocketSession };

/** What of the session these functions use. */
export type SocketSession = Pick<
  ClientSession,
  'close' | 'ctx' | 'dispatch' | 'fatal' | 'onClientEnd' | 'remote' | 'server' | 'serverPaused' | 'socket'
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

/** A logged-in client's reads skip the stream's 'data' events (see shared-reads.ts). */
export function shareClientReads(s: SocketSession): void {
  shareReads(s.socket, onSocketRead as (this: net.Socket, length: number) => boolean);
}

function onSocketRead(this: SessionSocket, length: number): boolean {
  onSocketData.call(this, copyOfRead(length));
  return true;
}

/**
 * A bug reached by one client's bytes must cost that client only, never the process and
 * everyone else on it: the session is closed with XX000 and the error logged.
 */
function onSocketData(this: SessionSocket, chunk: Buffer): void {
  const s = this[SESSION];
  try {
    s.dispatch(chunk);
  } catch (err) {
    s.ctx.log.error({ client: s.remote, err: (err as Error).stack }, 'internal error while handling client data');
    s.fatal(SQLSTATE.INTERNAL_ERROR, 'internal error in pgtide; the connection is closed');
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
