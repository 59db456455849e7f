// The sync points (Query, Sync, FunctionCall) a server connection was sent and has not yet
// answered with ReadyForQuery. The client session sends most of them and the server connection
// sees them answered: one object owns the count, so that neither side adds or subtracts behind
// the other's back, and "idle" means one thing.

export class SyncPoints {
  /** Sent and not yet answered by ReadyForQuery. */
  pending = 0;
  /** Client bytes were sent after the last sync point (an extended-protocol batch is open). */
  unsynced = false;

  /** Nothing is owed and no batch is open: the server's next ReadyForQuery would be for no one. */
  get idle(): boolean {
    return this.pending === 0 && !this.unsynced;
  }

  /** Bytes holding `count` sync points went to the server; `unsynced`: bytes follow the last one. */
  sent(count: number, unsynced: boolean): void {
    this.pending += count;
    this.unsynced = unsynced;
  }

  /** A ReadyForQuery arrived. Returns whether every sync point is now answered, with no batch open. */
  answered(): boolean {
    if (this.pending > 0) this.pending--;
    return this.idle;
  }

  /** The server entered COPY IN: the Syncs sent since the Execute that started it are ignored there. */
  ignored(count: number): void {
    this.pending -= count;
  }
}
