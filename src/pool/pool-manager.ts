import { serverApplicationName } from '../config/application-name.js';
import type { BackendConfig, Config, Consistency, PoolMode, TransactionRouting } from '../config/types.js';
import type { Logger } from '../log.js';
import { parseSecret, type Secret } from '../auth/secret.js';
import type { ScramCredentials } from '../auth/scram-client.js';
import { CapCount } from './cap-count.js';
import { longestIdle, mayGiveUp } from './eviction.js';
import { ExpiredPools } from './expired-pools.js';
import { ServerPool, type ConnectionBudget, type LoginListener, type PoolCounters, type PoolSettings } from './pool.js';
import type { ServerConnection } from './server-connection.js';
import type { ServerCredentials, ServerLogin, ServerTls } from './server-login.js';

const MAX_ERROR_CODES = 200;
const SHARED_CAPS = ['max_db_connections', 'max_user_connections'] as const;
type SharedCap = (typeof SHARED_CAPS)[number];

const NOTHING_PAUSED = (): boolean => false;

/**
 * All pools of one process, keyed by (database, user, backend), and the per-database and
 * per-user connection caps they share on each backend.
 */
export class PoolManager implements ConnectionBudget {
  private readonly pools = new Map<string, ServerPool>();
  private readonly perDatabase = new CapCount();
  private readonly perUser = new CapCount();
  /** Pools whose waiters need a server that only a full shared cap stops, and that found no
   *  idle server to take (makeRoom): the next server another pool frees may be theirs. */
  private readonly blocked = new Set<ServerPool>();
  /** Servers closed to make room, and the pool each made room for: once one is gone, its pool
   *  gets the slot before any other waiting pool takes it back (which would take turns for ever). */
  private readonly heirs = new Map<ServerConnection, ServerPool>();
  private readonly scramKeys = new Map<string, ScramCredentials>();
  /** Pools that run auth_query, one per (auth database, backend): no client ever uses their
   *  connections, so no client's SET (search_path …) can change what the query means. */
  private readonly lookupPools = new Map<string, ServerPool>();
  /** Passwords auth_query last returned, for server logins of users absent from auth_file
   *  (PgBouncer keeps them the same way); replaced at each lookup, gone when one finds no user. */
  private readonly lookedUp = new Map<string, string>();
  /** What pools dropped by pool_idle_timeout (or a reload) had counted, per (database, backend). */
  private readonly expired = new ExpiredPools();
  /** Pools a reload dropped while servers of theirs were lent (a session, an open transaction),
   *  with the backend entry they logged in to: a former primary's close must still reach them. */
  private readonly retired = new Map<ServerPool, BackendConfig>();
  /** ErrorResponses sent to clients, by SQLSTATE, for /metrics. */
  readonly errorsByCode = new Map<string, number>();
  /** Told when a server of a backend cannot be reached, so health checks react at once;
   *  timedOutLoginAt: when a login that got no answer within server_connect_timeout began. */
  onBackendFailure: ((backend: BackendConfig, timedOutLoginAt: number | null) => void) | null = null;
  /** Told when a cancel request to a backend, sent at `sentAt`, got no answer. */
  onCancelUnanswered: ((backend: BackendConfig, sentAt: number) => void) | null = null;
  /** Told when a server login to a backend, begun at startedAt, succeeds (see LoginListener). */
  onBackendLogin: ((backend: BackendConfig, startedAt: number, inHotStandby: boolean) => void) | null = null;

  constructor(
    private config: Config,
    private users: Map<string, string>,
    private readonly serverTls: ServerTls,
    private readonly log: Logger,
  ) {}

  /** Swap in a reloaded configuration; pools pick up new sizes and limits at once. Pools of
   *  backends no longer listed go: idle connections close now, busy ones when released. */
  reconfigure(config: Config, users: Map<string, string>): void {
    // A pool logs in to its backend as it was when the pool was made: one whose address or
    // login changed goes as a removed one does, and clients get a new pool from the new entry.
    const kept = new Set(
      config.backends.filter((b) => this.config.backends.some((old) => sameServer(old, b))).map((b) => b.name),
    );
    const before = this.config.backends;
    for (const pool of this.retired.keys()) if (pool.servers.size === 0) this.retired.delete(pool);
    this.config = config;
    this.users = users;
    for (const pools of [this.pools, this.lookupPools]) {
      for (const [id, pool] of pools) {
        if (kept.has(pool.key.backend)) continue;
        pools.delete(id);
        const was = before.find((b) => b.name === pool.key.backend);
        if (was && pool.servers.size > 0) this.retired.set(pool, was);
        if (pools === this.pools) this.expired.add(pool);
        pool.reconnect('backend removed or changed in the configuration');
      }
    }
    for (const pool of this.pools.values()) pool.settings = this.settingsFor(pool.key.database, pool.key.user);
    for (const pool of this.lookupPools.values()) pool.settings = this.lookupSettings(pool.key.database);
    for (const pool of this.everyPool()) if (pool.waitingCount > 0) pool.grow();
  }

