// The statement classifier: tier 1 (the byte lexer, statement.ts) decides
// almost everything; tier 2 (PostgreSQL's grammar, parse-tree.ts) only names
// the functions of candidate reads that call functions the policy does not
// already know to be read-only. Tier 2 runs off the event loop (a TreeParser):
// a statement whose facts are not cached yet goes to the primary, correct and
// safe, while the parser reads it; its answer fills the cache, so the next run
// of that statement (with any constants: see statement-key.ts) routes by it.
// The function policy is applied afresh on every call, so volatility learned
// later takes effect without invalidating the cache.

import {
  STATEMENT_KINDS,
  withSessionState,
  type Classification,
  type Route,
  type StatementKind,
} from './classification.js';
import { FunctionPolicy, sessionStateOfCall, writesNoRows } from './functions.js';
import { Lexer, Tok, type Hint } from './lexer.js';
import { LruCache } from './lru.js';
import type { ParseAnswer } from './parse-tree.js';
import { analyzeStatement } from './statement.js';
import { Draft } from './statement-draft.js';
import { StatementKeys } from './statement-key.js';

/**
 * Runs tier 2 away from the caller (src/parser-thread.ts): each answer comes back later through
 * `Classifier.learn`, or `Classifier.forget` when none will.
 */
export interface TreeParser {
  /** Asks for the facts of `sql`, to be learned under `key`; false when it cannot take it now. */
  parse(key: string, sql: string): boolean;
}

export interface ClassifierOptions {
  policy?: FunctionPolicy;
  /** Where tier 2 runs; without one, every statement that needs it goes to the primary. */
  parser?: TreeParser;
  /** Cached tier-2 results, by count (default 10,000), by key and again by text. */
  cacheSize?: number;
  /** Cached tier-2 results, by estimated bytes (default 16 MiB), by key and again by text. */
  cacheBytes?: number;
  /** Longer statements (UTF-8 bytes) are never parsed: they go to the primary. Default 16384. */
  maxParseLength?: number;
  /** Statements asked of the parser and not answered yet, at most (default 256). */
  maxQueued?: number;
  /** Counts to go on from (a reload's new classifier keeps the old one's: they are metrics). */
  stats?: ClassifierStats;
}

export interface ClassifierStats {
  /** classify calls decided by the lexer alone. */
  lexed: number;
  /** Statements the parser answered. */
  parsed: number;
  /** Statements whose tier-2 facts came from the cache. */
  cacheHits: number;
  /** Statements asked of the parser. */
  queued: number;
  /** Statements not asked of the parser: its queue was full, or it was down (or none). */
  dropped: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function plainTable(route: Route): ReadonlyMap<StatementKind, Classification> {
  return new Map(STATEMENT_KINDS.map((kind) => [kind, Object.freeze({ route, kind, parsed: false })]));
}

// Shared immutable results: the common statements cost no allocation.
const PLAIN_READ = plainTable('read');
const PLAIN_WRITE = plainTable('write');

function plain(kind: StatementKind, route: Route): Classification {
  return (route === 'read' ? PLAIN_READ : PLAIN_WRITE).get(kind)!;
}

const MAX_SCRATCH = 1 << 20;

export class Classifier {
  readonly policy: FunctionPolicy;
  readonly stats: ClassifierStats;
  private readonly maxParseLength: number;
  private readonly maxQueued: number;
  /** Tier-2 facts by statement key (statement-key.ts): what the parser answered. */
  private readonly cache: LruCache<ParseAnswer>;
  /** The same facts by exact text, as met. */
  private readonly byText: LruCache<ParseAnswer>;
  /** Keys asked of the parser and not answered: one request per key at a time. */
  private readonly asked = new Set<string>();
  private readonly parser: TreeParser | undefined;
  private readonly lexer = new Lexer();
  private readonly draft = new Draft();
  private readonly keys = new StatementKeys();
  private scratch = Buffer.allocUnsafe(4096);
  private usedTier2 = false;

