// A pool whose clients wait only because a cap it shares with other pools (max_db_connections,
// max_user_connections) is full takes the place of another pool's server: that server is closed,
// and the waiting pool logs in once its backend has left (cap-count.ts). Without this the waiting
// clients would sit until query_wait_timeout while the slot idles for server_idle_timeout.
//
// Only a server that no client holds is taken: one idle in its pool (logged in, no transaction),
// or one its client has just released. Taking any such server at every turn would let two busy
// pools close each other's servers back and forth, each login paying for the last one; so a
// pool that has clients gives up a server only
// - when that makes the two pools more even (it holds at least two more than the waiting pool),
//   where the servers settle at most one apart: no server goes back and forth;
// - or when the waiting pool has none at all, so that no pool is shut out of its backend:
//   from a busy pool (clients waiting too) only a server it has had for MIN_TURN_MS, so that
//   pools taking turns under a cap too small for them all change hands at most that often;
// - or, from a pool with no client waiting, a server idle for UNNEEDED_AFTER_MS, which its
//   pool's recent load did not need.
// A pool no client routes to (its clients gone, or auth_query's) gives up every free server.
import type { ServerConnection } from './server-connection.js';

export const MIN_TURN_MS = 1000;
export const UNNEEDED_AFTER_MS = 1000;

/** What eviction reads of a pool. */
export interface EvictablePool {
  readonly servers: { readonly size: number };
  readonly holderCount: number;
  readonly waitingCount: number;
  /** Its longest-idle server, or undefined when none is idle. */
  oldestIdle(): ServerConnection | undefined;
}

/** What eviction reads of a server. */
export interface EvictableServer {
  readonly createdAt: number;
  readonly lastUsedAt: number;
}

/** May `owner` give up `server` (idle, or just released by its client) so that `waiting`
 *  can open one? */
export function mayGiveUp(owner: EvictablePool, waiting: EvictablePool, server: EvictableServer, now: number): boolean {
  if (owner.holderCount === 0 || owner.servers.size >= waiting.servers.size + 2) return true;
  if (owner.waitingCount > 0) return waiting.servers.size === 0 && now - server.createdAt >= MIN_TURN_MS;
  return waiting.servers.size === 0 || now - server.lastUsedAt >= UNNEEDED_AFTER_MS;
}

/** The server idle longest among `pools` that `waiting` may take, or null. */
export function longestIdle<P extends EvictablePool>(
  pools: Iterable<P>,
  waiting: P,
  now: number,
): ServerConnection | null {
  let found: ServerConnection | null = null;
  for (const pool of pools) {
    if (pool === waiting) continue;
    const server = pool.oldestIdle();
    if (!server || (found && found.lastUsedAt <= server.lastUsedAt) || !mayGiveUp(pool, waiting, server, now)) continue;
    found = server;
  }
  return found;
}