  all(): IterableIterator<ServerPool> {
    return this.pools.values();
  }

  /** The counters of every client pool, live or dropped: what SHOW STATS and /metrics add up. */
  *counted(): IterableIterator<PoolCounters> {
    yield* this.pools.values();
    yield* this.expired.all();
  }

  /** Client pools and auth_query pools, for upkeep that concerns every connection. */
  private *everyPool(): IterableIterator<ServerPool> {
    yield* this.pools.values();
    yield* this.lookupPools.values();
  }

  /** The pool auth_query runs on in `database`, logged in as auth_user. */
  lookupPool(database: string, backend: BackendConfig): ServerPool {
    const id = poolId(database, this.config.auth_user, backend.name);
    let pool = this.lookupPools.get(id);
    if (!pool) {
      const user = this.config.auth_user;
      pool = new ServerPool(
        { database, user, backend: backend.name },
        this.lookupSettings(database),
        this,
        () => this.loginFor(database, user, backend, true),
        this.log,
        this.loginListener(backend),
      );
      this.lookupPools.set(id, pool);
    }
    return pool;
  }

  private loginListener(backend: BackendConfig): LoginListener {
    return {
      unreachable: (timedOutLoginAt) => this.onBackendFailure?.(backend, timedOutLoginAt),
      unanswered: (sentAt) => this.onCancelUnanswered?.(backend, sentAt),
      loggedIn: (startedAt, inHotStandby) => this.onBackendLogin?.(backend, startedAt, inHotStandby),
    };
  }

  /** auth_user's limits in that database, but no min_pool_size: lookups need no connection kept open. */
  private lookupSettings(database: string): PoolSettings {
    return { ...this.settingsFor(database, this.config.auth_user), minSize: 0 };
  }

  /** What auth_query answered for `user`: its stored password, or null for no such user. */
  rememberLookedUp(user: string, stored: string | null): void {
    if (stored === null) this.lookedUp.delete(user);
    else this.lookedUp.set(user, stored);
  }

  /** false for a database the [databases] table does not list (when it lists any and no `*`). */
  knowsDatabase(database: string): boolean {
    const dbs = this.config.databases;
    if (dbs[database] !== undefined || dbs['*'] !== undefined) return true;
    // No Object.keys: it builds an array (a call into V8's runtime) at every login.
    for (const _ in dbs) return false;
    return true;
  }

  pool(database: string, user: string, backend: BackendConfig): ServerPool {
    const id = poolId(database, user, backend.name);
    let pool = this.pools.get(id);
    if (!pool) {
      pool = new ServerPool(
        { database, user, backend: backend.name },
        this.settingsFor(database, user),
        this,
        () => this.loginFor(database, user, backend),
        this.log,
        this.loginListener(backend),
      );
      this.pools.set(id, pool);
    }
    return pool;
  }

  /** ParameterStatus values learned by any pool of (database, user), or null. */
  serverParams(database: string, user: string): Map<string, string> | null {
    for (const pool of this.pools.values()) {
      if (pool.serverParams && pool.key.database === database && pool.key.user === user) return pool.serverParams;
    }
    return null;
  }

  /** Close every connection to a backend now, busy ones included: a backend declared
   *  unhealthy must not keep its clients waiting on it (they get 08006, or a read retried).
   *  `formerPrimary`: also the servers still lent of pools a reload dropped for it. */
  closeBackend(backend: BackendConfig, reason: string, formerPrimary = false): number {
    let closed = 0;
    for (const pool of this.everyPool()) {
      if (pool.key.backend !== backend.name) continue;
      closed += pool.servers.size;
      pool.closeAll(reason);
    }
    return formerPrimary ? closed + this.closeRetired(backend, reason) : closed;
  }

