/**
 * A least-recently-used map bounded both by entry count and by an estimate of
 * retained bytes, so a client sending many large distinct statements cannot
 * grow it without limit. The entries form a list from the least to the most
 * recently used: a hit moves its entry to the end of the list and leaves the
 * Map alone. (Deleting and re-inserting a hit key in the Map, as this cache
 * once did, leaves V8's hash table a dead entry per hit, which later lookups
 * walk past: with 10,000 entries a hot key's lookup took 29 µs, with 100,000
 * 174 µs.)
 */
interface Entry<V> {
  readonly key: string;
  readonly value: V;
  readonly bytes: number;
  older: Entry<V> | null;
  newer: Entry<V> | null;
}

export class LruCache<V> {
  private readonly map = new Map<string, Entry<V>>();
  private oldest: Entry<V> | null = null;
  private newest: Entry<V> | null = null;
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
    if (entry !== this.newest) {
      this.unlink(entry);
      this.append(entry);
    }
    return entry.value;
  }

  /** `bytes` is the caller's estimate of what the value retains, key excluded. */
  set(key: string, value: V, bytes: number): void {
    const size = key.length * 2 + bytes;
    this.delete(key);
    if (size > this.maxBytes || this.maxEntries === 0) return;
    while (this.oldest !== null && (this.map.size >= this.maxEntries || this.totalBytes + size > this.maxBytes)) {
      this.delete(this.oldest.key);
    }
    const entry: Entry<V> = { key, value, bytes: size, older: null, newer: null };
    this.append(entry);
    this.map.set(key, entry);
    this.totalBytes += size;
  }

  clear(): void {
    this.map.clear();
    this.oldest = this.newest = null;
    this.totalBytes = 0;
  }

  private delete(key: string): void {
    const entry = this.map.get(key);
    if (entry === undefined) return;
    this.map.delete(key);
    this.unlink(entry);
    this.totalBytes -= entry.bytes;
  }

  private unlink(entry: Entry<V>): void {
    if (entry.older === null) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === null) this.newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = null;
  }

  private append(entry: Entry<V>): void {
    entry.older = this.newest;
    if (this.newest === null) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
  }
}