  constructor(opts: ClassifierOptions = {}) {
    this.policy = opts.policy ?? new FunctionPolicy();
    this.draft.shadowed = this.policy.shadowed;
    this.stats = opts.stats ?? { lexed: 0, parsed: 0, cacheHits: 0, queued: 0, dropped: 0 };
    this.parser = opts.parser;
    this.maxParseLength = opts.maxParseLength ?? 16384;
    this.maxQueued = opts.maxQueued ?? 256;
    this.cache = new LruCache(opts.cacheSize ?? 10_000, opts.cacheBytes ?? 16 << 20);
    this.byText = new LruCache(opts.cacheSize ?? 10_000, opts.cacheBytes ?? 16 << 20);
  }

  classify(sql: string): Classification {
    // Worst case 3 UTF-8 bytes per UTF-16 unit, so a scratch that size always fits.
    const worst = sql.length * 3;
    if (worst > MAX_SCRATCH) {
      const buf = Buffer.from(sql, 'utf8');
      return this.classifyBytes(buf, 0, buf.length);
    }
    if (worst > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(worst, this.scratch.length * 2));
    return this.classifyBytes(this.scratch, 0, this.scratch.write(sql, 0, 'utf8'));
  }

  /** Classifies the UTF-8 SQL text in buf[start, end) (a Query or Parse payload, without its NUL). */
  classifyBytes(buf: Buffer, start: number, end: number): Classification {
    const lx = this.lexer,
      d = this.draft;
    lx.reset(buf, start, end);
    this.usedTier2 = false;
    const hint = lx.readLeadingHint();
    // Most Queries hold one statement: keep it out of an array.
    let first: Classification | undefined;
    let all: Classification[] | undefined;
    let tok = lx.next();
    for (;;) {
      while (tok === Tok.Semicolon) {
        lx.depth = 0; // a statement's stray '(' must not leak into the next
        tok = lx.next();
      }
      if (tok === Tok.End) break;
      if (tok === Tok.Error) return this.done(invalid(lx.error!), hint);
      d.reset();
      const stmtStart = lx.tokStart;
      tok = analyzeStatement(lx, d, tok, 0);
      if (tok === Tok.Error) return this.done(invalid(lx.error!), hint);
      if (tok === Tok.RParen) return this.done(invalid('unbalanced parentheses'), hint);
      const c = this.finish(d, buf, stmtStart, tok === Tok.Semicolon ? lx.tokStart : end);
      if (first === undefined) first = c;
      else (all ??= [first]).push(c);
    }
    if (lx.backslashQuote) {
      // With standard_conforming_strings = off the server would split this text differently.
      return this.done(invalid('string literal ends in a backslash; routed to the primary'), hint);
    }
    return this.done(all ? combine(all) : (first ?? plain('empty', 'read')), hint);
  }

  /** Forgets cached tier-2 results (e.g. after a schema change that matters to callers). */
  clearCache(): void {
    this.cache.clear();
    this.byText.clear();
  }

  /** The parser's answer for the statement asked about under `key`. */
  learn(key: string, answer: ParseAnswer): void {
    this.asked.delete(key);
    this.stats.parsed++;
    const bytes = 'error' in answer ? answer.error.length * 2 : answer.calls.reduce((n, c) => n + c.length * 2 + 16, 0);
    this.cache.set(key, answer, bytes + 64);
  }

  /** The statement asked about under `key` will get no answer (the parser died): ask again. */
  forget(key: string): void {
    this.asked.delete(key);
  }

  private done(c: Classification, hint: Hint | undefined): Classification {
    if (!this.usedTier2) this.stats.lexed++;
    if (hint === undefined) return c;
    return { ...c, hint, route: hint === 'primary' ? 'write' : 'read' };
  }

