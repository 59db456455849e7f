/** What a server connection needs to know of a shared statement: its name, and which version of it is current. */
export interface ServerStatement {
  readonly serverName: string;
  /** Grows when the statement is known to be stale somewhere (see StatementRegistry): older copies are prepared again. */
  readonly epoch: number;
}

const NONE_DOUBTFUL: readonly string[] = [];

/**
 * The named statements pgtide has prepared on one server connection, least recently used
 * first, bounded by max_prepared_statements, each with the epoch it was prepared at. Names
 * whose state on the server is uncertain (a DEALLOCATE or DISCARD that may have failed, a plan
 * that went stale, a copy older than its statement's epoch) are "doubtful": they are closed
 * at the next Parse pgtide sends there, which is harmless when they are already gone.
 */
export class PreparedSet {
  private readonly names = new Map<string, number>();
  private readonly doubtful = new Set<string>();
  /**
   * Names prepared since the server last answered all it was sent outside a transaction block
   * (see committed). PostgreSQL keeps a prepared statement through a rollback, with the
   * parameter and result types it resolved, also those of a type the rollback dropped: a copy
   * answering another client's Parse would then fail its Bind ("cache lookup failed for
   * type"), where PostgreSQL parses afresh. Only names the server still has: bounded by the
   * capacity in any transaction.
   */
  private readonly provisional = new Set<string>();
  /** The result shape a Describe on this server gave a copy (see rowShape), of the statement or
   *  of a portal bound from it: what a client's Bind here gets, whatever shape it was told. */
  private shapes: Map<string, Buffer> | null = null;
  /** pgtide's own statements prepared here, one bit each (see own-checks.ts): closed and
   *  prepared again after anything that may have dropped them. */
  own = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.names.size;
  }

  /** Whether the server has some version of the named statement. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Whether the server has the current version of the statement; an older copy becomes doubtful. */
  holds(statement: ServerStatement): boolean {
    const epoch = this.names.get(statement.serverName);
    if (epoch === undefined) return false;
    if (epoch === statement.epoch) return true;
    this.doubt(statement.serverName);
    return false;
  }

  /** The shape a Describe here gave the current copy of `name`, if one was answered. */
  shapeOf(name: string): Buffer | undefined {
    return this.shapes?.get(name);
  }

  /** A Describe of the copy of `name` here (or of a portal bound from it) was answered with `shape`. */
  described(name: string, shape: Buffer): void {
    if (this.names.has(name)) (this.shapes ??= new Map()).set(name, shape);
  }

  /** Every doubtful name, forgotten: the caller closes them all (a version replaced after a
   *  schema change is never prepared again under its name, so its copy would stay uncounted). */
  takeDoubtful(): readonly string[] {
    if (this.doubtful.size === 0) return NONE_DOUBTFUL;
    const all = [...this.doubtful];
    this.doubtful.clear();
    return all;
  }

  /** A Close of `name` was skipped: the server may still have it. */
  closeSkipped(name: string): void {
    if (!this.names.has(name)) this.doubtful.add(name);
  }

  isDoubtful(name: string): boolean {
    return this.doubtful.has(name);
  }

  /** A use: the name becomes the most recently used. */
  touch(name: string): void {
    const epoch = this.names.get(name);
    if (epoch === undefined) return;
    this.names.delete(name);
    this.names.set(name, epoch);
  }

  /** Record a statement about to be prepared; returns the name to close to make room, if any. */
  add(statement: ServerStatement): string | null {
    const name = statement.serverName;
    this.doubtful.delete(name);
    this.names.delete(name);
    this.shapes?.delete(name);
    this.names.set(name, statement.epoch);
    this.provisional.add(name);
    if (this.names.size <= this.capacity) return null;
    const oldest = this.names.keys().next().value;
    if (oldest === undefined) return null;
    this.names.delete(oldest);
    this.shapes?.delete(oldest);
    this.provisional.delete(oldest);
    return oldest;
  }

  /** The server may or may not still have it. */
  doubt(name: string): void {
    if (this.names.delete(name)) this.doubtful.add(name);
    this.shapes?.delete(name);
    this.provisional.delete(name);
  }

  /** Whether `name` was prepared here since the server was last idle with nothing in flight (see provisional). */
  isProvisional(name: string): boolean {
    return this.provisional.has(name);
  }

  get hasProvisional(): boolean {
    return this.provisional.size > 0;
  }

  /** Everything sent was answered, outside a transaction block, with no rollback: the statements are kept. */
  committed(): void {
    if (this.provisional.size > 0) this.provisional.clear();
  }

  /**
   * An error or a rollback (of the transaction or of a savepoint): what was prepared since the
   * last commit may name objects that are gone, so it is prepared again before its next use.
   */
  rolledBack(): void {
    for (const name of this.provisional) this.doubt(name);
  }

  /**
   * DDL is about to run in the transaction: a copy prepared in it before may keep a plan of the
   * old schema, which a client's Parse must not be answered from (PostgreSQL parses afresh;
   * the old copy fails with 0A000 "cached plan must not change result type"). It is prepared
   * again before its next use, as after a rollback.
   */
  schemaChanges(): void {
    this.rolledBack();
  }

  /** After DISCARD ALL / DEALLOCATE ALL (which can fail inside an aborted transaction), or
   *  anything pgtide could not follow: every name is closed before it is prepared again. */
  doubtAll(): void {
    for (const name of this.names.keys()) this.doubtful.add(name);
    this.names.clear();
    this.shapes = null;
    this.provisional.clear();
    this.own = 0;
  }
}
