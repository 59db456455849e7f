// `pgtide start --supervise`: the role supervisord played in the seed image. It runs the
// pooler in a child process and starts it again when it dies, so a crash costs the clients
// their connections but not the service. The supervisor holds no pools and parses no
// configuration: it only spawns, forwards signals, waits and (optionally) writes the log file,
// through the same worker-thread transport as the pooler's log_dir (src/log-transport.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SUPERVISOR_LOG_FILE_ENV } from './config/env.js';
import { EXIT_CONFIG } from './config/problems.js';
import { SIGNAL_COMMANDS } from './admin/signal-commands.js';
import { createLogger, openLogFile, type LogFileStream, type Logger } from './log.js';
import { youngGenerationArgs } from './young-generation.js';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, type LogRotation } from './log-file.js';

export { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, type LogRotation };

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

export interface Backoff {
  /** Delay before the first restart. */
  initialMs: number;
  /** Longest delay between restarts, however often the child crashes. */
  maxMs: number;
  /** A child that ran this long was healthy: its crash restarts after `initialMs` again. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 30_000, stableMs: 60_000 };

/** Delay before the next restart: doubles after each quick crash, capped, reset after a stable run. */
export function restartDelay(backoff: Backoff, previousDelayMs: number | null, uptimeMs: number): number {
  if (previousDelayMs === null || uptimeMs >= backoff.stableMs) return backoff.initialMs;
  return Math.min(previousDelayMs * 2, backoff.maxMs);
}

export interface SupervisorOptions {
  /** Arguments after `node`: the script and its arguments. */
  childArgs: string[];
  backoff?: Backoff;
  /** When set, the child's stdout and stderr (and the supervisor's own lines) also go here. */
  logFile?: LogRotation;
}

type Phase = 'running' | 'waiting' | 'stopping' | 'stopped';

/**
 * One supervised child at a time. State: the child (or the restart timer while it is down),
 * the last restart delay, and whether a stop was asked for.
 */
export class Supervisor {
  private child: ChildProcess | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private lastDelayMs: number | null = null;
  private startedAt = 0;
  private phase: Phase = 'waiting';
  private readonly backoff: Backoff;
  private logFile: LogFileStream | null;
  private readonly log: Logger;
  private readonly done: Promise<number>;
  private finish!: (code: number) => void;

