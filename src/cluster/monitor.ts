// The cluster monitor: which backend is the primary, which standbys are healthy and how far
// behind they are. Checks run on pgtide's own connections, off the client path; routing reads
// the results synchronously (primary(), readCandidates()) and hears of changes via onChange().
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import type { ServerLogin } from '../pool/server-login.js';
import type { BackendConfig, Config } from '../config/types.js';
import { CheckConnection } from './check-connection.js';
import { LoginProbe } from './login-probe.js';
import {
  electPrimary,
  isReadable,
  readCandidates,
  type Election,
  type ReadLimits,
  type Role,
  type Unseen,
  type Writer,
} from './election.js';
import {
  CHECK_QUERY,
  followsTimeline,
  lagBytes,
  lagMs,
  PrimaryPositions,
  parseCheckRow,
  timelineSeen,
  type CheckResult,
} from './replication.js';
import { TimelineMemory } from './timeline-memory.js';

/** A standby this close to the primary's position, having replayed all it received, is
 *  current (lag 0 ms): the two positions are read at slightly different moments, and an idle
 *  primary still writes a few records that are no commits. An orphaned standby falls further
 *  behind with the new primary's first writes. */
const CAUGHT_UP_BYTES = 64 * 1024;
const POSITIONS_KEPT_MS = 60_000;

/** A failing backend is checked again this long after its last counted failure (or after a
 *  check period, when shorter), and the primary's failed checks count toward
 *  health_check_max_retries at most this often: the pools' refused logins each start a round
 *  at once, and the burst of failures one restart causes must not use up the retries within
 *  milliseconds. Pgpool-II's health_check_retry_delay, 1 s by default. */
const RETRY_SPACING_MS = 1000;

/** An unhealthy backend is checked again after this long, doubled after each check that fails
 *  too, up to the retry spacing: the end of an outage that outlasted the retries is seen within
 *  that spacing, and a backend that stays down costs one login attempt per spacing. */
const FIRST_RECHECK_MS = 100;

export type { Role } from './election.js';

export interface BackendState {
  readonly config: BackendConfig;
  readonly index: number;
  role: Role;
  /** false until a check succeeds, and after health_check_max_retries + 1 failed checks in a row. */
  healthy: boolean;
  /** false from a server login that got no answer within its timeout until a login on a new
   *  connection succeeds: the checks' kept connection, and the pools' open ones, may still
   *  answer while the backend takes no new connection (a stopped postmaster), and a read that
   *  needs a new server there would wait for it until query_wait_timeout. */
  takesLogins: boolean;
  lagBytes: number | null;
  lagMs: number | null;
  /** Standby: replays the primary's timeline (false: orphaned by a failover). */
  following: boolean;
  /** healthy, role known, and (standby) within delay_threshold / delay_threshold_by_time. */
  readable: boolean;
}

/** What listeners act on: a round that changes none of it for any backend tells nobody. */
function routingKey(b: BackendState): string {
  return `${b.role}/${b.healthy}/${b.readable}/${b.takesLogins}`;
}

/** A backend with what only the monitor needs to know about it. */
interface Tracked {
  state: BackendState;
  connection: CheckConnection;
  /** What the connection logs in with (see loginKeyOf): a reload that leaves it alone keeps
   *  the connection, and the check it may be running. */
  readonly loginKey: string;
  /** Failed checks counted in a row (see RETRY_SPACING_MS). */
  failures: number;
  /** When the latest check counted as a failure began (0: the latest check succeeded). */
  failedAt: number;
  /** While unhealthy: the wait before the next check (see FIRST_RECHECK_MS). */
  recheckMs: number;
  /** The latest check's result; null when it failed. */
  last: CheckResult | null;
  /** What the last successful check said: a primary that stops answering keeps its timeline. */
  lastSeen: CheckResult | null;
  /** When the latest successful check answered. */
  answeredAt: number;
  /** When the latest check that found it out of recovery began: a login begun before it
   *  (reporting in_hot_standby before a promotion) says nothing of its role now. */
  writerSeenAt: number;
  /** When a login showed the backend in recovery while it was the primary (see demote): checks
   *  begun before then are older news. */
  demotedAt: number;
  /** While the backend takes no login: when the login that got no answer began, and the
   *  fresh logins tried until one begun later succeeds. */
  noLoginSince: number;
  probe: LoginProbe | null;
  /** When the latest login known to have succeeded began: a login begun before it that times
   *  out afterwards (it waited through a restart, say) says nothing of the backend now. */
  lastLoginAt: number;
  /** Healthy again in this round, readable or not yet: an operator learns why it takes no reads. */
  backAgain: boolean;
}

