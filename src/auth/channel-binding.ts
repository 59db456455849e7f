// Channel binding of type tls-server-end-point (RFC 5929 §4.1): the hash of the TLS server's
// certificate, made with the hash of the certificate's signature algorithm (MD5 and SHA-1
// become SHA-256). Both ends of a SCRAM-SHA-256-PLUS exchange put it in the proof, so a man in
// the middle, who must present another certificate, cannot complete it.
import { createHash, type X509Certificate } from 'node:crypto';

/** null without a certificate, or when its signature algorithm names no such hash (Ed25519,
 *  RSA-PSS): PostgreSQL offers no channel binding then either. */
export function tlsServerEndPointHash(certificate: X509Certificate | undefined): Buffer | null {
  const algorithm = certificate?.signatureAlgorithm?.toLowerCase() ?? '';
  const hash = /sha-?512/.test(algorithm)
    ? 'sha512'
    : /sha-?384/.test(algorithm)
      ? 'sha384'
      : /sha-?224/.test(algorithm)
        ? 'sha224'
        : /sha-?256|sha-?1|md5/.test(algorithm)
          ? 'sha256'
          : null;
  return certificate && hash ? createHash(hash).update(certificate.raw).digest() : null;
}
