// Console results: a table of text and integer columns, encoded as PostgreSQL sends a result.
import * as encode from '../protocol/encode.js';

const TEXT_OID = 25;

/**
 * A column name's ending gives its type (the ending is not sent), as PgBouncer types the same
 * column: a driver reads an int4 as a number where it reads an int8 or a numeric as a string.
 * Checked in this order.
 */
const TYPE_ENDINGS: readonly [ending: string, typeOid: number][] = [
  ['#8', 20], // int8: pgtide's counters and ids that may pass 2^31
  ['#n', 1700], // numeric: PgBouncer's statistics
  ['#', 23], // int4: PgBouncer's counts, sizes, ports and times
];

export type Cell = string | number | null;

export interface Table {
  /** Column names; one ending in '#', '#8' or '#n' is an integer column (TYPE_ENDINGS). */
  columns: readonly string[];
  rows: Cell[][];
}

function columnOf(column: string): { name: string; typeOid: number } {
  for (const [ending, typeOid] of TYPE_ENDINGS) {
    if (column.endsWith(ending)) return { name: column.slice(0, -ending.length), typeOid };
  }
  return { name: column, typeOid: TEXT_OID };
}

/** RowDescription, one DataRow per row, then CommandComplete with the given tag. */
export function encodeTable(table: Table, tag: string): Buffer[] {
  const out = [encode.rowDescription(table.columns.map(columnOf))];
  for (const row of table.rows) out.push(encode.dataRow(row.map(cellText)));
  out.push(encode.commandComplete(tag));
  return out;
}

function cellText(cell: Cell): string | null {
  if (cell === null) return null;
  // Integer columns must parse as integers in the exporters that read them.
  return typeof cell === 'number' ? String(Math.trunc(cell)) : cell;
}

/** PgBouncer's timestamp format, e.g. "2024-05-01 12:00:00 UTC". */
export function timestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
