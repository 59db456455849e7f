import { randomBits, takeRandom } from '../auth/random-pool.js';
import { MAX_PEER_ID, MAX_WORKER_ID } from '../config/peering.js';
import { PidTable } from './pid-table.js';

// The BackendKeyData pid pgtide hands a client says where the client lives, so a CancelRequest
// that lands anywhere can be relayed to its owner; the secret stays 4 random bytes, so the
// key is as hard to guess as PostgreSQL's. Bits of the pid, high to low:
//   31      clear: some clients read the pid as a signed number
//   30      set in every key a client is given; a peer clears it when it forwards the
//           request, so the receiver knows not to forward it again
//   25..29  peer id: the pgtide instance (peer_id) that issued the key
//   20..24  worker id: the process of that instance that holds the client
//   0..19   random, unique among the keys of one process
// Bit 30 also keeps every pid above 4,194,304 (see LARGEST_REAL_PID).
const ISSUED_BIT = 1 << 30;
const PEER_SHIFT = 25;
const WORKER_SHIFT = 20;
const ID_MASK = 0x1f;
const LOCAL_BITS = 20;
/** Linux's largest pid_max (PID_MAX_LIMIT on 64-bit kernels). Every pid pgtide hands out is
 *  above it, so `pg_terminate_backend(<the pid a client was told>)` finds no process, rather
 *  than an unrelated backend that happens to have that pid. */
export const LARGEST_REAL_PID = 4_194_304;

export function peerOfCancelPid(pid: number): number {
  return (pid >>> PEER_SHIFT) & ID_MASK;
}

export function workerOfCancelPid(pid: number): number {
  return (pid >>> WORKER_SHIFT) & ID_MASK;
}

/** False for a pid as a peer forwards it: such a request is never forwarded again. */
export function isIssuedCancelPid(pid: number): boolean {
  return (pid & ISSUED_BIT) !== 0;
}

/** The pid a peer sends on when it forwards a client's CancelRequest. */
export function forwardedCancelPid(pid: number): number {
  return (pid & ~ISSUED_BIT) >>> 0;
}

/** The pid the client was given, from the one a peer forwarded. */
export function issuedCancelPid(pid: number): number {
  return (pid | ISSUED_BIT) >>> 0;
}

/** What a key's owner keeps of it: two small integers rather than an object and a Buffer of its
 *  own, since every idle client holds one (pid 0: no key). */
export interface CancelKeyHolder {
  cancelPid: number;
  /** The secret's 4 bytes as a signed 32-bit integer. */
  cancelSecret: number;
}

/** Half the local id space: past it, drawing a free id would take ever more tries. */
const MAX_KEYS_PER_PROCESS = 1 << (LOCAL_BITS - 1);

/** Issues per-client cancel keys and finds the client a CancelRequest names. */
export class CancelKeys<T extends CancelKeyHolder> {
  private readonly byPid = new PidTable<T>();
  private readonly prefix: number;

  constructor(
    readonly peerId: number,
    readonly workerId: number,
  ) {
    if (!Number.isInteger(peerId) || peerId < 0 || peerId > MAX_PEER_ID)
      throw new RangeError(`peer id ${peerId} out of range`);
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > MAX_WORKER_ID)
      throw new RangeError(`worker id ${workerId} out of range`);
    this.prefix = ISSUED_BIT | (peerId << PEER_SHIFT) | (workerId << WORKER_SHIFT);
  }

  /** Gives `owner` a fresh key; false when this process holds as many keys as it can issue. */
  issue(owner: T): boolean {
    if (this.byPid.size >= MAX_KEYS_PER_PROCESS) return false;
    let pid: number;
    do {
      pid = (this.prefix | randomBits(LOCAL_BITS)) >>> 0;
    } while (this.byPid.has(pid));
    owner.cancelPid = pid;
    owner.cancelSecret = takeRandom(4).readInt32BE(0);
    this.byPid.set(pid, owner);
    return true;
  }

  /** The owner of a key, or undefined when the key is unknown or the secret does not match. */
  find(pid: number, secret: Buffer): T | undefined {
    const owner = this.byPid.get(pid);
    // One integer comparison: its time does not depend on how many bytes match.
    if (!owner || secret.length !== 4 || secret.readInt32BE(0) !== owner.cancelSecret) return undefined;
    return owner;
  }

  /** The owner of a pid whatever the secret: for a pid a client names in SQL, where PostgreSQL's
   *  own rule of who may signal whom applies (see backend-signals.ts), never for a CancelRequest. */
  holder(pid: number): T | undefined {
    return this.byPid.get(pid);
  }

  revoke(pid: number): void {
    this.byPid.delete(pid);
  }

  get size(): number {
    return this.byPid.size;
  }
}
