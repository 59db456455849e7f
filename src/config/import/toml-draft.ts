// A pgtide.toml under construction: top-level keys in the order they were set, each with the
// comments that explain where it came from, then the tables. Renders valid TOML text.

export type TomlScalar = string | number | boolean;
export type TomlValue = TomlScalar | TomlScalar[];

/** Where an imported value came from, e.g. `pgbouncer.ini:14`. */
export interface Origin {
  file: string;
  line: number;
}

type Item =
  | { kind: 'comment'; lines: string[] }
  | { kind: 'key'; key: string; value: TomlValue; origin: Origin; note?: string };

interface Table {
  header: string;
  comments: string[];
  entries: [string, TomlValue][];
}

export class TomlDraft {
  private readonly items: Item[] = [];
  private readonly tables: Table[] = [];
  private readonly keys = new Map<string, Origin>();

  /** A comment block; each string is one or more lines. */
  comment(...lines: string[]): void {
    this.items.push({ kind: 'comment', lines: lines.flatMap((line) => line.split('\n')) });
  }

  heading(title: string): void {
    this.comment('', `──── ${title} ────`);
  }

  /** Sets a top-level key once; a second source for the same key is not applied, and the
   *  origin that won is returned so the caller can explain it. */
  set(key: string, value: TomlValue, origin: Origin, note?: string): Origin | undefined {
    const earlier = this.keys.get(key);
    if (earlier !== undefined) return earlier;
    this.keys.set(key, origin);
    this.items.push({ kind: 'key', key, value, origin, ...(note === undefined ? {} : { note }) });
    return undefined;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  valueOf(key: string): TomlValue | undefined {
    for (const item of this.items) if (item.kind === 'key' && item.key === key) return item.value;
    return undefined;
  }

  /** How many tables with this header were added (`[[backends]]`: the backends). */
  tableCount(header: string): number {
    return this.tables.filter((table) => table.header === header).length;
  }

  /** A `[header]` or `[[header]]` table, rendered after every top-level key. */
  table(header: string, entries: [string, TomlValue][], ...comments: string[]): void {
    this.tables.push({ header, comments: comments.flatMap((line) => line.split('\n')), entries });
  }

  render(): string {
    const out: string[] = [];
    for (const item of this.items) {
      if (item.kind === 'comment') {
        out.push(...item.lines.map(commentLine));
        continue;
      }
      if (item.note !== undefined) out.push(...item.note.split('\n').map(commentLine));
      out.push(`${tomlKey(item.key)} = ${tomlValue(item.value)}  # ${formatOrigin(item.origin)}`);
    }
    for (const table of this.tables) {
      out.push('', ...table.comments.map(commentLine), table.header);
      out.push(...table.entries.map(([key, value]) => `${tomlKey(key)} = ${tomlValue(value)}`));
    }
    return `${out.join('\n')}\n`;
  }
}

export function formatOrigin(origin: Origin): string {
  return origin.line > 0 ? `${origin.file}:${origin.line}` : origin.file;
}

function commentLine(text: string): string {
  // Imported text can hold control characters, which a TOML comment must not.
  return text === '' ? '' : `# ${text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '?')}`;
}

export function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

export function tomlValue(value: TomlValue): string {
  if (Array.isArray(value)) return `[${value.map((item) => tomlValue(item)).join(', ')}]`;
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a TOML number`);
    return String(value);
  }
  return value ? 'true' : 'false';
}

/** A TOML basic string: `"` and `\` escaped, control characters (and DEL) as \uXXXX. */
export function tomlString(text: string): string {
  const escaped = text.replace(/["\\\u0000-\u001f\u007f]/g, (char) => {
    if (char === '"' || char === '\\') return `\\${char}`;
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `"${escaped}"`;
}
