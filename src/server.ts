import type net from 'node:net';
import type { Config } from './config/types.js';
import { createLogger, type Logger } from './log.js';
import { readAuthFile } from './config/auth-file.js';
import { readHbaFile } from './config/hba-file.js';
import { scramSecretFromPassword, type Secret } from './auth/secret.js';
import { NameSalts } from './auth/scram-server.js';
import { loadSaltKey } from './config/salt-key.js';
import { SQLSTATE } from './protocol/encode.js';
import { Wait } from './proxy/session/state.js';
import { PoolManager } from './pool/pool-manager.js';
import type { ServerConnection } from './pool/server-connection.js';
import { CancelKeys } from './proxy/cancel-keys.js';
import { Roster } from './proxy/roster.js';
import { sendCancelRequest } from './proxy/cancel-request.js';
import { PeerCancels, cancelOwnClient } from './proxy/peer-cancel.js';
import { signalRelayed, type RelayedSignal } from './proxy/backend-signals.js';
import { Router, monitoredClusterView, staticClusterView, type ClusterView } from './proxy/router.js';
import { ClusterMonitor } from './cluster/monitor.js';
import { AdminConsole, ADMIN_DATABASES } from './admin/console.js';
import type { AdminCommand } from './admin/commands.js';
import { SIGNAL_COMMANDS } from './admin/signal-commands.js';
import type { AskOtherWorkers } from './admin/across-workers.js';
import { checkLogin } from './cluster/check-login.js';
import { FunctionCatalog } from './proxy/function-catalog.js';
import { StatementRegistry } from './proxy/statement-registry.js';
import { LruCache } from './sql/lru.js';
import { schemaChangedElsewhere } from './pool/schema-generation.js';
import { type FenceNews, ReplayTracker } from './proxy/read-your-writes.js';
import { Classifier, FunctionPolicy } from './sql/index.js';
import { ParserThread } from './parser-thread.js';
import { AssemblyBudget } from './protocol/scanner.js';
import { clientCapacity, serverBudget } from './config/budget.js';
import { openFilesLimit } from './open-files.js';
import { ClientSession } from './proxy/client-session.js';
import type { ProxyContext } from './proxy/context.js';
import { refuseAfterStartup } from './proxy/refusal.js';
import { boundAddresses, closeAll, listen, type ListenAddress } from './proxy/listener.js';
import { listenAdminSocket } from './proxy/admin-socket.js';
import { adminConsoleCommand } from './config/socket-path.js';
import { keepStartOnly } from './config/start-only.js';
import { clientTlsContext, serverTlsOptions } from './proxy/tls.js';
import { parseHostPort, type ScalarKey } from './config/fields.js';
import { refusedFiles, withSetting } from './config/runtime-setting.js';
import { ConfigError } from './config/problems.js';
import { AdminHttpServer } from './admin/http.js';
import { shownAddress } from './socket-address.js';
import { createMetrics } from './admin/metrics.js';
import type { Registry } from 'prom-client';

const JANITOR_INTERVAL_MS = 250;
/**
 * What all clients together may hold of Query and Parse texts that arrive in several chunks,
 * to classify them. A statement beyond it is streamed to the primary unread (UNSEEN_STATEMENT):
 * a few huge statements cost this much memory at most, not one copy each.
 */
const CLASSIFY_BUFFER_BYTES = 64 * 1024 * 1024;
const CANCEL_TIMEOUT_MS = 5000;
const ACCEPT_ERROR_LOG_MS = 10_000;
/** Sessions let in beyond the client cap, for console logins (see accept): within the 100 spare
 *  descriptors clientCapacity keeps, beside the refusals being answered. */
const CONSOLE_ROOM = 20;

