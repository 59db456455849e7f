// A small Buffer from Buffer.allocUnsafe or Buffer.from is a slice of a 64 KiB chunk that later
// small allocations share; the reads that churn through such chunks soon leave all of one
// garbage but a slice kept for long (a row shape, a statement's Parse, a cancel key), which
// then holds the whole chunk: the memory soak found 32 MiB held by 1,700 row shapes of tens of
// bytes. What is kept gets memory of its own.

/** A copy of `source` (a view of anything) in memory of its own. */
export function keptCopy(source: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(source.length);
  copy.set(source);
  return copy;
}
