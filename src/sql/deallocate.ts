// DEALLOCATE (and DISCARD ALL, which deallocates too) found in SQL text, wherever a client may
// write it: a whole simple query, one statement of a multi-statement query, the text of a
// Parse. pgtide renames the statements it maps, so it must find each name where it is written.
import { Lexer, Tok } from './lexer.js';

export interface Deallocation {
  /** The statement named (as PostgreSQL folds it), or null for DEALLOCATE ALL / DISCARD ALL. */
  readonly name: string | null;
  /** Where the name is written in the text (byte offsets), to put another in its place. */
  readonly start: number;
  readonly end: number;
  /** Which statement of the text it is (0 first, empty ones not counted): PostgreSQL completes
   *  the statements in order, so a failing text ran the deallocations before its failure. */
  readonly statement: number;
}

/** Cheap test first: only texts containing "deal" or "disc" (any case) are lexed. */
function mayDeallocate(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i + 3 < end; i++) {
    if ((buf[i]! | 0x20) !== 0x64) continue;
    const word = (buf.readUInt32BE(i) | 0x20202020) >>> 0;
    if (word === DEAL || word === DISC) return true;
  }
  return false;
}

const DEAL = 0x6465616c,
  DISC = 0x64697363;

/** The deallocations among the statements of `buf[start, end)`, in order; null when there are none. */
export function findDeallocations(buf: Buffer, start: number, end: number): Deallocation[] | null {
  if (!mayDeallocate(buf, start, end)) return null;
  const lx = new Lexer();
  lx.reset(buf, start, end);
  let found: Deallocation[] | null = null;
  let atStatementStart = true;
  let statement = -1;
  for (let tok = lx.next(); tok !== Tok.End && tok !== Tok.Error; tok = lx.next()) {
    if (tok === Tok.Semicolon && lx.depth === 0) {
      atStatementStart = true;
      continue;
    }
    if (!atStatementStart) continue;
    atStatementStart = false;
    statement++;
    const one = lx.is('deallocate')
      ? deallocation(lx, statement)
      : lx.is('discard') && lx.next() === Tok.Word && lx.is('all')
        ? all(statement)
        : null;
    if (one) (found ??= []).push(one);
    if (lx.tok === Tok.Semicolon) atStatementStart = true;
  }
  return found;
}

function all(statement: number): Deallocation {
  return { name: null, start: 0, end: 0, statement };
}

/** After the DEALLOCATE keyword: `[PREPARE] { name | ALL }`. */
function deallocation(lx: Lexer, statement: number): Deallocation | null {
  let tok = lx.next();
  if (lx.is('prepare')) tok = lx.next();
  if (lx.is('all')) return all(statement);
  if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return null;
  return { name: lx.name(), start: lx.tokStart, end: lx.tokEnd, statement };
}
