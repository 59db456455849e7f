// What a client session's parts share: the phase it is in, and small helpers more than one phase uses.
import type { ServerPool } from '../../pool/pool.js';
import type { LendingPool, LinkedServer } from '../../pool/linked-server.js';
import type { BackendConfig } from '../../config/types.js';
import type { ClientSession } from '../client-session.js';
import { TransactionStatus } from '../../protocol/types.js';

/** Where a client session is: logging in (Startup to Login; Lookup while auth_query runs), between
 *  transactions (Ready), waiting for a server (see Wait), linked to one, in the admin console, or gone. */
export const enum State {
  Startup,
  Tls,
  Lookup,
  Auth,
  Login,
  Ready,
  Waiting,
  Linked,
  Admin,
  Closed,
}

/** What a client in State.Waiting waits for. */
export const enum Wait {
  /** A server from its pool, or a primary to be known (the janitor may route it afresh). */
  Pool,
  /** A server taken for it is being readied: the standby's replay of its last write, its
   *  settings applied, a deferred BEGIN. Routed afresh, it gives that server back. */
  SetUp,
  /** pgtide's own query on the server holding its session, between its transactions (settings
   *  read back, pin probe): it must get that server back, so nothing routes it afresh. */
  OwnQuery,
}

/** Where the client's COPY IN stands, as its scanned messages and its server's answers tell. */
export const enum CopyIn {
  None,
  /** The server entered COPY IN and the client's CopyDone or CopyFail is still to come: the
   *  server ignores the client's Syncs and Flushes until then. */
  Running,
  /** The client ended the COPY data of its last Query or Execute before its server said that it
   *  entered COPY IN (asyncpg writes the Query, its CopyData and its CopyDone at once): that
   *  COPY IN is over by the time anything after it is read. */
  EndedEarly,
}

/** Startup parameters before the startup packet and after the login, which reads them. */
export const NO_PARAMS: ReadonlyMap<string, string> = new Map();

/**
 * The empty list of client chunks (queued, deferred, sent on a link) that every session starts
 * with and goes back to: one array for all, frozen, so that a session owns a list only while it
 * holds chunks, and an idle client none (32 bytes a list). Read it freely; add to a list with
 * `appended`; empty one by assigning NO_CHUNKS, never in place: a list handed on stays whole.
 */
export const NO_CHUNKS: readonly Buffer[] = Object.freeze([]);

/** `list` with `chunk` at its end: the session's own list, made with its first chunk. */
export function appended(list: readonly Buffer[], chunk: Buffer): readonly Buffer[] {
  if (list === NO_CHUNKS) return [chunk];
  (list as Buffer[]).push(chunk);
  return list;
}

/** Idle and clean, a server can serve others; a failure inside pgtide's own transaction leaves it aborted. */
export function releaseAfterFailure(pool: LendingPool, server: LinkedServer, why: string): void {
  if (server.isClosed) return;
  if (server.txStatus === TransactionStatus.Idle) pool.release(server);
  else server.close(why);
}

/** What of the session poolOf uses. */
export type PoolsSession = Pick<
  ClientSession,
  'ctx' | 'database' | 'firstBackend' | 'firstPool' | 'otherPools' | 'user'
>;

/** This client's pool on a backend; remembered, so routing builds no lookup key per transaction. */
export function poolOf(s: PoolsSession, backend: BackendConfig): ServerPool {
  if (backend === s.firstBackend) return s.firstPool!;
  let pool = s.otherPools?.get(backend);
  if (!pool) {
    pool = s.ctx.pools.pool(s.database, s.user, backend);
    pool.hold();
    if (s.firstBackend === null) {
      s.firstBackend = backend;
      s.firstPool = pool;
    } else {
      (s.otherPools ??= new Map()).set(backend, pool);
    }
  }
  return pool;
}
