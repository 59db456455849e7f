// Which clients' current transaction changed the schema other clients see: DDL other than on
// their own temporary tables. When such a transaction ends, every read_your_writes client's
// reads wait for its position on the standbys (see ReplayTracker.schemaFence); a temporary
// table, which many applications create per request, must not move that fence. Kept aside in
// a WeakSet rather than a per-session field: few sessions ever run DDL.
import { someStatement, type Classification } from '../../sql/index.js';

const changers = new WeakSet<object>();

/** `c` (a statement of the session's transaction) changes the schema: note it if others see it. */
export function noteSharedDdl(s: object, c: Classification): void {
  if (someStatement(c, changesSharedSchema)) changers.add(s);
}

/** Whether the session's current transaction changed the schema others see. */
export function changesSharedSchemaNow(s: object): boolean {
  return changers.has(s);
}

/** Whether the session's transaction, now ended, changed the schema others see; forgets it. */
export function tookSharedDdl(s: object): boolean {
  return changers.delete(s);
}

function changesSharedSchema(c: Classification): boolean {
  return (c.kind === 'ddl' || c.kind === 'other') && c.sessionState !== 'temp_table';
}
