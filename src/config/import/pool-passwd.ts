// Pgpool-II's pool_passwd: `user:password` per line, where the password is `md5<32 hex>`,
// `SCRAM-SHA-256$...`, `AES<base64>` (encrypted with the key in .pgpoolkey, which an import
// does not have), `TEXT<plain>`, or, without a prefix, plain text.
import { ImportError, splitLines } from './source.js';

export type PoolPasswdKind = 'md5' | 'scram-sha-256' | 'aes' | 'plain';

export interface PoolPasswdEntry {
  user: string;
  kind: PoolPasswdKind;
  /** The secret as PgBouncer's auth_file holds it (`md5…`, `SCRAM-SHA-256$…`, plain text);
   *  for `aes`, the encrypted text, which is of no use without the key file. */
  secret: string;
  line: number;
}

export function parsePoolPasswd(text: string, file: string): PoolPasswdEntry[] {
  const entries: PoolPasswdEntry[] = [];
  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const colon = raw.indexOf(':');
    if (colon < 0) throw new ImportError(file, line, 'expected "user:password"');
    const user = raw.slice(0, colon);
    if (user === '') throw new ImportError(file, line, 'empty user name');
    entries.push({ user, ...readSecret(raw.slice(colon + 1), file, line), line });
  });
  return entries;
}

function readSecret(stored: string, file: string, line: number): { kind: PoolPasswdKind; secret: string } {
  if (stored.startsWith('md5')) {
    if (!/^md5[0-9a-f]{32}$/.test(stored))
      throw new ImportError(file, line, 'an md5 password must be "md5" and 32 lower-case hex digits');
    return { kind: 'md5', secret: stored };
  }
  if (stored.startsWith('SCRAM-SHA-256$')) return { kind: 'scram-sha-256', secret: stored };
  if (stored.startsWith('AES')) return { kind: 'aes', secret: stored.slice(3) };
  if (stored.startsWith('TEXT')) return { kind: 'plain', secret: stored.slice(4) };
  return { kind: 'plain', secret: stored };
}

/** The entries as PgBouncer auth_file text; AES entries cannot be converted and are returned
 *  as `skipped`. */
export function toUserList(entries: readonly PoolPasswdEntry[]): { text: string; skipped: string[] } {
  const quote = (value: string): string => `"${value.replaceAll('"', '""')}"`;
  const usable = entries.filter((entry) => entry.kind !== 'aes');
  return {
    text: usable.map((entry) => `${quote(entry.user)} ${quote(entry.secret)}\n`).join(''),
    skipped: entries.filter((entry) => entry.kind === 'aes').map((entry) => entry.user),
  };
}
