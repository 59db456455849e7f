// What one client was told of its named statements' result shapes (the answers to its Describes),
// against the version of each shared statement: whether a Bind may run with the description the
// client holds, or must get PostgreSQL's 0A000 (see ClientStatements). A client that never
// describes a statement keeps nothing here.
import type { BackendConfig } from '../config/types.js';
import { rowShape, sameRowShape } from '../protocol/row-shape.js';
import type { Statement } from './statement-registry.js';

/** The version a description pgtide never saw counts as: none is ever current. */
const UNSEEN = -1;

export class ToldShapes {
  // The server names of statements whose RowDescription the client was sent in an earlier link,
  // and of those it asks to describe in this link, each with the statement's epoch then.
  private readonly described = new Map<string, number>();
  private readonly describedNow = new Map<string, number>();
  // Of those, the statements whose own description (not a portal's) the client asks in this link.
  private readonly statementsNow = new Set<string>();
  /**
   * The shape each of those Describes told the client (the statement's own Buffer when the same,
   * so clients share it): a client told the shape of a newer version than the one it described
   * (a version made by a server showing it stale, or by two backends' shapes) binds on without
   * being sent PostgreSQL's 0A000. Made at the client's first answered Describe of a statement.
   */
  private told: Map<string, Buffer> | null = null;
  /**
   * By the client's statement name: the shape the latest answered Describe of a portal bound from
   * it told the client (libpq's PQexecPrepared, as PHP's PDO and pgbench send it, and
   * node-postgres). Such a client may keep the first one for the statement's life, so a Bind runs
   * only on a copy known to have that shape (see ClientStatements.portalShapeDiffers). By the
   * client's name, not the shared statement's: two names of one text may hold two shapes.
   */
  private portals: Map<string, Buffer> | null = null;

  /** The client asks for the shape of `serverName` (or, `ofPortal`, of a portal bound from it) at `epoch`, in this link. */
  asked(serverName: string, epoch: number, ofPortal: boolean): void {
    this.describedNow.set(serverName, epoch);
    if (!ofPortal) this.statementsNow.add(serverName);
  }

  /** The link's answers came: what it asked is held from now on. */
  keep(): void {
    for (const [name, epoch] of this.describedNow) this.described.set(name, epoch);
    this.describedNow.clear();
    this.statementsNow.clear();
  }

  /** The link's bytes go again to another server, which records what they ask again. */
  dropAsked(): void {
    this.describedNow.clear();
    this.statementsNow.clear();
  }

  /** The client holds, or asks for in this link, a description of the statement. */
  holds(serverName: string): boolean {
    return this.described.has(serverName) || this.describedNow.has(serverName);
  }

  /** The client asks for the statement's own description in this link. A portal's does not
   *  count: PostgreSQL fails the Bind of a stale statement before any Describe of its portal,
   *  and libpq's clients (PHP's PDO) keep the first portal's columns for the statement's life. */
  askedNow(serverName: string): boolean {
    return this.statementsNow.has(serverName);
  }

  /** The statement is made afresh under a client name: whatever the client knew of it is no longer its,
   *  what it asked earlier in this link too (pgJDBC's autosave describes a statement, gets the
   *  0A000 of a table changed in the transaction, and prepares its text again under a new name). */
  forget(serverName: string): void {
    this.described.delete(serverName);
    this.describedNow.delete(serverName);
    this.statementsNow.delete(serverName);
    this.told?.delete(serverName);
  }

  /** A Describe of a portal bound from the client's statement `clientName` told it `shape` (see rowShape). */
  portalTold(clientName: string, shape: Buffer): void {
    (this.portals ??= new Map()).set(clientName, shape);
  }

  /** The shape a Describe of a portal bound from the client's statement `clientName` told it last, if any. */
  portalShape(clientName: string): Buffer | undefined {
    return this.portals?.get(clientName);
  }

  /** The client's name `clientName` was closed or made anew. */
  forgetPortal(clientName: string): void {
    this.portals?.delete(clientName);
  }

