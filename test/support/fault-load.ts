// Client load for fault tests: loops that run one statement at a time through pgtide and keep,
// for every call, how long it took and how it ended, so a test can assert that every wait
// ended in time with an ErrorResponse, and which server acknowledged each write.
import pg from 'pg';

export interface CallRecord {
  startedAt: number;
  ms: number;
  /** SQLSTATE of the error, '' for an error without one (a connection dropped silently), null on success. */
  code: string | null;
  /** inet_server_port() of the server that answered (null on error). */
  port: number | null;
  /** The id written, for write loops. */
  id: number;
  /** The error's message, for diagnosis. */
  message?: string;
}

let nextId = 1;

export interface LoadOptions {
  /** Between calls. */
  pauseMs?: number;
  /** Names the loop; with a $2 in `sql`, its value. */
  name?: string;
  /**
   * Keep the connection after an error that leaves it usable (a statement refused, as 25006), as
   * an application's connection does, and reconnect only after a lost one (class 08, 57P0x, or
   * none). By default every error reconnects: a session-mode client stuck on a standby would then
   * get a fresh route at each reconnection and hide it.
   */
  keepAfterRefusal?: boolean;
}

export class LoadLoop {
  readonly calls: CallRecord[] = [];
  readonly name: string;
  private running = true;
  private client: pg.Client | null = null;
  private readonly done: Promise<void>;
  private readonly pauseMs: number;
  private readonly keepAfterRefusal: boolean;

  /** `sql` gets $1 = a unique id (and $2 = the loop's name, see LoadOptions) and must return a row with `port`. */
  constructor(
    private readonly config: pg.ClientConfig,
    private readonly sql: string,
    { pauseMs = 20, name = '', keepAfterRefusal = false }: LoadOptions = {},
  ) {
    this.pauseMs = pauseMs;
    this.name = name;
    this.keepAfterRefusal = keepAfterRefusal;
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    // An ErrorResponse that arrives between statements (a server's FATAL as its postmaster
    // dies, passed on as PostgreSQL would send it) is an 'error' event, and the next call fails
    // without a code: that call ended with this SQLSTATE.
    let between: string | undefined;
    while (this.running) {
      const id = nextId++;
      const startedAt = Date.now();
      try {
        if (!this.client) {
          between = undefined;
          const client = new pg.Client(this.config);
          client.on('error', (err: Error & { code?: string }) => (between ??= err.code));
          this.client = client;
          await client.connect();
        }
        const params = this.sql.includes('$2') ? [id, this.name] : this.sql.includes('$1') ? [id] : [];
        const port = (await this.client.query(this.sql, params)).rows[0].port as number;
        this.calls.push({ startedAt, ms: Date.now() - startedAt, code: null, port, id });
      } catch (err) {
        const code = (err as { code?: string }).code ?? between ?? '';
        this.calls.push({
          startedAt,
          ms: Date.now() - startedAt,
          code,
          port: null,
          id,
          message: (err as Error).message,
        });
        if (!this.keepAfterRefusal || !code || /^(08|57P0)/.test(code) || between !== undefined) {
          await this.client?.end().catch(() => {});
          this.client = null;
        }
      }
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  /** Calls that succeeded on the server at `port`, started at or after `since`. */
  okOn(port: number, since: number): CallRecord[] {
    return this.calls.filter((c) => c.code === null && c.port === port && c.startedAt >= since);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    await this.client?.end().catch(() => {});
  }
}

export function allCalls(loops: LoadLoop[]): CallRecord[] {
  return loops.flatMap((l) => l.calls);
}

/** One line for assertion messages: counts of outcomes and the longest call. */
export function summary(calls: CallRecord[]): string {
  const byOutcome = new Map<string, number>();
  for (const c of calls) byOutcome.set(c.code ?? `ok:${c.port}`, (byOutcome.get(c.code ?? `ok:${c.port}`) ?? 0) + 1);
  const longest = calls.reduce((m, c) => Math.max(m, c.ms), 0);
  return `${calls.length} calls ${JSON.stringify(Object.fromEntries(byOutcome))}, longest ${longest} ms`;
}
