import { parseLsn } from '../cluster/replication.js';
import type { LinkedServer } from '../pool/linked-server.js';
import { POSITION_ALONE, REPLAYED_ALONE, WRITE_POSITION, runChecks } from './own-checks.js';

const POLL_MS = 2;

/** A schema fence as the other workers of `workers = N` hear of it: 'begin' when a DDL
 *  transaction ended (before its client is told, see ClientSession.onServerData), then its
 *  position once read (null: not read). */
export type FenceNews = 'begin' | bigint | null;

/** How long a fence may stay unread (a DDL's position not learned yet, here or in another
 *  worker), meanwhile sending read_your_writes reads to the primary: a worker that died while
 *  reading never tells how it ended. Read later, the position holds for the reads after it. */
const PENDING_MS = 1000;

/**
 * Read-your-writes bookkeeping shared by the sessions of one process: the highest WAL
 * position each standby is known to have replayed, so that most reads need no extra check.
 * Only clients with `consistency = read_your_writes` ever call into it.
 */
export class ReplayTracker {
  private readonly replayed = new Map<string, bigint>();
  /** When each standby was last asked for its replay position (ms since epoch). */
  private readonly polledAt = new Map<string, number>();
  /**
   * Where the primary's WAL stood after the last transaction that changed the schema (DDL),
   * whoever ran it, in any worker: a read_your_writes client reads on a standby only once that
   * standby has replayed it, so a table another client just created is there (null: none yet).
   * Data other clients wrote is not waited for: read_your_writes is per client.
   */
  schemaFence: bigint | null = null;
  /** DDL transactions that ended, here or in other workers as far as their news came, and whose
   *  positions are being read (see fenceUnknown); counted until pendingUntil. */
  private pending = 0;
  private pendingUntil = 0;

  /** `tellOtherWorkers`: with `workers = N`, passes the positions of this worker's fences on. */
  constructor(private readonly tellOtherWorkers: ((lsn: bigint | null) => void) | null = null) {}

  /** A client's DDL transaction ended: its position is asked for (fenceSchema follows, always). */
  beginSchemaFence(): void {
    this.begin();
  }

  /** The position asked for at beginSchemaFence: `lsn`, or null when it could not be read. */
  fenceSchema(lsn: bigint | null): void {
    this.end(lsn);
    this.tellOtherWorkers?.(lsn);
  }

  /** What another worker's beginSchemaFence or fenceSchema told. */
  otherWorkerFence(news: FenceNews): void {
    if (news === 'begin') this.begin();
    else this.end(news);
  }

  /** A DDL's position is being read, here or in another worker: no fence to wait for is known
   *  yet, so read_your_writes reads go to the primary. */
  fenceUnknown(): boolean {
    if (this.pending === 0) return false;
    if (Date.now() < this.pendingUntil) return true;
    this.pending = 0;
    return false;
  }

  private begin(): void {
    this.pending++;
    this.pendingUntil = Date.now() + PENDING_MS;
  }

  private end(lsn: bigint | null): void {
    if (this.pending > 0) this.pending--;
    if (lsn !== null && (this.schemaFence === null || lsn > this.schemaFence)) this.schemaFence = lsn;
  }

  /** Where the primary's WAL stands right after a client's write transaction committed.
   *  `unprepared`: read by a simple query, leaving no statement of pgtide's on a connection
   *  that session pooling lends as it is (its client would find it in pg_prepared_statements). */
  async writePosition(server: LinkedServer, unprepared = false): Promise<bigint> {
    const rows = unprepared ? await server.query(WRITE_POSITION, null) : await runChecks(server, POSITION_ALONE, null);
    return parseLsn(rows[0]?.[0] ?? '');
  }

  /**
   * Whether the standby behind `server` has replayed `target`, polling it until `deadline`
   * (ms since epoch). The server must be idle and not lent to anyone meanwhile.
   */
  async waitForReplay(server: LinkedServer, backend: string, target: bigint, deadline: number): Promise<boolean> {
    for (;;) {
      if ((this.replayed.get(backend) ?? -1n) >= target) return true;
      // Every read that waits for a lagging standby asks it (after another client's DDL, every
      // read_your_writes read does): at most one asks per POLL_MS, the others read its answer.
      const now = Date.now();
      if (now - (this.polledAt.get(backend) ?? 0) >= POLL_MS) {
        this.polledAt.set(backend, now);
        const rows = await runChecks(server, REPLAYED_ALONE, null);
        const text = rows[0]?.[0];
        if (text) {
          const lsn = parseLsn(text);
          if (lsn > (this.replayed.get(backend) ?? -1n)) this.replayed.set(backend, lsn);
          if (lsn >= target) return true;
        }
      }
      if (Date.now() + POLL_MS > deadline) return false;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Cheap check that needs no query: the standby is already known to be past `target`. */
  knownReplayed(backend: string, target: bigint): boolean {
    return (this.replayed.get(backend) ?? -1n) >= target;
  }
}