export interface PgtideOptions {
  logger?: Logger;
  /** Worker number encoded in cancel keys (0 for a single process). */
  workerId?: number;
  /** With `workers = N`: the instance's key of per-user SCRAM salts, which the primary keeps
   *  (src/config/salt-key.ts); a single process keeps its own. */
  nameSaltKey?: Buffer | undefined;
  /** With `workers = N`: hands a CancelRequest whose key names another worker to the primary,
   *  which passes it to that worker's cancelOwnClient(); `sent` runs once that worker's cancel
   *  was sent (or after a while without word from it). */
  relayCancel?: (pid: number, secret: Buffer, sent: () => void) => void;
  /** With `workers = N`: the same for a pg_terminate_backend or pg_cancel_backend of another
   *  worker's client, which that worker's signalOwnClient() acts on. */
  relaySignal?: (signal: RelayedSignal) => void;
  /** With `workers = N`: passes the WAL positions of this worker's schema fences on to the
   *  other workers, whose otherWorkerFence() takes them (see ReplayTracker). */
  relayFence?: (lsn: bigint | null) => void;
  /** With `workers = N`: hands a console command that acts on the whole instance (PAUSE,
   *  RELOAD …) to the primary once it ran here; the primary runs SHUTDOWN itself (it stops
   *  every worker) and passes the others to the other workers' runSharedAdminCommand(). */
  shareAdminCommand?: (command: AdminCommand) => void;
  /** With `workers = N`: asks every other worker (src/admin/across-workers.ts), for the
   *  /metrics that worker 0 serves and for the console's view of the whole instance. */
  askOtherWorkers?: AskOtherWorkers;
  /** Rereads the configuration for the console's RELOAD (the CLI: the file it started from). */
  reloadConfig?: () => Config;
  /** After a reload of the file took effect, with the instance's configuration now in force
   *  (a worker tells the primary, which starts the workers with it). */
  onFileReloaded?: (instance: Config) => void;
  /** With `workers = N`: this worker's share of the instance's configuration (worker.ts
   *  workerShare), taken of every configuration given, at start, reload or SET. */
  workerShare?: (instance: Config) => Config;
  /** Called once the console's SHUTDOWN has stopped everything (the CLI exits). */
  onShutdown?: () => void;
  /** The file a supervisor already writes this process's stdout into (log_dir skips it). */
  supervisorLogFile?: string | undefined;
}

/** How stop() ends the process's work: see there. */
export type StopMode = 'now' | 'drain' | 'handover';

/** One pgtide process: listeners, client sessions, pools and their upkeep. */
export class Pgtide {
  readonly log: Logger;
  private readonly ctx: ProxyContext;
  private readonly scramSecrets = new Map<string, Secret>();
  private readonly parserThread: ParserThread;
  private listeners: net.Server[] = [];
  private monitor: ClusterMonitor | null = null;
  private clusterView: ClusterView | null = null;
  private janitor: NodeJS.Timeout | null = null;
  /** When this instance was made: SHOW STATS averages over the time since. */
  readonly startedAt = Date.now();
  private pausedAll = false;
  private readonly pausedDatabases = new Set<string>();
  private readonly disabledDatabases = new Set<string>();
  private readonly resumeListeners = new Set<() => void>();
  private adminHttp: AdminHttpServer | null = null;
  private ready = false;
  /** stop() runs: new clients are refused, CancelRequests still served. */
  private draining = false;
  /** Clients that connected while start() ran; served once it is done. */
  private readonly heldSockets: { socket: net.Socket; viaAdminSocket: boolean }[] = [];
  private lastAcceptError = 0;
  /** Clients admitted at most: max_client_conn, or fewer under the open-files limit. */
  private clientCap = 0;
  private openFiles: number | undefined;
  /** The instance's configuration as given, before this worker's share was taken of it: a SET
   *  changes it and takes the share again, as a reload of the file does. */
  private instanceConfig: Config;

