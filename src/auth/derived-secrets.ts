// SCRAM secrets derived from plain-text passwords, kept between logins. A plain password
// (an auth_file line, a plain auth_query answer) needs a PBKDF2 derivation of 4096 rounds
// before pgtide can verify a proof: about a millisecond of CPU, most of what a login costs
// a client that connects per transaction. The salt pgtide uses for such a user is fixed per
// user, so the derived secret is fixed too and can be kept.
import type { ScramSecret } from './secret.js';
import { scramSecretFromPassword } from './secret.js';

/** auth_query can name any role of the server: the cache must not grow with them. */
export const DERIVED_SECRETS_LIMIT = 1024;

const secrets = new Map<string, ScramSecret>();

/**
 * The secret `scramSecretFromPassword(password, salt)` gives, derived once per salt and
 * password. Keyed by both, so a reload that changes a password (or a salt key) derives anew
 * rather than verifying against the old one.
 */
export function derivedSecret(password: string, salt: Buffer): ScramSecret {
  const key = `${salt.toString('base64')}\0${password}`;
  const known = secrets.get(key);
  if (known !== undefined) return known;
  const secret = scramSecretFromPassword(password, salt);
  if (secrets.size >= DERIVED_SECRETS_LIMIT) {
    // Insertion order: the first key is the oldest entry.
    for (const oldest of secrets.keys()) {
      secrets.delete(oldest);
      break;
    }
  }
  secrets.set(key, secret);
  return secret;
}

/** How many secrets are kept; for tests. */
export function derivedSecretCount(): number {
  return secrets.size;
}
