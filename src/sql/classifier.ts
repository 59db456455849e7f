// The statement classifier: tier 1 (the byte lexer, statement.ts) decides
// almost everything; tier 2 (PostgreSQL's grammar, parse-tree.ts) only names
// the functions of candidate reads that call functions the policy does not
// already know to be read-only. Tier-2 facts are cached by statement text;
// the function policy is applied afresh on every call, so volatility learned
// later takes effect without invalidating the cache.

import { STATEMENT_KINDS, type Classification, type Route, type StatementKind } from './classification.js';
import { FunctionPolicy, sessionStateOfCall } from './functions.js';
import { Lexer, Tok, type Hint } from './lexer.js';
import { LruCache } from './lru.js';
import { loadParser, SqlSyntaxError, treeFacts, type TreeFacts } from './parse-tree.js';
import { analyzeStatement } from './statement.js';
import { Draft } from './statement-draft.js';

export interface ClassifierOptions {
  policy?: FunctionPolicy;
  /** Cached tier-2 results, by count (default 10,000). */
  cacheSize?: number;
  /** Cached tier-2 results, by estimated bytes (default 16 MiB). */
  cacheBytes?: number;
  /** Longer statements (UTF-8 bytes) are never parsed: they go to the primary. Default 16384. */
  maxParseLength?: number;
  /**
   * Called when a statement needs the parser and it is not loaded: the caller may load it
   * (`loadParser`) for later statements. The statement itself goes to the primary.
   */
  onParserMissing?: () => void;
}

export interface ClassifierStats {
  /** classify calls decided by the lexer alone. */
  lexed: number;
  /** Statements run through the real parser. */
  parsed: number;
  /** Statements whose tier-2 facts came from the cache. */
  cacheHits: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Tier2 = TreeFacts | { readonly error: string };

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
  readonly stats: ClassifierStats = { lexed: 0, parsed: 0, cacheHits: 0 };
  private readonly maxParseLength: number;
  private readonly cache: LruCache<Tier2>;
  private readonly lexer = new Lexer();
  private readonly draft = new Draft();
  private scratch = Buffer.allocUnsafe(4096);
  private usedTier2 = false;
  private readonly onParserMissing: (() => void) | undefined;

  /** The parser must be loaded (see `create`) or tier-2 statements route to the primary. */
  constructor(opts: ClassifierOptions = {}) {
    this.policy = opts.policy ?? new FunctionPolicy();
    this.maxParseLength = opts.maxParseLength ?? 16384;
    this.cache = new LruCache(opts.cacheSize ?? 10_000, opts.cacheBytes ?? 16 << 20);
    this.onParserMissing = opts.onParserMissing;
  }

  /** Loads the parser's WASM module (tens of ms) before building a classifier. */
  static async create(opts: ClassifierOptions = {}): Promise<Classifier> {
    await loadParser();
    return new Classifier(opts);
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
      functions: string[] | undefined,
      error: string | undefined;
    if (route === 'read' && this.needsTier2(d)) {
      const facts = this.tier2(buf, start, end);
      parsed = end - start <= this.maxParseLength;
      if ('error' in facts) {
        route = 'write';
        error = facts.error;
      } else {
        if (facts.writes) route = 'write';
        for (const name of facts.calls) {
          const write = this.policy.isWrite(name);
          if (write !== false) route = 'write';
          if (write === undefined && !functions?.includes(name)) (functions ??= []).push(name);
          sessionState ??= sessionStateOfCall(name);
        }
      }
    }
    if (!parsed && functions === undefined && error === undefined && isPlain(d)) return plain(d.kind, route);
    const c: Mutable<Classification> = { route, kind: d.kind, parsed };
    if (d.readOnly !== undefined) c.readOnly = d.readOnly;
    if (d.isolation !== undefined) c.isolation = d.isolation;
    if (d.chain !== undefined) c.chain = d.chain;
    if (d.name !== undefined) c.name = d.name;
    if (d.all !== undefined) c.all = d.all;
    if (d.discard !== undefined) c.discard = d.discard;
    if (d.set !== undefined) c.set = d.set;
    if (sessionState !== undefined) c.sessionState = sessionState;
    if (d.copyOut !== undefined) c.copyOut = d.copyOut;
    if (d.pgtideRoute !== undefined) c.pgtideRoute = d.pgtideRoute;
    if (d.opaque) c.opaque = true;
    if (functions !== undefined) c.functions = functions;
    if (error !== undefined) c.error = error;
    return c;
  }

  /**
   * Tier 2 can only turn a candidate read into a write, so it is needed only
   * when some call is not already known to be read-only.
   */
  private needsTier2(d: Draft): boolean {
    if (d.uncertainCalls) return true;
    return d.calls?.some((name) => this.policy.isWrite(name) !== false) ?? false;
  }

  private tier2(buf: Buffer, start: number, end: number): Tier2 {
    this.usedTier2 = true;
    if (end - start > this.maxParseLength) {
      return {
        error: `statement longer than ${this.maxParseLength} bytes calls functions not known to be read-only; not parsed`,
      };
    }
    const sql = buf.toString('utf8', start, end);
    const cached = this.cache.get(sql);
    if (cached !== undefined) {
      this.stats.cacheHits++;
      return cached;
    }
    this.stats.parsed++;
    let facts: Tier2;
    try {
      facts = treeFacts(sql);
    } catch (err) {
      // A parser that is not loaded is our problem, not the statement's: do not cache it.
      if (!(err instanceof SqlSyntaxError)) {
        this.onParserMissing?.();
        return { error: `SQL parser unavailable: ${(err as Error).message}` };
      }
      facts = { error: `syntax error: ${err.message}` };
    }
    const bytes = 'error' in facts ? facts.error.length * 2 : facts.calls.reduce((n, c) => n + c.length * 2 + 16, 0);
    this.cache.set(sql, facts, bytes + 64);
    return facts;
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
    d.sessionState === undefined &&
    d.copyOut === undefined &&
    d.pgtideRoute === undefined &&
    !d.opaque
  );
}

function invalid(error: string): Classification {
  return { route: 'write', kind: 'other', parsed: false, error };
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
  if (results.some((r) => r.opaque)) c.opaque = true;
  return c;
}
