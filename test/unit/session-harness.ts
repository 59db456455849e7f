// A client session with no PostgreSQL around it: the client's socket, its pools and their
// server connections are fakes a test scripts message by message (as server-hostile.test.ts
// scripts the server side); the rest of the context is what a session reads, and no more.
import { UNKNOWN_SETTINGS } from '../../src/pool/server-settings.js';
import { EventEmitter } from 'node:events';
import { defaultConfig } from '../../src/config/defaults.js';
import type { BackendConfig, Config } from '../../src/config/types.js';
import * as encode from '../../src/protocol/encode.js';
import { AssemblyBudget } from '../../src/protocol/scanner.js';
import { BackendMessage } from '../../src/protocol/types.js';
import { PreparedSet } from '../../src/pool/prepared-set.js';
import { PoolStats } from '../../src/pool/pool.js';
import type { LendingPool, LinkedServer, ServerWaiter } from '../../src/pool/linked-server.js';
import type { ServerPeer } from '../../src/pool/server-peer.js';
import { ANSWER_ENDS } from '../../src/pool/server-states.js';
import { SyncPoints } from '../../src/pool/sync-points.js';
import { CancelKeys } from '../../src/proxy/cancel-keys.js';
import { Roster } from '../../src/proxy/roster.js';
import { ClientSession } from '../../src/proxy/client-session.js';
import { State } from '../../src/proxy/session/state.js';
import type { ProxyContext } from '../../src/proxy/context.js';
import { StatementRegistry } from '../../src/proxy/statement-registry.js';
import { Classifier } from '../../src/sql/index.js';
import { LruCache } from '../../src/sql/lru.js';

/** The client's end of the session: what the session writes, and a way to send it bytes. */
export class FakeClientSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  writable = true;
  destroyed = false;
  writableLength = 0;
  remoteAddress = '127.0.0.1';
  paused = false;

  write(data: Buffer | string): boolean {
    this.written.push(Buffer.from(data));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  end(): void {
    this.writable = false;
  }
  destroy(): void {
    this.destroyed = true;
  }

  /** Bytes from the client. */
  send(data: Buffer): void {
    this.emit('data', data);
  }

  /** Type bytes of the messages written since the last call (ReadyForQuery with its status: `ZI`). */
  takeTypes(): string {
    const all = Buffer.concat(this.written.splice(0));
    const out: string[] = [];
    for (let off = 0; off + 5 <= all.length; off += 1 + all.readUInt32BE(off + 1)) {
      const type = String.fromCharCode(all[off]!);
      out.push(all[off] === BackendMessage.ReadyForQuery ? type + String.fromCharCode(all[off + 5]!) : type);
    }
    return out.join(' ');
  }
}

interface OwnQuery {
  sql: string;
  resolve(rows: (string | null)[][]): void;
  reject(err: Error): void;
}

let nextFakeId = 1;

/** A server connection as a session sees it; pgtide's own queries wait until the test answers them. */
export class FakeServer implements LinkedServer {
  readonly id = nextFakeId++;
  readonly syncs = new SyncPoints();
  readonly prepared = new PreparedSet(100);
  readonly params = new Map<string, string>();
  readonly received: Buffer[] = [];
  readonly ownQueries: OwnQuery[] = [];
  settings: ReadonlyMap<string, string> = new Map();
  settingsKey = '';
  unknownOwner: ServerPeer | null = null;
  unknownOwnerKey = '';
  settingsPrint = '';
  printedFor = '';
  settableNames = '';
  sequenceOwner = 0;
  unnamedBy: object | null = null;
  txStatus: number = 0x49;
  answerAtBoundary = true;
  toldClientOfEnd = false;
  cancelsInFlight = 0;
  isClosed = false;
  cutHeaderLength = 0;
  cutHeaderType = 0;
  endsTransaction = false;
  peer: ServerPeer | null = null;
  returned = false;
  /** The pool that lent it out: it goes back there idle (returnWhenCancelsDone). */
  home: FakePool | null = null;
  readonly socket = { cork(): void {}, uncork(): void {} };

  constructor(readonly name: string) {}

