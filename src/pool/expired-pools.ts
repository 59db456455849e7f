// The counters of pools dropped by pool_idle_timeout. A pool per (database, user, backend) lives
// only while it is used, but what SHOW STATS and /metrics report per database must never go
// down: a dropped pool's counts are added to one record per (database, backend), whose user is
// empty, and read with the live pools'.
import { PoolStats, type PoolCounters } from './pool.js';

export class ExpiredPools {
  private readonly totals = new Map<string, PoolCounters>();

  /** Keep what `pool` counted; the pool itself is forgotten by its caller. */
  add(pool: PoolCounters): void {
    const { database, backend } = pool.key;
    const id = `${database}\0${backend}`;
    let kept = this.totals.get(id);
    if (!kept) {
      kept = {
        key: { database, user: '', backend },
        lentTotal: 0,
        waitedTotal: 0,
        waitTimeTotalMs: 0,
        stats: new PoolStats(),
      };
      this.totals.set(id, kept);
    }
    kept.lentTotal += pool.lentTotal;
    kept.waitedTotal += pool.waitedTotal;
    kept.waitTimeTotalMs += pool.waitTimeTotalMs;
    kept.stats.add(pool.stats);
  }

  all(): IterableIterator<PoolCounters> {
    return this.totals.values();
  }
}
