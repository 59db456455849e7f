// pgtide's own connection to one backend for health and role checks. It is opened on first
// use and kept between checks (a check is then one round trip, not a login), and is never
// lent to a client, so it is the ServerOwner of its ServerConnection.
import { ServerConnection } from '../pool/server-connection.js';
import type { ServerLogin, ServerLoginError } from '../pool/server-login.js';
import type { ServerOwner } from '../pool/server-peer.js';

type Rows = (string | null)[][];

export class CheckConnection implements ServerOwner {
  private server: ServerConnection | null = null;
  private loggingIn: { resolve(): void; reject(error: Error): void } | null = null;

  constructor(private readonly makeLogin: () => ServerLogin) {}

  /**
   * Runs one simple query, logging in first if needed. Past timeoutMs (0 = none) the
   * connection is closed, since a server that does not answer may be hung mid-query and
   * its connection can no longer be trusted to be idle.
   */
  query(sql: string, timeoutMs: number): Promise<Rows> {
    const run = this.connect().then((server) => server.query(sql));
    if (timeoutMs <= 0) return run;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer within ${timeoutMs} ms`));
        this.close('check timed out');
      }, timeoutMs);
    });
    // The losing promise's rejection is expected once the connection is closed.
    run.catch(() => undefined);
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  }

  /** When the login of the connection in use began (null: none open): a check that succeeds on
   *  a connection that logged in after a backend stopped taking logins proves it takes them. */
  get loginStartedAt(): number | null {
    return this.server?.createdAt ?? null;
  }

  close(reason: string): void {
    const server = this.server;
    this.server = null;
    server?.close(reason);
    this.loggingIn?.reject(new Error(reason));
    this.loggingIn = null;
  }

  onServerLogin(server: ServerConnection, error: ServerLoginError | null): void {
    if (server !== this.server) return;
    const waiting = this.loggingIn;
    this.loggingIn = null;
    if (error) {
      this.server = null;
      waiting?.reject(error);
    } else {
      waiting?.resolve();
    }
  }

  onServerClosed(server: ServerConnection): void {
    if (server === this.server) this.server = null;
  }

  onServerReusable(): void {
    // Never lent to a client, so never handed back after one.
  }

  private connect(): Promise<ServerConnection> {
    const server = this.server;
    if (server !== null && !server.isClosed && this.loggingIn === null) return Promise.resolve(server);
    if (server !== null && this.loggingIn !== null) return this.waitForLogin(server);
    let login: ServerLogin;
    try {
      login = this.makeLogin();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const fresh = new ServerConnection(login, this);
    this.server = fresh;
    return this.waitForLogin(fresh);
  }

  private waitForLogin(server: ServerConnection): Promise<ServerConnection> {
    return new Promise<void>((resolve, reject) => {
      const previous = this.loggingIn;
      // A second query during the same login waits for the same outcome.
      this.loggingIn = {
        resolve: () => {
          previous?.resolve();
          resolve();
        },
        reject: (error) => {
          previous?.reject(error);
          reject(error);
        },
      };
    }).then(() => server);
  }
}
