// A client's queries and transactions as SHOW STATS and /metrics count them, in its pool's stats.
// The module's binding, not the global getter: read twice per round trip for query and transaction times.
import { performance } from 'node:perf_hooks';
import { TransactionStatus } from '../../protocol/types.js';
import type { ClientSession } from '../client-session.js';

/** What of the session these functions use. */
export type StatsSession = Pick<ClientSession, 'pool' | 'queryStart' | 'xactStart'>;

/** The client's next bytes go to a server with nothing of its own running there: a query starts, and maybe a transaction. */
export function startQuery(s: StatsSession): void {
  const now = performance.now();
  s.queryStart = now;
  if (s.xactStart === 0) s.xactStart = now;
}

/**
 * Every sync point is answered: counted as PgBouncer counts, one query from the first bytes
 * sent to that ReadyForQuery (sync points pipelined before it count once), one transaction
 * ending at status idle. Times run from the bytes reaching a server, so a wait for one is not
 * in them (total_wait_time has it). Plain numbers: this runs once per round trip.
 */
export function countAnswered(s: StatsSession, status: number): void {
  const stats = s.pool!.stats;
  const now = performance.now();
  if (s.queryStart !== 0) {
    stats.queries++;
    stats.queryTimeUs += (now - s.queryStart) * 1000;
    s.queryStart = 0;
  }
  if (status !== TransactionStatus.Idle) return;
  stats.xacts++;
  if (s.xactStart !== 0) stats.xactTimeUs += (now - s.xactStart) * 1000;
  s.xactStart = 0;
}