  private finish(d: Draft, buf: Buffer, start: number, end: number): Classification {
    if (d.invalid !== undefined) return invalid(d.invalid);
    let route = d.route;
    let sessionState = d.sessionState;
    let parsed = false,
      awaitingParser = false,
      functions: string[] | undefined,
      error: string | undefined;
    // LISTEN and UNLISTEN; a read but for calls that take or read session state there.
    let writesNothing = d.kind === 'listen' || (route === 'read' && d.stateCalls);
    if (route === 'read' && this.needsTier2(d)) {
      const facts = this.tier2(buf, start, end);
      parsed = facts !== undefined && end - start <= this.maxParseLength;
      if (facts === undefined) {
        route = 'write';
        writesNothing = false;
        awaitingParser = true;
        // The names the lexer read are looked up while the parser reads the statement.
        for (const name of d.calls ?? []) {
          if (this.policy.isWrite(name) === undefined && !functions?.includes(name)) (functions ??= []).push(name);
        }
      } else if ('error' in facts) {
        route = 'write';
        writesNothing = false;
        error = facts.error;
      } else {
        if (facts.writes) route = 'write';
        if (facts.writes) writesNothing = false;
        for (const name of facts.calls) {
          const write = this.policy.isWrite(name);
          if (write !== false) route = 'write';
          if (write !== false && !writesNoRows(name)) writesNothing = false;
          if (write === undefined && !functions?.includes(name)) (functions ??= []).push(name);
          const state = sessionStateOfCall(name);
          if (state !== undefined) sessionState = withSessionState(sessionState, state);
        }
      }
    }
    const opaque = d.opaque || (d.userCalls !== undefined && this.mayRunUserCode(d.userCalls));
    if (writesNothing) route = 'write';
    writesNothing &&= !opaque;
    if (
      !parsed &&
      !awaitingParser &&
      functions === undefined &&
      error === undefined &&
      !opaque &&
      !writesNothing &&
      isPlain(d)
    ) {
      return plain(d.kind, route);
    }
    const c: Mutable<Classification> = { route, kind: d.kind, parsed };
    if (d.readOnly !== undefined) c.readOnly = d.readOnly;
    if (d.isolation !== undefined) c.isolation = d.isolation;
    if (d.chain !== undefined) c.chain = d.chain;
    if (d.name !== undefined) c.name = d.name;
    if (d.all !== undefined) c.all = d.all;
    if (d.discard !== undefined) c.discard = d.discard;
    if (d.set) c.set = d.set;
    if (d.otherSets !== undefined) c.otherSets = d.otherSets;
    // A call the lexer could not name may be another set_config.
    if (d.localSets !== undefined) c.localSets = d.localSets && !d.uncertainCalls;
    if (
      d.set !== undefined ||
      d.otherSets !== undefined ||
      d.localSets !== undefined ||
      sessionState === 'set_config' ||
      sessionState === 'transaction_characteristics' ||
      d.kind === 'reset' ||
      d.kind === 'discard'
    )
      c.touchesSettings = true;
    if (sessionState !== undefined) c.sessionState = sessionState;
    if (d.copyOut !== undefined) c.copyOut = d.copyOut;
    if (d.pgtideRoute !== undefined) c.pgtideRoute = d.pgtideRoute;
    if (d.constantArguments) c.constantArguments = true;
    if (opaque) c.opaque = true;
    if (writesNothing) c.writesNothing = true;
    if (d.readsSequences) c.readsSequences = true;
    if (d.readsStatementList) c.readsStatementList = true;
    if (d.signals !== undefined) c.signals = d.signals;
    if (d.freesDatabase !== undefined) c.freesDatabase = d.freesDatabase;
    if (d.changesFunctions) c.changesFunctions = true;
    if (functions !== undefined) c.functions = functions;
    if (error !== undefined) c.error = error;
    if (awaitingParser) c.awaitingParser = true;
    return c;
  }

