// IP addresses as bytes, for pg_hba.conf address fields and client addresses. Pure: no
// lookups. Only the strict numeric forms node:net accepts are addresses; anything else is
// for the caller to treat as a host name or an error.
import { isIP } from 'node:net';

export interface IpBytes {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** The address as 4 or 16 bytes; null unless it is a numeric IPv4 or IPv6 address (no zone). */
export function parseIp(text: string): IpBytes | null {
  const family = isIP(text);
  if (family === 4) return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
  if (family !== 6 || text.includes('%')) return null;
  const bytes = ipv6Bytes(text);
  return bytes === null ? null : { family: 6, bytes };
}

/**
 * A client on a dual-stack socket shows up as ::ffff:a.b.c.d. PostgreSQL listens on IPv4 and
 * IPv6 separately, so the same client reaches it as a.b.c.d: unwrap it so it matches (and is
 * named in messages) as it would be there.
 */
export function unmapIpv4(ip: IpBytes): IpBytes {
  if (ip.family !== 6) return ip;
  const b = ip.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return ip;
  if (b[10] !== 0xff || b[11] !== 0xff) return ip;
  return { family: 4, bytes: b.slice(12) };
}

export function formatIp(ip: IpBytes): string {
  if (ip.family === 4) return ip.bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip.bytes[i]! << 8) | ip.bytes[i + 1]!).toString(16));
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

/** A mask of `bits` leading ones; null when bits is out of range for the family. */
export function prefixMask(family: 4 | 6, bits: number): Uint8Array | null {
  const length = family === 4 ? 4 : 16;
  if (!Number.isInteger(bits) || bits < 0 || bits > length * 8) return null;
  const mask = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const remaining = bits - i * 8;
    mask[i] = remaining >= 8 ? 0xff : remaining <= 0 ? 0 : (0xff << (8 - remaining)) & 0xff;
  }
  return mask;
}

/** (client XOR network) AND mask is zero in every byte: PostgreSQL's test, any mask shape. */
export function inNetwork(client: IpBytes, network: IpBytes, mask: Uint8Array): boolean {
  if (client.family !== network.family || mask.length !== client.bytes.length) return false;
  for (let i = 0; i < mask.length; i++) {
    if (((client.bytes[i]! ^ network.bytes[i]!) & mask[i]!) !== 0) return false;
  }
  return true;
}

export function sameIp(a: IpBytes, b: IpBytes): boolean {
  return a.family === b.family && a.bytes.every((byte, i) => byte === b.bytes[i]);
}

function ipv6Bytes(text: string): Uint8Array | null {
  let head = text;
  let tailV4: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) takes the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groupsOf(halves[0]!);
  const right = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...left, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  if (tailV4.length === 4) bytes.set(tailV4, 12);
  return bytes;
}
