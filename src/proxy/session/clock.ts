// The times a session keeps (when it connected, when it was last active, when query_timeout
// cancelled its statement) as V8 keeps them cheaply. Date.now() is past V8's small integers, and
// a field that ever holds such a number holds it in a box of 16 bytes in every session made
// after. Counted in tenths of a second since this process loaded the module, they stay small
// integers for over three years (2^30 of them, the smallest small-integer range V8 builds use).
// Ticks are rounded up: a time read back is never earlier than the one stored, so a timeout
// counted from it never ends early (at most one tick late, less than the janitor's 250 ms).

/** Milliseconds in a tick. */
export const TICK_MS = 100;
const EPOCH_MS = Date.now();

/** A time (ms since 1970, as Date.now()) in ticks. */
export function toTicks(ms: number): number {
  // -0 (a time just before the epoch: the clock was set back) is no small integer; 0 is.
  return Math.ceil((ms - EPOCH_MS) / TICK_MS) || 0;
}

/** Ticks back to a time in ms since 1970: at most one tick after the one stored. */
export function fromTicks(ticks: number): number {
  return EPOCH_MS + ticks * TICK_MS;
}