  /** The lent servers of pools a reload dropped, made for `backend` under its name or address
   *  (a reload may have changed either while a failover was under way). */
  private closeRetired(backend: BackendConfig, reason: string): number {
    let closed = 0;
    for (const [pool, was] of this.retired) {
      if (pool.servers.size === 0) this.retired.delete(pool);
      else if (was.name === backend.name || (was.host === backend.host && was.port === backend.port)) {
        closed += pool.servers.size;
        pool.closeAll(reason);
      }
    }
    return closed;
  }

  backendReachable(backend: BackendConfig): void {
    for (const pool of this.everyPool()) if (pool.key.backend === backend.name) pool.clearLoginFailure();
  }

  rememberScramKeys(user: string, keys: ScramCredentials): void {
    this.scramKeys.set(user, keys);
  }

  transactionRoutingFor(database: string): TransactionRouting {
    return this.dbConfig(database)?.transaction_routing ?? this.config.transaction_routing;
  }

  consistencyFor(database: string, user: string): Consistency {
    const c = this.config;
    return c.users[user]?.consistency ?? this.dbConfig(database)?.consistency ?? c.consistency;
  }

  modeFor(database: string, user: string): PoolMode {
    const c = this.config;
    return c.users[user]?.pool_mode ?? this.dbConfig(database)?.pool_mode ?? c.pool_mode;
  }

  private dbConfig(database: string) {
    return this.config.databases[database] ?? this.config.databases['*'];
  }

  settingsFor(database: string, user: string): PoolSettings {
    const c = this.config;
    const db = this.dbConfig(database);
    const u = c.users[user];
    const size = u?.pool_size ?? db?.pool_size ?? c.default_pool_size;
    return {
      mode: this.modeFor(database, user),
      size,
      // Above the pool size, the pool size, as PgBouncer keeps it: more would be opened and
      // closed again as surplus, for ever.
      minSize: Math.min(db?.min_pool_size ?? c.min_pool_size, size),
      reserveSize: db?.reserve_pool_size ?? c.reserve_pool_size,
      reserveTimeoutMs: c.reserve_pool_timeout * 1000,
      lifetimeMs: c.server_lifetime * 1000,
      maxUses: c.server_max_uses,
      idleTimeoutMs: c.server_idle_timeout * 1000,
      loginRetryMs: c.server_login_retry * 1000,
    };
  }

  /** The name on the servers of the database clients call `database`. */
  private serverDatabase(database: string): string {
    const db = this.dbConfig(database);
    return db?.dbname && db.dbname !== '*' ? db.dbname : database;
  }

  /**
   * A client's statement needs the servers' database `name` without sessions (DROP DATABASE
   * and the like, see Classification.freesDatabase): the pools logged in to it close their idle
   * connections now and their busy ones when released. Returns how many pools that was.
   */
  freeDatabase(name: string): number {
    let pools = 0;
    for (const pool of this.everyPool()) {
      if (this.serverDatabase(pool.key.database) !== name) continue;
      pool.reconnect(`a client's statement needs database "${name}" without sessions`);
      pools++;
    }
    return pools;
  }

  /** asUser: log in as `user` whatever user the database or backend names (auth_user's lookups). */
  loginFor(database: string, user: string, backend: BackendConfig, asUser = false): ServerLogin {
    const db = this.dbConfig(database);
    const serverUser = asUser ? user : (db?.user ?? backend.user ?? user);
    const password = asUser ? undefined : (db?.password ?? backend.password);
    const credentials: ServerCredentials = { user: serverUser };
    const stored = password !== undefined ? password : (this.users.get(serverUser) ?? this.lookedUp.get(serverUser));
    if (stored !== undefined) credentials.secret = safeSecret(stored);
    const keys = this.scramKeys.get(serverUser);
    if (keys && serverUser === user) credentials.scram = keys;
    return {
      endpoint: { host: backend.host, port: backend.port },
      credentials,
      database: this.serverDatabase(database),
      // So that DBAs can tell pgtide's connections apart; a linked client's own name replaces it.
      params: serverApplicationName(this.config, asUser ? 'auth_query' : ''),
      tls: this.serverTls,
      connectTimeoutMs: this.config.server_connect_timeout * 1000,
      maxPacketSize: this.config.max_packet_size,
      maxPreparedStatements: this.config.max_prepared_statements,
      authMethods: this.config.server_auth_methods,
      maxScramIterations: this.config.server_scram_max_iterations,
      channelBinding: this.config.server_channel_binding,
    };
  }

