// The client's prepared statements named in SQL text, wherever a client may write them: a whole
// simple query, one statement of a multi-statement query, the text of a Parse. pgtide renames
// the statements it maps, so it must find each name where it is written: DEALLOCATE (and
// DISCARD ALL, which deallocates too), and EXECUTE, alone, under EXPLAIN, or as the query of
// CREATE TABLE AS (the places PostgreSQL's grammar takes an ExecuteStmt).
import { Lexer, Tok } from './lexer.js';

export interface StatementName {
  /** The statement named (as PostgreSQL folds it), or null for DEALLOCATE ALL / DISCARD ALL. */
  readonly name: string | null;
  /** Where the name is written in the text (byte offsets), to put another in its place. */
  readonly start: number;
  readonly end: number;
  /** Which statement of the text it is (0 first, empty ones not counted): PostgreSQL completes
   *  the statements in order, so a failing text ran the deallocations before its failure. */
  readonly statement: number;
  /** EXECUTE runs the statement; otherwise it is deallocated. */
  readonly executes: boolean;
}

/** A DEALLOCATE or DISCARD ALL found in SQL text. */
export type Deallocation = StatementName;

/** Cheap test first: only texts containing "deal", "disc" or (`executes`) "exec", in any case, are lexed. */
function mayName(buf: Buffer, start: number, end: number, executes: boolean): boolean {
  for (let i = start; i + 3 < end; i++) {
    const first = buf[i]! | 0x20;
    if (first !== 0x64 && first !== 0x65) continue;
    const word = (buf.readUInt32BE(i) | 0x20202020) >>> 0;
    if (word === DEAL || word === DISC || (executes && word === EXEC)) return true;
  }
  return false;
}

const DEAL = 0x6465616c,
  DISC = 0x64697363,
  EXEC = 0x65786563;

/**
 * The statement names among the statements of `buf[start, end)`, in order, EXECUTEs only when
 * `executes`; null when there are none.
 */
export function findStatementNames(buf: Buffer, start: number, end: number, executes: boolean): StatementName[] | null {
  if (!mayName(buf, start, end, executes)) return null;
  const lx = new Lexer();
  lx.reset(buf, start, end);
  let found: StatementName[] | null = null;
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
    const one = statementName(lx, statement, executes);
    if (one) (found ??= []).push(one);
    if (lx.tok === Tok.Semicolon) atStatementStart = true;
  }
  // A backslash before a closing quote: with standard_conforming_strings = off the server reads
  // the text otherwise (a name found here may be inside a string): it goes as it is.
  return lx.backslashQuote ? null : found;
}

/** The DEALLOCATEs (and DISCARD ALLs) among the statements of `buf[start, end)`; null when there are none. */
export function findDeallocations(buf: Buffer, start: number, end: number): Deallocation[] | null {
  return findStatementNames(buf, start, end, false);
}

/** At a statement's first token. */
function statementName(lx: Lexer, statement: number, executes: boolean): StatementName | null {
  if (lx.is('deallocate')) return deallocation(lx, statement);
  if (lx.is('discard')) return lx.next() === Tok.Word && lx.is('all') ? all(statement) : null;
  return executes ? execution(lx, statement) : null;
}

function all(statement: number): Deallocation {
  return { name: null, start: 0, end: 0, statement, executes: false };
}

/** After the DEALLOCATE keyword: `[PREPARE] { name | ALL }`. */
function deallocation(lx: Lexer, statement: number): Deallocation | null {
  let tok = lx.next();
  if (lx.is('prepare')) tok = lx.next();
  if (lx.is('all')) return all(statement);
  return named(lx, tok, statement, false);
}

/** At a statement's first token: `EXECUTE name`, `EXPLAIN [options] <one of these>`, or
 *  `CREATE [GLOBAL | LOCAL] [TEMP | TEMPORARY | UNLOGGED] TABLE ... AS EXECUTE name`. */
function execution(lx: Lexer, statement: number): StatementName | null {
  if (lx.is('execute')) return named(lx, lx.next(), statement, true);
  if (lx.is('create')) return createTableAs(lx, statement);
  if (!lx.is('explain')) return null;
  let tok = lx.next();
  if (tok === Tok.LParen) tok = afterParens(lx);
  else while (lx.is('analyze') || lx.is('analyse') || lx.is('verbose')) tok = lx.next();
  return tok === Tok.Word ? execution(lx, statement) : null;
}

function createTableAs(lx: Lexer, statement: number): StatementName | null {
  lx.next();
  if (lx.is('global') || lx.is('local')) lx.next();
  if (lx.is('temp') || lx.is('temporary') || lx.is('unlogged')) lx.next();
  if (!lx.is('table')) return null;
  // The first AS outside parentheses: nothing before the query holds one (a column list, WITH
  // (storage options) are in parentheses).
  const depth = lx.depth;
  let tok = lx.next();
  while (!(lx.depth === depth && lx.is('as'))) {
    if (tok === Tok.End || tok === Tok.Error || (tok === Tok.Semicolon && lx.depth === 0)) return null;
    tok = lx.next();
  }
  lx.next();
  return lx.is('execute') ? named(lx, lx.next(), statement, true) : null;
}

/** The token after the ')' that closes the '(' just read. */
function afterParens(lx: Lexer): Tok {
  const outside = lx.depth - 1;
  let tok = lx.next();
  while (!(tok === Tok.RParen && lx.depth === outside)) {
    if (tok === Tok.End || tok === Tok.Error) return tok;
    tok = lx.next();
  }
  return lx.next();
}

function named(lx: Lexer, tok: Tok, statement: number, executes: boolean): StatementName | null {
  if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return null;
  return { name: lx.name(), start: lx.tokStart, end: lx.tokEnd, statement, executes };
}
