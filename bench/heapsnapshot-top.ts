// Prints where a V8 heap snapshot's bytes are, by category (an object's constructor, a
// closure's function name, or the kind of a string, array, code or native object), largest
// first; with a second snapshot, what grew between the two, and per client when told how many
// clients the second one holds more (the memory benchmark writes both: BENCH_HEAP_SNAPSHOT_DIR).
// Usage: node dist/bench/heapsnapshot-top.js <after.heapsnapshot> [<before.heapsnapshot> <clients added>] [count]
import { readFileSync } from 'node:fs';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: unknown[] } };
  nodes: number[];
  strings: string[];
}

export interface Category {
  name: string;
  count: number;
  bytes: number;
}

/** Kinds whose node names are contents (a string's text, a number), not categories. */
const NAMELESS_KINDS = new Set(['string', 'concatenated string', 'sliced string', 'number', 'code', 'bigint']);

/** Self size and count per category. */
export function categories(snapshot: HeapSnapshot): Map<string, Category> {
  const fields = snapshot.snapshot.meta.node_fields;
  const kinds = snapshot.snapshot.meta.node_types[0] as string[];
  const [kindAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map<string, Category>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const kind = kinds[snapshot.nodes[i + kindAt!]!]!;
    const name = NAMELESS_KINDS.has(kind) ? `(${kind})` : `${kind} ${snapshot.strings[snapshot.nodes[i + nameAt!]!]}`;
    const category = out.get(name) ?? { name, count: 0, bytes: 0 };
    category.count++;
    category.bytes += snapshot.nodes[i + sizeAt!]!;
    out.set(name, category);
  }
  return out;
}

/** after - before per category (those that grew or shrank), largest growth first. */
export function growth(after: Map<string, Category>, before: Map<string, Category>): Category[] {
  const names = new Set([...after.keys(), ...before.keys()]);
  return [...names]
    .map((name) => {
      const a = after.get(name),
        b = before.get(name);
      return { name, count: (a?.count ?? 0) - (b?.count ?? 0), bytes: (a?.bytes ?? 0) - (b?.bytes ?? 0) };
    })
    .filter((c) => c.bytes !== 0 || c.count !== 0)
    .sort((x, y) => y.bytes - x.bytes);
}

function read(file: string): Map<string, Category> {
  return categories(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot);
}

function cli(argv: string[]): void {
  const [afterFile, beforeFile, clients, count = '30'] =
    argv.length === 2 ? [argv[0], undefined, undefined, argv[1]] : argv;
  if (!afterFile)
    throw new Error('usage: heapsnapshot-top <after.heapsnapshot> [<before.heapsnapshot> <clients added>] [count]');
  const after = read(afterFile);
  const rows = beforeFile ? growth(after, read(beforeFile)) : [...after.values()].sort((x, y) => y.bytes - x.bytes);
  const per = Number(clients ?? 1);
  const total = rows.reduce((sum, c) => sum + c.bytes, 0);
  console.log(
    `${beforeFile ? 'growth' : 'total'}: ${(total / 1024).toFixed(1)} KiB${per > 1 ? `, ${(total / per).toFixed(0)} B per client` : ''}`,
  );
  for (const c of rows.slice(0, Number(count))) {
    const perClient =
      per > 1
        ? `${(c.bytes / per).toFixed(1).padStart(8)} B/client ${(c.count / per).toFixed(2).padStart(6)}/client  `
        : '';
    console.log(
      `${(c.bytes / 1024).toFixed(1).padStart(10)} KiB ${String(c.count).padStart(8)}  ${perClient}${c.name}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) cli(process.argv.slice(2));