  /**
   * Whether a call of these user functions may change settings or leave session state. One
   * known not to write (not volatile, or on read_only_function_list) cannot: PostgreSQL refuses
   * every utility statement in a function that is not volatile (SET, LISTEN, PREPARE, CREATE
   * TEMP …: "not allowed in a non-volatile function"), which leaves it only volatile built-ins
   * such as set_config and pg_advisory_lock, calls a function marked stable or immutable must
   * not make. Unknown ones may, until the catalog says otherwise.
   */
  private mayRunUserCode(names: readonly string[]): boolean {
    for (const name of names) if (this.policy.isWrite(name) !== false) return true;
    return false;
  }

  /**
   * Tier 2 can only turn a candidate read into a write, so it is needed only
   * when some call is not already known to be read-only.
   */
  private needsTier2(d: Draft): boolean {
    if (d.uncertainCalls) return true;
    return d.calls?.some((name) => this.policy.isWrite(name) !== false) ?? false;
  }

  /** The statement's cached facts; undefined while the parser has not answered (it is asked). */
  private tier2(buf: Buffer, start: number, end: number): ParseAnswer | undefined {
    this.usedTier2 = true;
    if (end - start > this.maxParseLength) {
      return {
        error: `statement longer than ${this.maxParseLength} bytes calls functions not known to be read-only; not parsed`,
      };
    }
    const sql = buf.toString('utf8', start, end);
    // A text met before costs no second lexing (the key's): drivers repeat the same texts.
    let answer = this.byText.get(sql);
    if (answer === undefined) {
      const key = this.keys.keyOf(buf, start, end);
      answer = this.cache.get(key);
      if (answer === undefined) {
        this.ask(key, sql);
        return undefined;
      }
      this.byText.set(sql, answer, 64);
    }
    this.stats.cacheHits++;
    return answer;
  }

  private ask(key: string, sql: string): void {
    if (this.asked.has(key)) return;
    const parser = this.parser;
    if (parser === undefined || this.asked.size >= this.maxQueued || !parser.parse(key, sql)) {
      this.stats.dropped++;
      return;
    }
    this.asked.add(key);
    this.stats.queued++;
  }
}

function isPlain(d: Draft): boolean {
  return (
    d.readOnly === undefined &&
    d.isolation === undefined &&
    d.chain === undefined &&
    d.name === undefined &&
    d.all === undefined &&
    d.discard === undefined &&
    d.set === undefined &&
    d.otherSets === undefined &&
    d.sessionState === undefined &&
    d.copyOut === undefined &&
    d.pgtideRoute === undefined &&
    d.constantArguments === undefined &&
    !d.opaque &&
    !d.readsSequences &&
    !d.readsStatementList &&
    d.signals === undefined &&
    d.freesDatabase === undefined &&
    !d.changesFunctions
  );
}

/** Text pgtide could not read: it runs on the primary, as code pgtide cannot see into (it may
 *  set, lock or listen as well as anything), its settings read back and its state probed after. */
function invalid(error: string): Classification {
  return { route: 'write', kind: 'other', parsed: false, error, opaque: true };
}

function combine(results: readonly Classification[]): Classification {
  let functions: string[] | undefined;
  for (const r of results) {
    for (const f of r.functions ?? []) if (!functions?.includes(f)) (functions ??= []).push(f);
  }
  const c: Mutable<Classification> = {
    route: results.some((r) => r.route === 'write') ? 'write' : 'read',
    kind: 'multi',
    parsed: results.some((r) => r.parsed),
    multi: true,
    statements: results,
  };
  if (functions !== undefined) c.functions = functions;
  if (results.some((r) => r.touchesSettings)) c.touchesSettings = true;
  if (results.some((r) => r.opaque)) c.opaque = true;
  if (results.some((r) => r.readsSequences)) c.readsSequences = true;
  if (results.every((r) => r.route === 'read' || r.writesNothing) && c.route === 'write') c.writesNothing = true;
  if (results.some((r) => r.readsStatementList)) c.readsStatementList = true;
  const signals = results.flatMap((r) => r.signals ?? []);
  if (signals.length > 0) c.signals = signals;
  if (results.some((r) => r.awaitingParser)) c.awaitingParser = true;
  return c;
}
