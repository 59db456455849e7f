// Session state that ties a client to its server connection (temporary tables, WITH HOLD
// cursors, session advisory locks, SQL PREPARE, LISTEN, SET SESSION AUTHORIZATION): how a
// statement is known to leave it, what pin_on_session_state = error sends instead, and the
// probe that tells when it is gone.
import * as encode from '../../protocol/encode.js';
import type { Classification, SessionState } from '../../sql/index.js';
import { literal } from '../../sql/quote.js';
import type { ClientSession } from '../client-session.js';

export type KeptState = SessionState | 'session_authorization';

/** Session state that a server connection cannot hand to another client, and what users call it. */
const SESSION_STATE_NAMES: Partial<Record<SessionState | 'session_authorization', string>> = {
  session_authorization: 'SET SESSION AUTHORIZATION',
  temp_table: 'a temporary table',
  hold_cursor: 'a WITH HOLD cursor',
  advisory_lock: 'a session advisory lock',
  sql_prepare: 'an SQL PREPARE',
  listen: 'LISTEN',
  random_seed: 'setseed()',
};

export function keptSessionState(c: Classification): KeptState | null {
  // The session user: not a setting pgtide can read back or move (superusers only). DEFAULT
  // (or RESET) is the user the server connection logged in as: nothing of the client's.
  if (c.set?.name === 'session_authorization' && !c.set.local && c.set.value !== null) return 'session_authorization';
  if (c.statements) {
    for (const s of c.statements) {
      const kept = keptSessionState(s);
      if (kept !== null) return kept;
    }
    return null;
  }
  return c.sessionState !== undefined && SESSION_STATE_NAMES[c.sessionState] !== undefined ? c.sessionState : null;
}

/** A statement the server fails with 0A000, saying why pgtide did not send the client's. */
function refusalBlock(what: string): string {
  const message = `${what} would tie this session to one server connection, which pin_on_session_state = error forbids`;
  return `DO $pgtide$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = ${literal(message)},
    HINT = 'Use pool_mode = session for this client, or set pin_on_session_state = pin.'; END $pgtide$`;
}

/** What users call the state `state`. */
export function keptStateName(state: KeptState): string {
  return SESSION_STATE_NAMES[state] ?? state;
}

/** pin_on_session_state = error: a refused Query becomes one the server fails, so that the
 *  error ends the transaction exactly as any failed statement does. */
export function refusedQuery(what: string): Buffer {
  return encode.query(refusalBlock(what));
}

/** Runs under the client's search_path: every name and operator is qualified. Named statements
 *  not made by pgtide (SQL PREPARE, or protocol ones pgtide could not map) count. Every object
 *  of the session's temporary schema (table, view, sequence, function, type, operator …)
 *  depends on that schema: one look in pg_depend's index finds them all, where pg_class has no
 *  index by schema and a scan of it cost a database of many tables milliseconds. */
export const SESSION_STATE_PROBE = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_depend
    WHERE refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass AND refobjid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema())
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE is_holdable)
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid())
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE from_sql OR pg_catalog.left(name, 7) OPERATOR(pg_catalog.<>) 'pgtide_')
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels())`;

/** What pin() uses of the session. */
export type PinSession = Pick<
  ClientSession,
  'pinned' | 'stateMayEnd' | 'pool' | 'ctx' | 'remote' | 'user' | 'database'
>;

/**
 * Session state that cannot move between server connections (temporary tables, WITH HOLD
 * cursors, session advisory locks, SQL PREPARE, LISTEN) pins the client to its server until
 * the state is gone or the client leaves.
 */
export function pin(s: PinSession): void {
  s.pinned = true;
  // The probe after this transaction tells whether the state was made (its statement may fail).
  s.stateMayEnd = true;
  s.pool!.stats.pins++;
  s.ctx.log.info(
    { client: s.remote, user: s.user, database: s.database },
    'client pinned to its server connection by session state',
  );
}