export class ClusterMonitor {
  readonly backends: BackendState[] = [];
  private tracked: Tracked[] = [];
  private config: Config;
  private readonly listeners = new Set<() => void>();
  private timers: NodeJS.Timeout[] = [];
  /** The next check of a failing backend, sooner than the periods' (see scheduleRetry). */
  private retryTimer: NodeJS.Timeout | null = null;
  /** A check succeeded after failures: the pools hear of it even if routing does not change,
   *  so that they stop waiting out server_login_retry. */
  private answeredAgain = false;
  private round: Promise<void> | null = null;
  /** A failure was reported during a round that may have started before it. */
  private roundAgain = false;
  private stopped = false;
  private readonly timelines: TimelineMemory;
  /** The last election's outcome, so that a split brain is logged when it changes, not every round. */
  private lastElection = '';
  /** The position of the primary last seen, kept while none is known (see evaluate). */
  private lastPrimaryLsn: bigint | null = null;
  /** The primary's positions of the latest checks, for the standbys' lag in time. */
  private readonly primaryPositions = new PrimaryPositions();

  /** The users reach the checks through makeLogin, which is called at each login of a check
   *  connection and so must read the current configuration (see checkLogin()). */
  constructor(
    config: Config,
    _users: Map<string, string>,
    private readonly log: Logger,
    private readonly makeLogin: (backend: BackendConfig) => ServerLogin,
  ) {
    this.config = config;
    this.timelines = new TimelineMemory(config.state_dir, config.instance_name, log);
    this.track(config);
  }

  start(): Promise<void> {
    this.stopped = false;
    this.resumeProbes();
    return this.checkAll().finally(() => this.schedule());
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.closeConnections('pgtide is stopping its cluster monitor');
  }

  private closeConnections(reason: string): void {
    for (const backend of this.tracked) {
      backend.connection.close(reason);
      backend.probe?.stop(reason);
      backend.probe = null;
    }
  }

  private resumeProbes(): void {
    for (const backend of this.tracked) if (!backend.state.takesLogins) this.startProbe(backend);
  }

