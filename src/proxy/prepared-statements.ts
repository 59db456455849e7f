import * as encode from '../protocol/encode.js';
import { LruCache } from '../sql/lru.js';
import { identifier } from '../sql/quote.js';
import type { PreparedSet } from '../pool/prepared-set.js';
import type { PoolStats } from '../pool/pool.js';
import { Expect, type ResponseTracker } from './response-tracker.js';
import type { Classification } from '../sql/index.js';

/** A statement text with its parameter types, under the one name it has on every server. */
export interface Statement {
  readonly serverName: string;
  /** The Parse message that prepares it under that name. */
  readonly parse: Buffer;
  /**
   * What its text does, decided once at its first Parse: each later Bind routes and tracks
   * session state by it without parsing again. Replaced while it names functions whose
   * volatility was not known yet (see StatementRegistry.classification).
   */
  classification: Classification;
}

/**
 * One server-side name per distinct statement (text and parameter types) across all clients of
 * the process, so clients running the same statements share what is prepared on a server.
 */
export class StatementRegistry {
  private readonly byText = new LruCache<Statement>(100_000, 256 * 1024 * 1024);
  private next = 1;

  /** `classify(text, start, end)`: the classification of the statement text in text[start, end). */
  constructor(private readonly classify: (text: Buffer, start: number, end: number) => Classification) {}

  /** `rest`: the Parse body after the statement name (query String, parameter types). */
  intern(rest: Buffer): Statement {
    const key = rest.toString('latin1');
    let statement = this.byText.get(key);
    if (!statement) {
      const serverName = `pgtide_${this.next++}`;
      const textEnd = rest.indexOf(0);
      statement = { serverName, parse: encode.parseWithName(serverName, rest), classification: this.classify(rest, 0, textEnd < 0 ? rest.length : textEnd) };
      this.byText.set(key, statement, statement.parse.length);
    }
    return statement;
  }

  /**
   * The statement's classification for one more run. A text that called functions of unknown
   * volatility went to the primary while the catalog was asked; once they are learned it is
   * classified again (the parser's facts are cached by text), so later runs route by them.
   */
  classification(statement: Statement): Classification {
    const c = statement.classification;
    if (c.functions === undefined) return c;
    const parse = statement.parse;
    const textStart = parse.indexOf(0, 5) + 1;
    const again = this.classify(parse, textStart, parse.indexOf(0, textStart));
    statement.classification = again;
    return again;
  }
}

const P = 0x50, B = 0x42, D = 0x44, C = 0x43, Q = 0x51;
const STATEMENT = 0x53;

/** The request kind of each client message type that gets an answer of its own (0: none). */
const EXPECT = new Uint8Array(256);
EXPECT[P] = Expect.Parse;
EXPECT[B] = Expect.Bind;
EXPECT[D] = Expect.Describe;
EXPECT[C] = Expect.Close;
EXPECT[0x45] = Expect.Execute;
EXPECT[0x53] = Expect.Sync;
EXPECT[Q] = Expect.Query;
EXPECT[0x46] = Expect.Query;

/**
 * A client's named prepared statements, and the rewriting of its messages for whichever server
 * runs its next transaction: names become the shared server-side names, a statement the server
 * lacks is prepared there first (its ParseComplete hidden), a Parse of a statement the server
 * already has is answered by pgtide, Close of a statement is answered by pgtide (other clients
 * may share it; the per-server LRU bounds what stays prepared).
 */
export class ClientStatements {
  private readonly byName = new Map<string, Statement>();
  private out: Buffer[] = [];
  /** The pool's counters (SHOW STATS: client and server parses, binds) during a rewrite. */
  private stats: PoolStats | null = null;
  private copied = 0;
  private changed = false;
  /** Bytes of a message cut by the end of the last chunk (CopyData, or one sent before mapping began). */
  private cutRemaining = 0;

  /** Changes to the names since the link began, while its bytes may still be sent again elsewhere. */
  private undo: [name: string, before: Statement | undefined][] = [];
  private recording = false;

  constructor(private readonly registry: StatementRegistry) {}

  /** ParseCompletes pgtide sent at once on this link (before any server answer). */
  private earlyParses = 0;
  /** Parses of bytes sent again whose ParseComplete the client already has. */
  private answeredParses = 0;

  /** A link began: its bytes may be resent elsewhere until the server answers (see rollBack). */
  beginUndo(): void {
    this.recording = true;
    this.undo.length = 0;
    this.earlyParses = 0;
  }

  /** The server answered: the bytes will not be resent. */
  endUndo(): void {
    this.recording = false;
    this.undo.length = 0;
    this.earlyParses = 0;
  }

