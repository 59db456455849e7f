// Benchmark settings read from BENCH_* environment variables.

/** An integer setting; unset or empty: `fallback`. */
export function integerSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

/** A comma-separated list of targets out of `known`; unset: all of them, in their order. */
export function targetsSetting<T extends string>(env: NodeJS.ProcessEnv, name: string, known: readonly T[]): T[] {
  return (env[name] ?? known.join(','))
    .split(',')
    .map((k) => k.trim())
    .map((target) => {
      if (!(known as readonly string[]).includes(target))
        throw new Error(`${name}: unknown target "${target}"; known: ${known.join(', ')}`);
      return target as T;
    });
}
