// Whether work grows linearly with its input, told on a loaded machine: the best of a few runs
// of each size, compared with one another rather than with a time. Small runs are timed by the
// wall clock (the best of them had the core to itself); large ones by their thread's CPU, which
// other processes taking the core do not add to (a load of 15 on two cores made the large runs
// take 70-200 times the small ones' wall time), and whose coarse steps they are long enough for.

/** A clock in milliseconds. */
export type Clock = () => number;

/** How many times as long `run(large)` takes as `run(small)`; `run(n, clock)` returns its time by `clock`. */
export function timeGrowth(run: (n: number, clock: Clock) => number, small: number, large: number): number {
  const best = (n: number, runs: number, clock: Clock) =>
    Math.min(...Array.from({ length: runs }, () => run(n, clock)));
  best(small, 2, wallMs); // compiled first
  return best(large, 3, threadCpuMs) / best(small, 7, wallMs);
}

function wallMs(): number {
  return performance.now();
}

function threadCpuMs(): number {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
}
