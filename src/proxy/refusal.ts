// A new client refused (max_client_conn, a drain), told why where a client library shows it.
// libpq (psql, psycopg) opens with an SSLRequest under the default sslmode=prefer: an
// ErrorResponse in place of the one-byte answer reads as "server sent an error response during
// SSL exchange". So the refused connection gets the SSL answer it asked for first (S with TLS,
// as the session would, or N), and the FATAL follows its startup message, where PostgreSQL
// sends its own. A CancelRequest is served, not refused: it is no client.
import type net from 'node:net';
import * as encode from '../protocol/encode.js';
import { SQLSTATE } from '../protocol/encode.js';
import { StartupReader } from '../protocol/startup.js';
import type { ProxyContext } from './context.js';
import { handleCancelRequest } from './peer-cancel.js';
import { acceptClientTls, directTlsAgreed, opensDirectTls } from './tls.js';

/** A refused client gets this long to send its startup message; it holds no session meanwhile. */
const REFUSAL_TIMEOUT_MS = 5000;

/** Refused connections being answered at once (each for a few ms, or up to REFUSAL_TIMEOUT_MS
 *  when silent): within the 100 descriptors clientCapacity keeps spare. Beyond, a flood is
 *  closed unanswered rather than take the descriptors server connections need. */
const MAX_REFUSING = 100;
let refusing = 0;

export function refuseAfterStartup(raw: net.Socket, ctx: ProxyContext, sqlstate: string, message: string): void {
  if (refusing >= MAX_REFUSING) return void raw.destroy();
  refusing++;
  const reader = new StartupReader();
  let socket: net.Socket = raw;
  const timer = setTimeout(() => socket.destroy(), REFUSAL_TIMEOUT_MS);
  timer.unref();
  const finish = (answer?: Buffer) => {
    socket.removeListener('data', onData);
    if (answer) socket.end(answer);
    else socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  };
  // The client ended its side before its startup packet (sockets are half-open, see listener.ts).
  const onEnd = () => finish();
  const refuse = (code: string, text: string) => {
    ctx.pools.countError(code);
    finish(encode.errorResponse('FATAL', code, text));
  };
  // The refusal goes over TLS too, as the session would have answered; hello as in acceptClientTls.
  const startTls = (hello: Buffer | null) => {
    reader.tlsStarted();
    socket.removeListener('data', onData);
    const secure = acceptClientTls(socket, ctx.clientTls!, hello);
    socket = secure;
    socket.on('error', () => {});
    socket.on('data', onData);
    socket.once('end', onEnd);
    if (hello) secure.once('secure', () => directTlsAgreed(secure) || finish());
  };
  const onData = (chunk: Buffer) => {
    // Direct TLS (see login.ts), closed without a word when pgtide has no client TLS.
    if (opensDirectTls(chunk, reader)) return ctx.clientTls ? startTls(chunk) : finish();
    const got = reader.push(chunk);
    if (!got) return;
    const packet = got.packet;
    switch (packet.kind) {
      case 'ssl':
      case 'gssenc':
        if (got.consumed < chunk.length) return refuse(SQLSTATE.PROTOCOL_VIOLATION, 'unexpected data after SSLRequest');
        if (packet.kind === 'ssl' && ctx.clientTls) {
          socket.write('S');
          return startTls(null);
        }
        socket.write('N');
        return;
      case 'cancel':
        // Cancels are not clients: PostgreSQL serves them beyond max_connections and during its
        // smart shutdown too. Closed once the cancel is sent (see handleCancelRequest).
        socket.removeListener('data', onData);
        return handleCancelRequest(ctx, packet.pid, packet.secret, () => finish());
      case 'error':
        return refuse(packet.sqlstate, packet.message);
      case 'startup':
        clearTimeout(timer);
        return refuse(sqlstate, message);
    }
  };
  raw.on('error', () => {});
  raw.on('close', () => {
    refusing--;
    clearTimeout(timer);
  });
  raw.on('data', onData);
  raw.once('end', onEnd);
}
