// Helpers for tests of `workers = N`: what the primary and workers logged, which process is
// which worker, and clients that say which worker holds them.
import assert from 'node:assert/strict';
import type pg from 'pg';
import { workerOfCancelPid } from '../../src/proxy/cancel-keys.js';
import type { PgtideProcess } from './pgtide-process.js';
import { waitFor } from './wait.js';

/** The JSON lines pgtide (primary and workers) wrote so far. */
export function logLines(p: PgtideProcess): Record<string, unknown>[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Each worker's current process id, by worker number. */
export function workerPids(p: PgtideProcess): Map<number, number> {
  const pids = new Map<number, number>();
  for (const l of logLines(p))
    if (l['msg'] === 'primary: worker started') pids.set(l['worker'] as number, l['pid'] as number);
  return pids;
}

export function allWorkersStarted(p: PgtideProcess): Promise<unknown> {
  return waitFor('every worker', () => logLines(p).some((l) => l['msg'] === 'primary: all workers started'), 15_000);
}

/** The pid of the cancel key pgtide gave a client: its SHOW CLIENTS id. */
export function clientId(c: pg.Client): number {
  return (c as unknown as { processID: number }).processID;
}

/** The worker that owns a client, read from the cancel key pgtide gave it. */
export function workerOf(c: pg.Client): number {
  return workerOfCancelPid(clientId(c));
}

/** Clients until there is one on each of two workers; the others are closed. */
export async function oneOnEachWorker(connect: () => Promise<pg.Client>): Promise<[pg.Client, pg.Client]> {
  const byWorker = new Map<number, pg.Client>();
  for (let i = 0; i < 64 && byWorker.size < 2; i++) {
    const c = await connect();
    if (byWorker.has(workerOf(c))) await c.end();
    else byWorker.set(workerOf(c), c);
  }
  assert.equal(byWorker.size, 2, 'no client reached one of the workers in 64 connections');
  return [byWorker.get(0)!, byWorker.get(1)!];
}