  /** The link's bytes go again to another server: the names return to what they were, and
   *  the ParseCompletes already sent are not sent twice. */
  rollBack(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const [name, before] = this.undo[i]!;
      if (before) this.byName.set(name, before);
      else this.byName.delete(name);
    }
    this.undo.length = 0;
    this.answeredParses = this.earlyParses;
    this.earlyParses = 0;
  }

  /** A Parse failed or was skipped by the server: the client's name is free again (if still that statement). */
  forget(clientName: string, serverName: string): void {
    if (this.byName.get(clientName)?.serverName === serverName) this.setName(clientName, undefined);
  }

  private setName(name: string, statement: Statement | undefined): void {
    if (this.recording) this.undo.push([name, this.byName.get(name)]);
    if (statement) this.byName.set(name, statement);
    else this.byName.delete(name);
  }

  get size(): number {
    return this.byName.size;
  }

  /** What the statement a client calls `name` does, or undefined when it has no such statement. */
  classificationOf(name: string): Classification | undefined {
    const statement = this.byName.get(name);
    return statement && this.registry.classification(statement);
  }

  /**
   * Rewrite `data` (whole messages; a cut one passes unchanged) for a server whose
   * statements are `set`, recording in `tracker` the answer each request will get.
   * Answers pgtide gives at once are passed to `answerNow`.
   */
  rewrite(data: Buffer, set: PreparedSet, tracker: ResponseTracker, stats: PoolStats, answerNow: (b: Buffer) => void): Buffer {
    this.stats = stats;
    this.out.length = 0;
    this.copied = 0;
    this.changed = false;
    let off = 0;
    if (this.cutRemaining > 0) {
      off = Math.min(this.cutRemaining, data.length);
      this.cutRemaining -= off;
    }
    while (off + 5 <= data.length) {
      const type = data[off]!;
      const end = off + 1 + data.readUInt32BE(off + 1);
      if (end > data.length) {
        const expect = EXPECT[type]!;
        if (expect !== 0) tracker.push(expect);
        this.cutRemaining = end - data.length;
        break;
      }
      // After an error the server discards all until Sync: those requests change nothing.
      if (!tracker.skipping || type === 0x53) this.message(type, data, off, end, set, tracker, answerNow);
      off = end;
    }
    if (!this.changed) return data;
    this.keep(data, data.length);
    const result = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out.length = 0;
    return result;
  }

  private message(type: number, data: Buffer, off: number, end: number, set: PreparedSet, tracker: ResponseTracker,
    answerNow: (b: Buffer) => void): void {
    switch (type) {
      case P: {
        const nameEnd = data[off + 5] === 0 ? -1 : data.indexOf(0, off + 5);
        if (nameEnd < 0 || nameEnd >= end) return tracker.push(Expect.Parse);
        const name = data.toString('utf8', off + 5, nameEnd);
        this.stats!.clientParses++;
        this.drop(data, off, end);
        const known = this.byName.get(name);
        if (known) {
          // A name in use: preparing the same server name twice gives PostgreSQL's own 42P05.
          this.ensure(set, tracker, known);
          this.out.push(known.parse);
          return tracker.pushDuplicate(name);
        }
        const statement = this.registry.intern(data.subarray(nameEnd + 1, end));
        this.setName(name, statement);
        // A request sent again after a retry was answered already: its answer is hidden now.
        const answered = this.answeredParses > 0;
        if (answered) this.answeredParses--;
        if (!set.has(statement.serverName)) return this.prepare(set, tracker, statement, answered, name);
        set.touch(statement.serverName);
        if (answered) return;
        const now = tracker.pushFake(Expect.FakeParse, statement.serverName, name);
        if (now) {
          this.earlyParses++;
          answerNow(now);
        }
        return;
      }
      case B: {
        const portalEnd = data.indexOf(0, off + 5);
        const nameEnd = portalEnd < 0 || portalEnd + 1 >= end || data[portalEnd + 1] === 0 ? -1 : data.indexOf(0, portalEnd + 1);
        const statement = nameEnd < 0 || nameEnd >= end ? undefined : this.byName.get(data.toString('utf8', portalEnd + 1, nameEnd));
        if (!statement) return tracker.push(Expect.Bind);
        this.stats!.binds++;
        this.drop(data, off, end);
        this.ensure(set, tracker, statement);
        this.out.push(renamed(B, data.subarray(off + 5, portalEnd + 1), statement.serverName, data.subarray(nameEnd + 1, end)));
        return tracker.push(Expect.Bind, false, statement.serverName);
      }
      case D:
      case C: {
        const statement = data[off + 5] === STATEMENT && data[off + 6] !== 0 && data[end - 1] === 0
          ? this.byName.get(data.toString('utf8', off + 6, end - 1)) : undefined;
        if (!statement) return tracker.push(type === D ? Expect.Describe : Expect.Close);
        this.drop(data, off, end);
        if (type === D) {
          this.ensure(set, tracker, statement);
          this.out.push(renamed(D, data.subarray(off + 5, off + 6), statement.serverName, null));
          return tracker.push(Expect.Describe);
        }
        // Other clients may use the server's copy; only this client's name goes.
        this.setName(data.toString('utf8', off + 6, end - 1), undefined);
        const now = tracker.pushFake(Expect.FakeClose);
        if (now) answerNow(now);
        return;
      }
      case Q:
        this.simpleQuery(data, off, end, set, tracker);
        return tracker.push(Expect.Query);
      default: {
        const expect = EXPECT[type]!;
        if (expect !== 0) tracker.push(expect);
      }
    }
  }

  /** DEALLOCATE of a name of this client, DEALLOCATE ALL and DISCARD ALL in a simple Query. */
  private simpleQuery(data: Buffer, off: number, end: number, set: PreparedSet, tracker: ResponseTracker): void {
    const target = deallocateTarget(data, off + 5, end - 1);
    if (target === null) return;
    if (target === ALL) {
      for (const name of [...this.byName.keys()]) this.setName(name, undefined);
      set.doubtAll();
      return;
    }
    const statement = this.byName.get(target);
    if (!statement) return;
    this.setName(target, undefined);
    // The server deallocates the shared name, so the command tag and any error are its own.
    this.drop(data, off, end);
    this.ensure(set, tracker, statement);
    set.doubt(statement.serverName);
    this.out.push(encode.query(`DEALLOCATE ${identifier(statement.serverName)}`));
  }

  private ensure(set: PreparedSet, tracker: ResponseTracker, statement: Statement): void {
    if (set.has(statement.serverName)) set.touch(statement.serverName);
    else this.prepare(set, tracker, statement, true);
  }

  /** Prepare on this server: close what makes room or what may linger, then Parse (creating `clientName`, if given). */
  private prepare(set: PreparedSet, tracker: ResponseTracker, statement: Statement, hidden: boolean, clientName: string | null = null): void {
    const name = statement.serverName;
    if (set.isDoubtful(name)) this.close(tracker, name);
    const evicted = set.add(name);
    if (evicted !== null) this.close(tracker, evicted);
    this.out.push(statement.parse);
    this.stats!.serverParses++;
    tracker.push(Expect.Parse, hidden, name, clientName);
  }

  private close(tracker: ResponseTracker, name: string): void {
    this.out.push(encode.closeStatement(name));
    tracker.push(Expect.Close, true);
  }

  /** Keep the client's bytes up to `off` unchanged and leave out the message ending at `end`. */
  private drop(data: Buffer, off: number, end: number): void {
    this.keep(data, off);
    this.copied = end;
    this.changed = true;
  }

  private keep(data: Buffer, upTo: number): void {
    if (upTo > this.copied) this.out.push(data.subarray(this.copied, upTo));
    this.copied = upTo;
  }
}

