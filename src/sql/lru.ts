/**
 * A least-recently-used map bounded both by entry count and by an estimate of
 * retained bytes, so a client sending many large distinct statements cannot
 * grow it without limit. Map iteration order is insertion order: re-inserting
 * on each hit keeps the least recently used entry first.
 */
export class LruCache<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private totalBytes = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {
    if (!(maxEntries >= 0) || !(maxBytes >= 0)) throw new RangeError('LruCache limits must be >= 0');
  }

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  /** `bytes` is the caller's estimate of what the value retains, key excluded. */
  set(key: string, value: V, bytes: number): void {
    const size = key.length * 2 + bytes;
    this.delete(key);
    if (size > this.maxBytes || this.maxEntries === 0) return;
    // Oldest first; deleting the entry just visited is safe while iterating a Map.
    for (const oldest of this.map.keys()) {
      if (this.map.size < this.maxEntries && this.totalBytes + size <= this.maxBytes) break;
      this.delete(oldest);
    }
    this.map.set(key, { value, bytes: size });
    this.totalBytes += size;
  }

  clear(): void {
    this.map.clear();
    this.totalBytes = 0;
  }

  private delete(key: string): void {
    const entry = this.map.get(key);
    if (entry === undefined) return;
    this.map.delete(key);
    this.totalBytes -= entry.bytes;
  }
}