  canOpen(pool: ServerPool): boolean {
    return this.roomUnderCaps(pool, false) > 0;
  }

  /** Leaving servers are not counted: those are on their way out already. */
  overCaps(pool: ServerPool): boolean {
    return this.roomUnderCaps(pool, true) < 0;
  }

  private dbCap(database: string): number {
    return this.dbConfig(database)?.max_db_connections ?? this.config.max_db_connections;
  }

  private userCap(user: string): number {
    return this.config.users[user]?.max_user_connections ?? this.config.max_user_connections;
  }

  /** How many more servers the pool's database and user may open on its backend under
   *  max_db_connections and max_user_connections: negative once a reload lowered a cap below
   *  what is open. `leavingFree`: count the slots of servers that are leaving as free. */
  private roomUnderCaps(pool: ServerPool, leavingFree: boolean): number {
    return Math.min(
      this.capRoom('max_db_connections', pool, leavingFree),
      this.capRoom('max_user_connections', pool, leavingFree),
    );
  }

  makeRoom(pool: ServerPool): void {
    const { database, user, backend } = pool.key;
    const now = Date.now();
    const victims: { cap: string; server: ServerConnection }[] = [];
    for (const cap of SHARED_CAPS) {
      const room = this.capRoom(cap, pool, true);
      if (room > 0) continue;
      // Below 0 a reload lowered the cap: one close would not make room, and the surplus goes anyway.
      if (room < 0) return;
      const sharing =
        cap === 'max_db_connections' ? sameDatabase(this.everyPool(), pool) : sameUser(this.everyPool(), pool);
      const server = longestIdle(sharing, pool, now);
      // With both caps full, one close alone would not let the pool open a server.
      if (!server) return void this.blocked.add(pool);
      victims.push({ cap, server });
    }
    for (const { cap, server } of victims) {
      this.log.debug(
        { pool: { database, user, backend }, cap, server: server.describe() },
        'closing an idle server of another pool to make room under a shared cap',
      );
      this.heirs.set(server, pool);
      server.close(`its slot under ${cap} went to a pool with clients waiting`);
    }
  }

  owedElsewhere(pool: ServerPool, server: ServerConnection): boolean {
    if (this.blocked.size === 0) return false;
    const now = Date.now();
    for (const waiting of this.blocked) {
      if (waiting.waitingCount === 0) {
        this.blocked.delete(waiting);
        continue;
      }
      // The cheap test first: this runs at every release while some pool is blocked.
      if (waiting === pool || !mayGiveUp(pool, waiting, server, now) || !this.onlyFullCapShared(waiting, pool))
        continue;
      this.blocked.delete(waiting);
      this.heirs.set(server, waiting);
      return true;
    }
    return false;
  }

  /** Is exactly one of `waiting`'s caps full, with no slot on its way, and shared by `other`? */
  private onlyFullCapShared(waiting: ServerPool, other: ServerPool): boolean {
    if (other.key.backend !== waiting.key.backend) return false;
    const dbFull = this.capRoom('max_db_connections', waiting, true) === 0;
    const userFull = this.capRoom('max_user_connections', waiting, true) === 0;
    if (dbFull === userFull) return false;
    return dbFull ? other.key.database === waiting.key.database : other.key.user === waiting.key.user;
  }

  /** Slots left under one cap for the pool's database or user on its backend (see roomUnderCaps). */
  private capRoom(cap: SharedCap, pool: ServerPool, leavingFree: boolean): number {
    const { database, user, backend } = pool.key;
    return cap === 'max_db_connections'
      ? roomUnder(this.dbCap(database), this.perDatabase, database, backend, leavingFree)
      : roomUnder(this.userCap(user), this.perUser, user, backend, leavingFree);
  }

  discard(pool: ServerPool): void {
    const id = poolId(pool.key.database, pool.key.user, pool.key.backend);
    if (this.pools.get(id) === pool) this.pools.delete(id);
    if (this.lookupPools.get(id) === pool) this.lookupPools.delete(id);
  }

  opened(pool: ServerPool): void {
    const { database, user, backend } = pool.key;
    this.perDatabase.opened(database, backend);
    this.perUser.opened(user, backend);
  }