  link(peer: ServerPeer): void {
    this.peer = peer;
  }
  unlink(): void {
    this.peer = null;
  }
  setTracking(): void {}
  write(data: Buffer): boolean {
    this.received.push(data);
    return true;
  }
  query(sql: string): Promise<(string | null)[][]> {
    return new Promise((resolve, reject) => this.ownQueries.push({ sql, resolve, reject }));
  }
  request(request: Buffer): Promise<(string | null)[][]> {
    return this.query(request.toString('latin1'));
  }
  returnWhenCancelsDone(): void {
    this.returned = true;
    this.home?.idle.push(this);
  }
  resetThenReturn(): void {
    this.returned = true;
  }
  close(): void {
    this.isClosed = true;
  }
  orphan(): void {
    this.peer = null;
  }
  settleAfterCut(): void {}
  forgetSettings(settings: ReadonlyMap<string, string>, owner: ServerPeer | null = null, ownerKey = ''): void {
    this.settings = settings;
    this.settingsKey = settings === UNKNOWN_SETTINGS ? '\0unknown' : '';
    this.unknownOwner = settings === UNKNOWN_SETTINGS ? owner : null;
    this.unknownOwnerKey = ownerKey;
  }
  pauseReading(): void {}
  resumeReading(): void {}

  /** The texts of the simple Queries the client's bytes carried here. */
  queriesReceived(): string[] {
    const all = Buffer.concat(this.received);
    const out: string[] = [];
    for (let off = 0; off + 5 <= all.length; off += 1 + all.readUInt32BE(off + 1)) {
      if (all[off] === 0x51) out.push(all.toString('utf8', off + 5, off + all.readUInt32BE(off + 1)));
    }
    return out;
  }

  /** The statement sent last ends: CommandComplete and ReadyForQuery (`status`), forwarded as the server connection would. */
  complete(tag: string, status: 'I' | 'T' | 'E' = 'I'): void {
    this.reply(encode.commandComplete(tag), encode.readyForQuery(status));
  }

  /** The server answers with `messages`, handed over as the server connection does: each
   *  ReadyForQuery answers a sync point, each ErrorResponse is counted, then the chunk is
   *  forwarded and, once nothing is owed, the session told the transaction status. */
  reply(...messages: Buffer[]): void {
    const peer = this.peer!;
    let idle = false;
    for (const m of messages) {
      if (m[0] === BackendMessage.ReadyForQuery) {
        this.txStatus = m[5]!;
        idle = this.syncs.answered();
      } else if (m[0] === BackendMessage.ErrorResponse) {
        peer.onServerError(m.subarray(5));
      }
    }
    peer.onServerData(Buffer.concat(messages));
    if (idle) peer.onServerIdle(this.txStatus);
  }

  /** As reply, on a tracking link (a client of prepared statements): each answer that may end
   *  a request is counted and told to the session, as the server connection does. */
  replyTracked(...messages: Buffer[]): void {
    const peer = this.peer!;
    let end = 0;
    let idle = false;
    for (const m of messages) {
      end += m.length;
      if (m[0] === BackendMessage.ReadyForQuery) {
        this.txStatus = m[5]!;
        idle = this.syncs.answered();
      } else if (ANSWER_ENDS[m[0]!] !== 0) {
        this.syncs.countAnswer();
      }
      peer.onServerAnswer(m[0]!, m.subarray(5), end);
    }
    peer.onServerData(Buffer.concat(messages));
    if (idle) peer.onServerIdle(this.txStatus);
  }

  /** Answers pgtide's own query that is running (the oldest) with `rows`. */
  async answerOwn(rows: (string | null)[][]): Promise<string> {
    const q = this.ownQueries.shift()!;
    q.resolve(rows);
    await settle();
    return q.sql;
  }
}

/** One pool: idle servers a route takes, waiters a test serves. */
export class FakePool implements LendingPool {
  readonly stats = new PoolStats();
  readonly idle: FakeServer[] = [];
  readonly waiters: ServerWaiter[] = [];
  readonly released: FakeServer[] = [];
  /** Sessions that route to this pool: pool_idle_timeout drops it only at 0. */
  holders = 0;

  hold(): void {
    this.holders++;
  }
  letGo(): void {
    this.holders--;
  }
  sequenceReaders = false;
  takeIdle(): FakeServer | null {
    const server = this.idle.pop() ?? null;
    if (server) server.home = this;
    return server;
  }
  /** As the real pool: an idle server at once, else the waiter queues. */
  acquire(waiter: ServerWaiter): void {
    const server = this.takeIdle();
    if (server) return waiter.onServerAssigned(server);
    this.waiters.push(waiter);
  }
  cancelWait(waiter: ServerWaiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }
  release(server: FakeServer): void {
    this.released.push(server);
  }
  /** Startup settings a login's server took, as the real pool keeps them (name=value). */
  readonly knownSettings = new Set<string>();
  knowsSettings(settings: ReadonlyMap<string, string>): boolean {
    for (const [name, value] of settings) if (!this.knownSettings.has(`${name}=${value}`)) return false;
    return true;
  }
  tookSettings(settings: ReadonlyMap<string, string>): void {
    for (const [name, value] of settings) this.knownSettings.add(`${name}=${value}`);
  }
  /** The pool lends `server` to its oldest waiter. */
  give(server: FakeServer): void {
    server.home = this;
    this.waiters.shift()!.onServerAssigned(server);
  }
}

