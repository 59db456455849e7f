import type { Statement } from './statement-registry.js';

/**
 * A client's statement names, each to its statement, with the statement of a server-side name
 * found at once: the server's answers name pgtide's statements, and a client holding thousands
 * of names had each ParseComplete of a pipelined batch of Parses search them all, freezing the
 * event loop for seconds (found by a hostile-input helper). A server-side name is one
 * statement's (see StatementRegistry.newName).
 */
export class ClientNames extends Map<string, Statement> {
  /** Each statement some name denotes, by its server-side name, with how many names do. */
  private readonly byServerName = new Map<string, { statement: Statement; names: number }>();

  override set(name: string, statement: Statement): this {
    const before = super.get(name);
    if (before === statement) return this;
    if (before !== undefined) this.unnamed(before);
    super.set(name, statement);
    const named = this.byServerName.get(statement.serverName);
    if (named) named.names++;
    else this.byServerName.set(statement.serverName, { statement, names: 1 });
    return this;
  }

  override delete(name: string): boolean {
    const before = super.get(name);
    if (before === undefined) return false;
    this.unnamed(before);
    return super.delete(name);
  }

  override clear(): void {
    super.clear();
    this.byServerName.clear();
  }

  /** The statement of the server-side name `serverName`, if the client names it. */
  statementNamed(serverName: string): Statement | undefined {
    return this.byServerName.get(serverName)?.statement;
  }

  private unnamed(statement: Statement): void {
    const named = this.byServerName.get(statement.serverName)!;
    if (--named.names === 0) this.byServerName.delete(statement.serverName);
  }
}