  constructor(
    instance: Config,
    private readonly options: PgtideOptions = {},
  ) {
    this.instanceConfig = instance;
    const config = options.workerShare?.(instance) ?? instance;
    this.log =
      options.logger ??
      createLogger(config.instance_name, config.log_level, {
        logDir: config.log_dir,
        supervisorLogFile: options.supervisorLogFile,
        worker: config.workers > 1 ? options.workerId : undefined,
      });
    const users = readUsers(config);
    this.parserThread = new ParserThread({
      onAnswer: (key, answer) => this.ctx.classifier.learn(key, answer),
      onLost: (key) => this.ctx.classifier.forget(key),
      log: this.log,
    });
    const classifier = new Classifier({ policy: functionPolicy(config), parser: this.parserThread });
    const askOthers = options.askOtherWorkers;
    this.ctx = {
      config,
      users,
      hba: readHbaFile(config),
      pools: new PoolManager(config, users, serverTlsOptions(config), this.log),
      router: new Router(config, staticClusterView(config)),
      classifier,
      functions: new FunctionCatalog(classifier.policy, this.log),
      replay: new ReplayTracker(options.relayFence ?? null),
      reportedValues: new LruCache<string>(10_000, 4 * 1024 * 1024),
      startupSettings: new LruCache(10_000, 4 * 1024 * 1024),
      statements: new StatementRegistry((text, start, end) => this.ctx.classifier.classifyBytes(text, start, end)),
      cancelKeys: new CancelKeys<ClientSession>(config.peer_id, options.workerId ?? 0),
      peerCancels: new PeerCancels(this.log),
      clientTls: clientTlsContext(config),
      log: this.log,
      clients: new Roster('clientSlot'),
      loggingIn: new Roster('loginSlot'),
      capRefusal: '',
      assemblyBudget: new AssemblyBudget(CLASSIFY_BUFFER_BYTES),
      relayToWorker: options.relayCancel ?? null,
      relaySignal: options.relaySignal ?? null,
      announceFence: askOthers === undefined ? null : () => askOthers({ kind: 'fence' }),
      freeDatabase: (name) => this.freeDatabase(name),
      // The servers sessions hold are ServerConnections, which they see as LinkedServers.
      sendCancel: (server: ServerConnection, sent?: () => void) => this.sendCancel(server, sent),
      nameSalts: new NameSalts(options.nameSaltKey ?? this.ownSaltKey(config)),
      plainToScram: (user, password) => this.plainToScram(user, password),
      admin: {
        isConsole: (database) => ADMIN_DATABASES.includes(database),
        run: (req) => this.console().run(req),
        isPaused: (database) => this.isPaused(database),
        isDisabled: (database) => this.isDisabled(database),
      },
    };
    // A RESUME sends the transactions that waited on to their servers at once.
    this.onResume(() => {
      for (const client of this.ctx.clients) client.retryRoute();
    });
  }

  get config(): Config {
    return this.ctx.config;
  }

  get context(): ProxyContext {
    return this.ctx;
  }

  /**
   * Binds every listen port (and admin_http_listen) before the first connection to a backend:
   * pgtide's own outgoing connections take ephemeral ports, which could otherwise be the very
   * listen port it is about to bind (EADDRINUSE). Clients that connect while the monitor's
   * first round runs wait, unread, until roles are known.
   */
  async start(): Promise<void> {
    this.admitClients();
    this.listeners = await listen(
      this.ctx.config,
      (socket) => this.accept(socket, false),
      (reason) => this.log.warn({ reason }, 'no unix socket for clients: listening on TCP alone'),
    );
    try {
      const adminSocket = await listenAdminSocket(this.ctx.config, (socket) => this.accept(socket, true));
      if (adminSocket) this.listeners.push(adminSocket);
    } catch (err) {
      await this.closeListeners();
      throw err;
    }
    for (const listener of this.listeners) listener.on('error', (err) => this.acceptFailed(err));
    await this.startAdminHttp();
    try {
      await this.startMonitor();
    } catch (err) {
      await this.closeListeners();
      throw err;
    }
    this.ready = true;
    for (const held of this.heldSockets.splice(0))
      if (!held.socket.destroyed) this.accept(held.socket, held.viaAdminSocket);
    this.janitor = setInterval(() => this.tick(), JANITOR_INTERVAL_MS);
    this.janitor.unref();
    this.log.info(
      { listen: this.addresses(), admin_console: adminConsoleCommand(this.ctx.config) ?? undefined },
      'pgtide started',
    );
    if (this.ctx.config.auth_type === 'trust')
      this.log.warn(
        'auth_type = "trust": clients log in with no password check; anyone who can reach the listen addresses can connect',
      );
    // Without the file, a restart forgets which timeline is the newest, and only what the
    // reachable backends show keeps writes away from an old primary (docs/routing.md).
    if (this.ctx.config.state_dir === '' && this.ctx.config.backends.length > 1) {
      this.log.warn(
        'state_dir is not set: after a restart of pgtide, an old primary back on an older timeline is recognised only while the new primary can be reached',
      );
    }
  }

  /** Roles are known and clients are served (/readyz waits for it too). */
  get isReady(): boolean {
    return this.ready;
  }

