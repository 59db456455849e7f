// The primary of `workers = N`: it starts N copies of the pooler (the same command line, each
// told its slot through WORKER_SLOT_ENV), which bind the TCP listen ports together with
// reusePort, so the kernel spreads new clients among them. The primary holds no sockets, no
// pools and no clients. It restarts a worker that dies (the supervisor's backoff) and passes
// signals on; it carries cancel requests from the worker that received one to the worker that
// owns the client; it passes the console's instance-wide commands (PAUSE, RELOAD …) from the
// worker whose console ran one to the others (SHUTDOWN: it stops them all), and replays a PAUSE,
// DISABLE or SET in force to a worker started again; it gives every worker the configuration the
// instance runs, as the workers last read it (a worker started again must not take up an edit of
// the file not yet reloaded, nor fail on a broken one again and again); it carries a worker's questions to the others
// and their answers back (metrics for worker 0's /metrics, a console's SHOW and KILL_CLIENT).
// Workers watch the IPC channel: a primary that dies, even by SIGKILL, makes them drain and
// exit (src/cli.ts).
import { youngGenerationArgs } from '../young-generation.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { loadSaltKey } from '../config/salt-key.js';
import { NAME_SALT_KEY_ENV, SUPERVISOR_LOG_FILE_ENV, WORKER_SLOT_ENV } from '../config/env.js';
import type { Config } from '../config/types.js';
import { EXIT_CONFIG } from '../config/problems.js';
import { createLogger, type Logger } from '../log.js';
import { workerOfCancelPid } from '../proxy/cancel-keys.js';
import { listen } from '../proxy/listener.js';
import { DEFAULT_BACKOFF, restartDelay, type Backoff } from '../supervisor.js';
import { BoundedChannel, isWorkerMessage, type RunningConfig, type WorkerMessage } from './messages.js';
import { SharedAdminState } from './shared-state.js';
import { SIGNAL_COMMANDS } from '../admin/signal-commands.js';

export interface PrimaryOptions {
  count: number;
  /** Arguments after `node` for each worker: the CLI and the command line the primary got. */
  childArgs: string[];
  log: Logger;
  /** The instance's key of per-user SCRAM salts, the same for every worker and every restart of one. */
  saltKey: Buffer;
  /** The configuration read at start, which the workers start with until one reloads the file. */
  running: RunningConfig;
  backoff?: Backoff;
}

/** One slot: the process in it (or the timer that restarts it) and its backoff state. */
interface Slot {
  id: number;
  child: ChildProcess | null;
  channel: BoundedChannel | null;
  startedAt: number;
  ready: boolean;
  lastDelayMs: number | null;
  restartTimer: NodeJS.Timeout | null;
}

type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

export class Primary {
  private readonly slots: Slot[];
  private readonly backoff: Backoff;
  private phase: Phase = 'starting';
  private readonly adminState = new SharedAdminState();
  private running: RunningConfig;
  private exitCode = 0;
  private readonly done: Promise<number>;
  private finish!: (code: number) => void;

  constructor(private readonly options: PrimaryOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.running = options.running;
    this.slots = Array.from({ length: options.count }, (_, id) => ({
      id,
      child: null,
      channel: null,
      startedAt: 0,
      ready: false,
      lastDelayMs: null,
      restartTimer: null,
    }));
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Starts every worker; resolves with the exit code once all have stopped. */
  run(): Promise<number> {
    for (const slot of this.slots) this.spawnWorker(slot);
    return this.done;
  }

  /** SIGHUP: every worker rereads the configuration, which ends the console's SETs. */
  reload(): void {
    this.adminState.apply({ kind: 'reload' });
    for (const slot of this.slots) slot.child?.kill('SIGHUP');
  }

  /** SIGUSR1 or SIGUSR2 (see SIGNAL_COMMANDS): its console command, in every worker, and in
   *  those started again later. */
  signalCommand(signal: NodeJS.Signals): void {
    const command = SIGNAL_COMMANDS.get(signal);
    if (command === undefined || this.phase === 'stopping' || this.phase === 'stopped') return;
    this.options.log.info({ signal }, `primary: ${command.kind.toUpperCase()} of every worker`);
    this.adminState.apply(command);
    for (const slot of this.slots) slot.channel?.post({ kind: 'admin', command });
  }

  /** SIGTERM drains, SIGINT stops now, in every worker; no restart after it. */
  stop(signal: 'SIGTERM' | 'SIGINT'): void {
    if (this.phase === 'stopping' || this.phase === 'stopped') {
      // A second signal while draining: pass it on (SIGINT cuts the drain short).
      for (const slot of this.slots) slot.child?.kill(signal);
      return;
    }
    this.phase = 'stopping';
    this.options.log.info({ signal }, 'primary: stopping the workers');
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      slot.child?.kill(signal);
    }
    this.endIfAllStopped();
  }

