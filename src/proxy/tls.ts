import type net from 'node:net';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { tlsServerEndPointHash } from '../auth/channel-binding.js';
import { ConfigError, readNamedFile } from '../config/problems.js';
import type { Config } from '../config/types.js';
import type { StartupReader } from '../protocol/startup.js';
import type { ServerTls } from '../pool/server-login.js';

/** The TLS context offered to clients, or null when client TLS is disabled. A file that cannot
 *  be read, or a key and certificate OpenSSL refuses, is a ConfigError naming the settings. */
export function clientTlsContext(config: Config): tls.SecureContext | null {
  if (config.client_tls_sslmode === 'disable') return null;
  const key = readNamedFile('client_tls_key_file', config.client_tls_key_file);
  const cert = readNamedFile('client_tls_cert_file', config.client_tls_cert_file);
  const ca = config.client_tls_ca_file ? readCaFile('client_tls_ca_file', config.client_tls_ca_file) : undefined;
  return secureContext('client_tls', { key, cert, ca }, [config.client_tls_key_file, config.client_tls_cert_file]);
}

function secureContext(prefix: string, options: tls.SecureContextOptions, files: string[]): tls.SecureContext {
  try {
    return tls.createSecureContext(options);
  } catch (error) {
    throw new ConfigError([
      {
        key: `${prefix}_key_file, ${prefix}_cert_file`,
        message: `TLS refuses ${files.join(', ')}: ${(error as Error).message}`,
      },
    ]);
  }
}

/** A CA file's certificates, each one read: Node's TLS skips what it cannot parse, so a file of
 *  anything else would pass here and fail every verification later. */
function readCaFile(key: string, path: string): Buffer {
  const bytes = readNamedFile(key, path);
  const blocks = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError([{ key, message: `${path} holds no PEM certificate` }]);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ConfigError([{ key, message: `${path}: ${(error as Error).message}` }]);
    }
  }
  return bytes;
}

/** The first byte of a TLS handshake record: a client that begins TLS without an SSLRequest. */
const TLS_HANDSHAKE = 0x16;
/** The ALPN protocol PostgreSQL 17+ names; direct TLS requires it. */
const ALPN_PROTOCOLS = ['postgresql'];

/** A client that begins with a TLS handshake (PostgreSQL 17's direct TLS, libpq's
 *  sslnegotiation=direct): only at the very start of its connection. */
export function opensDirectTls(chunk: Buffer, reader: StartupReader): boolean {
  return chunk[0] === TLS_HANDSHAKE && reader.atConnectionStart;
}

/**
 * pgtide's side of a client's TLS on `raw`, offering ALPN `postgresql` (a client naming other
 * protocols only fails the handshake, as PostgreSQL's does). `hello`: the bytes of a direct
 * handshake already read, handed back to the socket, where the TLS socket reads what is
 * buffered before the rest.
 */
export function acceptClientTls(
  raw: net.Socket,
  secureContext: tls.SecureContext,
  hello: Buffer | null,
  options: { requestCert?: boolean; rejectUnauthorized?: boolean } = {},
): tls.TLSSocket {
  if (hello) {
    raw.pause();
    raw.unshift(hello);
  }
  return new tls.TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: ALPN_PROTOCOLS, ...options });
}

/** Direct TLS is only valid with ALPN `postgresql`, as PostgreSQL requires. */
export function directTlsAgreed(socket: tls.TLSSocket): boolean {
  return socket.alpnProtocol === ALPN_PROTOCOLS[0];
}

export function serverTlsOptions(config: Config): ServerTls {
  const read = (key: string, file: string) => (file ? readNamedFile(key, file) : undefined);
  const options = {
    mode: config.server_tls_sslmode,
    ca: config.server_tls_ca_file ? readCaFile('server_tls_ca_file', config.server_tls_ca_file) : undefined,
    key: read('server_tls_key_file', config.server_tls_key_file),
    cert: read('server_tls_cert_file', config.server_tls_cert_file),
  };
  // The client certificate is used at each server login: a pair TLS refuses is known now.
  if (options.key && options.cert)
    secureContext('server_tls', { key: options.key, cert: options.cert }, [
      config.server_tls_key_file,
      config.server_tls_cert_file,
    ]);
  return options;
}

/** Channel-binding data for a client connection: the tls-server-end-point hash of pgtide's
 *  own certificate (null when it names no hash: no -PLUS is offered then). */
export function tlsServerEndPoint(socket: tls.TLSSocket): Buffer | null {
  return tlsServerEndPointHash(socket.getX509Certificate());
}

/** What pgtide knows of a client's certificate: whether its CA (client_tls_ca_file) signed it,
 *  and its subject's CN, which cert authentication compares with the user name. */
export interface ClientCertificate {
  valid: boolean;
  cn: string | null;
}

/** null when the client presented no certificate (pgtide asks only with client_tls_ca_file set). */
export function clientCertificate(socket: tls.TLSSocket): ClientCertificate | null {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return null;
  // A subject with several CNs comes as an array: no single name to compare, so none.
  const cn = peer.subject?.CN;
  return { valid: chainVerified(socket), cn: typeof cn === 'string' ? cn : null };
}

/**
 * Whether the client's certificate chain leads to client_tls_ca_file. Node fills `authorized`
 * only on sockets a tls.Server accepted, and its verify callback lets every certificate through
 * the handshake (rejectUnauthorized then refuses only a missing one): a TLSSocket wrapped by hand,
 * as pgtide's are, must ask its handle, as Node's own server does.
 */
function chainVerified(socket: tls.TLSSocket): boolean {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null | undefined } | null })._handle;
  return typeof handle?.verifyError === 'function' && handle.verifyError() == null;
}