  private async closeListeners(): Promise<void> {
    closeAll(this.listeners);
    this.listeners = [];
    const adminHttp = this.adminHttp;
    this.adminHttp = null;
    await adminHttp?.close();
    for (const held of this.heldSockets.splice(0)) held.socket.destroy();
  }

  /**
   * Roles, health and lag come from the monitor once its first round is done. With a single
   * backend and no check user there is nothing to discover: the configured roles stand.
   */
  private async startMonitor(): Promise<void> {
    const ctx = this.ctx;
    if (!this.needsMonitor(ctx.config)) {
      // The image's own default (no users yet) runs so: say it, or SHOW BACKENDS and /readyz
      // look healthy over backends nobody has reached.
      if (ctx.config.backends.length > 1 && this.workerId === 0)
        this.log.warn(
          { backends: ctx.config.backends.length },
          'no user to check the backends as (sr_check_user unset, auth_file empty): roles are not discovered and health is not checked; every backend counts as up, in its configured role',
        );
      return;
    }
    const monitor = new ClusterMonitor(ctx.config, ctx.users, this.log, (backend) =>
      checkLogin(ctx.config, ctx.users, backend, serverTlsOptions(ctx.config)),
    );
    await monitor.start();
    this.monitor = monitor;
    this.clusterView = monitoredClusterView(monitor);
    ctx.router.reconfigure(ctx.config, this.clusterView);
    ctx.pools.onBackendFailure = (backend, timedOutLoginAt) => monitor.reportFailure(backend, timedOutLoginAt);
    ctx.pools.onBackendLogin = (backend, startedAt, inHotStandby) =>
      monitor.reportLogin(backend, startedAt, inHotStandby);
    ctx.pools.onCancelUnanswered = (backend, sentAt) => monitor.reportCancelUnanswered(backend, sentAt);
    // A backend that answers checks again takes new server connections at once, without
    // waiting out server_login_retry from its outage; one declared unhealthy (hung, say) loses
    // its connections, so that no client waits on it any longer. One that takes no new login
    // keeps its open connections (they still answer) and is not tried again before a login is.
    // A writer that is not the elected primary (abandoned by a failover, or one of a split
    // brain's tie) loses its connections too: a session, a pinned client or a transaction open
    // there would go on writing and committing to it, never routed again; so does a primary
    // back as a standby (a switchover), whose session clients would have every write refused.
    // Seeded with the first round's primary, whose change came before this listener: empty, a
    // primary back from a switchover as a standby kept its connections (a helper's live test).
    const wasPrimary = new Set(monitor.backends.filter((b) => b.role === 'primary').map((b) => b.config.name));
    monitor.onChange(() => {
      for (const b of monitor.backends) {
        const demoted = wasPrimary.delete(b.config.name) && b.role === 'standby';
        if (b.role === 'primary') wasPrimary.add(b.config.name);
        if (!b.healthy) {
          if (ctx.pools.closeBackend(b.config, 'backend declared unhealthy by the health checks') > 0)
            this.log.warn({ backend: b.config.name }, 'connections to an unhealthy backend closed');
        } else if (b.role === 'unknown' || demoted) {
          if (ctx.pools.closeBackend(b.config, 'backend is no longer the primary', true) > 0)
            this.log.warn({ backend: b.config.name }, 'connections to a former primary closed');
        } else if (b.takesLogins) ctx.pools.backendReachable(b.config);
      }
    });
  }

  private needsMonitor(config: Config): boolean {
    return config.backends.length > 1 && (config.sr_check_user !== '' || this.ctx.users.size > 0);
  }

  /** The cluster monitor, when roles are discovered (several backends). */
  get cluster(): ClusterMonitor | null {
    return this.monitor;
  }

  addresses(): ListenAddress[] {
    return boundAddresses(this.listeners);
  }

