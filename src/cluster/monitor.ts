// The cluster monitor: which backend is the primary, which standbys are healthy and how far
// behind they are. Checks run on pgtide's own connections, off the client path; routing reads
// the results synchronously (primary(), readCandidates()) and hears of changes via onChange().
import type { Logger } from '../log.js';
import type { ServerLogin } from '../pool/server-connection.js';
import type { BackendConfig, Config } from '../config/types.js';
import { CheckConnection } from './check-connection.js';
import { electPrimary, isReadable, readCandidates, type ReadLimits, type Role, type Writer } from './election.js';
import { CHECK_QUERY, lagBytes, lagMs, parseCheckRow, type CheckResult } from './replication.js';

export type { Role } from './election.js';

export interface BackendState {
  readonly config: BackendConfig;
  readonly index: number;
  role: Role;
  /** false until a check succeeds, and after health_check_max_retries + 1 failed checks in a row. */
  healthy: boolean;
  lagBytes: number | null;
  lagMs: number | null;
  /** healthy, role known, and (standby) within delay_threshold / delay_threshold_by_time. */
  readable: boolean;
}

/** A backend with what only the monitor needs to know about it. */
interface Tracked {
  state: BackendState;
  connection: CheckConnection;
  failures: number;
  /** The latest check's result; null when it failed. */
  last: CheckResult | null;
}

export class ClusterMonitor {
  readonly backends: BackendState[] = [];
  private tracked: Tracked[] = [];
  private config: Config;
  private readonly listeners = new Set<() => void>();
  private timers: NodeJS.Timeout[] = [];
  private round: Promise<void> | null = null;
  /** A failure was reported during a round that may have started before it. */
  private roundAgain = false;
  private stopped = false;

  /** The users reach the checks through makeLogin, which is called at each login of a check
   *  connection and so must read the current configuration (see checkLogin()). */
  constructor(
    config: Config,
    _users: Map<string, string>,
    private readonly log: Logger,
    private readonly makeLogin: (backend: BackendConfig) => ServerLogin,
  ) {
    this.config = config;
    this.track(config);
  }

  start(): Promise<void> {
    this.stopped = false;
    return this.checkAll().finally(() => this.schedule());
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    for (const backend of this.tracked) backend.connection.close('pgtide is stopping its cluster monitor');
  }

  /** New backends start unknown; kept ones (same host and port) keep what was learnt, but
   *  log in again, as the check login may have changed. */
  reconfigure(config: Config, _users: Map<string, string>): void {
    for (const backend of this.tracked) backend.connection.close('configuration reloaded');
    this.config = config;
    this.track(config);
    if (this.stopped) return;
    if (this.round !== null) this.roundAgain = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    void this.checkAll().finally(() => this.schedule());
  }

  primary(): BackendState | null {
    return this.backends.find((backend) => backend.role === 'primary' && backend.healthy) ?? null;
  }

  readCandidates(): BackendState[] {
    return readCandidates(this.backends);
  }

  reportFailure(backend: BackendConfig): void {
    if (this.stopped || !this.tracked.some((t) => t.state.config === backend)) return;
    if (this.round !== null) this.roundAgain = true;
    else void this.checkAll();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private track(config: Config): void {
    const previous = new Map(this.tracked.map((t) => [`${t.state.config.host}:${t.state.config.port}`, t]));
    this.tracked = config.backends.map((backendConfig, index) => {
      const kept = previous.get(`${backendConfig.host}:${backendConfig.port}`);
      const state: BackendState = kept
        ? { ...kept.state, config: backendConfig, index }
        : { config: backendConfig, index, role: 'unknown', healthy: false, lagBytes: null, lagMs: null, readable: false };
      return {
        state,
        connection: new CheckConnection(() => this.makeLogin(backendConfig)),
        failures: kept?.failures ?? 0,
        last: kept?.last ?? null,
      };
    });
    // The same array object, so that whoever holds monitor.backends sees the new list.
    this.backends.splice(0, this.backends.length, ...this.tracked.map((t) => t.state));
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
      const tracked = this.tracked;
      await Promise.all(tracked.map((backend) => this.check(backend)));
      // A reconfigure during the round made these results stale.
      if (tracked === this.tracked && !this.stopped) this.evaluate();
    } while (this.roundAgain && !this.stopped);
  }

