// The order in which the targets take their turns in a round. A run leaves traces for the
// next one: PostgreSQL's backends and caches after `direct`, the machine's state after a
// heavy target. Three identical pgtide builds measured side by side (bench/RESULTS.md,
// session 26) cost 5 % more CPU per transaction in the turn right after `direct` than in the
// turn next to PgBouncer. With a fixed order (backwards every other round) the same target
// always took that turn, and every ratio to it carried the bias. Each round now draws its own
// order. The draw is seeded by the round, so a run can be repeated, and over the rounds every
// target meets every place and every neighbour.

/** xorshift32: a small deterministic generator, enough to shuffle a handful of targets. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** The targets in the order they run in round `round` (1-based): a shuffle seeded by the round. */
export function turnOrder<T>(targets: readonly T[], round: number): T[] {
  const next = generator(Math.imul(round, 0x85ebca6b) ^ 0x27d4eb2f);
  const order = [...targets];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
