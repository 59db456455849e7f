// The SQL parser's thread: tier 2 of the classifier (libpg-query's WASM) runs here, never on the
// event loop. Loaded in the main thread, the parser cost about 13 µs of CPU per transaction on
// the forward path even when unused (bench/, select-only simple: 66 → 53 µs without it), and a
// parse holds the loop for tens of µs to ms. The thread starts at the first statement that
// needs it, is started again (after a pause) if it dies, and ends with the process.
import { Worker } from 'node:worker_threads';
import type { Logger } from './log.js';
import type { ParseAnswer, TreeParser } from './sql/index.js';

export interface ParserThreadOptions {
  /** The facts of the statement asked about under `key`. */
  onAnswer: (key: string, answer: ParseAnswer) => void;
  /** The statement asked about under `key` will get no answer: the thread ended first. */
  onLost: (key: string) => void;
  log: Pick<Logger, 'error'>;
  /** The thread's script (tests give one that fails on purpose). */
  script?: URL;
  /** After the thread dies, how long statements go to the primary before it is started again. */
  restartDelayMs?: number;
  /** A thread that answers nothing for this long while asked, once its parser is loaded, is
   *  ended (and started again). */
  answerTimeoutMs?: number;
  /** A thread asked while it has not loaded its parser after this long is ended too: loading
   *  takes far longer than an answer on a busy machine, but a load that never ends must not
   *  leave the statements that need it on the primary for good. */
  loadTimeoutMs?: number;
}

/** The parser thread's first message: its parser is loaded, so from now on it answers promptly. */
export const PARSER_READY = 'ready';

const SCRIPT = new URL('./parser-thread-main.js', import.meta.url);

export class ParserThread implements TreeParser {
  private worker: Worker | null = null;
  /** Keys asked of the running thread, oldest first: it answers in that order. */
  private asked: string[] = [];
  private watchdog: NodeJS.Timeout | null = null;
  /** The running thread has loaded its parser: the watchdog allows an answer's time only then,
   *  and the load's time before. */
  private ready = false;
  private downUntil = 0;
  private stopped = false;
  /** Threads started so far (the first included). */
  starts = 0;

  constructor(private readonly options: ParserThreadOptions) {}

  parse(key: string, sql: string): boolean {
    const worker = this.worker ?? this.start();
    if (worker === null) return false;
    worker.postMessage(sql);
    this.asked.push(key);
    this.watch();
    return true;
  }

  private watch(): void {
    const ms = this.ready ? (this.options.answerTimeoutMs ?? 10_000) : (this.options.loadTimeoutMs ?? 60_000);
    this.watchdog ??= setTimeout(() => this.hung(), ms).unref();
  }

  /** Ends the thread (pgtide stops); statements that need it go to the primary from now on. */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.down();
    await worker?.terminate();
  }

  private start(): Worker | null {
    if (this.stopped || Date.now() < this.downUntil) return null;
    let worker: Worker;
    try {
      worker = new Worker(this.options.script ?? SCRIPT);
    } catch (err) {
      this.options.log.error({ err: (err as Error).message }, 'could not start the SQL parser thread');
      this.downUntil = Date.now() + (this.options.restartDelayMs ?? 1000);
      return null;
    }
    this.starts++;
    // The thread never keeps the process alive: a statement it was reading goes unanswered.
    worker.unref();
    worker.on('message', (answer: ParseAnswer | typeof PARSER_READY) => {
      if (worker !== this.worker) return;
      if (answer !== PARSER_READY) return this.answered(answer);
      this.ready = true;
      this.clearWatchdog();
      if (this.asked.length > 0) this.watch();
    });
    // Without a listener, an error thrown in the thread would be thrown again here.
    worker.on('error', (err) => this.options.log.error({ err: err.message }, 'the SQL parser thread failed'));
    worker.on('exit', (code) => {
      if (worker === this.worker) this.died(code);
    });
    this.worker = worker;
    return worker;
  }

  private answered(answer: ParseAnswer): void {
    const key = this.asked.shift();
    if (key === undefined) return;
    if (this.asked.length === 0) this.clearWatchdog();
    else this.watchdog?.refresh();
    this.options.onAnswer(key, answer);
  }

  private died(code: number): void {
    const lost = this.asked.length;
    this.down();
    this.downUntil = Date.now() + (this.options.restartDelayMs ?? 1000);
    this.options.log.error(
      { code, lost },
      'the SQL parser thread exited; statements that need it go to the primary until it is started again',
    );
  }

  private hung(): void {
    this.watchdog = null;
    this.options.log.error(
      { asked: this.asked.length, loaded: this.ready },
      'the SQL parser thread stopped answering; ending it',
    );
    void this.worker?.terminate();
  }

  /** Forgets the thread: what it was asked will not be answered. */
  private down(): void {
    this.worker = null;
    this.ready = false;
    this.clearWatchdog();
    const lost = this.asked;
    this.asked = [];
    for (const key of lost) this.options.onLost(key);
  }

  private clearWatchdog(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }
}
