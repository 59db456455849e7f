// The three forms a stored password takes, in PostgreSQL's own text formats (pg_authid,
// PgBouncer's auth_file): plain text, md5 hash, SCRAM-SHA-256 secret.
import { createHash, randomBytes } from 'node:crypto';
import {
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_KEY_LENGTH,
  SCRAM_MECHANISM,
  SCRAM_SALT_LENGTH,
  clientKeyOf,
  decodeBase64,
  saltedPassword,
  serverKeyOf,
  sha256,
} from './scram.js';

export type Secret =
  | { kind: 'plain'; password: string }
  | { kind: 'md5'; hash: string } // 'md5' + 32 lowercase hex
  | { kind: 'scram'; iterations: number; salt: Buffer; storedKey: Buffer; serverKey: Buffer };

export type ScramSecret = Secret & { kind: 'scram' };

const MD5_HASH = /^md5[0-9a-f]{32}$/i;
const SCRAM_SECRET = /^SCRAM-SHA-256\$([0-9]+):([^$:]+)\$([^$:]+):([^$:]+)$/;
const MAX_STORED_ITERATIONS = 0x7fffffff;

/**
 * Classifies a stored password. Text that claims to be a SCRAM secret but is malformed
 * throws rather than becoming a plain password nobody intended. The message never
 * contains the secret.
 */
export function parseSecret(stored: string): Secret {
  if (stored.startsWith(`${SCRAM_MECHANISM}$`)) return parseScramSecret(stored);
  if (MD5_HASH.test(stored)) return { kind: 'md5', hash: stored.toLowerCase() };
  return { kind: 'plain', password: stored };
}

function parseScramSecret(stored: string): ScramSecret {
  const match = SCRAM_SECRET.exec(stored);
  if (!match)
    throw new Error('malformed SCRAM secret: expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>');
  const iterations = Number(match[1]);
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_STORED_ITERATIONS) {
    throw new Error('malformed SCRAM secret: iteration count out of range');
  }
  const salt = decodeBase64(match[2]!);
  const storedKey = decodeBase64(match[3]!);
  const serverKey = decodeBase64(match[4]!);
  if (!salt || salt.length === 0) throw new Error('malformed SCRAM secret: salt is not base64');
  if (storedKey?.length !== SCRAM_KEY_LENGTH || serverKey?.length !== SCRAM_KEY_LENGTH) {
    throw new Error(`malformed SCRAM secret: StoredKey and ServerKey must be ${SCRAM_KEY_LENGTH} bytes of base64`);
  }
  return { kind: 'scram', iterations, salt, storedKey, serverKey };
}

/** An empty plain password is none: PostgreSQL accepts it for no login, and libpq takes an
 *  empty password as none given (PgBouncer's auth_file lists a user without one as `""`). */
export function isEmptyPassword(secret: Secret): boolean {
  return secret.kind === 'plain' && secret.password === '';
}

/** 'md5' + hex(md5(password + user)): the form PostgreSQL stores for md5 passwords. */
export function md5PasswordHash(user: string, password: string): string {
  return 'md5' + createHash('md5').update(password).update(user).digest('hex');
}

/** Derives a SCRAM secret as CREATE ROLE … PASSWORD does (password SASLprep'd, see saslPrep). */
export function scramSecretFromPassword(
  password: string,
  salt: Buffer = randomBytes(SCRAM_SALT_LENGTH),
  iterations: number = SCRAM_DEFAULT_ITERATIONS,
): ScramSecret {
  const salted = saltedPassword(password, salt, iterations);
  return { kind: 'scram', iterations, salt, storedKey: sha256(clientKeyOf(salted)), serverKey: serverKeyOf(salted) };
}

/** The pg_authid text form of a SCRAM secret, e.g. for writing an auth_file. */
export function formatScramSecret(secret: ScramSecret): string {
  const b64 = (b: Buffer) => b.toString('base64');
  return `${SCRAM_MECHANISM}$${secret.iterations}:${b64(secret.salt)}$${b64(secret.storedKey)}:${b64(secret.serverKey)}`;
}
