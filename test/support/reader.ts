// A reading client for fault tests: reconnects after an error and counts the errors.
import pg from 'pg';

export const PROBE = 'SELECT pg_catalog.inet_server_port() AS port';

/** A client that reconnects after an error, counting the errors it saw. */
export class Reader {
  errors = 0;
  private client: pg.Client | null = null;
  constructor(private readonly config: pg.ClientConfig) {}

  async port(): Promise<number | null> {
    try {
      if (!this.client) {
        this.client = new pg.Client(this.config);
        this.client.on('error', () => {});
        await this.client.connect();
      }
      return (await this.client.query(PROBE)).rows[0].port as number;
    } catch {
      this.errors++;
      await this.client?.end().catch(() => {});
      this.client = null;
      return null;
    }
  }

  async end(): Promise<void> {
    await this.client?.end().catch(() => {});
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Let pgtide learn that a function-calling probe only reads: the first call goes to the primary
 * while the parser thread reads it and the catalog is asked about the function; after that the
 * probe is a read (a second call covers a function only the parser could name).
 */
export async function learnProbe(run: (sql: string) => Promise<unknown>, sql = PROBE): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await run(sql);
    await sleep(300);
  }
}
