import type { Logger } from '../log.js';
import { literal } from '../sql/quote.js';
import { VOLATILITY_TTL_MS, isBuiltinRead, isCatalogName, type FunctionPolicy } from '../sql/index.js';
import { ServerConnection } from '../pool/server-connection.js';
import type { ServerLogin, ServerLoginError } from '../pool/server-login.js';
import type { ServerOwner } from '../pool/server-peer.js';

// Names come from client SQL: cap how many distinct ones are ever looked up, so a client
// inventing names cannot grow our memory or load the primary without bound.
const MAX_LOOKUPS = 10_000;

/**
 * Learns whether user functions write, from the catalog (`pg_proc.provolatile = 'v'`), as
 * Pgpool-II does when no function lists are configured. A statement calling a function not
 * known yet goes to the primary; the lookup runs in the background, once per name, and later
 * statements are routed by what it learned. What was learned is forgotten when a function
 * changes through pgtide (see forget), and asked again after VOLATILITY_TTL_MS.
 */
export class FunctionCatalog implements ServerOwner {
  private readonly asked = new Set<string>();
  private batch: string[] = [];
  private inFlight = false;
  private askedAt = Date.now();
  /** When each database was last asked for its functions named like PostgreSQL's own. */
  private readonly shadowsAskedAt = new Map<string, number>();
  private shadowLookups = 0;

  constructor(
    private policy: FunctionPolicy,
    private readonly log: Logger,
  ) {}

  usePolicy(policy: FunctionPolicy): void {
    this.policy = policy;
    this.asked.clear();
  }

  /** A function, procedure, aggregate, extension or schema was created, changed or dropped:
   *  until asked again, every function counts as writing (the primary, code pgtide checks after). */
  forget(): void {
    this.policy.forgetVolatility();
    this.asked.clear();
    this.askedAt = Date.now();
    // A function named like a built-in it may have made is asked for at the next login.
    this.shadowsAskedAt.clear();
  }

  /** Lookups running now, on connections of their own. */
  get lookups(): number {
    return this.shadowLookups + (this.inFlight ? 1 : 0);
  }

  /** Names the classifier could not decide; `login` reaches the primary as the client's user. */
  lookUp(names: readonly string[], login: () => ServerLogin): void {
    if (!this.policy.usesCatalog) return;
    // A volatility known for VOLATILITY_TTL_MS is no longer taken as known: its name is asked
    // again, so that a function replaced by DDL that did not come through pgtide (a migration
    // run directly) is seen within that time.
    const now = Date.now();
    if (now - this.askedAt >= VOLATILITY_TTL_MS) {
      this.asked.clear();
      this.askedAt = now;
    }
    for (const name of names) {
      if (this.asked.has(name) || this.asked.size >= MAX_LOOKUPS) continue;
      this.asked.add(name);
      this.batch.push(name);
    }
    if (this.batch.length === 0 || this.inFlight) return;
    this.inFlight = true;
    new ServerConnection(login(), this);
  }

  /**
   * A client of `database` logged in: the functions that database defines outside pg_catalog
   * under PostgreSQL's own names (see FunctionPolicy.shadowed) are asked for, once per
   * VOLATILITY_TTL_MS. Until the answer, such a call counts as PostgreSQL's.
   */
  watchShadows(database: string, login: () => ServerLogin): void {
    const now = Date.now();
    const at = this.shadowsAskedAt.get(database);
    if (at !== undefined && now - at < VOLATILITY_TTL_MS) return;
    if (at === undefined && this.shadowsAskedAt.size >= MAX_LOOKUPS) return;
    this.shadowsAskedAt.set(database, now);
    this.shadowLookups++;
    const owner: ServerOwner = {
      onServerLogin: (server, error) => {
        // Asked again after VOLATILITY_TTL_MS: not at every login to a database the backend refuses.
        if (error) {
          this.shadowLookups--;
          return;
        }
        server
          .query(SHADOWS)
          .then(
            (rows) => {
              for (const [name] of rows)
                if (name && (isBuiltinRead(name) || isCatalogName(name))) this.policy.shadowed.add(name);
            },
            (err: Error) =>
              this.log.warn({ err: err.message, database }, 'lookup of functions named like built-ins failed'),
          )
          .finally(() => {
            server.close('function lookup done');
            this.shadowLookups--;
          });
      },
      onServerClosed: () => {},
      onServerReusable: () => {},
    };
    new ServerConnection(login(), owner);
  }

  onServerLogin(server: ServerConnection, error: ServerLoginError | null): void {
    const names = this.batch;
    this.batch = [];
    if (error) {
      this.inFlight = false;
      // Let a later statement try again.
      for (const n of names) this.asked.delete(n);
      return;
    }
    server
      .query(volatilityQuery(names))
      .then(
        (rows) => {
          const volatile = new Map<string, boolean>();
          for (const [proname, isVolatile] of rows) volatile.set(proname ?? '', isVolatile === 't');
          // A name the catalog does not know (or an overloaded one that is volatile anywhere) is
          // treated as writing: the primary is always a correct place to run it.
          for (const n of names) this.policy.learnVolatility(n, volatile.get(bareName(n)) ?? true);
        },
        (err: Error) => {
          this.log.warn({ err: err.message }, 'function volatility lookup failed');
          for (const n of names) this.asked.delete(n);
        },
      )
      .finally(() => {
        server.close('function lookup done');
        this.inFlight = false;
      });
  }

  onServerClosed(): void {}

  onServerReusable(): void {}
}

/** The names of the functions defined outside pg_catalog. */
const SHADOWS = `SELECT DISTINCT p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
  WHERE n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}')`;

function bareName(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? name : name.slice(dot + 1);
}

function volatilityQuery(names: string[]): string {
  // Operators are qualified so that the session's search_path cannot substitute its own.
  const literals = [...new Set(names.map(bareName))].map(literal).join(',');
  // An aggregate is declared immutable whatever its support functions do: one of them volatile
  // (a state function calling set_config) makes it so.
  return `SELECT p.proname, pg_catalog.bool_or(p.provolatile OPERATOR(pg_catalog.=) 'v' OR EXISTS (
      SELECT 1 FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
        a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]::pg_catalog.oid[])
      WHERE a.aggfnoid OPERATOR(pg_catalog.=) p.oid AND f.provolatile OPERATOR(pg_catalog.=) 'v'))
    FROM pg_catalog.pg_proc p
    WHERE p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[${literals}]::pg_catalog.name[]) GROUP BY p.proname`;
}
