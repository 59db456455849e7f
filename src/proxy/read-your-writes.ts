import { parseLsn } from '../cluster/replication.js';
import type { LinkedServer } from '../pool/linked-server.js';

const POLL_MS = 2;

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
   * whoever ran it: a read_your_writes client reads on a standby only once that standby has
   * replayed it, so a table another client just created is there (null: none yet). Data
   * other clients wrote is not waited for: read_your_writes is per client.
   */
  schemaFence: bigint | null = null;
  /** DDL transactions that ended and whose position is being read: meanwhile read_your_writes
   *  reads go to the primary, as no position to wait for is known yet. */
  fencePending = 0;

  /** A client's DDL transaction ended: its position is asked for (fenceSchema follows, always). */
  beginSchemaFence(): void {
    this.fencePending++;
  }

  /** The position asked for at beginSchemaFence: `lsn`, or null when it could not be read. */
  fenceSchema(lsn: bigint | null): void {
    this.fencePending--;
    if (lsn !== null && (this.schemaFence === null || lsn > this.schemaFence)) this.schemaFence = lsn;
  }

  /** Where the primary's WAL stands right after a client's write transaction committed. */
  async writePosition(server: LinkedServer): Promise<bigint> {
    const rows = await server.query('SELECT pg_catalog.pg_current_wal_lsn()');
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
        const rows = await server.query('SELECT pg_catalog.pg_last_wal_replay_lsn()');
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
