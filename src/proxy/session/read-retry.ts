// Whether a server's answer refuses what the client sent in a way that lets pgtide run the same
// bytes again unseen: a standby's "read-only transaction" refusal (25006, the bytes go to the
// primary), or a prepared statement that was stale or missing (prepared again, run again).
// Decided from the chunk alone, before any of it reaches the client.
import { decodeErrorFields, type ErrorFields } from '../../protocol/backend.js';
import { BackendMessage, TransactionStatus } from '../../protocol/types.js';

export const enum Refusal {
  None,
  /** Refused, and the chunk ends with the ReadyForQuery that ends the refusal. */
  Complete,
  /** Refused, its ReadyForQuery still to come. */
  AwaitingReady,
}

/** Whether an error refusing a statement lets it run again unseen: a shared function given its
 *  context, not a closure per session. */
export type Retryable<C> = (error: ErrorFields, context: C) => boolean;

const READ_ONLY_REFUSAL = '25006';

export function isReadOnlyRefusal(error: ErrorFields): boolean {
  return error.code === READ_ONLY_REFUSAL;
}

/**
 * Whether a chunk answers a statement with an error `retryable` accepts ("cannot execute … in a
 * read-only transaction", a stale plan) before any row, ending idle (outside a transaction
 * block) or about to: then nothing of it needs to reach the client. Several batches (Syncs)
 * count when each of them is refused so: none of them ran.
 */
export function refusalIn<C>(chunk: Buffer, retryable: Retryable<C>, context: C, awaitingReady = false): Refusal {
  let off = 0;
  let refused = awaitingReady;
  while (off + 5 <= chunk.length) {
    const type = chunk[off]!;
    const len = chunk.readUInt32BE(off + 1);
    const end = off + 1 + len;
    if (len < 4 || end > chunk.length) return Refusal.None;
    if (type === BackendMessage.ErrorResponse) {
      refused = retryable(decodeErrorFields(chunk.subarray(off + 5, end)), context);
      if (!refused) return Refusal.None;
    } else if (type === BackendMessage.ReadyForQuery) {
      if (!refused || chunk[off + 5] !== TransactionStatus.Idle) return Refusal.None;
      if (end === chunk.length) return Refusal.Complete;
      refused = false;
    } else if (type === BackendMessage.DataRow || type === BackendMessage.CommandComplete) {
      return Refusal.None;
    }
    off = end;
  }
  return refused && off === chunk.length ? Refusal.AwaitingReady : Refusal.None;
}