  /** viaAdminSocket: the client came in on the admin socket (proxy/admin-socket.ts). */
  private accept(socket: net.Socket, viaAdminSocket: boolean): void {
    const ctx = this.ctx;
    const cfg = ctx.config;
    if (!this.ready) {
      // Not read until start() is done: its bytes wait in the socket. Bounded like clients.
      if (this.heldSockets.length >= cfg.max_client_conn) return void socket.destroy();
      socket.on('error', () => {});
      this.heldSockets.push({ socket, viaAdminSocket });
      return;
    }
    // What PostgreSQL answers during its smart shutdown, for the same reason: the listen ports
    // stay open for the CancelRequests of the queries the drain waits for.
    if (this.draining) return refuseAfterStartup(socket, ctx, SQLSTATE.CANNOT_CONNECT_NOW, 'pgtide is shutting down');
    // Joined, not concatenated: one flat string the session keeps for its life (32 bytes for an
    // IPv4 client), where a template makes a rope of three (88 bytes).
    const remote = socket.remoteAddress ? [shownAddress(socket.remoteAddress), socket.remotePort].join(':') : 'unix';
    // The operator's way in stays open when clients fill the instance: that is when it is
    // needed. Over TCP too, as PgBouncer's console is (a monitor's stats user): a few sessions
    // beyond the cap read their startup packet, and only a console login goes on (login.ts).
    const full = ctx.clients.size >= this.clientCap && !viaAdminSocket;
    if (full && ctx.clients.size >= this.clientCap + CONSOLE_ROOM && !this.evictOverCapacity()) {
      return refuseAfterStartup(socket, ctx, SQLSTATE.TOO_MANY_CONNECTIONS, ctx.capRefusal);
    }
    if (ctx.loggingIn.size >= cfg.max_login_clients) {
      // Evict the oldest unfinished login rather than refuse the newcomer: a flood of silent
      // sockets then cannot lock real clients out, it only shortens its own life.
      const oldest = ctx.loggingIn.oldest();
      oldest?.fatal(
        SQLSTATE.TOO_MANY_CONNECTIONS,
        `too many clients logging in (max_login_clients = ${cfg.max_login_clients})`,
      );
    }
    const session = new ClientSession(socket, ctx, remote, viaAdminSocket);
    if (full) session.overCapacity = true;
  }

  /** The oldest session let in beyond the cap that is still logging in is refused, to make room:
   *  silent sockets would otherwise keep the console out until client_login_timeout (a
   *  reviewer's 20 did), where a console login is done within milliseconds. */
  private evictOverCapacity(): boolean {
    for (const session of this.ctx.loggingIn) {
      if (!session.overCapacity) continue;
      session.fatal(SQLSTATE.TOO_MANY_CONNECTIONS, this.ctx.capRefusal);
      return true;
    }
    return false;
  }

  private admitClients(): void {
    const { config, users } = this.ctx;
    this.openFiles = openFilesLimit();
    // The open-files limit is this process's: a worker counts its own share of the limits
    // (already split) as one process would.
    const own = { ...config, workers: 1 };
    this.clientCap = clientCapacity(own, serverBudget(own, users.keys()), this.openFiles);
    const why =
      this.clientCap < config.max_client_conn
        ? `the open-files limit (${this.openFiles}) leaves room for ${this.clientCap} clients besides server connections; max_client_conn = ${config.max_client_conn}`
        : `max_client_conn = ${config.max_client_conn}`;
    this.ctx.capRefusal = `no more connections allowed (${why})`;
  }

  /** The kernel refused a client connection (no file descriptor left, say): the client is gone
   *  unanswered, so at least the log says why, once per ACCEPT_ERROR_LOG_MS. */
  private acceptFailed(err: Error): void {
    const now = Date.now();
    if (now - this.lastAcceptError < ACCEPT_ERROR_LOG_MS) return;
    this.lastAcceptError = now;
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'EMFILE' || code === 'ENFILE'
        ? "out of file descriptors: raise pgtide's open-files limit (ulimit -n, LimitNOFILE) or lower max_client_conn"
        : undefined;
    this.log.error({ err: err.message, hint }, 'cannot accept client connections');
  }

  private tick(): void {
    const now = Date.now();
    this.ctx.pools.maintain(now, this.isPausedNow);
    for (const client of this.ctx.clients) client.checkTimeouts(now);
    if (this.pausedAll || this.pausedDatabases.size > 0) this.closeIdlePaused();
  }

  /** Cancel what this process's client with that key runs: a request another worker relayed
   *  ends here, never relayed again. */
  cancelOwnClient(pid: number, secret: Buffer, sent: () => void): void {
    cancelOwnClient(this.ctx, pid, secret, sent);
  }

  /** See ProxyContext.freeDatabase: this worker's connections, then the others'. */
  private freeDatabase(name: string): void {
    this.freeOwnConnections(name);
    void this.options.askOtherWorkers?.({ kind: 'free_database', database: name });
  }

