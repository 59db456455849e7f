// Tier 1 of the classifier for session settings: SET (with its SQL spellings such as TIME ZONE
// and NAMES, and pgtide's own pgtide.route), RESET and DISCARD, so that settings can follow a
// client across server connections.

import { type Lexer, Tok } from './lexer.js';
import { type Draft, isEnd, isOp, skipToEnd, write } from './statement-draft.js';
import type { Isolation } from './classification.js';
import { routeTransactionModes, transactionModes } from './transaction-statement.js';

/** The value tokens up to the statement end, as SQL text; null for a lone word of `nullWords`. */
function settingValue(
  lx: Lexer,
  tok: Tok,
  base: number,
  nullWords: readonly string[],
): { value: string | null | undefined; tok: Tok } {
  if (isEnd(lx, tok, base)) return { value: undefined, tok };
  const start = lx.tokStart;
  const nullWord = nullWords.some((w) => lx.is(w));
  let end = lx.tokEnd,
    count = 0;
  while (!isEnd(lx, tok, base)) {
    end = lx.tokEnd;
    count++;
    tok = lx.next();
  }
  return { value: nullWord && count === 1 ? null : lx.text(start, end), tok };
}

interface SpecialSetting {
  readonly words: readonly string[];
  readonly name: string;
  /** Values meaning "back to the default" (TIME ZONE LOCAL, ROLE NONE are SQL spellings of it). */
  readonly nullWords: readonly string[];
}

const SPECIAL_SETTINGS: readonly SpecialSetting[] = [
  { words: ['time', 'zone'], name: 'timezone', nullWords: ['default', 'local'] },
  { words: ['names'], name: 'client_encoding', nullWords: ['default'] },
  { words: ['schema'], name: 'search_path', nullWords: [] },
  { words: ['role'], name: 'role', nullWords: ['none'] },
  { words: ['session', 'authorization'], name: 'session_authorization', nullWords: ['default'] },
  { words: ['xml', 'option'], name: 'xmloption', nullWords: ['default'] },
];

const GENERIC_NULL_WORDS = ['default'];

type LexerState = readonly [pos: number, tok: Tok, start: number, end: number, depth: number];

function saveLexer(lx: Lexer): LexerState {
  return [lx.pos, lx.tok, lx.tokStart, lx.tokEnd, lx.depth];
}

function restoreLexer(lx: Lexer, s: LexerState): void {
  [lx.pos, lx.tok, lx.tokStart, lx.tokEnd, lx.depth] = s;
}

/** Matches one of SPECIAL_SETTINGS at the current token, consuming its words. */
function specialSetting(lx: Lexer): SpecialSetting | undefined {
  for (const special of SPECIAL_SETTINGS) {
    const [first, second] = special.words;
    if (!lx.is(first!)) continue;
    if (second === undefined) {
      lx.next();
      return special;
    }
    const save = saveLexer(lx);
    lx.next();
    if (lx.is(second)) {
      lx.next();
      return special;
    }
    restoreLexer(lx, save);
  }
  return undefined;
}

/**
 * The setting named at the current token: special SQL spellings (TIME ZONE,
 * NAMES, ...) or a possibly qualified name. Leaves the lexer on the token after it.
 */
function setting(lx: Lexer): { name: string; nullWords: readonly string[] } | undefined {
  const special = specialSetting(lx);
  if (special) return special;
  let tok = lx.tok;
  if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return undefined;
  let name = lx.name();
  tok = lx.next();
  while (tok === Tok.Dot) {
    tok = lx.next();
    if (tok !== Tok.Word && tok !== Tok.QuotedIdent) return undefined;
    name += `.${lx.name()}`;
    tok = lx.next();
  }
  return { name: name.toLowerCase(), nullWords: GENERIC_NULL_WORDS };
}

