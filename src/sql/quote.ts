// Quoting for the SQL pgtide writes itself.

/** A string literal; E'' means the same under any standard_conforming_strings. */
export function literal(s: string): string {
  return `E'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

export function identifier(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}
