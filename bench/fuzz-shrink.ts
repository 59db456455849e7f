// Shrinks a diverging sequence by chunked removal: drop halves, then quarters, ... then single
// batches, keeping each removal after which the last batch still diverges. The last batch is
// the divergence itself and always stays.

/**
 * The shortest sequence found, ending with `items`' last element, for which `fails` is true.
 * `fails` is asked at most `maxTries` times; it may be flaky (a try that does not reproduce
 * only keeps a chunk that could have gone).
 */
export async function shrink<T>(
  items: T[],
  fails: (candidate: T[]) => Promise<boolean>,
  maxTries: number,
): Promise<T[]> {
  const last = items.at(-1);
  if (last === undefined) return items;
  let kept = items.slice(0, -1);
  let tries = 0;
  for (let chunk = Math.ceil(kept.length / 2); chunk >= 1 && tries < maxTries; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < kept.length && tries < maxTries; ) {
      const candidate = [...kept.slice(0, i), ...kept.slice(i + chunk)];
      tries++;
      if (await fails([...candidate, last])) kept = candidate;
      else i += chunk;
    }
  }
  return [...kept, last];
}
