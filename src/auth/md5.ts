// md5 password authentication (AuthenticationMD5Password), both sides.
import { createHash } from 'node:crypto';
import { constantTimeEqual } from './scram.js';
import { isEmptyPassword, md5PasswordHash, type Secret } from './secret.js';

const MD5_SALT_LENGTH = 4;

/** What a client sends for AuthenticationMD5Password: 'md5' + hex(md5(hex(md5(password+user)) + salt)). */
export function md5Response(user: string, secret: Secret, salt: Buffer): string {
  if (salt.length !== MD5_SALT_LENGTH) throw new Error(`md5 salt must be ${MD5_SALT_LENGTH} bytes, got ${salt.length}`);
  let hash: string;
  if (secret.kind === 'plain') hash = md5PasswordHash(user, secret.password);
  else if (secret.kind === 'md5') hash = secret.hash;
  else throw new Error('md5 authentication needs a plain or md5 password, but only a SCRAM secret is known');
  return 'md5' + createHash('md5').update(hash.slice(3)).update(salt).digest('hex');
}

/**
 * Constant-time check of a client's md5 response; false for scram secrets (caller falls
 * back) and for an empty plain password, which PostgreSQL never accepts.
 */
export function md5Verify(user: string, secret: Secret, salt: Buffer, response: string): boolean {
  if (secret.kind === 'scram' || isEmptyPassword(secret)) return false;
  if (salt.length !== MD5_SALT_LENGTH) return false;
  return constantTimeEqual(Buffer.from(md5Response(user, secret, salt)), Buffer.from(response));
}
