// Logins afresh to a backend whose server login got no answer, until one succeeds. They run on
// their own schedule, not in the monitor's check rounds: a probe to a stopped postmaster hangs
// until its timeout, and a round that waited for it would delay every backend's checks.
import type { Logger } from '../log.js';
import type { ServerLogin } from '../pool/server-login.js';
import { CheckConnection } from './check-connection.js';

/** After a failed attempt, the next waits this long, doubled each time up to the cap. */
const FIRST_RETRY_MS = 100;

export interface LoginProbeTiming {
  /** Bounds each attempt, login included (0: the login's own connectTimeoutMs alone). */
  timeoutMs: number;
  /** The longest wait between attempts (the health check period). */
  maxRetryMs: number;
}

export class LoginProbe {
  private connection: CheckConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** Starts the first attempt at once; `succeeded` gets the time the successful one began. */
  constructor(
    private readonly makeLogin: () => ServerLogin,
    private readonly timing: LoginProbeTiming,
    private readonly succeeded: (startedAt: number) => void,
    private readonly log: Logger,
    private readonly backend: string,
  ) {
    this.attempt(Math.min(FIRST_RETRY_MS, timing.maxRetryMs));
  }

  stop(reason: string): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.connection?.close(reason);
    this.connection = null;
  }

  private attempt(nextRetryMs: number): void {
    this.timer = null;
    const connection = new CheckConnection(this.makeLogin);
    this.connection = connection;
    const startedAt = Date.now();
    connection.query('SELECT 1', this.timing.timeoutMs).then(
      () => {
        connection.close('login probe done');
        if (!this.stopped) this.succeeded(startedAt);
      },
      (error: Error) => {
        connection.close('login probe failed');
        if (this.stopped) return;
        this.log.debug({ backend: this.backend, err: error.message }, 'login probe failed');
        this.timer = setTimeout(() => this.attempt(Math.min(nextRetryMs * 2, this.timing.maxRetryMs)), nextRetryMs);
        this.timer.unref();
      },
    );
  }
}
