import type { BackendConfig, Config } from '../config/types.js';
import { parseRedirectList, type RedirectRule } from '../config/redirect-list.js';
import type { ClusterMonitor } from '../cluster/monitor.js';

/** What the router needs to know about the cluster; the monitor provides it once running. */
export interface ClusterView {
  /** The writable backend, or null while none is known (writes then wait). */
  primary(): BackendConfig | null;
  /** Backends that may serve reads now, each with weight > 0. */
  readCandidates(): BackendConfig[];
  /** Replication lag in bytes of a backend, when known (prefer_lower_delay_standby). */
  lagBytes(backend: BackendConfig): number | null;
}

/**
 * The monitor's view, recomputed only when the monitor reports a change, so that routing a
 * transaction allocates nothing.
 */
export function monitoredClusterView(monitor: ClusterMonitor): ClusterView {
  let primary: BackendConfig | null = null;
  let readers: BackendConfig[] = [];
  const refresh = () => {
    primary = monitor.primary()?.config ?? null;
    readers = monitor.readCandidates().map((b) => b.config);
  };
  refresh();
  monitor.onChange(refresh);
  return {
    primary: () => primary,
    readCandidates: () => readers,
    lagBytes: (backend) => monitor.backends.find((b) => b.config === backend)?.lagBytes ?? null,
  };
}

/** Without discovery: roles as configured, every backend assumed healthy. */
export function staticClusterView(config: Config): ClusterView {
  const primary = config.backends.find((b) => b.role === 'primary') ?? config.backends[0] ?? null;
  const readers = config.backends.filter((b) => b.weight > 0);
  return { primary: () => primary, readCandidates: () => readers, lagBytes: () => null };
}

export interface ReadContext {
  database: string;
  user: string;
  applicationName: string;
}

/**
 * Chooses the backend of a transaction: the primary for writes; for reads a backend drawn by
 * weight among the readable ones, unless a Pgpool-II redirect preference list says otherwise.
 */
export class Router {
  private databaseRules: RedirectRule[];
  private appRules: RedirectRule[];
  private userRules: RedirectRule[];

  constructor(
    private config: Config,
    private cluster: ClusterView,
    private readonly random: () => number = Math.random,
  ) {
    this.databaseRules = parseRedirectList(config.database_redirect_preference_list);
    this.appRules = parseRedirectList(config.app_name_redirect_preference_list);
    this.userRules = parseRedirectList(config.user_redirect_preference_list);
  }

  reconfigure(config: Config, cluster: ClusterView): void {
    this.config = config;
    this.cluster = cluster;
    this.databaseRules = parseRedirectList(config.database_redirect_preference_list);
    this.appRules = parseRedirectList(config.app_name_redirect_preference_list);
    this.userRules = parseRedirectList(config.user_redirect_preference_list);
  }

  writeBackend(): BackendConfig | null {
    return this.cluster.primary();
  }

  /** Whether a backend may still serve reads (a waiting reader re-routes when it may not). */
  isReadable(backend: BackendConfig): boolean {
    return this.cluster.readCandidates().includes(backend) || backend === this.cluster.primary();
  }

  /** Whether a backend other than the primary may serve a read now: if not, every read goes to
   *  the primary, where a client's own writes are always visible. */
  standbyReadable(): boolean {
    if (!this.config.load_balance_mode) return false;
    const primary = this.cluster.primary();
    for (const b of this.cluster.readCandidates()) if (b !== primary) return true;
    return false;
  }

  readBackend(ctx: ReadContext): BackendConfig | null {
    const primary = this.cluster.primary();
    if (!this.config.load_balance_mode) return primary;
    const candidates = this.cluster.readCandidates();
    // As in Pgpool-II, the application name rules win over the database rules, then users.
    const rule =
      match(this.appRules, ctx.applicationName) ??
      match(this.databaseRules, ctx.database) ??
      match(this.userRules, ctx.user);
    if (rule && this.random() < rule.weight) {
      if (rule.target === 'primary') return primary;
      if (typeof rule.target === 'number') {
        const wanted = this.config.backends[rule.target];
        if (wanted && candidates.includes(wanted)) return wanted;
      } else {
        const standbys = candidates.filter((b) => b !== primary);
        if (standbys.length > 0) return this.byWeight(standbys);
      }
    }
    if (candidates.length === 0) return primary;
    return this.config.prefer_lower_delay_standby ? this.leastLagging(candidates, primary) : this.byWeight(candidates);
  }

  /** Pgpool-II's prefer_lower_delay_standby: the standby with the least lag, by weight among equals. */
  private leastLagging(candidates: BackendConfig[], primary: BackendConfig | null): BackendConfig {
    const standbys = candidates.filter((b) => b !== primary);
    if (standbys.length === 0) return this.byWeight(candidates);
    let best: BackendConfig[] = [];
    let bestLag = Infinity;
    for (const b of standbys) {
      const lag = this.cluster.lagBytes(b) ?? Infinity;
      if (lag < bestLag) {
        bestLag = lag;
        best = [b];
      } else if (lag === bestLag) {
        best.push(b);
      }
    }
    return this.byWeight(best);
  }

  private byWeight(backends: BackendConfig[]): BackendConfig {
    let total = 0;
    for (const b of backends) total += b.weight;
    let pick = this.random() * total;
    for (const b of backends) {
      pick -= b.weight;
      if (pick < 0) return b;
    }
    return backends[backends.length - 1]!;
  }
}

function match(rules: RedirectRule[], value: string): RedirectRule | undefined {
  for (const r of rules) if (r.pattern.test(value)) return r;
  return undefined;
}
