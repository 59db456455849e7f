// TLS towards a server: what its answer to SSLRequest means under server_tls_sslmode, and the
// TLS client that then takes over the socket.
import net from 'node:net';
import tls from 'node:tls';
import type { ServerTlsMode } from '../config/types.js';
import { ServerLoginError, type ServerLogin } from './server-login.js';

/** Go on in plain text, start TLS, or fail the login: what the server's answer to SSLRequest means. */
export function sslAnswer(answer: Buffer, mode: ServerTlsMode, server: string): 'plain' | 'tls' | ServerLoginError {
  // Bytes beyond the one-byte answer would be injected by a man in the middle.
  if (answer.length !== 1) return new ServerLoginError('server sent unexpected data after SSLRequest', null, false);
  if (answer[0] === 0x4e) {
    if (mode === 'prefer') return 'plain';
    return new ServerLoginError(`server ${server} does not support TLS (server_tls_sslmode=${mode})`, null, false);
  }
  if (answer[0] !== 0x53) return new ServerLoginError('server sent an invalid answer to SSLRequest', null, false);
  return 'tls';
}

/** The TLS client over `plain`, checking the certificate as far as server_tls_sslmode asks. */
export function startTls(plain: net.Socket, login: ServerLogin): tls.TLSSocket {
  const { mode, ca, key, cert } = login.tls;
  const host = login.endpoint.host;
  return tls.connect({
    socket: plain,
    ca,
    key,
    cert,
    rejectUnauthorized: mode === 'verify-ca' || mode === 'verify-full',
    servername: net.isIP(host) ? undefined : host,
    checkServerIdentity: mode === 'verify-full' ? tls.checkServerIdentity : () => undefined,
  });
}
