// Client messages that go to the server in another form than the client's: rare (a Query that
// pin_on_session_state = error refuses, an Execute of a portal a simple Query dropped, a Bind
// or Describe of an unnamed statement the client has not prepared), so a chunk is copied only
// when it holds one, once its scan is over.
import type { ClientSession } from '../client-session.js';

/** [start, end) of a whole message in the chunk being scanned, and what the server gets instead. */
export type ChunkEdit = [start: number, end: number, replacement: Buffer];

export type EditSession = Pick<ClientSession, 'edits' | 'syncEnd' | 'scanner'>;

/** The message at [start, end) of the chunk being scanned goes as `replacement`; false: it
 *  cannot. Not one that came across reads: its start went already, and a head-only body would
 *  measure a range inside its parameters, where a client's bytes posing as a message would be
 *  cut out of it. */
export function replaceMessage(s: EditSession, start: number, end: number, replacement: Buffer): boolean {
  if (start < 0 || s.scanner.assembled) return false;
  (s.edits ??= []).push([start, end, replacement]);
  return true;
}

/**
 * `data` with the scan's edits made: the chunk's last sync point moves with the bytes before it.
 * An edit whose message is not whole in the chunk (cut across reads: its start went already,
 * or only its head was read) is not made.
 */
export function editedChunk(s: EditSession, data: Buffer): Buffer {
  const edits = s.edits!;
  s.edits = null;
  const parts: Buffer[] = [];
  let pos = 0;
  let shift = 0;
  for (const [start, end, replacement] of edits) {
    if (!isMessageAt(data, start, end, replacement[0]!)) continue;
    if (start > pos) parts.push(data.subarray(pos, start));
    parts.push(replacement);
    if (end <= s.syncEnd) shift += replacement.length - (end - start);
    pos = end;
  }
  if (pos < data.length) parts.push(data.subarray(pos));
  if (s.syncEnd >= 0) s.syncEnd += shift;
  return Buffer.concat(parts);
}

function isMessageAt(data: Buffer, start: number, end: number, type: number): boolean {
  return start >= 0 && end <= data.length && data[start] === type && start + 1 + data.readUInt32BE(start + 1) === end;
}
