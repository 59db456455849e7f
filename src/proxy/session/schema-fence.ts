// The schema fence of a DDL transaction whose own server pgtide does not read the WAL position
// on right away (its client keeps it, or is not read_your_writes): the position is read on
// another connection of the pool, the first one it lends (see ReplayTracker.schemaFence).
import type { LendingPool, LinkedServer, ServerWaiter } from '../../pool/linked-server.js';
import type { ReplayTracker } from '../read-your-writes.js';

/** The longest the position waits in the queue of a full pool before it is not read at all. */
const QUEUE_WAIT_MS = 5000;

/** A DDL transaction ended: its pool's next connection reads where the primary's WAL stands. */
export function fenceFromPool(pool: LendingPool | null, replay: ReplayTracker): void {
  if (pool !== null) pool.acquire(new FenceReader(pool, replay));
}

/**
 * Waits in the pool's queue like a client when no connection is idle (a full pool, or a pinned
 * writer holding the only other one). Only once it has a connection are read_your_writes reads
 * sent to the primary while the position is read (one round trip): sent there while it waits,
 * they would wait for the same full pool, rather than on a standby that may already have
 * replayed the change.
 */
class FenceReader implements ServerWaiter {
  waitingSince = 0;
  private readonly giveUp: NodeJS.Timeout;

  constructor(
    private readonly pool: LendingPool,
    private readonly replay: ReplayTracker,
  ) {
    this.giveUp = setTimeout(() => this.pool.cancelWait(this), QUEUE_WAIT_MS);
    this.giveUp.unref();
  }

  onServerAssigned(server: LinkedServer): void {
    clearTimeout(this.giveUp);
    const replay = this.replay;
    replay.beginSchemaFence();
    replay.writePosition(server).then(
      (lsn) => {
        replay.fenceSchema(lsn);
        server.returnWhenCancelsDone();
      },
      () => {
        replay.fenceSchema(null);
        if (!server.isClosed) server.close('could not read the WAL position');
      },
    );
  }

  onPoolError(): void {
    clearTimeout(this.giveUp);
  }
}
