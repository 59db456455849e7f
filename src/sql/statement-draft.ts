// The result tier 1 of the classifier fills in for one statement, and the token walks every
// statement's scanner shares: to the statement's end, past parentheses, to its last name.

import type { BackendSignal, Isolation, Route, SessionState, SettingChange, StatementKind } from './classification.js';
import { type Lexer, Tok } from './lexer.js';

/** Mutable per-statement result of tier 1; reused to keep the hot path allocation-free. */
export class Draft {
  kind: StatementKind = 'other';
  route: Route = 'write';
  readOnly: boolean | undefined;
  isolation: Isolation | undefined;
  chain: boolean | undefined;
  name: string | undefined;
  all: boolean | undefined;
  discard: 'all' | 'plans' | 'sequences' | 'temp' | undefined;
  /** null: a set_config whose name is not written out. */
  set: SettingChange | null | undefined;
  otherSets: (string | null)[] | undefined;
  /** See Classification.localSets; undefined until a set_config call is read. */
  localSets: boolean | undefined;
  sessionState: SessionState | undefined;
  copyOut: boolean | undefined;
  pgtideRoute: 'primary' | 'standby' | 'auto' | undefined;
  constantArguments: boolean | undefined;
  /** Calls whose write-ness depends on the function policy, as the lexer read them. */
  calls: string[] | undefined;
  /** A call the lexer cannot name reliably (quoted or 3-part name): the parser must look. */
  uncertainCalls = false;
  /** Runs code the classifier cannot see into (see Classification.opaque). */
  opaque = false;
  /** Calls of functions that are not PostgreSQL's own: code pgtide cannot see into, unless
   *  known not to write (see Classifier.finish). */
  userCalls: string[] | undefined;
  /** Calls currval or lastval (see Classification.readsSequences). */
  readsSequences = false;
  /** Calls built-ins that take or read session state on the primary, and write no row (see
   *  Classification.writesNothing): the primary's for that alone. */
  stateCalls = false;
  /** Reads pg_prepared_statements (see Classification.readsStatementList). */
  readsStatementList = false;
  /** See Classification.signals. */
  signals: BackendSignal[] | undefined;
  /** See Classification.freesDatabase. */
  freesDatabase: string | undefined;
  /** See Classification.changesFunctions. */
  changesFunctions = false;
  /** See FunctionPolicy.shadowed: kept across statements. */
  shadowed: ReadonlySet<string> = new Set();
  /** Why the statement cannot be trusted; it will be routed as a write. */
  invalid: string | undefined;

  reset(): void {
    this.kind = 'other';
    this.route = 'write';
    this.readOnly = this.isolation = this.chain = this.name = this.all = undefined;
    this.discard =
      this.set =
      this.otherSets =
      this.localSets =
      this.sessionState =
      this.copyOut =
      this.pgtideRoute =
      this.constantArguments =
        undefined;
    this.calls = this.userCalls = this.signals = this.freesDatabase = undefined;
    this.uncertainCalls = false;
    this.opaque = this.readsSequences = this.stateCalls = this.readsStatementList = this.changesFunctions = false;
    this.invalid = undefined;
  }
}

export function isEnd(lx: Lexer, tok: Tok, base: number): boolean {
  return tok === Tok.Semicolon || tok === Tok.End || tok === Tok.Error || (tok === Tok.RParen && lx.depth < base);
}

export function skipToEnd(lx: Lexer, tok: Tok, base: number): Tok {
  while (!isEnd(lx, tok, base)) tok = lx.next();
  return tok;
}

/** Name of the last identifier before the statement end (cursor, savepoint, channel). */
export function lastName(lx: Lexer, tok: Tok, base: number, d: Draft): Tok {
  while (!isEnd(lx, tok, base)) {
    if (tok === Tok.Word || tok === Tok.QuotedIdent) d.name = lx.name();
    tok = lx.next();
  }
  return tok;
}

export function isOp(lx: Lexer, tok: Tok, byte: number): boolean {
  return tok === Tok.Op && lx.buf[lx.tokStart] === byte;
}

/** Skips a parenthesised list whose '(' is the current token; returns the token after ')'. */
export function skipParens(lx: Lexer, d: Draft): Tok {
  const outside = lx.depth - 1;
  let tok = lx.next();
  while (!(tok === Tok.RParen && lx.depth === outside)) {
    if (tok === Tok.Semicolon || tok === Tok.End || tok === Tok.Error) {
      d.invalid ??= 'unbalanced parentheses';
      return tok;
    }
    tok = lx.next();
  }
  return lx.next();
}

/** Ends a statement that writes (or is not understood well enough to be read anywhere). */
export function write(lx: Lexer, d: Draft, kind: StatementKind, base: number, tok = lx.next()): Tok {
  d.kind = kind;
  d.route = 'write';
  return skipToEnd(lx, tok, base);
}

/** `pg_temp`, the session's temporary schema, or its real name `pg_temp_N`. */
export function isTempSchema(name: string): boolean {
  return name.startsWith('pg_temp') && (name.length === 7 || /^pg_temp_\d+$/.test(name));
}
