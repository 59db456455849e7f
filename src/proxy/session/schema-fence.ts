// The schema fence (see ReplayTracker.schemaFence) where the transaction's own server does not
// serve it: a DDL transaction whose server pgtide does not read the WAL position on right away
// (its client keeps it, or is not read_your_writes) has it read on another connection of the
// pool; and with workers, the other workers hear of the fence before the client of its commit.
import type { LendingPool, LinkedServer, ServerWaiter } from '../../pool/linked-server.js';
import type { ReplayTracker } from '../read-your-writes.js';

/**
 * With `workers = N`: the answer that ends a DDL transaction reaches its client only once every
 * other worker holds its read_your_writes reads for the fence (`announce`), since a client told
 * of the commit may have another client read at once, through any worker. What the client is
 * sent meanwhile queues behind it, in order: the socket is corked until then.
 */
export function holdForFence(socket: { cork(): void; uncork(): void }, announce: () => Promise<unknown>): void {
  socket.cork();
  const release = () => socket.uncork();
  announce().then(release, release);
}

/** The longest the position waits in the queue of a full pool before it is not read at all. */
const QUEUE_WAIT_MS = 5000;

/** A DDL transaction ended: its pool's next connection reads where the primary's WAL stands.
 *  `sessionPool`: its connections go to clients unreset (see ReplayTracker.writePosition). */
export function fenceFromPool(pool: LendingPool | null, replay: ReplayTracker, sessionPool = false): void {
  if (pool !== null) pool.acquire(new FenceReader(pool, replay, sessionPool));
}

/**
 * Waits in the pool's queue like a client when no connection is idle (a full pool, a pinned
 * writer holding the only other one, a client in session pooling whose pool opens another).
 * Meanwhile read_your_writes reads go to the primary, for at most a second (see
 * ReplayTracker.fenceUnknown): they would otherwise read a standby that may lack the change.
 */
class FenceReader implements ServerWaiter {
  waitingSince = 0;
  private readonly giveUp: NodeJS.Timeout;

  constructor(
    private readonly pool: LendingPool,
    private readonly replay: ReplayTracker,
    private readonly sessionPool: boolean,
  ) {
    replay.beginSchemaFence();
    this.giveUp = setTimeout(() => this.abandon(), QUEUE_WAIT_MS);
    this.giveUp.unref();
  }

  onServerAssigned(server: LinkedServer): void {
    clearTimeout(this.giveUp);
    const replay = this.replay;
    replay.writePosition(server, this.sessionPool).then(
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
    this.replay.fenceSchema(null);
  }

  private abandon(): void {
    this.pool.cancelWait(this);
    this.replay.fenceSchema(null);
  }
}