  closed(pool: ServerPool, server: ServerConnection): void {
    const { database, user, backend } = pool.key;
    this.perDatabase.leaving(database, backend);
    this.perUser.leaving(user, backend);
    server.whenGone(() => {
      this.perDatabase.gone(database, backend);
      this.perUser.gone(user, backend);
      const heir = this.heirs.get(server);
      if (heir) {
        this.heirs.delete(server);
        if (heir.waitingCount > 0) heir.grow();
      }
      // The slot freed under a shared cap may unblock a pool's waiters, this pool's too.
      for (const other of this.everyPool()) if (other.waitingCount > 0) other.grow();
    });
  }

  /** Codes may come from a server: only well-formed ones are kept, and only so many of them,
   *  so a hostile server cannot grow the map (or the metric's label set) without bound.
   *  `by = -1` takes back an error counted as it arrived that the client never got. */
  countError(code: string, by = 1): void {
    const known =
      this.errorsByCode.has(code) || (/^[0-9A-Z]{5}$/.test(code) && this.errorsByCode.size < MAX_ERROR_CODES);
    bump(this.errorsByCode, known ? code : 'other', by);
  }

  /** Server connections open per database, every backend together (SHOW DATABASES current_connections). */
  connectionsOf(database: string): number {
    return this.perDatabase.total(database);
  }

  /** Server connections open per user, every backend together (SHOW USERS current_connections). */
  connectionsOfUser(user: string): number {
    return this.perUser.total(user);
  }

  /** `paused`: the databases PAUSE (or KILL) holds; their client pools open nothing,
   *  min_pool_size included, so that their servers, closed once idle, stay closed (a DROP
   *  DATABASE waits for none of them) until RESUME. Lookup pools keep no minimum. */
  maintain(now: number, paused: (database: string) => boolean = NOTHING_PAUSED): void {
    // A pool whose clients stopped waiting is not kept for a server it no longer needs.
    for (const pool of this.blocked) if (pool.waitingCount === 0) this.blocked.delete(pool);
    for (const pool of this.pools.values()) if (!paused(pool.key.database)) pool.maintain(now);
    for (const pool of this.lookupPools.values()) pool.maintain(now);
    const idleMs = this.config.pool_idle_timeout * 1000;
    if (idleMs === 0) return;
    // A pool per (database, user, backend) ever used would otherwise live for ever: with
    // auth_query any role of the server may log in, each leaving its pools behind.
    for (const pools of [this.pools, this.lookupPools]) {
      for (const [id, pool] of pools) {
        if (!pool.unusedFor(idleMs, now)) continue;
        pools.delete(id);
        if (pools === this.pools) this.expired.add(pool);
      }
    }
  }

  closeAll(reason: string): void {
    for (const pool of this.everyPool()) pool.closeAll(reason);
  }

  /** pgtide stops: see ServerPool.shutDown. */
  shutDown(reason: string): void {
    for (const pool of this.everyPool()) pool.shutDown(reason);
  }
}

function poolId(database: string, user: string, backend: string): string {
  return `${database}\0${user}\0${backend}`;
}

/** Slots left under one cap (0: no cap) for `name` on `backend`. */
function roomUnder(limit: number, count: CapCount, name: string, backend: string, leavingFree: boolean): number {
  if (limit === 0) return Number.POSITIVE_INFINITY;
  return limit - count.heldBy(name, backend) + (leavingFree ? count.leavingBy(name, backend) : 0);
}

function* sameDatabase(pools: Iterable<ServerPool>, of: ServerPool): Iterable<ServerPool> {
  for (const p of pools) if (p.key.backend === of.key.backend && p.key.database === of.key.database) yield p;
}

function* sameUser(pools: Iterable<ServerPool>, of: ServerPool): Iterable<ServerPool> {
  for (const p of pools) if (p.key.backend === of.key.backend && p.key.user === of.key.user) yield p;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function safeSecret(stored: string): Secret | undefined {
  try {
    return parseSecret(stored);
  } catch {
    return undefined;
  }
}

/** The same server, logged in to the same way: what a pool made for one may keep serving. */
function sameServer(a: BackendConfig, b: BackendConfig): boolean {
  return a.name === b.name && a.host === b.host && a.port === b.port && a.user === b.user && a.password === b.password;
}
