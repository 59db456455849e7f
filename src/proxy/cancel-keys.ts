import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

// The BackendKeyData pid pgtide hands a client encodes which worker process owns the client
// in bits 24..30, so a CancelRequest accepted by any worker can be relayed to its owner.
// The sign bit stays clear because some clients treat the pid as a signed positive number.
const WORKER_SHIFT = 24;
const WORKER_MASK = 0x7f;
const LOCAL_MASK = 0xffffff;
/** Linux's largest pid_max (PID_MAX_LIMIT on 64-bit kernels). Every pid pgtide hands out is
 *  above it, so `pg_terminate_backend(<the pid a client was told>)` finds no process, rather
 *  than an unrelated backend that happens to have that pid. */
export const LARGEST_REAL_PID = 4_194_304;

export function workerOfCancelPid(pid: number): number {
  return (pid >>> WORKER_SHIFT) & WORKER_MASK;
}

export interface CancelKey {
  pid: number;
  secret: Buffer;
}

/** Issues per-client cancel keys and finds the client a CancelRequest names. */
export class CancelKeys<T> {
  private readonly byPid = new Map<number, { secret: Buffer; owner: T }>();

  constructor(private readonly workerId: number) {
    if (workerId < 0 || workerId > WORKER_MASK) throw new RangeError(`worker id ${workerId} out of range`);
  }

  issue(owner: T): CancelKey {
    let pid: number;
    do {
      pid = ((this.workerId << WORKER_SHIFT) | randomInt(LARGEST_REAL_PID + 1, LOCAL_MASK + 1)) >>> 0;
    } while (this.byPid.has(pid));
    const secret = randomBytes(4);
    this.byPid.set(pid, { secret, owner });
    return { pid, secret };
  }

  /** The owner of a key, or undefined when the key is unknown or the secret does not match. */
  find(pid: number, secret: Buffer): T | undefined {
    const entry = this.byPid.get(pid);
    if (!entry || entry.secret.length !== secret.length) return undefined;
    return timingSafeEqual(entry.secret, secret) ? entry.owner : undefined;
  }

  revoke(pid: number): void {
    this.byPid.delete(pid);
  }

  get size(): number {
    return this.byPid.size;
  }
}
