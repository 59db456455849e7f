import type { ErrorFields } from '../protocol/backend.js';
import * as encode from '../protocol/encode.js';

/**
 * Why a server failed a Bind or Describe of a statement pgtide prepared (or a Parse sent with its
 * told types, see ClientStatements.retypeAfterFailure), when the reason is
 * the shared server statement rather than the client's request:
 * - 'missing' (26000 naming it): the server lost it behind pgtide's back (a DEALLOCATE pgtide
 *   could not follow), so what the server holds is unknown;
 * - 'stale' (0A000 "cached plan must not change result type"): its result shape changed;
 * - 'reanalysed' (class 42, e.g. 42804 "column … is of type text but expression is of type
 *   integer"): re-planning it against changed tables failed, where a fresh Parse may not. But
 *   42P03 (the Bind's portal exists already) is the client's own, found before any planning, and
 *   so is an error raised while the Bind's parameter values are read: `$1::regclass` given a
 *   relation that does not exist fails with 42P01 there (DBD::Pg's last_insert_id after a
 *   sequence's rename). PostgreSQL 13 and later name the parameter in its context line
 *   ("unnamed portal parameter $1", in the server's language); re-planning comes after it.
 *   Taken for the statement's, it made a new version of it, whose every later Bind the
 *   client, told no shape, got 0A000 for, and moved the client off its server.
 *   XX000 "cache lookup failed for type" counts too: a parameter type the statement resolved
 *   at its Parse was dropped since (and maybe created again); PostgreSQL never resolves it again.
 */
export type StatementFailure = 'missing' | 'stale' | 'reanalysed';

const DUPLICATE_CURSOR = '42P03';
const INTERNAL_ERROR = 'XX000';
const PARAMETER_CONTEXT = /\$\d/;

export function statementFailure(error: ErrorFields, serverName: string): StatementFailure | null {
  const code = error.code;
  if (code === '26000') return error.message.includes(`"${serverName}"`) ? 'missing' : null;
  if (code === '0A000') return /cached plan must not change result type/.test(error.message) ? 'stale' : null;
  if (code === INTERNAL_ERROR) return error.message.startsWith('cache lookup failed for type') ? 'reanalysed' : null;
  if (!code.startsWith('42') || code === DUPLICATE_CURSOR) return null;
  return PARAMETER_CONTEXT.test(error['where'] ?? '') ? null : 'reanalysed';
}

/** PostgreSQL's answer to a Bind of a statement whose result shape changed since it was described. */
export const STALE_PLAN_ERROR = encode.errorResponse(
  'ERROR',
  '0A000',
  'cached plan must not change result type',
  undefined,
  undefined,
  'RevalidateCachedQuery',
);
