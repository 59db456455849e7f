// PgBouncer's signals for the console's PAUSE and RESUME, which its operators' scripts and
// runbooks send (kill -USR1 / -USR2). Node.js would otherwise open its inspector on SIGUSR1, an
// unauthenticated debugger port, and end the process on SIGUSR2.
import type { AdminCommand } from './commands.js';

export const SIGNAL_COMMANDS: ReadonlyMap<NodeJS.Signals, AdminCommand> = new Map<NodeJS.Signals, AdminCommand>([
  ['SIGUSR1', { kind: 'pause', database: null }],
  ['SIGUSR2', { kind: 'resume', database: null }],
]);
