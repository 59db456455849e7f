// The console and /metrics with `workers = N`: the questions they ask the other workers (the
// primary carries them, src/workers/), how a worker answers one, and how the asking console
// says that a worker did not answer in time. The schema fence asks one too (see ClientSession).
import type { Pgtide } from '../server.js';
import * as encode from '../protocol/encode.js';
import type { ShowItem } from './commands.js';
import { reportOf } from './show.js';
import { closeNeededCount, pausedServerCount } from './snapshot.js';

export type WorkerQuestion =
  | { kind: 'metrics' }
  | { kind: 'show'; item: ShowItem }
  | { kind: 'kill_client'; id: number; user: string }
  /** Close idle server connections to this database of the servers (see ProxyContext.freeDatabase). */
  | { kind: 'free_database'; database: string }
  /** A DDL transaction ended in the asking worker: hold read_your_writes reads until its WAL
   *  position comes (ReplayTracker.otherWorkerFence); answered before its client is told. */
  | { kind: 'fence' }
  | ServerCountQuestion;

/** The servers a WAIT_CLOSE (close_needed) or a PAUSE (paused_servers) waits for, in one worker. */
export interface ServerCountQuestion {
  kind: 'close_needed' | 'paused_servers';
  database: string | null;
}

export interface WorkerAnswers {
  /** The answers that arrived in time, in no particular order. */
  answers: unknown[];
  /** The workers that did not answer in time (restarting, stopped, overloaded). */
  missing: number[];
}

export type AskOtherWorkers = (question: WorkerQuestion) => Promise<WorkerAnswers>;

/** How long a question waits for the other workers: a worker that is restarting or hung is
 *  missing from the answer rather than holding up the console or a scrape. */
export const WORKER_ANSWER_WAIT_MS = 1000;

/** This worker's answer to another worker's question. */
export function answerQuestion(pgtide: Pgtide, question: WorkerQuestion): unknown {
  switch (question.kind) {
    case 'metrics':
      return pgtide.metrics.getMetricsAsJSON();
    case 'show':
      return reportOf(question.item, pgtide);
    case 'close_needed':
      return closeNeededCount(pgtide, question.database);
    case 'paused_servers':
      return pausedServerCount(pgtide, question.database);
    case 'free_database':
      return pgtide.freeOwnConnections(question.database);
    case 'fence':
      pgtide.otherWorkerFence('begin');
      return true;
    case 'kill_client': {
      const killed = pgtide.killClient(question.id);
      if (killed) pgtide.log.info({ user: question.user, client: question.id }, 'admin: KILL_CLIENT');
      return killed;
    }
  }
}

/** A WARNING before an answer that lacks some workers' part (and a log line); none when all answered. */
export function missingWorkersNotice(pgtide: Pgtide, what: string, missing: readonly number[]): Buffer[] {
  if (missing.length === 0) return [];
  const workers = `worker${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  pgtide.log.warn({ missing_workers: missing, command: what }, 'admin: workers did not answer in time');
  return [
    encode.noticeResponse(
      'WARNING',
      encode.SQLSTATE.WARNING,
      `${workers} did not answer within ${WORKER_ANSWER_WAIT_MS} ms: ${what} lacks their part`,
    ),
  ];
}
