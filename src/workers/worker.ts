// A worker's side of `workers = N`: its slot, its share of the configuration, and its channel
// to the primary (readiness; cancel requests for other workers' clients and instance-wide
// console commands, in both directions).
import type { AdminCommand } from '../admin/commands.js';
import { WORKER_SLOT_ENV } from '../config/env.js';
import type { Config } from '../config/types.js';
import { workerConfig } from '../config/worker-share.js';
import type { Pgtide } from '../server.js';
import { BoundedChannel, isWorkerMessage, parseWorkerSlot, type WorkerSlot } from './messages.js';

/** This process's slot when a primary started it; undefined otherwise. */
export function ownWorkerSlot(): WorkerSlot | undefined {
  return parseWorkerSlot(process.env[WORKER_SLOT_ENV]);
}

/**
 * What a worker runs: its share of the instance's limits. The worker count is the primary's,
 * not the file's: a file edited since the primary started must not change how a restarted
 * worker splits the limits while the others keep the old split (workers is start-only).
 */
export function workerShare(config: Config, slot: WorkerSlot): Config {
  return workerConfig({ ...config, workers: slot.count }, slot.id);
}

/** The IPC channel to the primary, which a worker always has. */
export class PrimaryLink {
  private readonly channel = new BoundedChannel((message, written) => process.send!(message, undefined, undefined, written));

  /** For PgtideOptions.relayCancel. */
  readonly relayCancel = (pid: number, secret: Buffer): void => {
    this.channel.post({ kind: 'cancel', pid, secret: secret.toString('hex') });
  };

  /** For PgtideOptions.shareAdminCommand. */
  readonly shareAdminCommand = (command: AdminCommand): void => {
    this.channel.post({ kind: 'admin', command });
  };

  /** Once the worker serves clients: take what other workers pass on, and tell the primary. */
  serve(pgtide: Pgtide): void {
    process.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.kind === 'cancel') pgtide.cancelOwnClient(message.pid, Buffer.from(message.secret, 'hex'));
      else if (message.kind === 'admin') pgtide.runSharedAdminCommand(message.command);
    });
    this.channel.post({ kind: 'ready' });
  }
}
