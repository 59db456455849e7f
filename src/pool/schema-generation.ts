// How many schema changes (DDL) this process has seen committed through its server connections.
//
// PostgreSQL fixes a prepared statement's parameter types at its Parse: a statement whose
// parameter types were inferred from a table keeps them through a DROP and CREATE of that table
// with other column types (its plan is revalidated with the old types, no error). A client's
// fresh Parse of the same text on a direct connection infers the new ones. A copy pgtide shares
// between clients was parsed before the change: answering a later Parse from it told the client
// the old types (asyncpg then encoded a timestamp as a date, and the time of day was lost).
// So a statement interned before the latest schema change is not reused for a new Parse: the
// registry gives the text a new server-side name, parsed afresh (see StatementRegistry.intern),
// while the clients that hold the old statement keep its old copies, as PostgreSQL keeps theirs.

let generation = 0;

/** The current schema generation. */
export function schemaGeneration(): number {
  return generation;
}

/** Another worker's client committed DDL other clients see: that worker announces it (its
 *  schema fence) before the client hears of the commit, so a Parse here after it, which the
 *  client may have had another client send, is parsed afresh too. */
export function schemaChangedElsewhere(): void {
  generation++;
}

/** A client's transaction ended (committed, rolled back, or left by the client): if it ran
 *  DDL (or a statement pgtide did not understand), the schema may have changed. */
export function transactionEnded(s: { ranDdl: boolean }): void {
  if (!s.ranDdl) return;
  s.ranDdl = false;
  generation++;
}
