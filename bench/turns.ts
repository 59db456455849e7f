// The order in which the targets take their turns in a round. A run leaves traces for the
// next one: PostgreSQL's backends and caches after `direct`, the machine's state after a
// heavy target. Three identical pgtide builds measured side by side (bench/RESULTS.md,
// session 26) cost 5 % more CPU per transaction in the turn right after `direct` than in the
// turn next to PgBouncer. With a fixed order (backwards every other round) the same target
// always took that turn, and every ratio to it carried the bias.
//
// The rounds follow a Williams design, the crossover trials' answer to carry-over. Over n rounds
// of n targets (2n when n is odd), every target takes every place equally often, and runs right
// after every other target equally often. A run of fewer rounds is as close to that as its
// rounds allow.

/** The first round's order, as places into the targets: 0, 1, n-1, 2, n-2, 3, ... */
function firstRow(n: number): number[] {
  const row: number[] = [];
  for (let j = 0; j < n; j++) row.push(j === 0 ? 0 : j % 2 === 1 ? (j + 1) / 2 : n - j / 2);
  return row;
}

/** The targets in the order they run in round `round` (1-based). */
export function turnOrder<T>(targets: readonly T[], round: number): T[] {
  const n = targets.length;
  const r = round - 1;
  const order = firstRow(n).map((place) => targets[(place + r) % n]!);
  // With an odd number of targets the design needs its rows a second time, mirrored.
  return n % 2 === 1 && Math.floor(r / n) % 2 === 1 ? order.reverse() : order;
}
