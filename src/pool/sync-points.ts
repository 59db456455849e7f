// The sync points (Query, Sync, FunctionCall) a server connection was sent and has not yet
// answered with ReadyForQuery. The client session sends most of them and the server connection
// sees them answered: one object owns the count, so that neither side adds or subtracts behind
// the other's back, and "idle" means one thing.
//
// After an error in an extended-protocol message PostgreSQL discards every message until the
// next Sync, a Query or FunctionCall among them, which then gets no ReadyForQuery. Such sync
// points are sent "inside a batch" (after Parse, Bind … with no Sync since); the count tells
// the error of a batch message before them from the Query's own by the answers the server gave
// since its last ReadyForQuery: ParseComplete, BindComplete, and CommandComplete,
// EmptyQueryResponse or PortalSuspended, one for each Parse, Bind and Execute (Describe and
// Close are left out on both sides). Fewer than the client sent: a batch message failed. A
// Describe failing after the batch's last Execute is taken for the Query's own error: the
// server is then kept until the client leaves, as before, never released early.

import { nextEvent } from './notifier.js';

export class SyncPoints {
  /** Sent and not yet answered by ReadyForQuery. */
  pending = 0;
  /** Client bytes were sent after the last sync point (an extended-protocol batch is open). */
  unsynced = false;
  /** Answers to extended-protocol messages since the last ReadyForQuery (see countAnswer). */
  private answers = 0;
  /** Sync points sent so far: the ordinal of the next one. */
  private sentTotal = 0;
  /** The event (see notifier.ts) at which bytes holding sync points were last sent. */
  sentAt = 0;
  /** Query or FunctionCall sync points sent inside a batch, oldest first: pairs of (ordinal,
   *  Parse, Bind and Execute messages the client sent between the sync point before it and it). */
  private readonly batched: number[] = [];
  /** An extended-protocol message failed: the server discards what it reads until a Sync. */
  private skipping = false;

  /** Nothing is owed and no batch is open: the server's next ReadyForQuery would be for no one. */
  get idle(): boolean {
    return this.pending === 0 && !this.unsynced;
  }

  /** Whether the server's answers to extended-protocol messages must be counted (countAnswer):
   *  a batch is open, or a sync point sent inside one is owed. */
  get watching(): boolean {
    return this.unsynced || this.batched.length > 0;
  }

  /** A Query or FunctionCall owed was sent inside a batch whose messages before it are not all
   *  answered yet: should one of them fail, the server skips it and sends no ReadyForQuery for it. */
  get querySkippable(): boolean {
    const batched = this.batched;
    return batched.length > 2 || (batched.length === 2 && (batched[0] !== this.head || this.answers < batched[1]!));
  }

  /** Answers to extended-protocol messages counted since the last ReadyForQuery (see countAnswer). */
  get answersSinceReady(): number {
    return this.answers;
  }

  /** An extended-protocol message failed since the last ReadyForQuery: the server discards what it reads until a Sync. */
  get discarding(): boolean {
    return this.skipping;
  }

  /** Bytes holding `count` sync points went to the server; `unsynced`: bytes follow the last one.
   *  `batched`: pairs (index among these `count`, extended messages before it) of those sent inside a batch. */
  sent(count: number, unsynced: boolean, batched: readonly number[] | null = null): void {
    if (batched)
      for (let i = 0; i + 1 < batched.length; i += 2) this.batched.push(this.sentTotal + batched[i]!, batched[i + 1]!);
    if (count > 0) this.sentAt = nextEvent();
    this.sentTotal += count;
    this.pending += count;
    this.unsynced = unsynced;
    // The error came before these bytes were sent (their batch was sent in an earlier chunk).
    if (this.skipping) this.skip();
  }

  /** A ReadyForQuery arrived. Returns whether every sync point is now answered, with no batch open. */
  answered(): boolean {
    if (this.pending > 0) this.pending--;
    this.answers = 0;
    this.skipping = false;
    // Sync points sent inside a batch that the server answered: no error came before them.
    while (this.batched.length > 0 && this.batched[0]! < this.head) this.batched.splice(0, 2);
    return this.idle;
  }

  /** ParseComplete, BindComplete, CommandComplete, EmptyQueryResponse or PortalSuspended: the
   *  end of the answer to a Parse, Bind or Execute (or a statement of a Query). */
  countAnswer(): void {
    this.answers++;
  }

  /**
   * An ErrorResponse to the client's bytes. When it answers an extended-protocol message, the
   * server skips to the next Sync: the sync points sent inside the batch before that Sync are
   * no longer owed. Returns how many were dropped.
   */
  failed(): number {
    // Nothing owed: only batch messages can have failed. A sync point that is not inside a
    // batch is a Sync (the server skips to it, nothing more) or a Query that failed itself.
    const fromBatch =
      this.pending === 0 ? this.unsynced : this.batched[0] === this.head && this.answers < this.batched[1]!;
    if (!fromBatch) return 0;
    this.skipping = true;
    return this.skip();
  }

  /** Drop the sync points sent inside the batch from the oldest owed on: every one up to the
   *  next Sync was (a Query does not end a batch). */
  private skip(): number {
    const head = this.head;
    let dropped = 0;
    while (this.batched[0] === head + dropped) {
      this.batched.splice(0, 2);
      dropped++;
    }
    for (let i = 0; i < this.batched.length; i += 2) this.batched[i]! -= dropped;
    this.skipped(dropped);
    return dropped;
  }

  /** `count` sync points from the oldest owed on were skipped by the server after an error (as
   *  SyncPoints judged, or the ResponseTracker of a client whose stream pgtide edits). */
  skipped(count: number): void {
    if (count === 0) return;
    this.pending -= count;
    this.sentTotal -= count;
    // The client has not sent the batch's Sync yet: the batch is still open.
    if (this.pending === 0) this.unsynced = true;
  }

  /** The server entered COPY IN: the Syncs sent since the Execute that started it are ignored there. */
  ignored(count: number): void {
    this.pending -= count;
    this.sentTotal -= count;
  }

  /** Ordinal of the oldest sync point not yet answered. */
  private get head(): number {
    return this.sentTotal - this.pending;
  }
}
