// A worker's side of `workers = N`: its slot, its share of the configuration, and its channel
// to the primary (readiness; cancel requests for other workers' clients, instance-wide console
// commands and metrics, in both directions).
import type { AdminCommand } from '../admin/commands.js';
import { WORKER_SLOT_ENV } from '../config/env.js';
import type { Config } from '../config/types.js';
import { validateConfig } from '../config/validate.js';
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
 * worker splits the limits while the others keep the old split (workers is start-only). The
 * file was checked against its own `workers`; checked again against the running count, a
 * reload that would leave this worker a pool of 0 is refused like any invalid file.
 */
export function workerShare(config: Config, slot: WorkerSlot): Config {
  const running = { ...config, workers: slot.count };
  if (config.workers !== slot.count) validateConfig(running);
  return workerConfig(running, slot.id);
}

/** How long /metrics waits for the other workers' metrics; a worker that is restarting is
 *  missing from that scrape rather than holding it up. */
const METRICS_WAIT_MS = 1000;

/** The IPC channel to the primary, which a worker always has. */
export class PrimaryLink {
  private readonly channel = new BoundedChannel((message, written) =>
    process.send!(message, undefined, undefined, written),
  );
  private nextMetricsRequest = 0;
  /** Scrapes waiting for the other workers' metrics, by request id. */
  private readonly metricsAnswers = new Map<number, (metrics: object[]) => void>();

  constructor(private readonly slot: WorkerSlot) {}

  /** For PgtideOptions.otherWorkersMetrics: every other worker's metrics that arrive in time. */
  readonly otherWorkersMetrics = (): Promise<object[][]> =>
    new Promise((resolve) => {
      const id = this.nextMetricsRequest++;
      const answers: object[][] = [];
      const done = () => {
        clearTimeout(timer);
        this.metricsAnswers.delete(id);
        resolve(answers);
      };
      const timer = setTimeout(done, METRICS_WAIT_MS);
      this.metricsAnswers.set(id, (metrics) => {
        answers.push(metrics);
        if (answers.length === this.slot.count - 1) done();
      });
      if (!this.channel.post({ kind: 'metrics-request', id, to: this.slot.id })) done();
    });

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
      switch (message.kind) {
        case 'cancel':
          return pgtide.cancelOwnClient(message.pid, Buffer.from(message.secret, 'hex'));
        case 'admin':
          return pgtide.runSharedAdminCommand(message.command);
        case 'metrics-request': {
          const { id, to } = message;
          return void pgtide.metrics
            .getMetricsAsJSON()
            .then((metrics) => this.channel.post({ kind: 'metrics', id, to, metrics }));
        }
        case 'metrics':
          return this.metricsAnswers.get(message.id)?.(message.metrics);
      }
    });
    this.channel.post({ kind: 'ready' });
  }
}
