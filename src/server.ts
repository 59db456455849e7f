import net from 'node:net';
import type { Config } from './config/types.js';
import { createLogger, type Logger } from './log.js';
import { loadUserList } from './auth/userlist.js';
import { scramSecretFromPassword, type Secret } from './auth/secret.js';
import * as encode from './protocol/encode.js';
import { SQLSTATE } from './protocol/encode.js';
import { PoolManager } from './pool/pool-manager.js';
import type { ServerConnection } from './pool/server-connection.js';
import { CancelKeys } from './proxy/cancel-keys.js';
import { Router, staticClusterView } from './proxy/router.js';
import { FunctionCatalog } from './proxy/function-catalog.js';
import { Classifier, FunctionPolicy } from './sql/index.js';
import { ClientSession } from './proxy/client-session.js';
import type { ProxyContext } from './proxy/context.js';
import { boundAddresses, closeAll, listen, type ListenAddress } from './proxy/listener.js';
import { clientTlsContext, serverTlsOptions } from './proxy/tls.js';

const JANITOR_INTERVAL_MS = 250;
const CANCEL_TIMEOUT_MS = 5000;

export interface PgtideOptions {
  logger?: Logger;
  /** Worker number encoded in cancel keys (0 for a single process). */
  workerId?: number;
}

/** One pgtide process: listeners, client sessions, pools and their upkeep. */
export class Pgtide {
  readonly log: Logger;
  private readonly ctx: ProxyContext;
  private readonly scramSecrets = new Map<string, Secret>();
  private listeners: net.Server[] = [];
  private janitor: NodeJS.Timeout | null = null;

  constructor(config: Config, options: PgtideOptions = {}) {
    this.log = options.logger ?? createLogger(config.instance_name, config.log_level);
    const users = readUsers(config);
    const classifier = new Classifier({ policy: functionPolicy(config) });
    this.ctx = {
      config,
      users,
      pools: new PoolManager(config, users, serverTlsOptions(config), this.log),
      router: new Router(config, staticClusterView(config)),
      classifier,
      functions: new FunctionCatalog(classifier.policy, this.log),
      cancelKeys: new CancelKeys<ClientSession>(options.workerId ?? 0),
      clientTls: clientTlsContext(config),
      log: this.log,
      clients: new Set(),
      loggingIn: new Set(),
      sendCancel: (server) => this.sendCancel(server),
      plainToScram: (user, password) => this.plainToScram(user, password),
      paused: false,
    };
  }

  get config(): Config {
    return this.ctx.config;
  }

  get context(): ProxyContext {
    return this.ctx;
  }

  async start(): Promise<void> {
    // The real PostgreSQL grammar (WASM) loads once; until then ambiguous statements go to the primary.
    this.ctx.classifier = await Classifier.create({ policy: this.ctx.classifier.policy });
    this.listeners = await listen(this.ctx.config, (socket) => this.accept(socket));
    this.janitor = setInterval(() => this.tick(), JANITOR_INTERVAL_MS);
    this.janitor.unref();
    this.log.info({ listen: this.addresses() }, 'pgtide started');
  }

  addresses(): ListenAddress[] {
    return boundAddresses(this.listeners);
  }

  private accept(socket: net.Socket): void {
    const ctx = this.ctx;
    const cfg = ctx.config;
    const remote = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix';
    if (ctx.clients.size >= cfg.max_client_conn) {
      socket.on('error', () => {});
      socket.end(encode.errorResponse('FATAL', SQLSTATE.TOO_MANY_CONNECTIONS, `no more connections allowed (max_client_conn = ${cfg.max_client_conn})`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    if (ctx.loggingIn.size >= cfg.max_login_clients) {
      // Evict the oldest unfinished login rather than refuse the newcomer: a flood of silent
      // sockets then cannot lock real clients out, it only shortens its own life.
      const oldest = ctx.loggingIn.values().next().value;
      oldest?.fatal(SQLSTATE.TOO_MANY_CONNECTIONS, `too many clients logging in (max_login_clients = ${cfg.max_login_clients})`);
    }
    new ClientSession(socket, ctx, remote);
  }

  private tick(): void {
    const now = Date.now();
    this.ctx.pools.maintain(now);
    for (const client of this.ctx.clients) client.checkTimeouts(now);
  }

  /** Cancel what a server runs, on a new connection; the server is not reused before it ends. */
  private sendCancel(server: ServerConnection): void {
    if (!server.backendSecret) return;
    server.cancelsInFlight++;
    const { host, port } = server.login.endpoint;
    const socket = net.connect({ host, port });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      server.cancelDone();
    };
    socket.setTimeout(CANCEL_TIMEOUT_MS, finish);
    socket.once('connect', () => socket.write(encode.cancelRequest(server.backendPid, server.backendSecret!)));
    socket.once('error', finish);
    socket.once('close', finish);
  }

  private plainToScram(user: string, password: string): Secret {
    const key = `${user}\0${password}`;
    const cached = this.scramSecrets.get(key);
    if (cached) return cached;
    const secret = scramSecretFromPassword(password);
    this.scramSecrets.set(key, secret);
    return secret;
  }

  /** Apply a new configuration without dropping clients (pool sizes, limits, users). */
  reload(config: Config): void {
    const users = readUsers(config);
    this.ctx.config = config;
    this.ctx.users = users;
    this.scramSecrets.clear();
    this.ctx.pools.reconfigure(config, users);
    this.ctx.router.reconfigure(config, staticClusterView(config));
    this.ctx.classifier = new Classifier({ policy: functionPolicy(config) });
    this.ctx.functions.usePolicy(this.ctx.classifier.policy);
    this.log.info('configuration reloaded');
  }

  /**
   * Stop. Graceful: stop accepting, let running transactions finish (up to shutdown_timeout),
   * then close. Fast: close everything now.
   */
  async stop(graceful = false): Promise<void> {
    if (this.janitor) clearInterval(this.janitor);
    this.janitor = null;
    closeAll(this.listeners);
    this.listeners = [];
    if (graceful) await this.drainClients(this.ctx.config.shutdown_timeout * 1000);
    for (const client of [...this.ctx.clients]) client.fatal(SQLSTATE.ADMIN_SHUTDOWN, 'pgtide is shutting down');
    this.ctx.pools.closeAll('pgtide is shutting down');
  }

  private async drainClients(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      let busy = false;
      for (const client of this.ctx.clients) {
        if (client.server || client.isWaiting) busy = true;
        else client.fatal(SQLSTATE.ADMIN_SHUTDOWN, 'pgtide is shutting down');
      }
      if (!busy) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function functionPolicy(config: Config): FunctionPolicy {
  return new FunctionPolicy({ writeFunctions: config.write_function_list, readOnlyFunctions: config.read_only_function_list });
}

function readUsers(config: Config): Map<string, string> {
  return config.auth_file ? loadUserList(config.auth_file) : new Map();
}
