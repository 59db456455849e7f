// The virtual admin database, PgBouncer's console: who may use it, what a login to it reports,
// and the one message it accepts (a simple Query), answered by pgtide itself.
import type { Config } from '../../config/types.js';
import * as encode from '../../protocol/encode.js';
import type { AdminHooks } from '../context.js';

/** What a console login reports, as a PostgreSQL server would; shared by every console client. */
export const CONSOLE_PARAMS: ReadonlyMap<string, string> = new Map([
  ['server_version', '18.0 (pgtide)'],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['standard_conforming_strings', 'on'],
  ['integer_datetimes', 'on'],
]);

/** `admin` may run every command, `stats` only SHOW; null: the user may not use the console. */
export function consoleRole(config: Config, user: string): 'admin' | 'stats' | null {
  if (config.admin_users.includes(user)) return 'admin';
  return config.stats_users.includes(user) ? 'stats' : null;
}

/** Where a console answer goes (the client socket): its messages leave in one batch. */
export interface ConsoleOutput {
  cork(): void;
  uncork(): void;
  write(message: Buffer): boolean;
}

/** Answers the Query whose body is `body`, then ReadyForQuery. */
export function answerConsoleQuery(out: ConsoleOutput, admin: AdminHooks, body: Buffer, user: string, isAdmin: boolean): void {
  const sql = body.toString('utf8', 0, Math.max(0, body.length - 1));
  out.cork();
  for (const message of admin.run({ sql, user, admin: isAdmin })) out.write(message);
  out.write(encode.readyForQuery('I'));
  out.uncork();
}
