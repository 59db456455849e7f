// The statements shared by every client of the process: one server-side name per distinct
// statement text, with what pgtide learned of it (its classification, its version, its shape).
import type { BackendConfig } from '../config/types.js';
import * as encode from '../protocol/encode.js';
import { LruCache } from '../sql/lru.js';
import { findDeallocations, type Deallocation } from '../sql/statement-names.js';
import type { Classification } from '../sql/index.js';
import { schemaGeneration } from '../pool/schema-generation.js';
import type { Settings } from './session-settings.js';
import { keptCopy } from '../protocol/kept-buffer.js';

/** A statement text with its parameter types, under the one name it has on every server. */
export interface Statement {
  readonly serverName: string;
  /** The Parse message that prepares it under that name. */
  readonly parse: Buffer;
  /**
   * What its text does, decided once at its first Parse: each later Bind routes and tracks
   * session state by it without parsing again. Replaced while it names functions whose
   * volatility was not known yet, or awaits the parser (see StatementRegistry.classification).
   */
  classification: Classification;
  /** The DEALLOCATEs its text runs (then running it may drop statements of the server), else null. */
  readonly deallocates: readonly Deallocation[] | null;
  /**
   * Grows each time a server shows the statement stale (its plan no longer fits the tables, or
   * it is missing): copies prepared before are prepared again before their next use, so no
   * client's Parse is answered from a copy known to be stale (see PreparedSet.holds).
   */
  epoch: number;
  /** The answer to a Describe of the statement that clients were told at `shapeEpoch` (see
   *  row-shape.ts), to check a copy prepared afresh against before a client relies on it. */
  shape: Buffer | null;
  shapeEpoch: number;
  /** The backend whose server answered that Describe. */
  shapeBackend: BackendConfig | null;
  /**
   * Where the WAL stood on a server that showed the statement stale (see replay.ts): a standby
   * that has not replayed that far may still have the table as it was, and describe or run the
   * statement with its old shape. 0n: no table change seen.
   */
  replayedAt: bigint;
  /** Until when (ms since epoch) it runs on the primary alone, while replayedAt is being learned; 0: not. */
  primaryUntil: number;
  /**
   * The epoch at which a server last answered a Parse of it with ParseComplete; -1 when none
   * has, or the last answered failed (a table dropped since). While it equals `epoch`, pgtide
   * answers a Parse of it itself when no server is linked (see session/parse-answer.ts). A
   * stale plan grows `epoch`: then it is parsed by a server again first, since the text may
   * no longer parse at all (a column dropped).
   */
  parsedEpoch: number;
  /** Its Parse with the parameter types a Describe told a client (see
   *  ClientStatements.learnParameters), used for every copy prepared from then on, as
   *  PostgreSQL keeps a statement's types for its life; null before. */
  typedParse: Buffer | null;
  /** The epoch typedParse was learned at: once the statement has gone stale since (its table
   *  changed), a client's new Parse of its text gets a new statement (see intern), parsed with
   *  the types PostgreSQL infers now, as its own new Parse would be on PostgreSQL. */
  typedEpoch: number;
  /** The schema generation it was interned at (see pool/schema-generation.ts): a Parse after a
   *  later schema change gets a new statement under a new name, parsed afresh by a server. */
  readonly generation: number;
}

/**
 * Where a statement's names resolve: its database, its user (whose defaults may set the
 * search_path, and whom `$user` names), and the client's own search_path and role. Clients of
 * two tenants' schemas prepare the same text for tables of other shapes: one statement between
 * them was revalidated by PostgreSQL under the other's search_path, which fails with 0A000
 * "cached plan must not change result type", and its told shape was the other tenant's.
 */
export function statementScope(database: string, user: string, settings: Settings | null): string {
  const path = settings?.get('search_path');
  const role = settings?.get('role');
  return `${database}\0${user}\0${path ?? ''}\0${role ?? ''}`;
}

/** Its clients were told parameter types before it went stale: they keep binding those types,
 *  which a new Parse of its text would no longer infer. */
function typedBeforeStale(statement: Statement): boolean {
  return statement.typedParse !== null && statement.typedEpoch !== statement.epoch;
}

let unshared = 0;

