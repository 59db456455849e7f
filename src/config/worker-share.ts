// With `workers = N`, N processes each run their own pools (docs/configuration.md, workers).
// Every limit that the configuration states for the whole instance is split among them, so
// that the workers together never exceed it: no process asks another for a slot, and no
// transaction pays a round trip to a lease owner.
//
// The rule: worker `id` of N gets floor(total / N), plus one while `id` < total mod N (the
// remainder goes to the lowest ids). Shares add up to the total exactly. Validation makes every
// limit that must be positive (a pool size, max_client_conn, a non-zero cap: 0 would mean
// "unlimited") at least N, so that each worker gets at least 1 (config/validate.ts).
//
// The cost: a worker cannot lend its idle slots to a busy neighbour. reusePort spreads clients
// by a hash of their address and port, so with many clients the shares fill evenly; with few
// clients on a pool, some may wait on one worker while the other holds an idle connection.
import type { Config, DatabaseConfig, UserConfig } from './types.js';
import { emptyMap } from './defaults.js';

/** The top-level limits each worker runs a share of: sizes split, caps split unless 0. */
export const SPLIT_SIZES = ['default_pool_size', 'min_pool_size', 'reserve_pool_size', 'max_client_conn'] as const;
export const SPLIT_CAPS = ['max_db_connections', 'max_user_connections'] as const;
export type SplitLimit = (typeof SPLIT_SIZES)[number] | (typeof SPLIT_CAPS)[number];

/** Worker `id`'s part of `total` among `workers`; the parts add up to `total`. */
export function shareOf(total: number, id: number, workers: number): number {
  return Math.floor(total / workers) + (id < total % workers ? 1 : 0);
}

/** A cap where 0 means "no cap" stays 0; any other value is split. */
function capShare(cap: number, id: number, workers: number): number {
  return cap === 0 ? 0 : shareOf(cap, id, workers);
}

/**
 * The configuration worker `id` runs with: the instance's limits split by shareOf(), and the
 * listeners only one process can hold (the unix socket files, admin_http_listen) left to
 * worker 0. Identity for `workers = 1`.
 */
export function workerConfig(config: Config, id: number): Config {
  const n = config.workers;
  if (n === 1) return config;
  const split = (total: number) => shareOf(total, id, n);
  const cap = (total: number) => capShare(total, id, n);
  const optional = (value: number | undefined, part: (total: number) => number) =>
    value === undefined ? undefined : part(value);

  const databases = emptyMap<DatabaseConfig>();
  for (const [name, db] of Object.entries(config.databases)) {
    databases[name] = withDefined(db, {
      pool_size: optional(db.pool_size, split),
      min_pool_size: optional(db.min_pool_size, split),
      reserve_pool_size: optional(db.reserve_pool_size, split),
      max_db_connections: optional(db.max_db_connections, cap),
    });
  }
  const users = emptyMap<UserConfig>();
  for (const [name, user] of Object.entries(config.users)) {
    users[name] = withDefined(user, {
      pool_size: optional(user.pool_size, split),
      max_user_connections: optional(user.max_user_connections, cap),
    });
  }
  const limits = {} as Pick<Config, SplitLimit>;
  for (const key of SPLIT_SIZES) limits[key] = split(config[key]);
  for (const key of SPLIT_CAPS) limits[key] = cap(config[key]);
  return {
    ...config,
    ...limits,
    // A unix socket is a file: a second bind would replace the first worker's. An HTTP
    // endpoint answered by a random worker would give a different /metrics on each scrape.
    unix_socket_dir: id === 0 ? config.unix_socket_dir : '',
    admin_socket_dir: id === 0 ? config.admin_socket_dir : '',
    admin_http_listen: id === 0 ? config.admin_http_listen : '',
    databases,
    users,
  };
}

/** `base` with the defined values of `changes` (an override absent from the file stays absent). */
function withDefined<T extends object>(base: T, changes: { [K in keyof T]?: T[K] | undefined }): T {
  const out = { ...base };
  for (const key of Object.keys(changes) as (keyof T)[]) {
    const value = changes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The limits each worker needs at least 1 of, with their configured values (0 caps are off). */
export function limitsEachWorkerNeeds(config: Config): { path: (string | number)[]; value: number }[] {
  const limits: { path: (string | number)[]; value: number }[] = [
    { path: ['default_pool_size'], value: config.default_pool_size },
    { path: ['max_client_conn'], value: config.max_client_conn },
    { path: ['max_db_connections'], value: config.max_db_connections },
    { path: ['max_user_connections'], value: config.max_user_connections },
  ];
  for (const [name, db] of Object.entries(config.databases)) {
    if (db.pool_size !== undefined) limits.push({ path: ['databases', name, 'pool_size'], value: db.pool_size });
    if (db.max_db_connections !== undefined)
      limits.push({ path: ['databases', name, 'max_db_connections'], value: db.max_db_connections });
  }
  for (const [name, user] of Object.entries(config.users)) {
    if (user.pool_size !== undefined) limits.push({ path: ['users', name, 'pool_size'], value: user.pool_size });
    if (user.max_user_connections !== undefined)
      limits.push({ path: ['users', name, 'max_user_connections'], value: user.max_user_connections });
  }
  return limits.filter((limit) => limit.value !== 0);
}
