/**
 * The members of a roster, in the order they joined, each knowing its place in it (the field
 * named by `slot`): adding and removing one writes a slot of one array, and builds no hash
 * table.
 *
 * Why not a Set: every client joins and leaves the process's sets once, so a Set of clients
 * rebuilds its hash table every few dozen connections, and a table V8 drops in its old
 * generation still points at the clients it held until a full collection finds it dead; to a
 * scavenge those clients look alive. Measured with a new connection per transaction
 * (`pgbench -C`): with the clients, the logins and the cancel keys in hash tables, a tenth of
 * everything pgtide allocated was promoted, sessions that had lived milliseconds with all they
 * reach, and the old generation was collected every second or two; without those tables, 5.7 %
 * (bench/RESULTS.md, session 27). Here a member that leaves has its slot emptied at once, and
 * the array is compacted in place, so nothing pgtide drops still points at a member.
 */
export class Roster<K extends string, T extends Record<K, number>> {
  readonly #slots: (T | null)[] = [];
  #size = 0;
  /** No member sits before this slot (the oldest is found without walking the emptied slots again). */
  #first = 0;
  /** Iterations under way: slots do not move while one runs. */
  #walkers = 0;

  /** slot: the member's field that holds its place in this roster (-1: not in it). */
  constructor(readonly slot: K) {}

  get size(): number {
    return this.#size;
  }

  add(member: T): void {
    if (member[this.slot] >= 0) return;
    const slots = this.#slots;
    const holes = slots.length - this.#size;
    // Not under a running iteration, unless the holes pile up past any iteration's life: one
    // taken by hand and never finished (a bare next(), no return()) must not stop it for good.
    if (slots.length >= 64 && holes > this.#size && (this.#walkers === 0 || holes > this.#size + 4096)) this.#compact();
    member[this.slot] = slots.length as T[K];
    slots.push(member);
    this.#size++;
  }

  /** Returns whether `member` was in the roster. */
  delete(member: T): boolean {
    const at = member[this.slot];
    const slots = this.#slots;
    if (at < 0 || slots[at] !== member) return false;
    slots[at] = null;
    member[this.slot] = -1 as T[K];
    this.#size--;
    if (this.#size === 0 && this.#walkers === 0) {
      slots.length = 0;
      this.#first = 0;
    }
    return true;
  }

  /** The member that joined first of those still in the roster. */
  oldest(): T | undefined {
    const slots = this.#slots;
    while (this.#first < slots.length && slots[this.#first] === null) this.#first++;
    return slots[this.#first] ?? undefined;
  }

  /** Members that join during an iteration are not visited; those that leave before their turn are not. */
  *[Symbol.iterator](): IterableIterator<T> {
    this.#walkers++;
    try {
      const slots = this.#slots;
      for (let i = 0, end = slots.length; i < end; i++) {
        const member = slots[i];
        if (member != null) yield member;
      }
    } finally {
      this.#walkers--;
    }
  }

  /** Moves the members down over the emptied slots, in order, in the same array. */
  #compact(): void {
    const slots = this.#slots;
    let to = 0;
    for (let from = 0; from < slots.length; from++) {
      const member = slots[from];
      if (member == null) continue;
      member[this.slot] = to as T[K];
      slots[to++] = member;
    }
    slots.length = to;
    this.#first = 0;
  }
}
