// A client's named statements whose text pgtide rewrites for that client: one that reads
// pg_prepared_statements (the client's own list goes in its place, see statement-list.ts), or
// one that EXECUTEs a statement the client prepared by protocol (asyncpg's
// `fetchval('EXECUTE name')` after `prepare(..., name=name)`: the name becomes its server name).
// Such a text depends on the client's names, so the statement is the client's alone, never
// shared, and is made again under a new server name when the client's names have changed by
// its next Bind. Also kept here: when the client prepared each name, for its list.
import { identifier } from '../sql/quote.js';
import { findStatementLists, mayReadStatementList } from '../sql/statement-list.js';
import { findStatementNames, type StatementName } from '../sql/statement-names.js';
import { edited, type TextEdit } from '../sql/text-edits.js';
import { MAX_LIST_TEXT, listEdits, preparedNow, statementListSql, type ListedStatement } from './statement-list.js';
import type { Statement, StatementRegistry } from './statement-registry.js';

interface OwnText {
  /** The version of the client's names the text was made at. */
  version: number;
  /** The Parse body the client sent (its text, then its parameter types). */
  readonly sent: Buffer;
  /** The client's statements the text EXECUTEs: prepared on a server before it. */
  readonly executed: readonly Statement[];
  /** Their names in the text, in the same order. */
  readonly executedNames: readonly string[];
}

export class OwnStatements {
  /** Grows with each change to the client's names. */
  private version = 0;
  private texts: Map<Statement, OwnText> | null = null;
  private preparedAt: Map<string, number> | null = null;

  /** `scope()`: where the client's statement names resolve now (see statementScope). */
  constructor(
    private readonly registry: StatementRegistry,
    private readonly scope: () => string,
  ) {}

  /** `name` denotes `statement` now (undefined: nothing), and `before` before. */
  renamed(name: string, before: Statement | undefined, statement: Statement | undefined): void {
    this.version++;
    if (before !== undefined && before !== statement) this.texts?.delete(before);
    if (statement === undefined) this.preparedAt?.delete(name);
  }

  /** The client's Parse made `statement` under `name` (after renamed). */
  created(name: string, statement: Statement): void {
    (this.preparedAt ??= new Map()).set(name, preparedNow());
    this.fitted(statement);
  }

  /**
   * The statement for the client's Parse of `sent` under `name` when its text depends on the
   * client's names (it reads the view, or EXECUTEs a name), else null: the client's own, or,
   * while nothing in it is to rewrite (no statement of the name it EXECUTEs yet), the shared
   * statement of the text, followed here to be made again once there is. `names`: the
   * client's names now (`name`'s, if any, is not this one's).
   */
  make(name: string, sent: Buffer, names: ReadonlyMap<string, Statement>): Statement | null {
    const textEnd = sent.indexOf(0);
    if (textEnd < 0) return null;
    const lists = findStatementLists(sent, 0, textEnd);
    const executes = executedNames(sent, textEnd, name);
    if (lists === null && executes.length === 0) return null;
    const mine = executes.filter((d) => names.has(d.name!));
    const executed = mine.map((d) => names.get(d.name!)!);
    const edits: TextEdit[] = mine.map((d, i) => [d.start, d.end, identifier(executed[i]!.serverName)]);
    let serverName: string | null = null;
    if (lists !== null) {
      serverName = this.registry.newName();
      const self = { name, serverName, text: sent.subarray(0, textEnd), preparedAt: this.preparedAt?.get(name) };
      edits.push(...listEdits(lists, this.list(names, self)));
      edits.sort((a, b) => a[0] - b[0]);
    }
    const statement =
      edits.length === 0
        ? this.registry.intern(sent, this.scope())
        : this.registry.own(serverName ?? this.registry.newName(), edited(sent, 0, sent.length, edits), sent);
    // Kept past this chunk, whose Buffer it would hold.
    (this.texts ??= new Map()).set(statement, {
      version: this.version,
      sent: Buffer.from(sent),
      executed,
      executedNames: mine.map((d) => d.name!),
    });
    return statement;
  }

  /** Whether a Parse of `sent` under `name` would be of a text that depends on the client's names (see make). */
  wouldMake(name: string, sent: Buffer): boolean {
    const textEnd = sent.indexOf(0);
    if (textEnd < 0) return false;
    return mayReadStatementList(sent, 0, textEnd) || executedNames(sent, textEnd, name).length > 0;
  }

  /** Whether the client has statements of its own. */
  get any(): boolean {
    return this.texts !== null && this.texts.size > 0;
  }

  /**
   * The client's `statement` under `name` (see make) made again for its names now, if they
   * changed since; else null. A text whose EXECUTE names a statement the client dropped becomes
   * the shared statement of its text again: its server answers as PostgreSQL does (26000),
   * where the old text would run the dropped statement's copy.
   */
  remade(name: string, statement: Statement, names: ReadonlyMap<string, Statement>): Statement | null {
    const own = this.texts?.get(statement);
    if (own === undefined || own.version === this.version) return null;
    return this.make(name, own.sent, names);
  }

  /** `statement` is what its name denotes as of now (after renamed). */
  fitted(statement: Statement): void {
    const own = this.texts?.get(statement);
    if (own) own.version = this.version;
  }

  /** The client's statements that its own `statement` EXECUTEs. */
  executedBy(statement: Statement): readonly Statement[] | undefined {
    return this.texts?.get(statement)?.executed;
  }

  /** The names its own `statement` EXECUTEs. */
  executedNamesOf(statement: Statement): readonly string[] | undefined {
    return this.texts?.get(statement)?.executedNames;
  }

  /**
   * The client's pg_prepared_statements for its `names`, as SQL to put in the view's place;
   * `self`: a statement being made, not among them yet. Null when their texts alone pass
   * MAX_LIST_TEXT.
   */
  list(names: ReadonlyMap<string, Statement>, self: ListedStatement | null): string | null {
    const listed: ListedStatement[] = [];
    let bytes = self?.text.length ?? 0;
    for (const [name, statement] of names) {
      if (name === self?.name) continue;
      const sent = this.texts?.get(statement)?.sent ?? statement.parse.subarray(statement.parse.indexOf(0, 5) + 1);
      const text = sent.subarray(0, sent.indexOf(0));
      bytes += text.length;
      if (bytes > MAX_LIST_TEXT) return null;
      listed.push({ name, serverName: statement.serverName, text, preparedAt: this.preparedAt?.get(name) });
    }
    if (self !== null) listed.push(self);
    return statementListSql(listed);
  }
}

/** The EXECUTEs in the text `sent[0, textEnd)` of names other than `name`. A text that also
 *  deallocates acts on the client's names when it runs (see ranDeallocations): none. */
function executedNames(sent: Buffer, textEnd: number, name: string): StatementName[] {
  const found = findStatementNames(sent, 0, textEnd, true);
  return found?.every((d) => d.executes) ? found.filter((d) => d.name !== name) : [];
}
