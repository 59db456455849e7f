// What the idle-client benchmarks share (bench/memory.ts with its client process
// bench/idle-clients.ts, bench/idle-60k.ts with bench/raw-idle-clients.ts): their run under a
// Cleanup, one PostgreSQL primary and a scratch directory, the open-files limit, the report's
// machine line, and both sides of the IPC between the benchmark and its client processes, each
// holding its share of the idle connections.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAuthFile } from '../test/support/pgtide.js';
import { startTopology, stopTopology, type Topology } from '../test/support/topology.js';
import { Cleanup } from './processes.js';

export type ClientCommand = { open: number } | { check: true };
export interface ClientReply {
  /** Connections that succeeded (opened, or answered the check). */
  ok: number;
  failed: number;
  /** Connections closed by the other side since the process started. */
  lost: number;
  /** The first failure's message. */
  error?: string;
}

/**
 * Runs `benchmark` and exits with its code; the cleanup runs at the end, on SIGINT and SIGTERM
 * too, and an error is printed under `name`.
 */
export function runBenchmark(name: string, benchmark: (cleanup: Cleanup) => Promise<number>): void {
  const run = async () => {
    const cleanup = new Cleanup();
    const onSignal = () => void cleanup.runAll().then(() => process.exit(130));
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await benchmark(cleanup);
    } finally {
      await cleanup.runAll();
    }
  };
  run().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}

/** One PostgreSQL primary, a scratch directory (`prefix`…) and the poolers' auth file in it, all undone by `cleanup`. */
export async function startPrimary(
  cleanup: Cleanup,
  prefix: string,
): Promise<{ topology: Topology; dir: string; authFile: string }> {
  console.log('starting PostgreSQL (a primary)…');
  const topology = await startTopology({ standbys: 0 });
  cleanup.add('stop PostgreSQL', () => stopTopology(topology));
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.add('remove the scratch directory', () => rm(dir, { recursive: true, force: true }));
  return { topology, dir, authFile: writeAuthFile(topology, dir) };
}

/** The soft open-files limit of this process, which the targets and client processes inherit. */
export async function openFilesLimit(): Promise<number> {
  const line = (await readFile('/proc/self/limits', 'utf8')).split('\n').find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.split(/\s+/)[3]);
  if (!Number.isInteger(soft)) throw new Error(`no open-files limit in /proc/self/limits: ${line}`);
  return soft;
}

/** A report's machine line: CPUs, their model and the platform, `note`, and the load averages (os.loadavg()) read before and after the run. */
export function machineLine(load: number[][], note = ''): string {
  return (
    `- Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown model'}), ${process.platform}; ${note ? `${note}; ` : ''}` +
    `load average ${load.map((l) => l.map((x) => x.toFixed(2)).join(' ')).join(' before, ')} after`
  );
}

/** The client processes (`program`, a compiled client process module), each holding its share of the connections. */
export class ClientFleet {
  private readonly processes: ChildProcess[];

  constructor(program: string, count: number, env: NodeJS.ProcessEnv) {
    this.processes = Array.from({ length: count }, () =>
      fork(program, [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  /** Opens `n` more connections, spread evenly; a failed login fails the run. */
  async open(n: number): Promise<void> {
    const count = this.processes.length;
    const replies = await Promise.all(
      this.processes.map((p, i) => ask(p, { open: Math.floor(n / count) + (i < n % count ? 1 : 0) })),
    );
    const failed = replies.find((r) => r.failed > 0);
    if (failed)
      throw new Error(`${replies.reduce((sum, r) => sum + r.failed, 0)} clients could not connect: ${failed.error}`);
  }

  /** Every connection proves it still works; the counts of all processes summed. */
  async check(): Promise<ClientReply> {
    const replies = await Promise.all(this.processes.map((p) => ask(p, { check: true })));
    return replies.reduce((sum, r) => ({
      ok: sum.ok + r.ok,
      failed: sum.failed + r.failed,
      lost: sum.lost + r.lost,
      ...((sum.error ?? r.error) ? { error: sum.error ?? r.error } : {}),
    }));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map((p) => {
        if (p.exitCode !== null || p.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => p.once('exit', resolve));
        p.disconnect();
        return exited;
      }),
    );
  }
}

function ask(child: ChildProcess, command: ClientCommand): Promise<ClientReply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`a client process exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (reply: ClientReply) => {
      child.removeListener('exit', onExit);
      resolve(reply);
    });
    child.send(command);
  });
}

/** The connections a client process holds, as its parent's commands reach them. */
export interface HeldConnections {
  /** Opens (logs in) one more connection and holds it. */
  open(): Promise<void>;
  /** Proves that held connection `i` still works. */
  check(i: number): Promise<void>;
  count(): number;
  /** Connections closed by the other side so far. */
  lost(): number;
}

/**
 * The client process's side: answers each command of its parent (`{ open: n }`, `{ check: true }`)
 * with the counted outcomes, `concurrency` connections at a time, and exits (closing every
 * connection) when the parent disconnects.
 */
export function answerParent(held: HeldConnections, concurrency: number): void {
  process.on('message', (command: ClientCommand) => {
    const done =
      'open' in command
        ? each(command.open, concurrency, () => held.open())
        : each(held.count(), concurrency, (i) => held.check(i));
    void done.then((reply) => {
      reply.lost = held.lost();
      process.send!(reply);
    });
  });
  process.on('disconnect', () => process.exit(0));
}

/** Runs `work` `count` times, `concurrency` at a time, and counts the outcomes. */
async function each(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<ClientReply> {
  const reply: ClientReply = { ok: 0, failed: 0, lost: 0 };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        await work(i);
        reply.ok++;
      } catch (err) {
        reply.failed++;
        reply.error ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return reply;
}
