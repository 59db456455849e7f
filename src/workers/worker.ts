// A worker's side of `workers = N`: its slot, its share of the configuration, and its channel
// to the primary (readiness; cancel requests for other workers' clients, schema fences,
// instance-wide console commands, and questions to the other workers with their answers, in
// both directions).
import type { AdminCommand } from '../admin/commands.js';
import {
  answerQuestion,
  WORKER_ANSWER_WAIT_MS,
  type WorkerAnswers,
  type WorkerQuestion,
} from '../admin/across-workers.js';
import { NAME_SALT_KEY_ENV, WORKER_SLOT_ENV } from '../config/env.js';
import { parseSaltKey } from '../config/salt-key.js';
import type { Config } from '../config/types.js';
import { validateConfig } from '../config/validate.js';
import { workerConfig } from '../config/worker-share.js';
import type { Pgtide } from '../server.js';
import type { RelayedSignal } from '../proxy/backend-signals.js';
import { BoundedChannel, isWorkerMessage, parseWorkerSlot, type RunningConfig, type WorkerSlot } from './messages.js';

/** How long a cancel relayed to another worker holds its sender's connection at most: beyond
 *  the 5 s that worker gives the server to confirm it. */
const CANCEL_SENT_WAIT_MS = 6000;

/** This process's slot when a primary started it; undefined otherwise. */
export function ownWorkerSlot(): WorkerSlot | undefined {
  return parseWorkerSlot(process.env[WORKER_SLOT_ENV]);
}

/** The instance's key of per-user SCRAM salts, when a primary started this process (see NAME_SALT_KEY_ENV). */
export function ownNameSaltKey(): Buffer | undefined {
  const hex = process.env[NAME_SALT_KEY_ENV];
  return (hex === undefined ? null : parseSaltKey(hex)) ?? undefined;
}

/**
 * What a worker runs: its share of the instance's limits. The worker count is the primary's,
 * not the file's: a file edited since the primary started must not change how a restarted
 * worker splits the limits while the others keep the old split (workers is start-only). The
 * file was checked against its own `workers`; checked again against the running count, a
 * reload that would leave this worker a pool of 0 is refused like any invalid file. Always:
 * a reload has already put the running count back (keepStartOnly), and a SET never had another.
 */
export function workerShare(config: Config, slot: WorkerSlot): Config {
  const running = { ...config, workers: slot.count };
  validateConfig(running);
  return workerConfig(running, slot.id);
}

/**
 * The configuration a worker starts with: the one the instance runs, from the primary, not the
 * file as it is now. A worker started again after a crash would otherwise take up an edit not
 * yet reloaded (its limits and rules differing from the other workers'), or fail on a broken
 * file at every restart.
 */
export function configFromPrimary(): Promise<RunningConfig> {
  return new Promise((resolve, reject) => {
    const answered = (message: unknown) => {
      if (!isWorkerMessage(message) || message.kind !== 'config') return;
      process.off('message', answered);
      process.off('disconnect', gone);
      const { config, warnings, origin } = message;
      resolve({ config, warnings, origin });
    };
    const gone = () => reject(new Error('the primary process ended before it gave the configuration'));
    process.on('message', answered);
    process.once('disconnect', gone);
    process.send!({ kind: 'start_config' });
  });
}

/** The IPC channel to the primary, which a worker always has. */
export class PrimaryLink {
  private readonly channel = new BoundedChannel((message, written) =>
    process.send!(message, undefined, undefined, written),
  );
  private nextQuestion = 0;
  /** Questions waiting for the other workers' answers, and relayed cancels for word that they
   *  were sent, by id: each takes an answer and who gave it. */
  private readonly waiting = new Map<number, (from: number, answer: unknown) => void>();

  constructor(private readonly slot: WorkerSlot) {}

  /** For PgtideOptions.askOtherWorkers: the answers that arrive within WORKER_ANSWER_WAIT_MS. */
  readonly askOtherWorkers = (question: WorkerQuestion): Promise<WorkerAnswers> =>
    new Promise((resolve) => {
      const id = this.nextQuestion++;
      const answered = new Map<number, unknown>();
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        const others = Array.from({ length: this.slot.count }, (_, worker) => worker).filter((w) => w !== this.slot.id);
        resolve({ answers: [...answered.values()], missing: others.filter((w) => !answered.has(w)) });
      };
      const timer = setTimeout(done, WORKER_ANSWER_WAIT_MS);
      this.waiting.set(id, (from, answer) => {
        answered.set(from, answer);
        if (answered.size === this.slot.count - 1) done();
      });
      if (!this.channel.post({ kind: 'ask', id, to: this.slot.id, question })) done();
    });

  /** For PgtideOptions.relayCancel: `sent` once the other worker says it sent the cancel, or
   *  after CANCEL_SENT_WAIT_MS without word from it (a worker restarting, a dropped message). */
  readonly relayCancel = (pid: number, secret: Buffer, sent: () => void): void => {
    const id = this.nextQuestion++;
    const done = () => {
      clearTimeout(timer);
      this.waiting.delete(id);
      sent();
    };
    const timer = setTimeout(done, CANCEL_SENT_WAIT_MS);
    this.waiting.set(id, done);
    if (!this.channel.post({ kind: 'cancel', pid, secret: secret.toString('hex'), id, from: this.slot.id })) done();
  };

  /** For PgtideOptions.relaySignal. */
  readonly relaySignal = (signal: RelayedSignal): void => {
    this.channel.post({ kind: 'signal', ...signal });
  };

  /** For PgtideOptions.relayFence. */
  readonly relayFence = (lsn: bigint | null): void => {
    this.channel.post({ kind: 'fence', lsn: lsn === null ? null : lsn.toString() });
  };

  /** For PgtideOptions.onFileReloaded: the workers started from now on run this. */
  reportConfig(running: RunningConfig): void {
    this.channel.post({ kind: 'config', ...running });
  }

  /** For PgtideOptions.shareAdminCommand. */
  readonly shareAdminCommand = (command: AdminCommand): void => {
    this.channel.post({ kind: 'admin', command });
  };

  /** Once the worker serves clients: take what other workers pass on, and tell the primary. */
  serve(pgtide: Pgtide): void {
    process.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      switch (message.kind) {
        case 'cancel': {
          const { id, from } = message;
          return pgtide.cancelOwnClient(message.pid, Buffer.from(message.secret, 'hex'), () =>
            this.channel.post({ kind: 'answer', id, to: from, from: this.slot.id, answer: null }),
          );
        }
        case 'signal':
          return pgtide.signalOwnClient(message);
        case 'fence': {
          const { lsn } = message;
          return pgtide.otherWorkerFence(lsn === null ? null : BigInt(lsn));
        }
        case 'admin':
          return pgtide.runSharedAdminCommand(message.command);
        case 'ask': {
          const { id, to } = message;
          const answered = (answer: unknown) =>
            this.channel.post({ kind: 'answer', id, to, from: this.slot.id, answer });
          return void new Promise((resolve) => resolve(answerQuestion(pgtide, message.question))).then(
            answered,
            (err: Error) => {
              pgtide.log.error(
                { question: message.question.kind, err: err.message },
                'answering another worker failed',
              );
              answered(null);
            },
          );
        }
        case 'answer':
          return this.waiting.get(message.id)?.(message.from, message.answer);
      }
    });
    this.channel.post({ kind: 'ready' });
  }
}
