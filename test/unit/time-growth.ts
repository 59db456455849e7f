// Whether work grows linearly with its input, told on a loaded machine: the best of a few runs
// of each size, compared with one another rather than with a time.

/** How many times as long `run(large)` takes as `run(small)`; `run(n)` returns its milliseconds. */
export function timeGrowth(run: (n: number) => number, small: number, large: number): number {
  const best = (n: number, runs: number) => Math.min(...Array.from({ length: runs }, () => run(n)));
  best(small, 2); // compiled first
  return best(large, 3) / best(small, 7);
}
