// A throw-away self-signed server certificate for tests that need TLS.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `server.key` and `server.crt` (CN=localhost, valid one day) into `dir`; the key is
 *  readable by its owner alone, as PostgreSQL and libpq require. `keyOptions`: openssl's key
 *  choice (RSA 2048 unless given, e.g. an EC curve). */
export function selfSignedCertificate(
  dir: string,
  keyOptions = ['-newkey', 'rsa:2048'],
): { key: string; cert: string } {
  const key = join(dir, 'server.key');
  const cert = join(dir, 'server.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', ...keyOptions, '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
    { stdio: 'ignore' },
  );
  chmodSync(key, 0o600);
  return { key, cert };
}