  /** This process's idle connections to the servers' database `name` close (another worker asked). */
  freeOwnConnections(name: string): number {
    const pools = this.ctx.pools.freeDatabase(name);
    if (pools > 0)
      this.log.info(
        { database: name, pools },
        'a client drops, renames or copies a database: its idle server connections close',
      );
    return pools;
  }

  /** Another worker's schema fence: announced ('begin', its `fence` question), then its
   *  position; never relayed again. */
  otherWorkerFence(news: FenceNews): void {
    if (news === 'begin') schemaChangedElsewhere();
    this.ctx.replay.otherWorkerFence(news);
  }

  /** A pg_terminate_backend or pg_cancel_backend another worker relayed: never relayed again. */
  signalOwnClient(signal: RelayedSignal): void {
    signalRelayed(this.ctx, signal);
  }

  /** Cancel what a server runs, on a new connection; the server is not reused before it ends. */
  private sendCancel(server: ServerConnection, sent?: () => void): void {
    const secret = server.backendSecret;
    if (!secret) return sent?.();
    server.cancelsInFlight++;
    // A cancel never sent cannot arrive late; one sent and not confirmed can.
    const sentAt = Date.now();
    sendCancelRequest(server.login.endpoint, server.backendPid, secret, CANCEL_TIMEOUT_MS, (outcome) => {
      server.cancelDone(outcome !== 'unconfirmed', sentAt);
      sent?.();
    });
  }

  /** A single process keeps its salt key itself; workers get their primary's. */
  private ownSaltKey(config: Config): Buffer {
    const { key, problem } = loadSaltKey(config.state_dir, config.instance_name);
    if (problem)
      this.log.warn({ err: problem }, 'SCRAM salt key not kept: unknown users get new salts after a restart');
    return key;
  }

  private plainToScram(user: string, password: string): Secret {
    const key = `${user}\0${password}`;
    const cached = this.scramSecrets.get(key);
    if (cached) return cached;
    // The name's salt, as an unknown name gets: a random one would single out plain passwords.
    const secret = scramSecretFromPassword(password, this.ctx.nameSalts.of(user).salt);
    this.scramSecrets.set(key, secret);
    return secret;
  }

  /** Apply a new configuration of the instance without dropping clients (pool sizes, limits,
   *  users); `done` is what the log says of it. */
  reload(next: Config, done = 'configuration reloaded'): void {
    const { config: instance, kept } = keepStartOnly(this.instanceConfig, next);
    const config = this.options.workerShare?.(instance) ?? instance;
    // Both files are read before anything changes: a broken one keeps every running rule.
    const users = readUsers(config);
    const hba = readHbaFile(config);
    this.instanceConfig = instance;
    this.ctx.config = config;
    this.ctx.users = users;
    this.ctx.hba = hba;
    this.scramSecrets.clear();
    this.ctx.pools.reconfigure(config, users);
    if (this.monitor) this.monitor.reconfigure(config, users);
    this.ctx.router.reconfigure(config, this.clusterView ?? staticClusterView(config));
    this.ctx.classifier = new Classifier({
      policy: functionPolicy(config),
      parser: this.parserThread,
      stats: this.ctx.classifier.stats,
    });
    this.ctx.functions.usePolicy(this.ctx.classifier.policy);
    this.admitClients();
    if (kept.length > 0)
      this.log.warn(
        { settings: kept },
        'reload: these settings change only at a restart; their running values stay in force',
      );
    this.log.info(done);
  }

  /**
   * The console's SET: the running configuration with one setting changed, checked as a file
   * is and applied as a reload applies one (auth_file and hba_file are read again with it).
   * Throws a SettingRefused, changing nothing, for a value the configuration cannot take. The
   * next reload reads the file again and drops it, as PgBouncer's does.
   */
  applySetting(key: ScalarKey, text: string): void {
    try {
      this.reload(withSetting(this.instanceConfig, key, text), `configuration changed by SET ${key}`);
    } catch (err) {
      throw err instanceof ConfigError ? refusedFiles(err) : err;
    }
  }

