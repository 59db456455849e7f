import fs from 'node:fs';
import tls from 'node:tls';
import type { Config } from '../config/types.js';
import type { ServerTls } from '../pool/server-connection.js';

/** The TLS context offered to clients, or null when client TLS is disabled. */
export function clientTlsContext(config: Config): tls.SecureContext | null {
  if (config.client_tls_sslmode === 'disable') return null;
  return tls.createSecureContext({
    key: fs.readFileSync(config.client_tls_key_file),
    cert: fs.readFileSync(config.client_tls_cert_file),
    ca: config.client_tls_ca_file ? fs.readFileSync(config.client_tls_ca_file) : undefined,
  });
}

export function serverTlsOptions(config: Config): ServerTls {
  const read = (file: string) => (file ? fs.readFileSync(file) : undefined);
  return {
    mode: config.server_tls_sslmode,
    ca: read(config.server_tls_ca_file),
    key: read(config.server_tls_key_file),
    cert: read(config.server_tls_cert_file),
  };
}
