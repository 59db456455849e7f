// Which authentication a new client gets: auth_type, or with hba_file the method of the first
// pg_hba.conf line that matches it. A client no line admits (or a `reject` line) is refused
// with PostgreSQL's words, before any password exchange, as PostgreSQL does; so is one without
// the client certificate a `cert` or `clientcert` line asks for.
import { networkInterfaces } from 'node:os';
import { clientAddress, hbaRefusal, matchHba, type HbaMethod, type HostNetwork } from '../auth/hba.js';
import { parseIp } from '../auth/hba-address.js';
import type { ExchangeType } from '../config/types.js';
import type { ProxyContext } from './context.js';
import type { ClientCertificate } from './tls.js';

/** certMismatch: clientcert=verify-full and the certificate's CN is not the user; the password
 *  exchange then fails at its end, as PostgreSQL's does. */
export type Access =
  | { ok: true; authType: ExchangeType; certMismatch: boolean; byCertificate?: true }
  | { ok: false; message: string; line: string };

const AUTH_TYPE_OF: Record<Exclude<HbaMethod, 'reject' | 'cert'>, ExchangeType> = {
  trust: 'trust',
  password: 'plain',
  md5: 'md5',
  'scram-sha-256': 'scram-sha-256',
};

/** What a login's access depends on. */
export interface ClientFacts {
  /** The socket's; undefined for a unix socket. */
  remoteAddress: string | undefined;
  /** The client is on TLS. */
  ssl: boolean;
  user: string;
  database: string;
  certificate: ClientCertificate | null;
  /** The roles the user is or belongs to, looked up when hba_file has +group or samerole lines. */
  roles: ReadonlySet<string>;
}

export function checkAccess(ctx: ProxyContext, client: ClientFacts): Access {
  const { user, certificate } = client;
  const hba = ctx.hba;
  if (hba === null) {
    const type = ctx.config.auth_type;
    return type === 'cert'
      ? certAccess(certificate, user, 'auth_type')
      : { ok: true, authType: type, certMismatch: false };
  }
  const conn = {
    address: clientAddress(client.remoteAddress),
    ssl: client.ssl,
    user,
    database: client.database,
    replication: false,
    roles: client.roles,
  };
  // Read at each login that needs them, as PostgreSQL does: interfaces come and go.
  const rule = matchHba(hba, conn, hba.needsHostNetworks ? hostNetworks() : []);
  const line = rule === null ? 'none' : `${rule.file}:${rule.line}`;
  if (rule === null || rule.method === 'reject') return { ok: false, message: hbaRefusal(conn, rule), line };
  if (rule.method === 'cert') return certAccess(certificate, user, line);
  if (rule.clientCert === null) return { ok: true, authType: AUTH_TYPE_OF[rule.method], certMismatch: false };
  if (!certificate?.valid) return { ok: false, message: NO_CERTIFICATE, line };
  const certMismatch = rule.clientCert === 'verify-full' && certificate.cn !== user;
  if (certMismatch && rule.method === 'trust')
    return { ok: false, message: `"trust" authentication failed for user "${user}"`, line };
  return { ok: true, authType: AUTH_TYPE_OF[rule.method], certMismatch };
}

// PostgreSQL's words; the CN of a certificate that names another user is logged by the caller.
const NO_CERTIFICATE = 'connection requires a valid client certificate';

/** cert: a certificate client_tls_ca_file signed, whose CN is the user, is the whole proof. */
function certAccess(certificate: ClientCertificate | null, user: string, line: string): Access {
  if (!certificate?.valid) return { ok: false, message: NO_CERTIFICATE, line };
  if (certificate.cn !== user)
    return { ok: false, message: `certificate authentication failed for user "${user}"`, line };
  return { ok: true, authType: 'trust', certMismatch: false, byCertificate: true };
}

function hostNetworks(): HostNetwork[] {
  const out: HostNetwork[] = [];
  for (const addresses of Object.values(networkInterfaces())) {
    for (const info of addresses ?? []) {
      const address = parseIp(info.address);
      const mask = parseIp(info.netmask);
      if (address !== null && mask !== null && mask.family === address.family) out.push({ address, mask: mask.bytes });
    }
  }
  return out;
}
