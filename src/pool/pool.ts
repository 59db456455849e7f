import type { Logger } from '../log.js';
import type { PoolMode } from '../config/types.js';
import { Fifo } from './fifo.js';
import { ServerConnection } from './server-connection.js';
import type { ServerLoginError, ServerLogin } from './server-login.js';
import type { ServerOwner, ServerPeer } from './server-peer.js';
import type { EvictablePool } from './eviction.js';
import { eventNow } from '../event-clock.js';

/** Startup settings a pool remembers as taken (see Pool.knowsSettings). */
const MAX_KNOWN_SETTINGS = 1000;

export interface PoolSettings {
  mode: PoolMode;
  size: number;
  minSize: number;
  reserveSize: number;
  reserveTimeoutMs: number;
  lifetimeMs: number;
  maxUses: number;
  idleTimeoutMs: number;
  loginRetryMs: number;
}

/** The wait before the first retry after a transient login failure: a restart of the server
 *  (pg_ctl restart) takes well under a second. Each retry that fails too doubles it, up to
 *  server_login_retry. */
const FIRST_LOGIN_RETRY_MS = 100;

/** A client session waiting for a server connection. */
export interface PoolWaiter {
  waitingSince: number;
  onServerAssigned(server: ServerConnection): void;
  onPoolError(err: ServerLoginError): void;
}

/** Server connections shared by all pools, counted per database and per user on each backend. */
export interface ConnectionBudget {
  canOpen(pool: ServerPool): boolean;
  /** The pool's database or user holds more servers than its cap (a reload lowered it). */
  overCaps(pool: ServerPool): boolean;
  /** Only a cap shared with other pools keeps the pool from opening a server its waiters need:
   *  close another pool's idle server, if one may be taken, to make room (see eviction.ts). */
  makeRoom(pool: ServerPool): void;
  /** A pool that makeRoom could not help is owed `server`, which its client just released. */
  owedElsewhere(pool: ServerPool, server: ServerConnection): boolean;
  opened(pool: ServerPool): void;
  /** The server left the pool; it keeps its place under the caps until its socket is gone. */
  closed(pool: ServerPool, server: ServerConnection): void;
  /** The pool can never log in (no such database, wrong credentials) and holds nothing. */
  discard(pool: ServerPool): void;
}

/**
 * Traffic counters for SHOW STATS and /metrics. Plain fields so the hot path only adds to
 * them; times are microseconds, as PgBouncer reports them.
 */
export class PoolStats {
  xacts = 0;
  queries = 0;
  bytesReceived = 0;
  bytesSent = 0;
  xactTimeUs = 0;
  queryTimeUs = 0;
  clientParses = 0;
  serverParses = 0;
  binds = 0;
  /** Times a client kept a server past its transaction (session state, read-your-writes). */
  pins = 0;

  /** Add another pool's counts to these (a dropped pool's, kept for its database). */
  add(other: PoolStats): void {
    // Every field is a count: new ones are added without a list to keep in step.
    const into = this as unknown as Record<string, number>;
    for (const [field, value] of Object.entries(other)) into[field] = (into[field] ?? 0) + (value as number);
  }
}

/** What a pool has counted since it was made: live in a pool, kept per (database, backend)
 *  once pool_idle_timeout drops it (src/pool/expired-pools.ts). */
export interface PoolCounters {
  readonly key: PoolKey;
  lentTotal: number;
  waitedTotal: number;
  waitTimeTotalMs: number;
  readonly stats: PoolStats;
}

/** A server's ParameterStatus values as a client's login reports them: its application_name is
 *  pgtide's (server_application_name, when set), where PostgreSQL tells a client that set none ''. */
export function paramsForClients(params: ReadonlyMap<string, string>): Map<string, string> {
  const copy = new Map(params);
  if (copy.has('application_name')) copy.set('application_name', '');
  return copy;
}

export interface PoolKey {
  database: string;
  user: string;
  backend: string;
}

