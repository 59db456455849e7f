// A run killed with SIGKILL (or a crashed machine) leaves servers running and a base dir
// behind. Each new run stops and removes the topologies whose owning process is gone, so they
// never pile up. Fresh ports and a fresh temp dir mean leftovers could never block a run anyway.
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Topology } from './topology.js';

export const TOPOLOGY_DIR_PREFIX = 'pgtide-topology-';
export const OWNER_PID_FILE = 'owner.pid';
export const TOPOLOGY_FILE = 'topology.json';

export async function reapStaleTopologies(stopTopology: (t: Topology) => Promise<void>): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(TOPOLOGY_DIR_PREFIX))) {
    const baseDir = join(tmpdir(), entry);
    try {
      const ownerPid = Number(await readFile(join(baseDir, OWNER_PID_FILE), 'utf8'));
      if (isAlive(ownerPid)) continue;
      // The topology file is written before any server starts: without it, nothing runs.
      const json = await readFile(join(baseDir, TOPOLOGY_FILE), 'utf8').catch(() => null);
      if (json === null) await rm(baseDir, { recursive: true, force: true });
      else await stopTopology(JSON.parse(json) as Topology);
    } catch {
      // Another user's dir, or one still being written: not ours to reap, and never a reason
      // to fail this run.
    }
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