  /** New backends start unknown; kept ones (same host and port) keep what was learnt, and
   *  their check connection unless its login changed: a check under way still counts, so that
   *  reloads more frequent than health_check_timeout cannot keep a hung backend healthy. */
  reconfigure(config: Config, _users: Map<string, string>): void {
    for (const backend of this.tracked) {
      backend.probe?.stop('configuration reloaded');
      backend.probe = null;
    }
    this.config = config;
    this.track(config);
    // Removed backends and changed weights reach the router now, not at the next change of health.
    this.notify();
    if (this.stopped) return;
    this.resumeProbes();
    if (this.round !== null) this.roundAgain = true;
    this.clearTimers();
    void this.checkAll().finally(() => this.schedule());
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  primary(): BackendState | null {
    return this.backends.find((backend) => backend.role === 'primary' && backend.healthy) ?? null;
  }

  readCandidates(): BackendState[] {
    return readCandidates(this.backends);
  }

  /** By address, as track() keeps backends: a pool made before a reload holds the backend's
   *  old config object, and its news still count. */
  private trackedFor(backend: BackendConfig): Tracked | undefined {
    return this.tracked.find((t) => t.state.config.host === backend.host && t.state.config.port === backend.port);
  }

  /** A pool's login to `backend` failed (refused for now, unreachable, or timed out: then
   *  timedOutLoginAt is when it began). */
  reportFailure(backend: BackendConfig, timedOutLoginAt: number | null = null): void {
    const tracked = this.trackedFor(backend);
    if (this.stopped || tracked === undefined) return;
    if (timedOutLoginAt !== null) this.takesNoLogin(tracked, timedOutLoginAt, 'a server login got no answer');
    // The primary's next check is scheduled once one has failed (scheduleRetry): each pool's
    // refused login starting a round of its own would count nothing more.
    if (tracked.last !== null || this.failureCounts(tracked, Date.now())) this.checkSoon();
  }

  /** A cancel request to `backend`, sent at `sentAt` (query_timeout, a client's cancel), got no
   *  answer: its postmaster takes no new connection now either, as a login that timed out shows. */
  reportCancelUnanswered(backend: BackendConfig, sentAt: number): void {
    const tracked = this.trackedFor(backend);
    if (this.stopped || tracked === undefined) return;
    this.takesNoLogin(tracked, sentAt, 'a cancel request got no answer');
  }

  /** A pool's login to `backend`, begun at startedAt, succeeded: it takes new connections.
   *  When its checks were failing, a check now says whether it is back in its role, and tells
   *  the other pools, which may be waiting out server_login_retry. */
  reportLogin(backend: BackendConfig, startedAt: number, inHotStandby: boolean): void {
    const tracked = this.trackedFor(backend);
    if (this.stopped || tracked === undefined) return;
    if (this.takesLoginsAgain(tracked, startedAt, 'a server login')) this.routeAgain(tracked.state);
    if (inHotStandby && tracked.state.role === 'primary' && startedAt > tracked.writerSeenAt) this.demote(tracked);
    else if (tracked.last === null) this.checkSoon();
  }

  /**
   * The primary's own server said it is in recovery (a primary back from a switchover as a
   * standby, before a check has seen it so): it loses its role now, not at the next check, or
   * the writes that waited for it would run there and be refused (25006). With no primary
   * known, writers wait for the check this starts, as in a failover.
   */
  private demote(tracked: Tracked): void {
    const { state } = tracked;
    this.log.warn(
      { backend: state.config.name, from: 'primary', to: 'unknown' },
      'a server login reports the primary in hot standby: it is the primary no more',
    );
    state.role = 'unknown';
    // A round under way may hold its check from before the switchover (out of recovery), or
    // get one begun before it: neither may elect the backend again at its end.
    tracked.last = null;
    tracked.demotedAt = Date.now();
    this.routeAgain(state);
    this.checkSoon();
  }

  /** A round now, or right after the one under way (which may have begun before the news). */
  private checkSoon(): void {
    if (this.round !== null) this.roundAgain = true;
    else void this.checkAll();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private track(config: Config): void {
    const previous = new Map(this.tracked.map((t) => [`${t.state.config.host}:${t.state.config.port}`, t]));
    this.tracked = config.backends.map((backendConfig, index): Tracked => {
      const address = `${backendConfig.host}:${backendConfig.port}`;
      const kept = previous.get(address);
      const loginKey = this.loginKeyOf(backendConfig);
      const state: BackendState = kept
        ? { ...kept.state, config: backendConfig, index }
        : {
            config: backendConfig,
            index,
            role: 'unknown',
            healthy: false,
            takesLogins: true,
            lagBytes: null,
            lagMs: null,
            following: true,
            readable: false,
          };
      if (kept !== undefined && kept.loginKey === loginKey) {
        previous.delete(address);
        kept.state = state;
        return kept;
      }
      return {
        state,
        connection: new CheckConnection(() => this.makeLogin(backendConfig)),
        loginKey,
        failures: kept?.failures ?? 0,
        failedAt: kept?.failedAt ?? 0,
        recheckMs: kept?.recheckMs ?? FIRST_RECHECK_MS,
        last: kept?.last ?? null,
        lastSeen: kept?.lastSeen ?? null,
        answeredAt: kept?.answeredAt ?? 0,
        writerSeenAt: kept?.writerSeenAt ?? 0,
        demotedAt: kept?.demotedAt ?? 0,
        noLoginSince: kept?.noLoginSince ?? 0,
        probe: null,
        lastLoginAt: kept?.lastLoginAt ?? 0,
        backAgain: false,
      };
    });
    for (const replaced of previous.values()) replaced.connection.close('configuration reloaded');
    // The same array object, so that whoever holds monitor.backends sees the new list.
    this.backends.splice(0, this.backends.length, ...this.tracked.map((t) => t.state));
  }

  /** A digest of the check login of `backend` (no password kept in the clear): any change of
   *  what it sends (user, password, database, TLS files, limits) makes a new connection. */
  private loginKeyOf(backend: BackendConfig): string {
    let login: string;
    try {
      login = JSON.stringify(this.makeLogin(backend));
    } catch (err) {
      login = `no login: ${(err as Error).message}`;
    }
    return createHash('sha256').update(login).digest('hex');
  }

  /** Role checks and health probes are the same one-round-trip query: both timers run a round
   *  over all backends at once (so that lag compares positions read at the same moment), and
   *  a round already running is joined rather than doubled. */
  private schedule(): void {
    if (this.stopped) return;
    for (const period of [this.config.sr_check_period, this.config.health_check_period]) {
      if (period > 0) this.every(period * 1000);
    }
  }

  /** Long enough to date a lag well past delay_threshold_by_time, for SHOW and /metrics too. */
  private positionsKeptMs(): number {
    return Math.max(POSITIONS_KEPT_MS, 2 * this.config.delay_threshold_by_time);
  }

  /** The probes' period, which bounds the waits between checks of a failing backend. */
  private periodMs(): number {
    return (this.config.health_check_period || this.config.sr_check_period || 1) * 1000;
  }

  private every(periodMs: number): void {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      void this.checkAll().finally(() => {
        if (!this.stopped) this.every(periodMs);
      });
    }, periodMs);
    // Checks alone must not keep a process alive that has nothing else to do.
    timer.unref();
    this.timers.push(timer);
  }

