// pg_terminate_backend and pg_cancel_backend of a pid that pgtide told one of its clients. No
// backend has that pid (see cancel-keys.ts) and the client's transactions run on whichever
// backend is free, so PostgreSQL alone answers false with a WARNING and nothing happens: a
// driver's test that ends or cancels a connection by the pid it was told waited in vain. pgtide
// does to that client what the call does to a backend: it ends its session with PostgreSQL's
// own FATAL (a transaction it had open is rolled back on its server, as for any client that
// leaves), or cancels the statement it runs, as a CancelRequest with its key would. PostgreSQL's
// rule of who may signal whom is kept in part: the same user, or a superuser. A pid of another
// worker's client goes to that worker, as its cancel requests do. The statement still runs on
// the server, which answers for the pid as before.
import { bindParamInteger } from '../protocol/frontend.js';
import { SQLSTATE } from '../protocol/sqlstate.js';
import { TransactionStatus } from '../protocol/types.js';
import type { BackendSignal } from '../sql/classification.js';
import { LARGEST_REAL_PID, peerOfCancelPid, workerOfCancelPid } from './cancel-keys.js';
import type { ProxyContext } from './context.js';

/** A client session a signal may reach. */
export interface SignalTarget {
  readonly user: string;
  /** When its current statement began (0: none runs). */
  readonly queryStart: number;
  fatal(code: string, message: string): void;
  cancelRunningQuery(sent?: () => void): void;
}

/** Where the targets are: this process's clients, and the way to other workers'. */
export interface SignalContext extends Pick<ProxyContext, 'pools' | 'relaySignal'> {
  cancelKeys: { holder(pid: number): SignalTarget | undefined; readonly peerId: number; readonly workerId: number };
}

/** The session whose statement calls the functions. */
export interface SignalCaller {
  readonly user: string;
  readonly database: string;
  /** The server its transaction runs on, if any. */
  readonly server: { readonly txStatus: number } | null;
  fatal(code: string, message: string): void;
  readonly ctx: SignalContext;
}

/** A call whose pid names another worker's client, as that worker gets it. */
export interface RelayedSignal {
  pid: number;
  terminate: boolean;
  /** The caller's user, and whether it is a superuser: who may signal whom. */
  user: string;
  superuser: boolean;
}

/**
 * The calls `signals` of a statement about to run act on the clients their pids name; `bind`
 * holds the parameters of its Bind (null for a simple Query). Returns false when the caller
 * ended its own session (the rest of its bytes must not be read).
 */
export function signalBackends(s: SignalCaller, signals: readonly BackendSignal[], bind: Buffer | null): boolean {
  // PostgreSQL runs nothing in a failed transaction block: the call fails with 25P02.
  if (s.server?.txStatus === TransactionStatus.Failed) return true;
  for (const signal of signals) {
    const pid = signal.param === 0 ? signal.pid : bind === null ? -1 : bindParamInteger(bind, signal.param);
    if (pid <= LARGEST_REAL_PID) continue;
    const target = s.ctx.cancelKeys.holder(pid);
    if (target === undefined) {
      relay(s, pid, signal.terminate);
      continue;
    }
    if (target.user !== s.user && !isSuperuser(s)) continue;
    if ((target as unknown) === s) {
      // Its own statement is this one: PostgreSQL would cancel it, pgtide lets it run.
      if (!signal.terminate) continue;
      s.fatal(SQLSTATE.ADMIN_SHUTDOWN, TERMINATED);
      return false;
    }
    // After the caller's scan: ending a session gives back its server, which must not reach
    // the caller while it reads its own bytes.
    queueMicrotask(() => act(target, signal.terminate));
  }
  return true;
}

/** A call another worker relayed (see RelayedSignal): acts on this process's client, if allowed. */
export function signalRelayed(ctx: SignalContext, signal: RelayedSignal): void {
  const target = ctx.cancelKeys.holder(signal.pid);
  if (target !== undefined && (target.user === signal.user || signal.superuser)) act(target, signal.terminate);
}

function act(target: SignalTarget, terminate: boolean): void {
  if (terminate) target.fatal(SQLSTATE.ADMIN_SHUTDOWN, TERMINATED);
  else cancelOnce(target);
}

/** A pid of another worker of this instance goes there; one of another instance is left alone. */
function relay(s: SignalCaller, pid: number, terminate: boolean): void {
  const keys = s.ctx.cancelKeys;
  if (s.ctx.relaySignal === null || peerOfCancelPid(pid) !== keys.peerId || workerOfCancelPid(pid) === keys.workerId)
    return;
  s.ctx.relaySignal({ pid, terminate, user: s.user, superuser: isSuperuser(s) });
}

/** PostgreSQL's message for a backend pg_terminate_backend ended. */
const TERMINATED = 'terminating connection due to administrator command';

/** The statement (by when it began) of each client a pg_cancel_backend last cancelled. */
const cancelled = new WeakMap<SignalTarget, number>();

/** The caller's bytes may be scanned twice (queued while pgtide ran its own queries, then sent):
 *  the second scan must not cancel the statement the target ran next. */
function cancelOnce(target: SignalTarget): void {
  const running = target.queryStart;
  if (running !== 0 && cancelled.get(target) === running) return;
  cancelled.set(target, running);
  target.cancelRunningQuery();
}

function isSuperuser(s: SignalCaller): boolean {
  return s.ctx.pools.serverParams(s.database, s.user)?.get('is_superuser') === 'on';
}