/** Server connections for one (database, user, backend): an idle stack and a FIFO of waiters. */
/** Hears how server logins end, for the cluster monitor. */
export interface LoginListener {
  /** A transient failure; timedOutLoginAt is when the login began if it got no answer within
   *  its timeout (see ServerLoginError.timedOut), else null. */
  unreachable(timedOutLoginAt: number | null): void;
  /** A cancel request sent at `sentAt` got no answer from the backend's postmaster. */
  unanswered(sentAt: number): void;
  /** A login begun at startedAt succeeded; inHotStandby: the server reported in_hot_standby = on
   *  (PostgreSQL 14+), in recovery whatever role the checks last saw. */
  loggedIn(startedAt: number, inHotStandby: boolean): void;
}

const IGNORE_LOGINS: LoginListener = { unreachable() {}, unanswered() {}, loggedIn() {} };

export class ServerPool implements ServerOwner, PoolCounters, EvictablePool {
  private readonly idle: ServerConnection[] = [];
  private readonly waiters = new Fifo<PoolWaiter>();
  /** Every open or opening connection of this pool, whatever its state. */
  readonly servers = new Set<ServerConnection>();
  private connecting = 0;
  private lastLoginFailure = 0;
  /** The last login ended in a refusal that does not pass (see discardIfUnused). */
  private refused = false;
  /** pgtide stops (shutDown): nothing is lent or opened again. */
  private shut = false;
  /** How long after lastLoginFailure the next login is tried (see FIRST_LOGIN_RETRY_MS). */
  private loginRetryWaitMs = 0;
  /** ParameterStatus values of the first login, reported to clients at their login (see paramsForClients). */
  serverParams: Map<string, string> | null = null;
  /** Values of startup settings by name a server of this pool took at a client's login (see
   *  knowsSettings); null: none yet. */
  private knownSettings: Map<string, Set<string>> | null = null;
  private knownSettingsCount = 0;
  /** Its clients call currval or lastval: see takeIdle. */
  sequenceReaders = false;
  /** Counters for SHOW POOLS / STATS: servers lent out, waits and their total time. */
  lentTotal = 0;
  waitedTotal = 0;
  waitTimeTotalMs = 0;
  readonly stats = new PoolStats();
  /** RECONNECT: servers opened before this time close instead of returning to the pool. */
  reconnectBefore = 0;
  /** Client sessions that route to this pool (they keep it for their lifetime, see poolOf). */
  private holders = 0;
  /** When the pool last became empty (no holder, waiter or connection); 0 while in use. */
  private unusedSince = 0;

  constructor(
    readonly key: PoolKey,
    public settings: PoolSettings,
    private readonly budget: ConnectionBudget,
    private readonly makeLogin: () => ServerLogin,
    private readonly log: Logger,
    private readonly logins: LoginListener = IGNORE_LOGINS,
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }

  get waitingCount(): number {
    return this.waiters.length;
  }

  get activeCount(): number {
    return this.servers.size - this.idle.length - this.connecting;
  }

  get connectingCount(): number {
    return this.connecting;
  }

  get holderCount(): number {
    return this.holders;
  }

  oldestIdle(): ServerConnection | undefined {
    // Released servers go on top of the stack: the bottom one has idled longest.
    return this.idle[0];
  }

  /** The backend answers again: stop waiting out server_login_retry. */
  clearLoginFailure(): void {
    if (this.lastLoginFailure === 0) return;
    this.lastLoginFailure = 0;
    this.loginRetryWaitMs = 0;
    if (this.waiters.length > 0) this.grow();
  }

  /** A client session will route to this pool until it leaves (then letGo). */
  hold(): void {
    this.holders++;
  }

  letGo(): void {
    this.holders--;
    if (this.refused) this.discardIfUnused();
  }

