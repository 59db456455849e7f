// What the console and /metrics report, read from live state at the moment they are asked.
import type { Pgtide } from '../server.js';
import type { BackendConfig } from '../config/types.js';
import type { ServerPool } from '../pool/pool.js';
import type { ClientSession } from '../proxy/client-session.js';

/** Pools of one (database, user): one per backend. */
export interface PoolGroup {
  database: string;
  user: string;
  pools: ServerPool[];
  clients: ClientSession[];
}

/** One row per (database, user) seen in a pool or a logged-in client, in a stable order. */
export function poolGroups(pgtide: Pgtide): PoolGroup[] {
  const groups = new Map<string, PoolGroup>();
  const group = (database: string, user: string) => {
    const id = `${database}\0${user}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { database, user, pools: [], clients: [] }));
    return g;
  };
  for (const pool of pgtide.context.pools.all()) group(pool.key.database, pool.key.user).pools.push(pool);
  for (const client of pgtide.context.clients) {
    if (!client.isLoggingIn) group(client.database, client.user).clients.push(client);
  }
  return [...groups.values()].sort((a, b) => a.database.localeCompare(b.database) || a.user.localeCompare(b.user));
}

/** Sum of a number over items. */
export function sum<T>(items: Iterable<T>, of: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += of(item);
  return total;
}

export type BackendRole = 'primary' | 'standby' | 'unknown';

export interface BackendStatus {
  config: BackendConfig;
  index: number;
  role: BackendRole;
  healthy: boolean;
  readable: boolean;
  lagBytes: number | null;
  lagMs: number | null;
}

/**
 * The cluster monitor's view when it runs; without it (one backend), the configured roles
 * and the router's choice stand, and every backend counts as healthy, as the router assumes.
 */
export function backendStatuses(pgtide: Pgtide): BackendStatus[] {
  const monitor = pgtide.cluster;
  if (monitor) return monitor.backends.map((b) => ({ ...b }));
  const primary = pgtide.context.router.writeBackend();
  return pgtide.config.backends.map((config, index) => ({
    config,
    index,
    role: config === primary ? 'primary' : config.role === 'standby' ? 'standby' : 'unknown',
    healthy: true,
    readable: config.weight > 0,
    lagBytes: null,
    lagMs: null,
  }));
}

/** PgBouncer's close_needed: opened before a RECONNECT, the server closes instead of returning to its pool. */
export function closeNeeded(pool: ServerPool, server: { createdAt: number }): boolean {
  return server.createdAt < pool.reconnectBefore;
}

/** Servers of `database` (null: of every database) that must still close (WAIT_CLOSE waits for none). */
export function closeNeededCount(pgtide: Pgtide, database: string | null): number {
  let count = 0;
  for (const pool of pgtide.context.pools.all()) {
    if (database !== null && pool.key.database !== database) continue;
    for (const server of pool.servers) if (closeNeeded(pool, server)) count++;
  }
  return count;
}

/** Servers still open in paused databases (in `database` alone when named): PAUSE answers once
 *  there are none. A database resumed meanwhile counts none, so its PAUSE stops waiting. */
export function pausedServerCount(pgtide: Pgtide, database: string | null): number {
  let count = 0;
  for (const pool of pgtide.context.pools.all()) {
    if ((database !== null && pool.key.database !== database) || !pgtide.isPaused(pool.key.database)) continue;
    count += pool.servers.size;
  }
  return count;
}

/** How a server connection is used now, in PgBouncer's words. */
export function serverState(server: {
  peer: unknown;
  isIdle: boolean;
  backendSecret: Buffer | null;
}): 'active' | 'idle' | 'used' | 'login' {
  if (server.peer) return 'active';
  if (server.isIdle) return 'idle';
  // Logged in but neither lent nor idle: being cleaned up (rollback, reset) or running a check.
  return server.backendSecret ? 'used' : 'login';
}

export function clientState(client: ClientSession): 'login' | 'waiting' | 'active' {
  if (client.isLoggingIn) return 'login';
  return client.isWaiting ? 'waiting' : 'active';
}
