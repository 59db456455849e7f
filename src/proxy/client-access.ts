// Which authentication a new client gets: auth_type, or with hba_file the method of the first
// pg_hba.conf line that matches it. A client no line admits (or a `reject` line) is refused
// with PostgreSQL's words, before any password exchange, as PostgreSQL does.
import { networkInterfaces } from 'node:os';
import { clientAddress, hbaRefusal, matchHba, type HbaMethod, type HostNetwork } from '../auth/hba.js';
import { parseIp } from '../auth/hba-address.js';
import type { AuthType } from '../config/types.js';
import type { ProxyContext } from './context.js';

export type Access = { ok: true; authType: AuthType } | { ok: false; message: string; line: string };

const AUTH_TYPE_OF: Record<Exclude<HbaMethod, 'reject'>, AuthType> = {
  trust: 'trust',
  password: 'plain',
  md5: 'md5',
  'scram-sha-256': 'scram-sha-256',
};

/** remoteAddress: the socket's (undefined for a unix socket); ssl: the client is on TLS. */
export function checkAccess(ctx: ProxyContext, remoteAddress: string | undefined, ssl: boolean, user: string, database: string): Access {
  const hba = ctx.hba;
  if (hba === null) return { ok: true, authType: ctx.config.auth_type };
  const conn = { address: clientAddress(remoteAddress), ssl, user, database, replication: false };
  // Read at each login that needs them, as PostgreSQL does: interfaces come and go.
  const rule = matchHba(hba, conn, hba.needsHostNetworks ? hostNetworks() : []);
  if (rule !== null && rule.method !== 'reject') return { ok: true, authType: AUTH_TYPE_OF[rule.method] };
  return { ok: false, message: hbaRefusal(conn, rule), line: rule === null ? 'none' : `${rule.file}:${rule.line}` };
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