export function set(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'set';
  d.route = 'read';
  let tok = lx.next();
  let local = false;
  if (lx.is('local')) {
    local = true;
    tok = lx.next();
  } else if (lx.is('session')) {
    const save = saveLexer(lx);
    tok = lx.next();
    if (lx.is('characteristics')) {
      d.kind = 'set_transaction';
      d.sessionState = 'transaction_characteristics';
      return transactionModes(lx, d, lx.next(), base);
    }
    if (lx.is('authorization')) {
      restoreLexer(lx, save);
      tok = lx.tok;
    }
  }
  if (lx.is('transaction')) {
    d.kind = 'set_transaction';
    return transactionModes(lx, d, lx.next(), base);
  }
  if (lx.is('constraints')) return skipToEnd(lx, tok, base); // transaction-scoped, nothing to track
  const named = setting(lx);
  if (named === undefined) return write(lx, d, 'other', base, lx.tok);
  tok = lx.tok;
  if (isOp(lx, tok, 0x3d) || lx.is('to')) tok = lx.next();
  const { value, tok: end } = settingValue(lx, tok, base, named.nullWords);
  if (value === undefined) return write(lx, d, 'other', base, end);
  if (transactionSetting(d, named.name, value)) return end;
  d.set = { name: named.name, value, local };
  if (named.name.startsWith('pgtide.')) pgtideSetting(d, named.name, value);
  return end;
}

/**
 * transaction_isolation, transaction_read_only and transaction_deferrable are SET TRANSACTION
 * by other names: whether SET says SESSION or LOCAL, they last until the transaction ends (each
 * transaction starts from the default_ ones), so they are no session state to carry to another
 * server, and they route as SET TRANSACTION does: a standby refuses SERIALIZABLE and READ WRITE
 * (DEFAULT is false) in either spelling.
 */
function transactionSetting(d: Draft, name: string, value: string | null): boolean {
  if (name === 'transaction_isolation') d.isolation = isolationNamed(value);
  else if (name === 'transaction_read_only') d.readOnly = value === null ? false : booleanNamed(value);
  else if (name !== 'transaction_deferrable') return false;
  d.kind = 'set_transaction';
  routeTransactionModes(d);
  return true;
}

const ISOLATIONS: readonly Isolation[] = ['serializable', 'repeatable read', 'read committed', 'read uncommitted'];

function isolationNamed(value: string | null): Isolation | undefined {
  const word = value === null ? '' : unquoted(value);
  return ISOLATIONS.find((i) => i === word);
}

/** PostgreSQL's boolean spellings, prefixes of true, false, yes and no included; undefined for
 *  a value it refuses (the server says so). */
function booleanNamed(value: string): boolean | undefined {
  const word = unquoted(value);
  if (word === '1' || word === 'on') return true;
  if (word === '0' || word === 'off' || word === 'of') return false;
  if (word === '') return undefined;
  if ('true'.startsWith(word) || 'yes'.startsWith(word)) return true;
  if ('false'.startsWith(word) || 'no'.startsWith(word)) return false;
  return undefined;
}

function unquoted(value: string): string {
  return value
    .replace(/^'(.*)'$/s, '$1')
    .trim()
    .toLowerCase();
}

/** `SET pgtide.route = primary|standby|auto`: pgtide's own session command. */
function pgtideSetting(d: Draft, name: string, value: string | null): void {
  d.kind = 'pgtide';
  const unquoted = value === null ? 'auto' : value.replace(/^'(.*)'$/s, '$1').toLowerCase();
  if (name === 'pgtide.route' && (unquoted === 'primary' || unquoted === 'standby' || unquoted === 'auto')) {
    d.pgtideRoute = unquoted;
  }
}

export function reset(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'reset';
  d.route = 'read';
  lx.next();
  if (lx.is('all')) {
    d.all = true;
    return skipToEnd(lx, lx.next(), base);
  }
  const named = setting(lx);
  if (named === undefined) return write(lx, d, 'other', base, lx.tok);
  d.set = { name: named.name, value: null, local: false };
  if (named.name.startsWith('pgtide.')) pgtideSetting(d, named.name, null);
  return skipToEnd(lx, lx.tok, base);
}

export function discard(lx: Lexer, d: Draft, base: number): Tok {
  d.kind = 'discard';
  d.route = 'read';
  const tok = lx.next();
  if (lx.is('all')) {
    d.discard = 'all';
    d.all = true;
  } else if (lx.is('plans')) d.discard = 'plans';
  else if (lx.is('sequences')) d.discard = 'sequences';
  else if (lx.is('temp') || lx.is('temporary')) d.discard = 'temp';
  else return write(lx, d, 'other', base, tok);
  return skipToEnd(lx, lx.next(), base);
}