  /**
   * Stop. 'now': close everything at once. 'drain': let running transactions finish (up to
   * shutdown_timeout) while the listen ports take only CancelRequests, then close. 'handover':
   * the same drain, but the listen ports close first, for a successor that needs them.
   */
  /** The stop under way, which a second stop joins. */
  private stopping: Promise<void> | null = null;
  /** A stop 'now' came during a drain (SIGINT after SIGTERM): the drain ends at once. */
  private drainCut = false;

  stop(mode: StopMode = 'now'): Promise<void> {
    if (this.stopping !== null) {
      if (mode === 'now') this.drainCut = true;
      return this.stopping;
    }
    this.stopping = this.stopInOrder(mode);
    return this.stopping;
  }

  private async stopInOrder(mode: StopMode): Promise<void> {
    if (this.janitor) clearInterval(this.janitor);
    this.janitor = null;
    this.monitor?.stop();
    this.draining = true;
    if (mode !== 'drain') await this.closeListeners();
    if (mode !== 'now') await this.drainClients(this.ctx.config.shutdown_timeout * 1000);
    await this.closeListeners();
    for (const client of [...this.ctx.clients]) client.fatal(SQLSTATE.ADMIN_SHUTDOWN, 'pgtide is shutting down');
    this.ctx.pools.shutDown('pgtide is shutting down');
    await this.parserThread.stop();
  }

  // ---- admin console and metrics (src/admin) ----

  private adminConsole: AdminConsole | null = null;

  private metricsRegistry: Registry | null = null;

  /** This process's metrics (with workers, also asked for by worker 0's /metrics). */
  get metrics(): Registry {
    return (this.metricsRegistry ??= createMetrics(this));
  }

  /** This process's number among the workers (0 for a single process). */
  get workerId(): number {
    return this.options.workerId ?? 0;
  }

  /** One of several worker processes: the console's instance-wide commands go to all. */
  get hasWorkers(): boolean {
    return this.options.shareAdminCommand !== undefined;
  }

  /** With workers: the other workers' answers to a question; undefined in a single process. */
  get askOtherWorkers(): AskOtherWorkers | undefined {
    return this.options.askOtherWorkers;
  }

  shareAdminCommand(command: AdminCommand): void {
    this.options.shareAdminCommand?.(command);
  }

  runSharedAdminCommand(command: AdminCommand): void {
    this.console().runShared(command);
  }

  /** PgBouncer's SIGUSR1 and SIGUSR2 (see SIGNAL_COMMANDS) sent to this process: their PAUSE
   *  or RESUME of every database, here and, with workers, in the others. */
  runSignalCommand(signal: NodeJS.Signals): void {
    const command = SIGNAL_COMMANDS.get(signal);
    if (command === undefined) return;
    this.console().runShared(command, signal);
    this.shareAdminCommand(command);
  }

  private console(): AdminConsole {
    this.adminConsole ??= new AdminConsole(this);
    return this.adminConsole;
  }

  /** /metrics, /healthz and /readyz on admin_http_listen; a failure to bind fails start(). */
  private async startAdminHttp(): Promise<void> {
    const where = parseHostPort(this.ctx.config.admin_http_listen);
    if (!where) return;
    const server = new AdminHttpServer(this, this.metrics, this.options.askOtherWorkers);
    try {
      await server.listen(where.host, where.port);
    } catch (err) {
      closeAll(this.listeners);
      this.listeners = [];
      throw err;
    }
    this.adminHttp = server;
    this.log.info({ admin_http: server.address() }, 'admin HTTP listening');
  }

  /** Where /metrics is served, or null when admin_http_listen is off. */
  adminHttpAddress(): { host: string; port: number } | null {
    return this.adminHttp?.address() ?? null;
  }

  /**
   * PAUSE (PgBouncer's): transactions running now finish; new ones wait (sessions ask
   * isPaused() before they route one) until resume(); server connections close once idle.
   */
  pause(database?: string): void {
    if (database === undefined) this.pausedAll = true;
    else this.pausedDatabases.add(database);
    this.closeIdlePaused();
  }

  /**
   * RESUME: without a name ends the PAUSE (or KILL) of every database; with one, that
   * database's. Each ends only its own, as in PgBouncer: a database paused by name stays paused
   * through a PAUSE and RESUME of all, as an operator holding it for maintenance expects.
   */
  resume(database?: string): void {
    if (database === undefined) this.pausedAll = false;
    else this.pausedDatabases.delete(database);
    for (const listener of [...this.resumeListeners]) listener();
  }

