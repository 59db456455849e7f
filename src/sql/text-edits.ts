// SQL text with spans replaced, in the client's own bytes: what pgtide puts in is ASCII (names
// quoted by quote.ts) or bytes the client sent, carried in a latin1 string, one char per byte.

/** A span of SQL text and what takes its place (a string of bytes, see above). */
export type TextEdit = [start: number, end: number, replacement: string];

/** `data[start, end)` with each edit's span replaced, spans in order and apart. */
export function edited(data: Buffer, start: number, end: number, edits: readonly TextEdit[]): Buffer {
  const parts: Buffer[] = [];
  let pos = start;
  for (const [from, to, replacement] of edits) {
    parts.push(data.subarray(pos, from), Buffer.from(replacement, 'latin1'));
    pos = to;
  }
  parts.push(data.subarray(pos, end));
  return Buffer.concat(parts);
}