  private checkAll(): Promise<void> {
    this.round ??= this.runRounds().finally(() => (this.round = null));
    return this.round;
  }

  private async runRounds(): Promise<void> {
    do {
      this.roundAgain = false;
      await Promise.all(this.tracked.map((backend) => this.check(backend)));
      // After a reconfigure during the round, what the backends kept (same address and login)
      // learnt still counts: reloads more frequent than a check's timeout must not keep a hung
      // backend healthy. The others' results went to the objects they replaced.
      if (!this.stopped) this.evaluate();
    } while (this.roundAgain && !this.stopped);
    if (!this.stopped) this.scheduleRetry();
  }

  /**
   * A failing backend is checked again before the periods' next round: once the retry spacing
   * has passed while its failures are being counted, then, once unhealthy, after
   * FIRST_RECHECK_MS doubling up to the spacing. A restart then costs the primary's writes at
   * most the spacing on top of it, and a dead backend one login attempt per spacing.
   */
  private scheduleRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const now = Date.now();
    let due = Infinity;
    for (const backend of this.tracked) {
      if (backend.last !== null) continue;
      if (backend.state.healthy) {
        due = Math.min(due, backend.failedAt + this.retrySpacingMs());
      } else {
        due = Math.min(due, now + backend.recheckMs);
        backend.recheckMs = Math.min(backend.recheckMs * 2, this.retrySpacingMs());
      }
    }
    if (due === Infinity) return;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null;
        void this.checkAll();
      },
      Math.max(0, due - now),
    );
    this.retryTimer.unref();
  }

  private retrySpacingMs(): number {
    return Math.min(RETRY_SPACING_MS, this.periodMs());
  }

  /** Whether a check begun at startedAt that fails counts toward health_check_max_retries. A
   *  standby's failures all count: its reads have other backends to go to. The primary's writes
   *  have none, and its failures within the spacing are one outage seen again. */
  private failureCounts(backend: Tracked, startedAt: number): boolean {
    return backend.state.role !== 'primary' || startedAt - backend.failedAt >= this.retrySpacingMs();
  }

  private async check(backend: Tracked): Promise<void> {
    const startedAt = Date.now();
    try {
      const rows = await backend.connection.query(CHECK_QUERY, this.config.health_check_timeout * 1000);
      const result = parseCheckRow(rows);
      // Begun before a login showed the backend in recovery, a round's check (slow, with one
      // backend not answering) would elect it again at the round's end: writes refused (25006).
      if (startedAt <= backend.demotedAt) return;
      backend.last = result;
      backend.lastSeen = result;
      if (backend.last.inRecovery === false) backend.writerSeenAt = startedAt;
      backend.answeredAt = Date.now();
      if (backend.failures > 0) this.answeredAgain = true;
      backend.failures = 0;
      backend.failedAt = 0;
      backend.recheckMs = FIRST_RECHECK_MS;
    } catch (error) {
      backend.last = null;
      const counts = this.failureCounts(backend, startedAt);
      if (counts) {
        backend.failures++;
        backend.failedAt = startedAt;
      }
      // The first failure of a series says why; the rest of it is noise until health changes.
      const level = counts && backend.failures === 1 ? 'warn' : 'debug';
      this.log[level](
        { backend: backend.state.config.name, err: (error as Error).message, failures: backend.failures },
        'backend check failed',
      );
    }
  }

  /** Out of the read rotation at once, not at the end of a round: clients wait on it meanwhile.
   *  Health stays the checks' to decide, so a primary stays the primary. */
  private takesNoLogin(backend: Tracked, startedAt: number, why: string): void {
    const { state } = backend;
    if (!state.takesLogins || startedAt < backend.lastLoginAt) return;
    state.takesLogins = false;
    backend.noLoginSince = startedAt;
    this.log.warn({ backend: state.config.name }, `${why}: no reads go to the backend until a new connection logs in`);
    this.startProbe(backend);
    if (this.updateReadable(state)) this.notify();
  }

  /** Fresh logins at once, then after short waits: the backend returns as soon as one
   *  succeeds, not at the next check round. */
  private startProbe(backend: Tracked): void {
    if (this.stopped || backend.probe !== null) return;
    backend.probe = new LoginProbe(
      () => this.makeLogin(backend.state.config),
      { timeoutMs: this.config.health_check_timeout * 1000, maxRetryMs: this.periodMs() },
      (startedAt) => {
        backend.probe = null;
        if (this.takesLoginsAgain(backend, startedAt, 'a login probe')) this.routeAgain(backend.state);
      },
      this.log,
      backend.state.config.name,
    );
  }

  /** Whether a login begun at startedAt, which succeeded, brings the backend back. */
  private takesLoginsAgain(backend: Tracked, startedAt: number, by: string): boolean {
    if (startedAt > backend.lastLoginAt) backend.lastLoginAt = startedAt;
    const { state } = backend;
    if (state.takesLogins || startedAt < backend.noLoginSince) return false;
    state.takesLogins = true;
    backend.probe?.stop('the backend takes logins again');
    backend.probe = null;
    this.log.info({ backend: state.config.name, by }, 'a new connection logged in: the backend takes logins again');
    return true;
  }

  /** Outside a round: the router and the pools hear of it now. */
  private routeAgain(state: BackendState): void {
    this.updateReadable(state);
    this.notify();
  }

  /** Turns the round's results into roles, health, lag and readability, then tells listeners. */
  private evaluate(): void {
    const before = this.backends.map(routingKey);
    for (const backend of this.tracked) {
      this.updateHealth(backend);
      // A check that logged in afresh is a new connection too.
      const loggedInAt = backend.connection.loginStartedAt;
      if (backend.last !== null && loggedInAt !== null) this.takesLoginsAgain(backend, loggedInAt, 'a health check');
    }
    this.learnTimelines();
    this.updateRoles();
    const primary = this.tracked.find((t) => t.state.role === 'primary');
    // The primary's last known position: while it does not answer (frozen, restarting) a
    // standby cut off from it must not look caught up for want of a position to compare. It is
    // kept when the primary loses its role too (no primary elected while it is frozen), or
    // an orphaned standby, out for its lag alone, would come back as soon as that happens.
    const primaryLsn = primary?.lastSeen?.currentLsn ?? this.lastPrimaryLsn;
    this.lastPrimaryLsn = primaryLsn;
    const answered = primary?.last?.currentLsn;
    if (primary && answered != null)
      this.primaryPositions.record(primary.state.config.name, primary.answeredAt, answered, this.positionsKeptMs());
    const primaryTimeline = primary?.lastSeen?.timeline ?? null;
    for (const tracked of this.tracked) {
      const { state, last, lastSeen } = tracked;
      if (last !== null) {
        const behind =
          state.role === 'standby' ? lagBytes(primaryLsn, last.replayLsn) : state.role === 'primary' ? 0 : null;
        state.lagBytes = behind;
        state.lagMs =
          state.role === 'standby'
            ? lagMs(last, behind, CAUGHT_UP_BYTES, tracked.answeredAt, this.primaryPositions.positions)
            : state.role === 'primary'
              ? 0
              : null;
      }
      // With no primary known, a standby still must not replay a timeline older than one seen.
      const expected = primaryTimeline ?? this.newestSeen(lastSeen);
      const following =
        state.role !== 'standby' || lastSeen === null || followsTimeline(lastSeen, expected, state.following);
      if (following !== state.following) {
        if (!following)
          this.log.warn(
            {
              backend: state.config.name,
              expected,
              receiverTimeline: lastSeen?.receiverTimeline,
              checkpointTimeline: lastSeen?.checkpointTimeline,
            },
            'standby does not follow the newest timeline (orphaned by a failover?): it leaves the read rotation',
          );
        state.following = following;
      }
      this.updateReadable(state);
      if (tracked.backAgain) {
        tracked.backAgain = false;
        if (!state.readable) this.logUnreadable(state);
      }
    }
    const answeredAgain = this.answeredAgain;
    this.answeredAgain = false;
    if (answeredAgain || this.backends.some((b, i) => routingKey(b) !== before[i])) this.notify();
  }

  /** Whether readability changed. */
  private updateReadable(state: BackendState): boolean {
    const limits: ReadLimits = {
      delayThreshold: this.config.delay_threshold,
      delayThresholdByTime: this.config.delay_threshold_by_time,
    };
    const readable = isReadable(state, limits);
    if (readable === state.readable) return false;
    this.log.info(
      { backend: state.config.name, lagBytes: state.lagBytes, lagMs: state.lagMs },
      readable ? 'backend takes reads again' : 'backend leaves the read rotation',
    );
    state.readable = readable;
    return true;
  }

  /** A backend healthy again that takes no reads yet, and what keeps it out (see isReadable). */
  private logUnreadable(state: BackendState): void {
    this.log.info(
      {
        backend: state.config.name,
        role: state.role,
        takesLogins: state.takesLogins,
        following: state.following,
        lagBytes: state.lagBytes,
        lagMs: state.lagMs,
      },
      'backend is healthy but takes no reads yet',
    );
  }

  private notify(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.log.error({ err: (error as Error).message }, 'cluster change listener failed');
      }
    }
  }

  private updateHealth(backend: Tracked): void {
    const { state } = backend;
    const name = state.config.name;
    if (backend.last !== null && !state.healthy) {
      state.healthy = true;
      backend.backAgain = true;
      this.log.info({ backend: name }, 'backend is healthy');
    } else if (backend.last === null && state.healthy && backend.failures > this.config.health_check_max_retries) {
      state.healthy = false;
      this.log.warn({ backend: name, failures: backend.failures }, 'backend is unhealthy: it leaves the rotation');
    }
  }

  /** Every timeline a check proves to have existed raises the bar for writers of its cluster. */
  private learnTimelines(): void {
    for (const { state, last } of this.tracked) {
      const seen = last === null ? null : timelineSeen(last);
      if (last?.systemId == null || seen === null) continue;
      const before = this.timelines.newestOf(last.systemId);
      if (this.timelines.see(last.systemId, seen) && before !== null) {
        this.log.warn(
          { backend: state.config.name, timeline: seen, before },
          'newer timeline seen: writers on older timelines are abandoned primaries from now on',
        );
      }
    }
  }

  private newestSeen(result: CheckResult | null): number | null {
    return result?.systemId == null ? null : this.timelines.newestOf(result.systemId);
  }

  private updateRoles(): void {
    const writers: Writer[] = [];
    for (const { state, last } of this.tracked) {
      if (last?.inRecovery === false)
        writers.push({ index: state.index, timeline: last.timeline, newestSeen: this.newestSeen(last) });
    }
    const current = this.tracked.find((t) => t.state.role === 'primary');
    const unseen: Unseen | null =
      current === undefined || current.last !== null
        ? null
        : {
            index: current.state.index,
            timeline: current.lastSeen?.timeline ?? null,
            healthy: current.state.healthy,
            newestSeen: this.newestSeen(current.lastSeen),
          };
    const election = electPrimary(writers, unseen);
    this.logElection(election, writers);
    for (const { state, last } of this.tracked) {
      const role = this.roleOf(state, last, election.primary);
      if (role !== state.role) {
        // Learning a role at start is routine; a backend changing role (a failover) is not.
        const level = state.role === 'unknown' ? 'info' : 'warn';
        this.log[level]({ backend: state.config.name, from: state.role, to: role }, 'backend role changed');
        state.role = role;
      }
    }
  }

  private logElection(election: Election, writers: Writer[]): void {
    const key = `${election.primary}/${election.splitBrain}/${election.abandoned.join(',')}`;
    if (key === this.lastElection) return;
    this.lastElection = key;
    const name = (index: number) => this.tracked[index]!.state.config.name;
    const seen = writers.map((w) => ({ backend: name(w.index), timeline: w.timeline, newestSeen: w.newestSeen }));
    if (election.abandoned.length > 0) {
      this.log.error(
        { abandoned: election.abandoned.map(name), writers: seen },
        'ABANDONED PRIMARY: a backend accepts writes on an older timeline than one seen; it is never written to (rebuild it as a standby)',
      );
    }
    if (election.splitBrain) {
      this.log.error(
        { writers: seen },
        election.primary === null
          ? 'SPLIT BRAIN: several backends accept writes and none has a newer timeline; writes wait until one remains'
          : `SPLIT BRAIN: several backends accept writes; writing only to ${name(election.primary)} (newest timeline)`,
      );
    }
  }

  private roleOf(state: BackendState, last: CheckResult | null, primary: number | null): Role {
    if (state.index === primary) return 'primary';
    if (last === null) return state.role === 'primary' ? 'unknown' : state.role; // a former primary is never trusted again unseen
    return last.inRecovery ? 'standby' : 'unknown';
  }
}
