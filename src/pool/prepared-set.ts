/**
 * The named statements pgtide has prepared on one server connection, least recently used
 * first, bounded by max_prepared_statements. Names whose state on the server is uncertain
 * (a DEALLOCATE or DISCARD that may have failed, a plan that went stale) are "doubtful": they
 * are closed before being prepared again, which is harmless when they are already gone.
 */
export class PreparedSet {
  private readonly names = new Map<string, true>();
  private readonly doubtful = new Set<string>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.names.size;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  isDoubtful(name: string): boolean {
    return this.doubtful.has(name);
  }

  /** A use: the name becomes the most recently used. */
  touch(name: string): void {
    this.names.delete(name);
    this.names.set(name, true);
  }

  /** Record a statement about to be prepared; returns the name to close to make room, if any. */
  add(name: string): string | null {
    this.doubtful.delete(name);
    this.names.set(name, true);
    if (this.names.size <= this.capacity) return null;
    const oldest = this.names.keys().next().value!;
    this.names.delete(oldest);
    return oldest;
  }

  /** The Parse failed or was skipped: the server does not have it. */
  delete(name: string): void {
    this.names.delete(name);
  }

  /** The server may or may not still have it. */
  doubt(name: string): void {
    if (this.names.delete(name)) this.doubtful.add(name);
  }

  /** After DISCARD ALL / DEALLOCATE ALL (which can fail inside an aborted transaction). */
  doubtAll(): void {
    for (const name of this.names.keys()) this.doubtful.add(name);
    this.names.clear();
  }
}
