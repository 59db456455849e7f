/** A call of pg_terminate_backend (`terminate`) or pg_cancel_backend: its pid, given as an
 *  integer constant (`pid`, `param` 0) or as parameter `$param` of the Bind. */
export interface BackendSignal {
  readonly terminate: boolean;
  readonly pid: number;
  readonly param: number;
}

/** Where a statement may run: 'read' = any node, 'write' = the primary only. */
export type Route = 'read' | 'write';

export const STATEMENT_KINDS = [
  'select',
  'dml',
  'ddl',
  'utility',
  'explain',
  'copy',
  'show',
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'two_phase',
  'set_transaction',
  'set',
  'reset',
  'discard',
  'pgtide',
  'listen',
  'notify',
  'prepare',
  'execute',
  'deallocate',
  'cursor',
  // several statements in one Query: see `statements`
  'multi',
  // only whitespace, comments or semicolons (the server answers EmptyQueryResponse)
  'empty',
  // not understood (unknown command, lexical or syntax error): always a write
  'other',
] as const;

export type StatementKind = (typeof STATEMENT_KINDS)[number];

/** Effects that outlive the transaction: the session must stay on its server or be replayed. */
export type SessionState =
  | 'temp_table'
  | 'hold_cursor'
  | 'advisory_lock'
  | 'sql_prepare'
  | 'listen'
  | 'unlisten'
  | 'load'
  | 'set_config'
  /** setseed(): random() goes on from it in this backend only, and no reset ends it. */
  | 'random_seed'
  | 'transaction_characteristics';

/**
 * The session state a statement leaves, having `current` so far and making `next`: state that
 * pins the client (a lock, a seed, a temporary table) wins over set_config, which pins nothing
 * (kysely's migration lock, `SELECT pg_advisory_lock(…)` after a `set_config`, was left on a
 * pooled server held by no client).
 */
export function withSessionState(current: SessionState | undefined, next: SessionState): SessionState {
  return current === undefined || (current === 'set_config' && next !== 'set_config') ? next : current;
}

export type Isolation = 'serializable' | 'repeatable read' | 'read committed' | 'read uncommitted';

export interface SettingChange {
  /** Lower-cased parameter name (`SET TIME ZONE` → 'timezone', `SET NAMES` → 'client_encoding'). */
  readonly name: string;
  /**
   * The value as SQL text, ready for `SET name TO <value>` (e.g. `a, b`, `'x'`);
   * null for RESET and `TO DEFAULT`, and for set_config with a value that is not a literal.
   */
  readonly value: string | null;
  /** SET LOCAL / set_config(..., true): lasts until the end of the transaction. */
  readonly local: boolean;
}

/**
 * A statement pgtide did not read (its text was too large to hold; see AssemblyBudget):
 * it runs on the primary, and as code pgtide cannot see into, so its settings are read back
 * and its session state probed afterwards.
 */
export const UNSEEN_STATEMENT: Classification = Object.freeze({
  route: 'write',
  kind: 'other',
  parsed: false,
  opaque: true,
});

