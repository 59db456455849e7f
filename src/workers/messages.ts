// What the primary of `workers = N` and its workers say to each other, over the IPC channel
// that child_process opens (JSON). Nothing on a transaction's path crosses it: only a worker's
// readiness, cancel requests (and pg_terminate_backend / pg_cancel_backend calls) that reached
// a worker other than the client's, the schema fences of DDL transactions, the console's
// commands that act on the whole instance, and the questions a worker's console or /metrics
// asks every other worker (their metrics, their part of a SHOW, a KILL_CLIENT) with the answers.
import type { AdminCommand } from '../admin/commands.js';
import type { WorkerQuestion } from '../admin/across-workers.js';
import type { RelayedSignal } from '../proxy/backend-signals.js';
import type { Config } from '../config/types.js';

export interface WorkerSlot {
  id: number;
  count: number;
}

/** The configuration the instance runs as last read from its file, with the import's
 *  warnings and where it was read, for logs. */
export interface RunningConfig {
  config: Config;
  warnings: string[];
  origin: string;
}

export type WorkerMessage =
  /** Worker → primary: which configuration do I start with? */
  | { kind: 'start_config' }
  /** Primary → worker: the configuration to start with (its answer to `start_config`). Worker →
   *  primary: what it runs after reading the file again (a reload), for the workers started later. */
  | ({ kind: 'config' } & RunningConfig)
  /** Worker → primary: its listeners are bound and it serves clients. */
  | { kind: 'ready' }
  /** Worker `from` → primary → worker: a CancelRequest whose key names the receiving worker,
   *  which answers `id` once it sent the cancel (the primary sets `from`). */
  | { kind: 'cancel'; pid: number; secret: string; id: number; from: number }
  /** Worker → primary → worker: pg_terminate_backend or pg_cancel_backend of a pid of its client. */
  | ({ kind: 'signal' } & RelayedSignal)
  /** Worker → primary → every other worker: the WAL position of a schema fence it announced
   *  (a `fence` question), in decimal; null when it could not be read. */
  | { kind: 'fence'; lsn: string | null }
  /** Worker → primary → every other worker: a console command for the whole instance. */
  | { kind: 'admin'; command: AdminCommand }
  /** Worker `to` → primary → every other worker: answer me this (the primary sets `to`). */
  | { kind: 'ask'; id: number; to: number; question: WorkerQuestion }
  /** Worker `from` → primary → worker `to`: its answer to question `id` (the primary sets `from`). */
  | { kind: 'answer'; id: number; to: number; from: number; answer: unknown };

/** Messages come from pgtide's own processes, but a malformed one must not throw in a handler. */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  if (message['kind'] === 'ready' || message['kind'] === 'start_config') return true;
  if (message['kind'] === 'config')
    return (
      typeof message['config'] === 'object' &&
      message['config'] !== null &&
      Array.isArray(message['warnings']) &&
      typeof message['origin'] === 'string'
    );
  if (message['kind'] === 'admin') return typeof message['command'] === 'object' && message['command'] !== null;
  if (message['kind'] === 'ask')
    return Number.isInteger(message['id']) && Number.isInteger(message['to']) && isQuestion(message['question']);
  if (message['kind'] === 'answer')
    return Number.isInteger(message['id']) && Number.isInteger(message['to']) && Number.isInteger(message['from']);
  if (message['kind'] === 'fence')
    return message['lsn'] === null || (typeof message['lsn'] === 'string' && DECIMAL_LSN.test(message['lsn']));
  if (message['kind'] === 'signal')
    return (
      Number.isInteger(message['pid']) &&
      typeof message['terminate'] === 'boolean' &&
      typeof message['user'] === 'string' &&
      typeof message['superuser'] === 'boolean'
    );
  return (
    message['kind'] === 'cancel' &&
    Number.isInteger(message['pid']) &&
    typeof message['secret'] === 'string' &&
    Number.isInteger(message['id']) &&
    Number.isInteger(message['from'])
  );
}

const DECIMAL_LSN = /^\d{1,20}$/;

function isQuestion(value: unknown): value is WorkerQuestion {
  if (typeof value !== 'object' || value === null) return false;
  const question = value as Record<string, unknown>;
  if (question['kind'] === 'metrics') return true;
  if (question['kind'] === 'show') return typeof question['item'] === 'string';
  if (question['kind'] === 'close_needed' || question['kind'] === 'paused_servers')
    return question['database'] === null || typeof question['database'] === 'string';
  if (question['kind'] === 'fence') return true;
  if (question['kind'] === 'free_database') return typeof question['database'] === 'string';
  return question['kind'] === 'kill_client' && Number.isInteger(question['id']) && typeof question['user'] === 'string';
}

/** "<id>/<count>" as the primary writes it into WORKER_SLOT_ENV; undefined when not a worker. */
export function parseWorkerSlot(text: string | undefined): WorkerSlot | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d{1,3})\/(\d{1,3})$/.exec(text);
  const id = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || id >= count)
    throw new Error(`malformed worker slot ${JSON.stringify(text)} (set by pgtide's primary process, not by hand)`);
  return { id, count };
}

/** Messages not yet written to one channel beyond which new ones are dropped. */
const UNSENT_LIMIT = 1000;

/**
 * Sends over an IPC channel, dropping a message while UNSENT_LIMIT are still unwritten: a flood
 * of cancel requests aimed at another worker costs dropped cancels (a client may send its
 * cancel again), never an unbounded queue. A closed channel drops silently too.
 */
export class BoundedChannel {
  private unsent = 0;

  constructor(private readonly send: (message: WorkerMessage, written: (error: Error | null) => void) => boolean) {}

  post(message: WorkerMessage): boolean {
    if (this.unsent >= UNSENT_LIMIT) return false;
    this.unsent++;
    this.send(message, () => this.unsent--);
    return true;
  }
}