  private spawnWorker(slot: Slot): void {
    const env = {
      ...process.env,
      [WORKER_SLOT_ENV]: `${slot.id}/${this.options.count}`,
      [NAME_SALT_KEY_ENV]: this.options.saltKey.toString('hex'),
    };
    const args = [...youngGenerationArgs(process.execArgv, process.env['NODE_OPTIONS']), ...this.options.childArgs];
    const child = spawn(process.execPath, args, {
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    slot.channel = new BoundedChannel((message, written) => child.send(message, written));
    slot.startedAt = Date.now();
    slot.ready = false;
    child.on('message', (message: unknown) => this.onMessage(slot, message));
    // 'error' without 'exit' means the spawn itself failed.
    child.once('error', (error) => this.workerEnded(slot, child, null, null, error));
    child.once('exit', (code, signal) => this.workerEnded(slot, child, code, signal));
    this.options.log.info({ worker: slot.id, pid: child.pid }, 'primary: worker started');
  }

  private onMessage(slot: Slot, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    switch (message.kind) {
      case 'start_config':
        slot.channel?.post({ kind: 'config', ...this.running });
        return;
      case 'config': {
        const { config, warnings, origin } = message;
        this.running = { config, warnings, origin };
        return;
      }
      case 'ready':
        return this.workerReady(slot);
      case 'cancel':
        // Its answer goes to the worker that sent it, whatever the message claims; at once when
        // no worker can take it, so that its sender's connection is not held for nothing.
        if (!this.relayToOwner(slot, { ...message, from: slot.id }))
          slot.channel?.post({ kind: 'answer', id: message.id, to: slot.id, from: slot.id, answer: null });
        return;
      case 'signal':
        this.relayToOwner(slot, message);
        return;
      case 'fence':
        return this.toOthers(slot, message);
      case 'admin':
        if (message.command.kind === 'shutdown') return this.stop('SIGINT');
        this.adminState.apply(message.command);
        // A SET or RELOAD goes back to its own worker too: two run at once from two workers'
        // consoles (SET 4 and SET 10, or a SET and a RELOAD) reach every worker in this one
        // order, so all end with the last, where each had ended with the other's (a helper saw
        // 4 in one worker and 10 in the other). Running one again changes nothing.
        if (message.command.kind === 'set' || message.command.kind === 'reload') {
          for (const each of this.slots) each.channel?.post(message);
          return;
        }
        return this.toOthers(slot, message);
      case 'ask':
        // Answers go to the asker, and say who answered, whatever the messages claim.
        return this.toOthers(slot, { ...message, to: slot.id });
      case 'answer': {
        const target = this.slots[message.to];
        if (target !== slot) target?.channel?.post({ ...message, from: slot.id });
      }
    }
  }

  private toOthers(from: Slot, message: WorkerMessage): void {
    for (const other of this.slots) if (other !== from) other.channel?.post(message);
  }

  private workerReady(slot: Slot): void {
    slot.ready = true;
    for (const command of this.adminState.replay()) slot.channel?.post({ kind: 'admin', command });
    if (this.phase === 'starting' && this.slots.every((s) => s.ready)) {
      this.phase = 'running';
      this.options.log.info({ workers: this.slots.length }, 'primary: all workers started');
    }
  }

  /**
   * To the worker the key names, never back to the sender: a worker relays only keys that are
   * not its own and acts on relayed ones itself, so a request crosses the channel at most twice.
   */
  private relayToOwner(from: Slot, message: WorkerMessage & { kind: 'cancel' | 'signal' }): boolean {
    const target = this.slots[workerOfCancelPid(message.pid)];
    if (target === undefined || target === from || target.channel === null) return false;
    return target.channel.post(message);
  }

  private workerEnded(
    slot: Slot,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
    error?: Error,
  ): void {
    if (slot.child !== child) return;
    slot.child = null;
    slot.channel = null;
    const log = this.options.log;
    if (this.phase === 'stopping') {
      if (code !== null && code !== 0) this.exitCode = code;
      this.endIfAllStopped();
      return;
    }
    if (this.phase === 'starting' && !slot.ready) {
      // A worker that never started (a port in use, a file it cannot read) would fail again
      // in the same way: stop, as a single process does, rather than retry for ever.
      log.fatal({ worker: slot.id, code, signal, err: error?.message }, 'primary: a worker failed to start; stopping');
      // A worker that refused the configuration (an auth_file it cannot read) says so to a supervisor too.
      this.exitCode = code === EXIT_CONFIG ? EXIT_CONFIG : 1;
      this.stop('SIGINT');
      return;
    }
    const uptimeMs = Date.now() - slot.startedAt;
    const delayMs = restartDelay(this.backoff, slot.lastDelayMs, uptimeMs);
    slot.lastDelayMs = delayMs;
    log.error(
      { worker: slot.id, code, signal, err: error?.message, uptime_ms: uptimeMs, restart_in_ms: delayMs },
      'primary: worker exited; restarting it',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      this.spawnWorker(slot);
    }, delayMs);
  }

  private endIfAllStopped(): void {
    if (this.phase !== 'stopping' || this.slots.some((slot) => slot.child !== null)) return;
    this.phase = 'stopped';
    this.options.log.info({ code: this.exitCode }, 'primary: all workers stopped');
    this.options.log.flush?.();
    this.finish(this.exitCode);
  }
}

/** `pgtide start` with `workers` > 1: this process becomes the primary and runs the workers. */
export async function runPrimary(running: RunningConfig): Promise<number> {
  const { config } = running;
  const log = createLogger(config.instance_name, config.log_level, {
    logDir: config.log_dir,
    supervisorLogFile: process.env[SUPERVISOR_LOG_FILE_ENV],
  });
  try {
    await claimPorts(config);
  } catch (err) {
    log.fatal(
      { err: (err as Error).message, hint: 'another pgtide (or other process) listens on that address' },
      'primary: could not start',
    );
    return 1;
  }
  const { key: saltKey, problem } = loadSaltKey(config.state_dir, config.instance_name);
  if (problem)
    log.warn({ err: problem }, 'primary: SCRAM salt key not kept: unknown users get new salts after a restart');
  const primary = new Primary({ count: config.workers, childArgs: process.argv.slice(1), log, saltKey, running });
  process.on('SIGHUP', () => primary.reload());
  process.on('SIGTERM', () => primary.stop('SIGTERM'));
  process.on('SIGINT', () => primary.stop('SIGINT'));
  for (const signal of SIGNAL_COMMANDS.keys()) process.on(signal, () => primary.signalCommand(signal));
  // Under `--supervise`, the supervisor's channel closes however it died: drain the workers
  // rather than keep the ports from the next supervisor's pooler.
  if (process.channel !== undefined) {
    process.channel.unref();
    process.once('disconnect', () => primary.stop('SIGTERM'));
  }
  return primary.run();
}

/**
 * Bind every TCP listen address once without reusePort, then let go. The workers share the
 * ports through SO_REUSEPORT, which any process of the same user may also set: a second
 * instance started on them by mistake would silently take half the new clients, with pools and
 * limits of its own. A port held by another process fails here, as it does for one process.
 */
async function claimPorts(config: Config): Promise<void> {
  const servers = await listen(
    { ...config, workers: 1, unix_socket_dir: '' },
    (socket) => socket.destroy(),
    () => {},
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
}