  constructor(private readonly options: SupervisorOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.logFile = options.logFile ? openLogFile(options.logFile, '--log-file') : null;
    this.log = createLogger(process.env['INSTANCE_NAME'] ?? 'pool1', 'info', {
      destination: this.stream(process.stdout),
    });
    // A log volume that fails (full, unmounted) must not end the supervisor, nor the pooler with it.
    this.logFile?.on('error', (error: Error) => this.logFileFailed(error));
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Starts the child; resolves with the supervisor's exit code once it has stopped. */
  run(): Promise<number> {
    this.spawnChild();
    return this.done;
  }

  /** SIGUSR1 and SIGUSR2 are the pooler's (PAUSE and RESUME). */
  forward(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** SIGHUP reloads the pooler's configuration; the supervisor itself has none. */
  reload(): void {
    this.child?.kill('SIGHUP');
  }

  /** Forwards the signal and resolves `run()` once the child has exited; no restart after it. */
  stop(signal: 'SIGTERM' | 'SIGINT'): void {
    if (this.phase === 'stopped') return;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    if (this.child === null) {
      this.end(0);
      return;
    }
    this.phase = 'stopping';
    this.log.info({ signal, pid: this.child.pid }, 'supervisor: stopping the pooler');
    this.child.kill(signal);
  }

  private spawnChild(): void {
    const piped = this.logFile !== null;
    const env = piped ? { ...process.env, [SUPERVISOR_LOG_FILE_ENV]: this.options.logFile!.path } : process.env;
    // The 'ipc' channel carries no messages: its close tells the pooler that the supervisor is
    // gone, even after a SIGKILL that forwards nothing (the pooler then drains and exits rather
    // than holding the listen port against the next supervisor; src/cli.ts).
    const out = piped ? 'pipe' : 'inherit';
    const args = [...youngGenerationArgs(process.execArgv, process.env['NODE_OPTIONS']), ...this.options.childArgs];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', out, out, 'ipc'] });
    if (piped) {
      child.stdout!.on('data', this.tee(process.stdout));
      child.stderr!.on('data', this.tee(process.stderr));
    }
    this.child = child;
    this.phase = 'running';
    this.startedAt = Date.now();
    // 'error' without 'exit' means the spawn itself failed; 'close' waits for the pipes to
    // drain, so the child's last lines are written before the supervisor reports its exit.
    child.once('error', (error) => this.childEnded(child, null, null, error));
    child.once('close', (code, signal) => this.childEnded(child, code, signal));
    this.log.info({ pid: child.pid }, 'supervisor: pooler started');
  }

  private childEnded(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (this.child !== child) return;
    this.child = null;
    const uptimeMs = Date.now() - this.startedAt;
    if (this.phase === 'stopping') {
      this.log.info({ code, signal }, 'supervisor: pooler stopped');
      this.end(code ?? (signal === 'SIGTERM' || signal === 'SIGINT' ? 0 : 1));
      return;
    }
    if (code === EXIT_CONFIG) {
      // supervisord gives up on a program that keeps failing at its start; this one never starts.
      this.log.fatal({ code }, 'supervisor: the pooler refused its configuration; not restarting it');
      this.end(code);
      return;
    }
    const delayMs = restartDelay(this.backoff, this.lastDelayMs, uptimeMs);
    this.lastDelayMs = delayMs;
    this.phase = 'waiting';
    this.log.error(
      { code, signal, err: error?.message, uptime_ms: uptimeMs, restart_in_ms: delayMs },
      'supervisor: pooler exited; restarting',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.spawnChild();
    }, delayMs);
  }

  private logFileFailed(error: Error): void {
    if (this.logFile === null) return;
    this.logFile = null;
    this.log.error(
      { log_file: this.options.logFile!.path, err: error.message },
      'log file failed; logging to stdout only',
    );
  }

  private end(code: number): void {
    this.phase = 'stopped';
    this.log.flush?.();
    // The worker writes what is queued and closes the file; the exit that follows waits for it.
    this.logFile?.end();
    this.finish(code);
  }

  private tee(out: NodeJS.WritableStream): (chunk: Buffer) => void {
    return (chunk) => {
      out.write(chunk);
      this.logFile?.write(chunk);
    };
  }

  /** The supervisor's own log lines go where the child's do. */
  private stream(out: NodeJS.WritableStream): Writable {
    const tee = this.tee(out);
    return new Writable({
      write(chunk: Buffer, _encoding, callback) {
        tee(chunk);
        callback();
      },
    });
  }
}

/**
 * The CLI's `start --supervise`. `argv` is the pgtide command line; the child runs it without
 * the supervisor's own options:
 *   --supervise            this mode
 *   --log-file PATH        also append all output to PATH, rotated by size
 *   --log-max-bytes N      rotate before PATH grows past N bytes (default 64 MiB)
 *   --log-keep N           rotated files kept (default 4)
 */
export async function runSupervised(argv: string[]): Promise<number> {
  const { childArgv, logFile } = supervisorArgs(argv);
  const supervisor = new Supervisor({ childArgs: [CLI, ...childArgv], ...(logFile && { logFile }) });
  process.on('SIGHUP', () => supervisor.reload());
  process.on('SIGTERM', () => supervisor.stop('SIGTERM'));
  process.on('SIGINT', () => supervisor.stop('SIGINT'));
  for (const signal of SIGNAL_COMMANDS.keys()) process.on(signal, () => supervisor.forward(signal));
  return supervisor.run();
}

const SUPERVISOR_OPTIONS = {
  supervise: { type: 'boolean' },
  'log-file': { type: 'string' },
  'log-max-bytes': { type: 'string' },
  'log-keep': { type: 'string' },
} as const;

/** Splits the supervisor's options from the pooler's; throws on a bad value. */
export function supervisorArgs(argv: string[]): { childArgv: string[]; logFile?: LogRotation } {
  // Not strict: every option the supervisor does not know belongs to the pooler.
  const { tokens } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: SUPERVISOR_OPTIONS,
  });
  const own = new Map<string, string | undefined>();
  const ownIndexes = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== 'option' || !Object.hasOwn(SUPERVISOR_OPTIONS, token.name)) continue;
    own.set(token.name, token.value);
    ownIndexes.add(token.index);
    // A value given as a separate argument occupies the next index.
    if (token.value !== undefined && !token.inlineValue) ownIndexes.add(token.index + 1);
  }
  const childArgv = argv.filter((_, index) => !ownIndexes.has(index));
  if (!own.has('log-file')) return { childArgv };
  const path = own.get('log-file');
  if (!path) throw new Error('--log-file needs a path');
  return {
    childArgv,
    logFile: {
      path,
      maxBytes: integerOption('--log-max-bytes', own, DEFAULT_LOG_MAX_BYTES, 1024),
      keep: integerOption('--log-keep', own, DEFAULT_LOG_KEEP, 0),
    },
  };
}

function integerOption(option: string, own: Map<string, string | undefined>, fallback: number, min: number): number {
  const name = option.slice(2);
  if (!own.has(name)) return fallback;
  const text = own.get(name) ?? '';
  const value = Number(text);
  if (!/^\d{1,15}$/.test(text) || value < min) {
    throw new Error(`${option} must be an integer of at least ${min}, got ${JSON.stringify(text)}`);
  }
  return value;
}
