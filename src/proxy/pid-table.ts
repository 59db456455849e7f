const INITIAL_CAPACITY = 64;

/**
 * Owners by positive 31-bit key (a cancel key's pid), in open addressing with linear probing.
 * A key is issued and revoked once per connection: in a Map those two would rebuild its hash
 * table every few dozen connections, and a table dropped in V8's old generation keeps the
 * owners it held alive to every scavenge until a full collection (see roster.ts). Here a
 * revoked key's slot is emptied in place; the arrays are only ever replaced to grow, and the
 * owners' array replaced is emptied first.
 *
 * Keys index the table by their low bits, which must be evenly spread (a cancel key's are random).
 */
export class PidTable<T> {
  #keys = new Int32Array(INITIAL_CAPACITY);
  #owners: (T | null)[] = new Array<T | null>(INITIAL_CAPACITY).fill(null);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: number): T | undefined {
    const at = this.#find(key);
    return at < 0 ? undefined : (this.#owners[at] as T);
  }

  has(key: number): boolean {
    return this.#find(key) >= 0;
  }

  /** key: a positive 31-bit integer (0 marks an empty slot). */
  set(key: number, owner: T): void {
    if (!(key > 0 && key <= 0x7fffffff && Number.isInteger(key))) throw new RangeError(`PidTable key ${key}`);
    const at = this.#find(key);
    if (at >= 0) {
      this.#owners[at] = owner;
      return;
    }
    // At most half full: a miss ends within a few slots.
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    this.#place(key, owner);
    this.#size++;
  }

  /** Returns whether the key was there. */
  delete(key: number): boolean {
    let hole = this.#find(key);
    if (hole < 0) return false;
    const keys = this.#keys;
    const owners = this.#owners;
    const mask = keys.length - 1;
    // Backward shift: a later key of the run that may sit in the hole moves into it, so that
    // every key stays reachable from its home slot without tombstones.
    for (let at = (hole + 1) & mask; keys[at] !== 0; at = (at + 1) & mask) {
      const home = keys[at]! & mask;
      const fromHomeToHole = (hole - home) & mask;
      const fromHomeToHere = (at - home) & mask;
      if (fromHomeToHole < fromHomeToHere) {
        keys[hole] = keys[at]!;
        owners[hole] = owners[at]!;
        hole = at;
      }
    }
    keys[hole] = 0;
    owners[hole] = null;
    this.#size--;
    return true;
  }

  #find(key: number): number {
    // 0 marks an empty slot; a key no table can hold (from a CancelRequest's bytes) is in none.
    if (!(key > 0 && key <= 0x7fffffff)) return -1;
    const keys = this.#keys;
    const mask = keys.length - 1;
    for (let at = key & mask; ; at = (at + 1) & mask) {
      const here = keys[at]!;
      if (here === key) return at;
      if (here === 0) return -1;
    }
  }

  #place(key: number, owner: T): void {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let at = key & mask;
    while (keys[at] !== 0) at = (at + 1) & mask;
    keys[at] = key;
    this.#owners[at] = owner;
  }

  #grow(): void {
    const keys = this.#keys;
    const owners = this.#owners;
    this.#keys = new Int32Array(keys.length * 2);
    this.#owners = new Array<T | null>(keys.length * 2).fill(null);
    for (let at = 0; at < keys.length; at++) if (keys[at] !== 0) this.#place(keys[at]!, owners[at] as T);
    owners.fill(null);
  }
}