  /** Clients trying names of databases that do not exist must not leave a pool each behind. A
   *  pool a client still holds stays: that client routes here, and only a pool the manager
   *  keeps has its logins retried (maintain) after a refusal that passes. */
  private discardIfUnused(): void {
    if (this.holders === 0 && this.servers.size === 0 && this.waiters.length === 0) this.budget.discard(this);
  }

  /** True once the pool has been empty for `ms`: no client holds it, none waits, no connection
   *  is open or opening. Called by the janitor, which is what notices the start of the wait. */
  unusedFor(ms: number, now: number): boolean {
    if (this.holders > 0 || this.waiters.length > 0 || this.servers.size > 0) {
      this.unusedSince = 0;
      return false;
    }
    if (this.unusedSince === 0) this.unusedSince = now;
    return now - this.unusedSince >= ms;
  }

  /** Hand a server to the waiter now (synchronously) when one is idle, else queue it. */
  acquire(waiter: PoolWaiter): void {
    const server = this.idle.pop();
    if (server) {
      this.lentTotal++;
      return waiter.onServerAssigned(server);
    }
    waiter.waitingSince = eventNow();
    this.waiters.push(waiter);
    this.grow();
  }

  /**
   * Whether a server of this pool took each of these startup settings at a login before: a
   * client giving another name or value has an idle server apply its settings before its login
   * ends, so that a name the server does not know (42704) or a value it rejects (22023) refuses
   * the login, as PostgreSQL does, rather than the client's first statement (lib/pq reads that
   * as a broken connection and retries). application_name takes any value.
   */
  knowsSettings(settings: ReadonlyMap<string, string>): boolean {
    for (const [name, value] of settings) {
      if (name !== 'application_name' && this.knownSettings?.get(name)?.has(value) !== true) return false;
    }
    return true;
  }

  /** A server took these startup settings at a login (see knowsSettings). */
  tookSettings(settings: ReadonlyMap<string, string>): void {
    const known = (this.knownSettings ??= new Map());
    for (const [name, value] of settings) {
      // Names are few (PostgreSQL has some 400 settings), values and custom names the client's to make up.
      if (name === 'application_name' || this.knownSettingsCount >= MAX_KNOWN_SETTINGS) continue;
      let values = known.get(name);
      if (values === undefined) known.set(name, (values = new Set()));
      if (values.has(value)) continue;
      values.add(value);
      this.knownSettingsCount++;
    }
  }

  /**
   * An idle server, or null; for callers that must not queue. The client's own last write's
   * server (`lastWrite`, 0 for none) when idle and written by no other client since (its
   * `sequenceOwner` still `owner`): the client's sequence values are there, for a currval or
   * lastval it may send only later in the transaction (see handoff.ts, lacksSequences). Else
   * the newest idle one, unless the pool's clients read currval or lastval: then the oldest,
   * so that a server just written on stays free a while for its writer's lastval (PDO's
   * lastInsertId) instead of going to the next client, whose write would end that value.
   * A client that ran code pgtide cannot see into (`peer`, given only then) gets a server whose
   * unknown settings its code set, which it alone may take without a reset.
   */
  takeIdle(lastWrite: number, owner: number, peer: ServerPeer | null = null): ServerConnection | null {
    const server =
      (lastWrite !== 0 && this.takeOwnIdle(lastWrite, owner)) ||
      (peer !== null && this.takeUnknownIdle(peer)) ||
      (this.sequenceReaders ? this.idle.shift() : this.idle.pop());
    if (!server) return null;
    this.lentTotal++;
    return server;
  }

