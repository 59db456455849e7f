// Most of a session's fields are yes/no flags or one of a few values. Each field costs 8 bytes
// in every session on 64-bit V8, and a pooler holds tens of thousands of idle sessions: such
// fields share small integers instead, and accessors on the prototype keep them readable as
// plain booleans and values, so the phases and the optimised forward path use them unchanged.

/** Bits of a small integer (V8 Smi) whatever the build. */
const MAX_BITS = 30;

type BooleanKey<T> = { [K in keyof T]: T[K] extends boolean ? K : never }[keyof T] & string;

/** Gives `proto` one boolean accessor per name, each over one bit of the instance's `flags`. */
export function defineFlags<T extends { flags: number }>(proto: T, names: readonly BooleanKey<T>[]): void {
  if (names.length > MAX_BITS) throw new RangeError(`at most ${MAX_BITS} flags fit one small integer`);
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

/** The values each field may hold, the first being a new instance's. */
export type Choices<T> = { [K in keyof T]?: readonly T[K][] };

/**
 * Gives `proto` one accessor per field of `choices`, over the few bits of the instance's
 * `choices` that number the field's value among those listed. Setting a value not listed throws.
 */
export function defineChoices<T extends { choices: number }>(proto: T, choices: Choices<T>): void {
  let shift = 0;
  for (const [name, values] of Object.entries(choices) as [string, readonly unknown[]][]) {
    const at = shift;
    const bits = Math.max(1, 32 - Math.clz32(values.length - 1));
    const mask = ((1 << bits) - 1) << at;
    shift += bits;
    if (shift > MAX_BITS) throw new RangeError(`the choices take more than the ${MAX_BITS} bits of one small integer`);
    Object.defineProperty(proto, name, {
      get(this: { choices: number }): unknown {
        return values[(this.choices & mask) >>> at];
      },
      set(this: { choices: number }, value: unknown) {
        const index = values.indexOf(value);
        if (index < 0) throw new RangeError(`${name} cannot be ${String(value)}: one of ${values.join(', ')}`);
        this.choices = (this.choices & ~mask) | (index << at);
      },
    });
  }
}