  /**
   * The client was told `shape` by a server pgtide did not follow (see ClientStatements.adopt),
   * at no version pgtide knows: its Binds compare it with the current version's (null: a shape
   * pgtide did not get, an old one for them).
   */
  adopted(statement: Statement, shape: Buffer | null): void {
    this.described.set(statement.serverName, UNSEEN);
    if (shape !== null) this.tell(statement, shape);
  }

  /**
   * The client holds a description from an older version of the statement than its current one,
   * and it is not known to have the current version's shape: rows of that version could be
   * decoded with the old one. A client told only the shapes of portals bound from its statement
   * `clientName` (node-postgres, libpq's PQexecPrepared) holds the shape of the last one, which
   * is what PostgreSQL compares a re-planned statement with at each Bind: it is outdated only
   * when the current version's shape is known and is another; when it is not known, the copy the
   * Bind runs on is checked against it (see ClientStatements.portalShapeDiffers). Else a version
   * made by a failure that changed no shape (a table dropped, a Bind failing with 42P01, then
   * made again with the same columns) failed its Binds with 0A000 for the client's life, where
   * PostgreSQL runs them.
   */
  outdated(statement: Statement, clientName?: string): boolean {
    const name = statement.serverName;
    const seen = this.describedNow.get(name) ?? this.described.get(name);
    if (seen === undefined || seen === statement.epoch) return false;
    const told = this.told?.get(name);
    const shape = statement.shape;
    const current = shape !== null && statement.shapeEpoch === statement.epoch;
    if (told === undefined) {
      const portal = clientName === undefined ? undefined : this.portals?.get(clientName);
      if (portal === undefined) return true;
      return current && !sameRowShape(portal, shape!, false);
    }
    if (!current) return true;
    if (told !== shape && !sameRowShape(told, shape!)) return true;
    // It holds the current version's description: its next Binds take the short way.
    this.told!.set(name, shape!);
    (this.describedNow.has(name) ? this.describedNow : this.described).set(name, statement.epoch);
    return false;
  }

  /** Whether the client's description is outdated depends on the current version's shape, not known yet. */
  mustLearn(statement: Statement): boolean {
    return statement.shapeEpoch !== statement.epoch && this.told?.has(statement.serverName) === true;
  }

  /**
   * A Describe of the statement was answered by a server of `backend` (`type`, `body`: its
   * RowDescription or NoData). The shape clients are told at the epoch the client asked at is
   * kept once per epoch (one copy per statement). Another shape at that epoch from another
   * backend (a standby that has not replayed a table change yet, while the primary has) makes a
   * new version: no client binds with a description of the other shape without PostgreSQL's
   * 0A000; the new version's shape is the first one learned at it. Servers of one backend that
   * disagree saw the change between their answers: a copy planned before it fails with
   * PostgreSQL's own 0A000, and one prepared after it is checked against the shape
   * (ClientStatements.holdForShape), so a new version there would only make clients describe
   * again, some of them twice for one query (asyncpg retries once).
   */
  learn(statement: Statement, type: number, body: Buffer, backend: BackendConfig | null): void {
    const name = statement.serverName;
    const epoch = this.describedNow.get(name) ?? this.described.get(name);
    const shape = rowShape(type, body);
    if (statement.epoch === epoch) {
      if (statement.shapeEpoch !== epoch || statement.shape === null) {
        statement.shape = shape;
        statement.shapeEpoch = epoch;
        statement.shapeBackend = backend;
      } else if (backend !== statement.shapeBackend && !sameRowShape(statement.shape, shape)) statement.epoch++;
    }
    this.tell(statement, shape);
  }

  /** Keeps the shape the client was told, as the statement's own Buffer when the same. */
  private tell(statement: Statement, shape: Buffer): void {
    const known = statement.shape;
    (this.told ??= new Map()).set(statement.serverName, known !== null && sameRowShape(known, shape) ? known : shape);
  }
}