/** A scope no other statement is in (statementScope's begin with a database name, never with NUL). */
export function unsharedScope(): string {
  return `\0${++unshared}`;
}

/**
 * One server-side name per distinct statement (text and parameter types) in one scope (see
 * statementScope) across all clients of the process, so clients running the same statements
 * share what is prepared on a server.
 */
export class StatementRegistry {
  private readonly byText = new LruCache<Statement>(100_000, 256 * 1024 * 1024);
  private next = 1;

  /** `classify(text, start, end)`: the classification of the statement text in text[start, end). */
  constructor(private readonly classify: (text: Buffer, start: number, end: number) => Classification) {}

  /** `rest`: the Parse body after the statement name (query String, parameter types), in `scope`. */
  intern(rest: Buffer, scope: string): Statement {
    const key = scopedKey(rest, scope);
    const known = this.byText.get(key);
    const generation = schemaGeneration();
    if (known && known.generation === generation && !typedBeforeStale(known)) return known;
    const statement = this.make(this.newName(), rest, rest, generation);
    // A new version after a schema change: a standby that had not replayed the change the old
    // one met keeps being avoided (see replay.ts).
    if (known) {
      statement.replayedAt = known.replayedAt;
      statement.primaryUntil = known.primaryUntil;
    }
    this.byText.set(key, statement, statement.parse.length);
    return statement;
  }

  /** A server-side name no statement has had. */
  newName(): string {
    return `pgtide_${this.next++}`;
  }

  /**
   * A statement of one client's own, which no other shares: `rest` is what servers prepare under
   * `serverName` (pgtide's rewrite of the client's Parse body `sent`, see
   * ClientStatements.listing), classified as `sent`.
   */
  own(serverName: string, rest: Buffer, sent: Buffer): Statement {
    return this.make(serverName, rest, sent, schemaGeneration());
  }

  private make(serverName: string, rest: Buffer, sent: Buffer, generation: number): Statement {
    const textEnd = sent.indexOf(0);
    const textLength = textEnd < 0 ? sent.length : textEnd;
    return {
      serverName,
      parse: keptCopy(encode.parseWithName(serverName, rest)),
      classification: this.classify(sent, 0, textLength),
      deallocates: findDeallocations(sent, 0, textLength),
      epoch: 0,
      shape: null,
      shapeEpoch: -1,
      shapeBackend: null,
      parsedEpoch: -1,
      replayedAt: 0n,
      primaryUntil: 0,
      typedParse: null,
      typedEpoch: -1,
      generation,
    };
  }

  /** The statement of a Parse body after its name in `scope`, if some client prepared it. */
  find(rest: Buffer, scope: string): Statement | undefined {
    return this.byText.get(scopedKey(rest, scope));
  }

  /** The statement a Parse body `rest` (as in intern) prepares, if a server is known to parse it at its current version. */
  parsed(rest: Buffer, scope: string): Statement | null {
    const statement = this.find(rest, scope);
    return statement !== undefined &&
      statement.parsedEpoch === statement.epoch &&
      statement.generation === schemaGeneration()
      ? statement
      : null;
  }

  /**
   * The statement's classification for one more run. A text that called functions of unknown
   * volatility, or that the parser had not read yet, went to the primary while the catalog or
   * the parser was asked; it is classified again at each run (a lookup in the parser's cache)
   * until both have answered, so a prepared read reaches the standbys from then on.
   */
  classification(statement: Statement): Classification {
    const c = statement.classification;
    if (c.functions === undefined && !c.awaitingParser) return c;
    const [start, end] = textBounds(statement);
    const again = this.classify(statement.parse, start, end);
    statement.classification = again;
    return again;
  }
}

/** Where the text `statement` prepares lies in its Parse message. */
function textBounds(statement: Statement): [start: number, end: number] {
  const parse = statement.parse;
  const start = parse.indexOf(0, 5) + 1;
  return [start, parse.indexOf(0, start)];
}

/** The text `statement` prepares. */
export function statementText(statement: Statement): string {
  return statement.parse.toString('utf8', ...textBounds(statement));
}

function scopedKey(rest: Buffer, scope: string): string {
  return `${scope}\0${rest.toString('latin1')}`;
}