  private takeOwnIdle(id: number, owner: number): ServerConnection | undefined {
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const server = idle[i]!;
      if (server.id === id) return server.sequenceOwner === owner ? idle.splice(i, 1)[0] : undefined;
    }
    return undefined;
  }

  private takeUnknownIdle(peer: ServerPeer): ServerConnection | undefined {
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) if (idle[i]!.unknownOwner === peer) return idle.splice(i, 1)[0];
    return undefined;
  }

  /** A queued waiter gave up (disconnect, timeout). */
  cancelWait(waiter: PoolWaiter): void {
    this.waiters.remove(waiter);
  }

  /** The oldest queued waiter, for timeout checks. */
  oldestWaiter(): PoolWaiter | undefined {
    return this.waiters.peek();
  }

  /** A clean, idle server comes back from a client. */
  release(server: ServerConnection): void {
    // Closed after its last answer (a FATAL read with it): already forgotten (onServerClosed).
    if (server.isClosed) return;
    if (this.shut) return server.close('pgtide is shutting down');
    if (server.sessionEnded) return server.close('the server ended its session');
    if (this.expired(server, eventNow())) {
      server.close('server_lifetime or server_max_uses reached');
      return;
    }
    // A reload lowered the pool size or a cap: a busy pool would otherwise lend its servers for ever.
    if (this.surplus()) {
      server.close('more servers than the pool size or max_db_connections / max_user_connections');
      return;
    }
    if (this.budget.owedElsewhere(this, server)) {
      server.close('its slot under max_db_connections / max_user_connections went to a pool with clients waiting');
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) return this.assign(waiter, server);
    this.idle.push(server);
  }

  private assign(waiter: PoolWaiter, server: ServerConnection): void {
    this.lentTotal++;
    this.waitedTotal++;
    this.waitTimeTotalMs += eventNow() - waiter.waitingSince;
    waiter.onServerAssigned(server);
  }

  private expired(server: ServerConnection, now: number): boolean {
    const s = this.settings;
    return (
      (s.lifetimeMs > 0 && now - server.createdAt >= s.lifetimeMs) ||
      (s.maxUses > 0 && server.uses >= s.maxUses) ||
      server.createdAt < this.reconnectBefore
    );
  }

  /** More servers than the pool's size and whole reserve, or than its database's or user's cap. */
  private surplus(): boolean {
    return this.servers.size > this.settings.size + this.settings.reserveSize || this.budget.overCaps(this);
  }

  private limit(now: number): number {
    const oldest = this.waiters.peek();
    const s = this.settings;
    const useReserve = s.reserveSize > 0 && oldest !== undefined && now - oldest.waitingSince >= s.reserveTimeoutMs;
    return s.size + (useReserve ? s.reserveSize : 0);
  }

  /** After a transient login failure: the wait before the next try is not over. */
  private waitingOutLoginFailure(now: number): boolean {
    const wait = Math.min(this.loginRetryWaitMs, this.settings.loginRetryMs);
    return this.lastLoginFailure !== 0 && now - this.lastLoginFailure < wait;
  }

  /** Open connections while waiters outnumber the connections being opened, within limits. */
  grow(now = Date.now()): void {
    if (this.shut || this.waitingOutLoginFailure(now)) return;
    const limit = this.limit(now);
    // After a failure, one login tries whether the server is back, not one per waiter.
    const wanted = this.lastLoginFailure === 0 ? this.waiters.length : Math.min(1, this.waiters.length);
    while (this.connecting < wanted && this.servers.size < limit) {
      if (!this.budget.canOpen(this)) {
        // The one retry after a failed login (its wait is over) makes room too: else the pool
        // waits until another pool's idle server closes on its own (server_idle_timeout).
        this.budget.makeRoom(this);
        return;
      }
      this.open();
    }
  }

  private open(): void {
    this.connecting++;
    this.budget.opened(this);
    this.servers.add(new ServerConnection(this.makeLogin(), this));
  }

  onServerLogin(server: ServerConnection, error: ServerLoginError | null): void {
    this.connecting--;
    if (error) {
      this.forget(server);
      this.log.warn({ pool: this.key, server: server.describe(), err: error.message }, 'server login failed');
      if (error.transient) {
        // A retry begun after the last failure doubles the wait; the logins that were already
        // under way when the server went away fail with it and count once.
        const retried = this.lastLoginFailure !== 0 && server.createdAt >= this.lastLoginFailure;
        this.loginRetryWaitMs = retried
          ? Math.min(this.loginRetryWaitMs * 2, this.settings.loginRetryMs)
          : this.loginRetryWaitMs || FIRST_LOGIN_RETRY_MS;
        this.lastLoginFailure = Date.now();
        this.logins.unreachable(error.timedOut ? server.createdAt : null);
      } else {
        // The same login would fail again for every waiter: tell them now instead of at timeout.
        for (let w = this.waiters.shift(); w; w = this.waiters.shift()) w.onPoolError(error);
        this.refused = true;
        this.discardIfUnused();
      }
      return;
    }
    const recovered = this.lastLoginFailure !== 0;
    this.refused = false;
    this.lastLoginFailure = 0;
    this.loginRetryWaitMs = 0;
    this.logins.loggedIn(server.createdAt, server.params.get('in_hot_standby') === 'on');
    if (!this.serverParams) this.serverParams = paramsForClients(server.params);
    this.release(server);
    // The server is back: the other waiters' logins, held to one while it failed, start now.
    if (recovered && this.waiters.length > 0) this.grow();
  }

  onServerReusable(server: ServerConnection): void {
    this.release(server);
  }

  onServerClosed(server: ServerConnection): void {
    const i = this.idle.indexOf(server);
    if (i >= 0) this.idle.splice(i, 1);
    this.forget(server);
    if (this.waiters.length > 0) this.grow();
  }

  private forget(server: ServerConnection): void {
    if (this.servers.delete(server)) this.budget.closed(this, server);
  }

  /** Periodic upkeep: idle timeouts, lifetimes, minimum size, reserve and retry growth. */
  maintain(now: number): void {
    const s = this.settings;
    let i = 0;
    let server: ServerConnection | undefined;
    while ((server = this.idle[i]) !== undefined) {
      if (
        (s.idleTimeoutMs > 0 && now - server.lastUsedAt >= s.idleTimeoutMs && this.servers.size > s.minSize) ||
        this.expired(server, now)
      ) {
        this.idle.splice(i, 1);
        server.close('server_idle_timeout or server_lifetime reached');
      } else {
        i++;
      }
    }
    while (this.surplus()) {
      const excess = this.idle.shift();
      if (!excess) break;
      excess.close('more servers than the pool size or max_db_connections / max_user_connections');
    }
    if (this.waiters.length > 0) this.grow(now);
    while (this.servers.size < s.minSize && this.budget.canOpen(this)) {
      if (this.waitingOutLoginFailure(now) || (this.lastLoginFailure !== 0 && this.connecting > 0)) break;
      this.open();
    }
  }

  /** Its node may be frozen: as for a login that got no answer, the monitor keeps reads off it. */
  onCancelUnanswered(sentAt: number): void {
    this.logins.unanswered(sentAt);
  }

  /** Close idle connections now (RECONNECT, shutdown); busy ones close when released. */
  closeIdle(reason: string): void {
    for (let server = this.idle.pop(); server; server = this.idle.pop()) server.close(reason);
  }

  /** Close idle servers now and busy ones when they come back (RECONNECT). */
  reconnect(reason = 'RECONNECT requested by an admin', now = Date.now()): void {
    this.reconnectBefore = now + 1;
    this.closeIdle(reason);
  }

  /** The longest time a queued client has waited, in ms (0 when none waits). */
  maxWaitMs(now = Date.now()): number {
    const oldest = this.waiters.peek();
    return oldest ? now - oldest.waitingSince : 0;
  }

  closeAll(reason: string): void {
    this.closeIdle(reason);
    for (const server of [...this.servers]) server.close(reason);
  }

  /** pgtide stops, its clients gone: every connection closes, and none opens again for what
   *  still waits (a schema fence's reader, see schema-fence.ts), which no connection will reach. */
  shutDown(reason: string): void {
    this.shut = true;
    while (this.waiters.shift() !== undefined);
    this.closeAll(reason);
  }
}