  private async check(backend: Tracked): Promise<void> {
    try {
      const rows = await backend.connection.query(CHECK_QUERY, this.config.health_check_timeout * 1000);
      backend.last = parseCheckRow(rows);
      backend.failures = 0;
    } catch (error) {
      backend.last = null;
      backend.failures++;
      this.log.debug({ backend: backend.state.config.name, err: (error as Error).message, failures: backend.failures }, 'backend check failed');
    }
  }

  /** Turns the round's results into roles, health, lag and readability, then tells listeners. */
  private evaluate(): void {
    const before = this.backends.map((b) => `${b.role}/${b.healthy}/${b.readable}`);
    for (const backend of this.tracked) this.updateHealth(backend);
    this.updateRoles();
    const primary = this.tracked.find((t) => t.state.role === 'primary');
    const primaryLsn = primary?.last?.currentLsn ?? null;
    const limits: ReadLimits = { delayThreshold: this.config.delay_threshold, delayThresholdByTime: this.config.delay_threshold_by_time };
    for (const { state, last } of this.tracked) {
      if (last !== null) {
        state.lagBytes = state.role === 'standby' ? lagBytes(primaryLsn, last.replayLsn) : state.role === 'primary' ? 0 : null;
        state.lagMs = state.role === 'standby' ? lagMs(last) : state.role === 'primary' ? 0 : null;
      }
      const readable = isReadable(state, limits);
      if (readable !== state.readable) {
        this.log.info({ backend: state.config.name, lagBytes: state.lagBytes, lagMs: state.lagMs }, readable ? 'backend takes reads again' : 'backend leaves the read rotation');
      }
      state.readable = readable;
    }
    if (this.backends.some((b, i) => `${b.role}/${b.healthy}/${b.readable}` !== before[i])) this.notify();
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
      this.log.info({ backend: name }, 'backend is healthy');
    } else if (backend.last === null && state.healthy && backend.failures > this.config.health_check_max_retries) {
      state.healthy = false;
      this.log.warn({ backend: name, failures: backend.failures }, 'backend is unhealthy: it leaves the rotation');
    }
  }

  private updateRoles(): void {
    const writers: Writer[] = [];
    for (const { state, last } of this.tracked) {
      if (last?.inRecovery === false) writers.push({ index: state.index, timeline: last.timeline });
    }
    const current = this.tracked.findIndex((t) => t.state.role === 'primary');
    const election = electPrimary(writers, current < 0 ? null : current);
    if (election.splitBrain) {
      this.log.error(
        { writers: writers.map((w) => ({ backend: this.tracked[w.index]!.state.config.name, timeline: w.timeline })) },
        election.primary === null
          ? 'SPLIT BRAIN: several backends accept writes and none has a newer timeline; writes are refused until one remains'
          : `SPLIT BRAIN: several backends accept writes; writing only to ${this.tracked[election.primary]!.state.config.name} (newest timeline)`,
      );
    }
    for (const { state, last } of this.tracked) {
      const role = this.roleOf(state, last, election.primary);
      if (role !== state.role) {
        this.log.warn({ backend: state.config.name, from: state.role, to: role }, 'backend role changed');
        state.role = role;
      }
    }
  }

  private roleOf(state: BackendState, last: CheckResult | null, primary: number | null): Role {
    if (state.index === primary) return 'primary';
    if (last === null) return state.role === 'primary' ? 'unknown' : state.role; // a former primary is never trusted again unseen
    return last.inRecovery ? 'standby' : 'unknown';
  }
}
