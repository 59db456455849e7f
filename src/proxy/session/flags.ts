// Most of a session's fields are yes/no flags. Each field costs 8 bytes in every session on
// 64-bit V8, and a pooler holds tens of thousands of idle sessions: the flags share one small
// integer instead, and accessors on the prototype keep them readable as plain booleans, so
// the phases and the optimised forward path use them unchanged.

/** Bits of a small integer (V8 Smi) whatever the build. */
const MAX_FLAGS = 30;

type BooleanKey<T> = { [K in keyof T]: T[K] extends boolean ? K : never }[keyof T] & string;

/** Gives `proto` one boolean accessor per name, each over one bit of the instance's `flags`. */
export function defineFlags<T extends { flags: number }>(proto: T, names: readonly BooleanKey<T>[]): void {
  if (names.length > MAX_FLAGS) throw new RangeError(`at most ${MAX_FLAGS} flags fit one small integer`);
  names.forEach((name, bit) => {
    const mask = 1 << bit;
    Object.defineProperty(proto, name, {
      get(this: { flags: number }): boolean {
        return (this.flags & mask) !== 0;
      },
      set(this: { flags: number }, on: boolean) {
        this.flags = on ? this.flags | mask : this.flags & ~mask;
      },
    });
  });
}
