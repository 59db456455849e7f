// PgBouncer's auth_query: what the rows it returns mean. The query gets the user name as $1
// and returns (user name, stored password); pure, the lookup itself is src/proxy/auth-lookup.ts.
import { parseSecret } from './secret.js';

/**
 * PgBouncer's default, schema-qualified: the role's password, NULL once VALID UNTIL has passed
 * (the expired password PgBouncer let in, CVE-2025-2291), no row for a role that cannot log in.
 */
export const DEFAULT_AUTH_QUERY =
  'SELECT rolname, CASE WHEN rolvaliduntil < pg_catalog.now() THEN NULL ELSE rolpassword END ' +
  'FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin';

/** Stored passwords are a few hundred bytes at most; more is a query returning the wrong column. */
const MAX_STORED_LENGTH = 4096;

export type AuthQueryAnswer =
  /** stored null: the user exists but has no password (NULL), so no password can match. */
  | { kind: 'found'; stored: string | null }
  | { kind: 'unknown' }
  /** A row for the user whose password is no secret pgtide can check against. */
  | { kind: 'unusable'; reason: string }
  /** The query does not answer as auth_query must: its fault, not the user's. */
  | { kind: 'failed'; reason: string };

const failed = (reason: string): AuthQueryAnswer => ({ kind: 'failed', reason: `auth_query ${reason}` });
const unusable = (reason: string): AuthQueryAnswer => ({
  kind: 'unusable',
  reason: `the password auth_query returned ${reason}`,
});

/**
 * No row, or a NULL user name, means no such user (PgBouncer's two ways of saying so). A row
 * must name the user asked for: another name means the query ignores $1.
 */
export function readAuthQueryRows(user: string, rows: readonly (readonly (string | null)[])[]): AuthQueryAnswer {
  if (rows.length === 0) return { kind: 'unknown' };
  if (rows.length > 1) return failed(`returned ${rows.length} rows for one user name; it must return at most one`);
  const row = rows[0]!;
  if (row.length !== 2) return failed(`returned ${row.length} columns; it must return two: user name, password`);
  const name = row[0] ?? null;
  const stored = row[1] ?? null;
  if (name === null) return { kind: 'unknown' };
  if (name !== user) return failed('returned a row for another user name; it must select the user named by $1');
  if (stored === null) return { kind: 'found', stored: null };
  if (stored.length > MAX_STORED_LENGTH) return unusable(`is longer than ${MAX_STORED_LENGTH} characters`);
  try {
    parseSecret(stored);
  } catch (err) {
    return unusable(`is unusable: ${(err as Error).message}`);
  }
  return { kind: 'found', stored };
}