/** A Bind or Describe with the statement name swapped: `head` is what precedes the name. */
function renamed(type: number, head: Buffer, name: string, tail: Buffer | null): Buffer {
  const nameBytes = Buffer.byteLength(name);
  const bodySize = head.length + nameBytes + 1 + (tail ? tail.length : 0);
  const b = Buffer.allocUnsafe(5 + bodySize);
  b[0] = type;
  b.writeUInt32BE(4 + bodySize, 1);
  let pos = 5 + head.copy(b, 5);
  pos += b.write(name, pos);
  b[pos++] = 0;
  if (tail) tail.copy(b, pos);
  return b;
}

const ALL = Symbol('all');
const DEALLOCATE = /^\s*(?:deallocate\s+(?:prepare\s+)?(?:(all)|"((?:[^"]|"")+)"|([a-z_][a-z0-9_$]*))|discard\s+(all))\s*;?\s*$/i;

/** The statement a simple-query DEALLOCATE names, ALL for DEALLOCATE ALL / DISCARD ALL, else null. */
export function deallocateTarget(data: Buffer, start: number, end: number): string | typeof ALL | null {
  // Cheap test first: only statements starting with d/D can match.
  let i = start;
  while (i < end && (data[i] === 0x20 || data[i] === 0x0a || data[i] === 0x09 || data[i] === 0x0d)) i++;
  if (i >= end || (data[i]! | 0x20) !== 0x64 || end - start > 1024) return null;
  const m = DEALLOCATE.exec(data.toString('utf8', start, end));
  if (!m) return null;
  if (m[1] || m[4]) return ALL;
  if (m[2]) return m[2].replaceAll('""', '"');
  return m[3]!.toLowerCase();
}
