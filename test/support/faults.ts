// Faults injected into real PostgreSQL nodes: a whole node frozen (SIGSTOP of the postmaster
// and every child, as a hung VM or a long GC-like stall looks from outside) and thawed, or
// killed at once (SIGKILL, no shutdown at all).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PgNode } from './topology.js';

/** The postmaster's pid, from the first line of postmaster.pid. */
function postmasterPid(node: PgNode): number {
  const pid = Number(readFileSync(join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid for ${node.name}`);
  return pid;
}

/** The postmaster and its children (backends, walsender, walreceiver …), parent first. */
export function nodeProcesses(node: PgNode): number[] {
  const root = postmasterPid(node);
  const pids = [root];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the name in field 2 may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === root) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** Sends SIGSTOP to the postmaster and waits until it has stopped: a signal takes effect
 *  asynchronously, and a postmaster still running could fork a child after we list them. */
function stopPostmaster(node: PgNode): void {
  const root = postmasterPid(node);
  process.kill(root, 'SIGSTOP');
  const deadline = Date.now() + 5000;
  for (;;) {
    const stat = readFileSync(`/proc/${root}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    if (Date.now() > deadline) throw new Error(`${node.name}'s postmaster did not stop`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

/** Freezes the whole node; returns the thaw. New children cannot appear: the postmaster is stopped first. */
export function freeze(node: PgNode): () => void {
  stopPostmaster(node);
  const pids = nodeProcesses(node);
  signalAll(pids, 'SIGSTOP');
  return () => signalAll(pids.reverse(), 'SIGCONT');
}

/** Freezes the postmaster alone; returns the thaw. The backends it forked keep serving their
 *  connections, while a new connection is accepted by the kernel and never answered, as a
 *  postmaster that cannot fork (or a network that drops new flows) looks from outside. */
export function freezePostmaster(node: PgNode): () => void {
  stopPostmaster(node);
  const root = postmasterPid(node);
  return () => process.kill(root, 'SIGCONT');
}

/** Kills every process of the node at once, as a crash would; returns once the postmaster is
 *  reaped (a zombie would still hold the data directory's lock file against a restart). */
export async function kill(node: PgNode): Promise<void> {
  const root = postmasterPid(node);
  stopPostmaster(node);
  signalAll(nodeProcesses(node), 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (existsSync(`/proc/${root}`)) {
    if (Date.now() > deadline) throw new Error(`${node.name}'s killed postmaster was not reaped`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Time from `since` to the first moment `probe` holds, polling every 25 ms; Infinity when it
 *  does not within timeoutMs (the caller asserts, after measuring the rest of its scenario). */
export async function timeUntil(
  probe: () => boolean | Promise<boolean>,
  since: number,
  timeoutMs: number,
): Promise<number> {
  for (;;) {
    if (await probe()) return Date.now() - since;
    if (Date.now() - since > timeoutMs) return Infinity;
    await new Promise((r) => setTimeout(r, 25));
  }
}