export interface Harness {
  ctx: ProxyContext;
  /** Backends by name; `primary` says which one the router writes to (a failover changes it). */
  backends: Map<string, BackendConfig>;
  pools: Map<string, FakePool>;
  /** The primary, and the backend the router draws for reads. */
  router: { primary: string; reader: string };
  routing: { transaction: 'statement' | 'first_statement' };
}

const backendNames = ['pg1', 'pg2'];

export async function harness(config: Partial<Config> = {}): Promise<Harness> {
  const classifier = new Classifier();
  const backends = new Map(backendNames.map((name) => [name, { name } as BackendConfig]));
  const pools = new Map(backendNames.map((name) => [name, new FakePool()]));
  const router = { primary: 'pg1', reader: 'pg1' };
  const routing: Harness['routing'] = { transaction: 'statement' };
  const quiet = () => {};
  const ctx = {
    config: { ...defaultConfig(), auth_type: 'trust', ...config },
    users: new Map(),
    hba: null,
    pools: {
      pool: (_database: string, _user: string, backend: BackendConfig) => pools.get(backend.name),
      modeFor: () => 'transaction',
      knowsDatabase: () => true,
      consistencyFor: () => 'eventual',
      transactionRoutingFor: () => routing.transaction,
      serverParams: () => new Map([['server_version', '18.0']]),
      rememberScramKeys: quiet,
      countError: quiet,
      onBackendFailure: quiet,
    },
    router: {
      writeBackend: () => backends.get(router.primary),
      readBackend: () => backends.get(router.reader),
      isReadable: () => true,
      standbyReadable: () => router.reader !== router.primary,
    },
    classifier,
    functions: { lookUp: quiet, watchShadows: quiet },
    replay: { knownReplayed: () => true },
    statements: new StatementRegistry((text, start, end) => classifier.classifyBytes(text, start, end)),
    reportedValues: new LruCache<string>(100, 1 << 20),
    startupSettings: new LruCache(100, 1 << 20),
    cancelKeys: new CancelKeys<ClientSession>(0, 0),
    clientTls: null,
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    clients: new Roster('clientSlot'),
    loggingIn: new Roster('loginSlot'),
    sendCancel: quiet,
    admin: { isConsole: () => false, run: () => [], isPaused: () => false, isDisabled: () => false },
    assemblyBudget: new AssemblyBudget(1 << 20),
  } as unknown as ProxyContext;
  return { ctx, backends, pools, router, routing };
}

/** A session whose client has logged in (trust) and read everything up to its first ReadyForQuery. */
export function loggedIn(h: Harness): { session: ClientSession; client: FakeClientSocket } {
  const client = new FakeClientSocket();
  const session = new ClientSession(client as never, h.ctx, 'test-client');
  client.send(encode.startupMessage({ user: 'app', database: 'app' }));
  client.takeTypes();
  return { session, client };
}

/** As loggedIn, with an idle server in the primary's pool for the client's first transaction. */
export function loggedInWithServer(h: Harness): {
  session: ClientSession;
  client: FakeClientSocket;
  server: FakeServer;
} {
  const server = new FakeServer('a');
  h.pools.get('pg1')!.idle.push(server);
  return { ...loggedIn(h), server };
}

/** As loggedInWithServer, with an idle server in the standby's pool (pg2) too. */
export function loggedInWithServers(h: Harness): ReturnType<typeof loggedInWithServer> & { standby: FakeServer } {
  const standby = new FakeServer('b');
  h.pools.get('pg2')!.idle.push(standby);
  return { ...loggedInWithServer(h), standby };
}

/**
 * The fields of a session linked to `server` that its close (session/close.ts) and a client's
 * end (client-end.ts) read, as a plain object for the part under test: `ctx` and `config` add
 * to its context and configuration; the test adds the fields its part reads besides these.
 */
export function fakeLinkedSession(server: object, ctx: object = {}, config: object = {}) {
  return {
    state: State.Linked,
    epoch: 0,
    scanner: { atBoundary: true, reset: () => {} },
    ctx: {
      config: { ...defaultConfig(), ...config },
      clients: new Roster('clientSlot'),
      loggingIn: new Roster('loginSlot'),
      log: { info: () => {} },
      ...ctx,
    },
    server,
    mode: 'transaction',
    socket: new FakeClientSocket(),
    tracking: false,
    statementLink: null,
    resumeClient: () => {},
  };
}

/** Lets pending promise continuations run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