export interface Classification {
  readonly route: Route;
  readonly kind: StatementKind;
  /** True when the result needed the real parser (fresh or cached), for stats. */
  readonly parsed: boolean;
  /** Set by a leading `pgtide: primary|standby` comment; it already decided `route`. */
  readonly hint?: 'primary' | 'standby';
  /** BEGIN / START / SET TRANSACTION ... READ ONLY (true) or READ WRITE (false). */
  readonly readOnly?: boolean;
  readonly isolation?: Isolation;
  /** COMMIT / ROLLBACK AND CHAIN. */
  readonly chain?: boolean;
  /** Prepared statement, cursor, savepoint or channel name the statement acts on. */
  readonly name?: string;
  /** The ALL / `*` form: RESET ALL, DISCARD ALL, DEALLOCATE ALL, CLOSE ALL, UNLISTEN *. */
  readonly all?: boolean;
  /** DISCARD target. */
  readonly discard?: 'all' | 'plans' | 'sequences' | 'temp';
  readonly set?: SettingChange;
  /** The lower-cased names of the set_config calls after the first in the statement (null: a
   *  name not written out): their settings are followed too. */
  readonly otherSets?: readonly (string | null)[];
  /** Present when the statement calls set_config: true when every call names its setting,
   *  passes a literal or a parameter as its value and the literal `true` as is_local, so that
   *  none outlasts the transaction (bar a custom setting's placeholder). */
  readonly localSets?: boolean;
  /** Sets, resets or discards settings, or calls set_config (the fields above say how): a
   *  statement without it leaves the session's settings alone, one field test for most. */
  readonly touchesSettings?: true;
  readonly sessionState?: SessionState;
  /** COPY ... TO STDOUT: the server answers with CopyOutResponse. */
  readonly copyOut?: boolean;
  /** EXECUTE whose arguments call nothing (no function, no subquery): it may run wherever the
   *  statement it runs may, which only whoever tracked that statement's PREPARE knows. */
  readonly constantArguments?: true;
  /** `SET pgtide.route = ...`: read by pgtide, and also run by the server as a placeholder
   *  setting, so its value follows PostgreSQL's grammar (`'primary'` needs its quotes). */
  readonly pgtideRoute?: 'primary' | 'standby' | 'auto';
  /**
   * Runs code the classifier cannot see into (DO, CALL, a call of a function that is not a
   * known built-in), which may change settings or leave session state behind.
   */
  readonly opaque?: true;
  /**
   * Calls currval or lastval, which answer from what nextval did earlier in the server's
   * session: the client's own write there, in transaction pooling (see handoff.ts, lacksSequences).
   */
  readonly readsSequences?: true;
  /**
   * Goes to the primary for the session state it takes, drops or reads there (LISTEN and
   * UNLISTEN; advisory locks, currval, lastval, set_config, setseed as its only writing calls),
   * yet writes no row: read_your_writes has no write position to wait for after it.
   */
  readonly writesNothing?: true;
  /** Reads pg_prepared_statements, which pgtide answers with the client's own statements (see
   *  sql/statement-list.ts): the client's messages go through its statement link. */
  readonly readsStatementList?: true;
  /** Calls of pg_terminate_backend or pg_cancel_backend whose pid is a constant or a parameter:
   *  pgtide acts on a pid it told one of its clients (see proxy/backend-signals.ts). */
  readonly signals?: readonly BackendSignal[];
  /**
   * DROP DATABASE, ALTER DATABASE … RENAME / SET TABLESPACE, CREATE DATABASE … TEMPLATE: the
   * database that must have no session for the statement to run. pgtide closes its own idle
   * connections to it first (its pools would otherwise make PostgreSQL refuse with 55006).
   */
  readonly freesDatabase?: string;
  /** CREATE, ALTER or DROP of a function, procedure, aggregate, routine, extension or schema:
   *  what pgtide learned of functions' volatility may no longer hold (see FunctionCatalog). */
  readonly changesFunctions?: true;
  /**
   * Tier 2 has not read the statement yet (the parser is reading it, or could not be asked):
   * `route` is 'write' until it has, and a caller that keeps this result (a prepared statement)
   * classifies the text again to route by what the parser learned.
   */
  readonly awaitingParser?: true;
  /** Function names whose write-ness is unknown; `route` is 'write' until they are learned. */
  readonly functions?: readonly string[];
  readonly multi?: boolean;
  /** Per-statement results when `multi`. */
  readonly statements?: readonly Classification[];
  /** Why the statement was not understood (lexical or syntax error). */
  readonly error?: string;
}

/** Whether `test` holds for the statement or, for a Query of several, for any of them. */
export function someStatement(c: Classification, test: (one: Classification) => boolean): boolean {
  return c.statements !== undefined ? c.statements.some(test) : test(c);
}

/**
 * The kinds of statement with rows whose result shape PostgreSQL never checks again when a
 * prepared one runs: EXECUTE, FETCH (DECLARE, also 'cursor', returns none) and SHOW are not
 * analysed again (plancache.c's RevalidateCachedQuery skips what stmt_requires_parse_analysis
 * calls trivial), their description is made as they run. The same statement gives the rows of
 * the statement EXECUTEd or the cursor FETCHed now, never 0A000 "cached plan must not change
 * result type".
 */
const SHAPE_UNCHECKED: ReadonlySet<StatementKind> = new Set(['execute', 'cursor', 'show']);

/** Whether PostgreSQL fails a prepared statement of this text whose result shape changed (see SHAPE_UNCHECKED). */
export function resultShapeChecked(c: Classification): boolean {
  return !SHAPE_UNCHECKED.has(c.kind);
}