  /** The databases paused by name (PAUSE db, KILL db), which only a RESUME naming them ends. */
  get databasesPausedByName(): ReadonlySet<string> {
    return this.pausedDatabases;
  }

  /** The databases DISABLE holds. */
  get disabledDatabaseNames(): ReadonlySet<string> {
    return this.disabledDatabases;
  }

  /** PAUSE without a database name is in force (SHOW STATE). */
  get isPausedEverywhere(): boolean {
    return this.pausedAll;
  }

  isPaused(database: string): boolean {
    return this.pausedAll || this.pausedDatabases.has(database);
  }

  /** isPaused for the pools' upkeep (PoolManager.maintain), bound once rather than at every tick. */
  private readonly isPausedNow = (database: string): boolean => this.isPaused(database);

  /** Called at every RESUME, so waiting sessions retry at once; returns an unsubscribe function. */
  onResume(listener: () => void): () => void {
    this.resumeListeners.add(listener);
    return () => this.resumeListeners.delete(listener);
  }

  private closeIdlePaused(): void {
    for (const pool of this.ctx.pools.all()) {
      if (this.isPaused(pool.key.database)) pool.closeIdle('database paused by an admin');
    }
  }

  /** RECONNECT: server connections close as soon as they are idle; new ones replace them. */
  reconnect(database?: string): void {
    for (const pool of this.ctx.pools.all()) {
      if (database === undefined || pool.key.database === database) pool.reconnect();
    }
  }

  /** KILL: drop the database's clients and servers now (the console pauses it first, see AdminConsole). */
  killClients(database: string): number {
    let killed = 0;
    for (const client of [...this.ctx.clients]) {
      if (client.database !== database) continue;
      client.fatal(SQLSTATE.ADMIN_SHUTDOWN, 'connection killed by an admin (KILL)');
      killed++;
    }
    for (const pool of this.ctx.pools.all()) {
      if (pool.key.database === database) pool.closeAll('KILL by an admin');
    }
    return killed;
  }

  /** KILL_CLIENT: id is the pid of the client's cancel key (the id column of SHOW CLIENTS). */
  killClient(id: number): boolean {
    for (const client of this.ctx.clients) {
      if (client.cancelPid !== id) continue;
      client.fatal(SQLSTATE.ADMIN_SHUTDOWN, 'connection killed by an admin (KILL_CLIENT)');
      return true;
    }
    return false;
  }

  /** DISABLE / ENABLE: new clients of a disabled database are refused at login. */
  setDisabled(database: string, disabled: boolean): void {
    if (disabled) this.disabledDatabases.add(database);
    else this.disabledDatabases.delete(database);
  }

  isDisabled(database: string): boolean {
    return this.disabledDatabases.has(database);
  }

  /** RELOAD: reread the configuration; throws (keeping the running one) when it cannot. */
  reloadFromFile(): void {
    if (!this.options.reloadConfig) throw new Error('pgtide was started without a configuration file to reread');
    this.reload(this.options.reloadConfig());
    this.options.onFileReloaded?.(this.instanceConfig);
  }

  /** SHUTDOWN: stop now, then tell the owner (the CLI exits). */
  async shutdown(): Promise<void> {
    await this.stop('now');
    this.options.onShutdown?.();
  }

  private async drainClients(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !this.drainCut) {
      let busy = false;
      for (const client of this.ctx.clients) {
        // One that came to a paused database waits for no pool (see route), and would get a
        // server only at a RESUME: the drain would wait out shutdown_timeout for it. One
        // already queued in a pool before the PAUSE is served as servers come back.
        const heldByPause =
          client.isWaiting && client.wait === Wait.Pool && client.pool === null && this.isPaused(client.database);
        if (client.server || (client.isWaiting && !heldByPause)) busy = true;
        else client.fatal(SQLSTATE.ADMIN_SHUTDOWN, 'pgtide is shutting down');
      }
      if (!busy) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function functionPolicy(config: Config): FunctionPolicy {
  return new FunctionPolicy({
    writeFunctions: config.write_function_list,
    readOnlyFunctions: config.read_only_function_list,
  });
}

function readUsers(config: Config): Map<string, string> {
  return readAuthFile(config);
}
