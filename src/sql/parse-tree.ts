// Tier 2: the real PostgreSQL grammar (libpg-query, PostgreSQL 18 compiled to
// WASM). Used only for candidate reads whose function calls the lexer cannot
// settle, to learn exactly which functions the statement calls. It runs in the
// parser thread (src/parser-thread.ts), never on the pooler's event loop.

import { loadModule, parseSync, SqlError } from 'libpg-query';

/** What the parse tree of one statement says, beyond what tier 1 already knew. */
export interface TreeFacts {
  /** Called function names: schema-qualified when written so; quoted names keep their case. */
  readonly calls: readonly string[];
  /** The tree holds a write tier 1 did not see (it never should; kept as a safety net). */
  readonly writes: boolean;
}

const WRITE_NODES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'lockingClause', 'intoClause']);

/** What tier 2 learns of a statement: its facts, or why PostgreSQL would reject it. */
export type ParseAnswer = TreeFacts | { readonly error: string };

export function loadParser(): Promise<void> {
  return loadModule();
}

/**
 * Parses `sql` and collects its calls; a text PostgreSQL would reject answers its error. Any
 * other failure (the parser not loaded, or broken) throws.
 */
export function parseFacts(sql: string): ParseAnswer {
  let tree: unknown;
  try {
    tree = parseSync(sql);
  } catch (err) {
    if (err instanceof SqlError) return { error: `syntax error: ${err.message}` };
    throw err;
  }
  const calls: Array<{ name: string; location: number }> = [];
  let writes = false;
  // Iterative walk: a deeply nested tree must not exhaust the JS stack.
  const stack: unknown[] = [tree];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const child of node) if (typeof child === 'object' && child !== null) stack.push(child);
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    for (const [key, child] of Object.entries(node)) {
      if (WRITE_NODES.has(key)) writes = true;
      if (key === 'FuncCall') calls.push(funcCall(child));
      if (typeof child === 'object' && child !== null) stack.push(child);
    }
  }
  // The walk visits children in reverse; report calls in source order.
  calls.sort((a, b) => a.location - b.location);
  return { calls: calls.map((c) => c.name), writes };
}

function funcCall(node: unknown): { name: string; location: number } {
  const { funcname = [], location = 0 } = node as {
    funcname?: Array<{ String?: { sval?: string } }>;
    location?: number;
  };
  return { name: funcname.map((p) => p.String?.sval ?? '').join('.'), location };
}
