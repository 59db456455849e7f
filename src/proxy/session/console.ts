// The virtual admin database, PgBouncer's console: who may use it, what a login to it reports,
// and the one message it accepts (a simple Query), answered by pgtide itself, in order even
// when an answer waits for the other workers of `workers = N`.
import type { Config } from '../../config/types.js';
import * as encode from '../../protocol/encode.js';
import type { AdminHooks } from '../context.js';
import { eventNow } from '../../event-clock.js';

/** What a console login reports, as a PostgreSQL server would; shared by every console client. */
export const CONSOLE_PARAMS: ReadonlyMap<string, string> = new Map([
  ['server_version', '18.0 (pgtide)'],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['standard_conforming_strings', 'on'],
  ['integer_datetimes', 'on'],
]);

/** `admin` may run every command, `stats` only SHOW. */
export type ConsoleRole = 'admin' | 'stats';

/** The console role of a user who logged in with a password; null: the user may not use the console. */
export function consoleRole(config: Config, user: string): ConsoleRole | null {
  if (config.admin_users.includes(user)) return 'admin';
  return config.stats_users.includes(user) ? 'stats' : null;
}

/** Where a console answer goes (the client socket): its messages leave in one batch. */
export interface ConsoleOutput {
  readonly writable: boolean;
  cork(): void;
  uncork(): void;
  write(message: Buffer): boolean;
}

/** The part of a session the console uses. */
export interface ConsoleClient {
  socket: ConsoleOutput;
  ctx: { admin: AdminHooks };
  user: string;
  consoleAdmin: boolean;
  /** The last answer still waiting for the other workers; the queries after it wait for it. */
  consoleAnswer: Promise<void> | null;
  /** When its last request came: SHOW CLIENTS' request_time, as a pooled client's. */
  lastActive: number;
}

/** Answers the Query whose body is `body`, then ReadyForQuery, after the answers before it. */
export function answerConsoleQuery(s: ConsoleClient, body: Buffer): void {
  s.lastActive = eventNow();
  const req = {
    sql: body.toString('utf8', 0, Math.max(0, body.length - 1)),
    user: s.user,
    admin: s.consoleAdmin,
    gone: () => !s.socket.writable,
  };
  if (s.consoleAnswer !== null)
    return later(
      s,
      s.consoleAnswer.then(() => s.ctx.admin.run(req)),
    );
  const answer = s.ctx.admin.run(req);
  if (answer instanceof Promise) return later(s, answer);
  writeAnswer(s.socket, answer);
}

function later(s: ConsoleClient, answer: Promise<Buffer[]>): void {
  const written: Promise<void> = answer.then((messages) => {
    // The client may have left meanwhile.
    if (s.socket.writable) writeAnswer(s.socket, messages);
    if (s.consoleAnswer === written) s.consoleAnswer = null;
  });
  s.consoleAnswer = written;
}

function writeAnswer(out: ConsoleOutput, messages: Buffer[]): void {
  out.cork();
  for (const message of messages) out.write(message);
  out.write(encode.readyForQuery('I'));
  out.uncork();
}
