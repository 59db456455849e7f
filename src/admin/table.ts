// Console results: a table of text and integer columns, encoded as PostgreSQL sends a result.
import * as encode from '../protocol/encode.js';

const TEXT_OID = 25;
const INT8_OID = 20;

export type Cell = string | number | null;

export interface Table {
  /** Column names; a name ending in '#' is an integer column (the '#' is not sent). */
  columns: readonly string[];
  rows: Cell[][];
}

/** RowDescription, one DataRow per row, then CommandComplete with the given tag. */
export function encodeTable(table: Table, tag: string): Buffer[] {
  const out = [
    encode.rowDescription(
      table.columns.map((c) =>
        c.endsWith('#') ? { name: c.slice(0, -1), typeOid: INT8_OID } : { name: c, typeOid: TEXT_OID },
      ),
    ),
  ];
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
