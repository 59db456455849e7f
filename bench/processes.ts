// Child processes of the benchmark: long-running services (the poolers) and one-shot
// programs (pgbench), plus the cleanup stack that stops everything however the run ends.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { untilAnswering } from '../test/support/answering.js';

const execFileAsync = promisify(execFile);

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const LOG_TAIL_CHARS = 2_000;

/** Undo steps run last-in first-out, once, even when a signal and the main flow both ask. */
export class Cleanup {
  private readonly steps: { what: string; run: () => Promise<void> }[] = [];
  private drained: Promise<void> | undefined;

  add(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
  }

  runAll(): Promise<void> {
    this.drained ??= this.drain();
    return this.drained;
  }

  private async drain(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.run();
      } catch (err) {
        console.error(`cleanup: ${step.what} failed: ${err instanceof Error ? err.message : err}`);
      }
    }
  }
}

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  /** TCP port on 127.0.0.1 that accepts connections once the service is ready. */
  port: number;
  /** It speaks PostgreSQL's protocol: ready once it answers there, not once the port accepts
   *  (pgtide with workers accepts for a moment before they listen; see test/support/answering.ts). */
  postgres?: boolean;
  /** Receives the service's stdout and stderr. */
  logFile: string;
  /** The signal that makes the service shut down quickly. */
  stopSignal: NodeJS.Signals;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

export interface Service {
  name: string;
  /** The service's own process id (no wrapper in between), for /proc/<pid>/stat. */
  pid: number;
  stop(): Promise<void>;
}

/** Spawns the service and resolves once its port accepts a TCP connection. */
export async function startService(spec: ServiceSpec): Promise<Service> {
  const logFd = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop the
      // services in order (pooler before PostgreSQL).
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: spec.env ?? process.env,
      ...(spec.uid === undefined ? {} : { uid: spec.uid }),
      ...(spec.gid === undefined ? {} : { gid: spec.gid }),
    });
  } finally {
    closeSync(logFd);
  }
  let running = true;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (code, signal) => resolve(`exited (${signal ?? `code ${code}`})`));
  }).finally(() => (running = false));
  const service: Service = {
    name: spec.name,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill(spec.stopSignal);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
  const failure = await Promise.race([
    (spec.postgres
      ? untilAnswering(spec.port, READY_TIMEOUT_MS, () => (running ? null : 'the process exited'))
      : waitForPort(spec.port, () => running)
    ).then(
      () => undefined,
      (err: Error) => err.message,
    ),
    exited,
  ]);
  if (failure !== undefined) {
    await service.stop();
    throw new Error(`${spec.name} did not start: ${failure}\n--- ${spec.logFile} ---\n${logTail(spec.logFile)}`);
  }
  return service;
}

export interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; `signal` or the timeout kill it. */
export function runProgram(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs: number; signal: AbortSignal },
): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
      timeout: opts.timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    // pgbench writes a line per client error here; keep only the end of a flood of them.
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-LOG_TAIL_CHARS)));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A program's version line. Some programs (Pgpool-II) print it on stderr. */
export async function firstLine(command: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await execFileAsync(command, args);
  return (stdout || stderr).split('\n')[0]!.trim();
}

/** Polls until the port accepts, the deadline passes, or `alive()` turns false. */
function waitForPort(port: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', (err) => {
        socket.destroy();
        if (!alive()) reject(new Error('the process exited'));
        else if (Date.now() > deadline)
          reject(new Error(`port ${port} not accepting after ${READY_TIMEOUT_MS} ms: ${err.message}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-LOG_TAIL_CHARS);
  } catch {
    return '(no log)';
  }
}
