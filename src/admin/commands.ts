// The admin console's language: PgBouncer's commands, case-insensitive, ';'-separated.

export const SHOW_ITEMS = [
  'pools',
  'clients',
  'servers',
  'stats',
  'stats_totals',
  'stats_averages',
  'databases',
  'users',
  'config',
  'lists',
  'version',
  'backends',
  'peers',
  'help',
] as const;
export type ShowItem = (typeof SHOW_ITEMS)[number];

export type AdminCommand =
  | { kind: 'show'; item: ShowItem }
  | { kind: 'pause' | 'resume' | 'reconnect'; database: string | null }
  | { kind: 'kill' | 'disable' | 'enable'; database: string }
  | { kind: 'kill_client'; id: number }
  | { kind: 'reload' | 'shutdown' };

/** Commands that change pgtide's state: admins only. */
export function isAdminOnly(command: AdminCommand): boolean {
  return command.kind !== 'show';
}

/** A statement the console cannot run; SQLSTATE 42601 unless said otherwise. */
export class AdminSyntaxError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const HELP_HINT = 'SHOW HELP lists the commands of the pgtide console.';

/** A query string longer than this is not a console command; refusing it bounds the work. */
const MAX_QUERY_LENGTH = 64 * 1024;
const MAX_STATEMENTS = 64;
const MAX_CLIENT_ID = 2 ** 31 - 1;

/**
 * Splits a Query into statements of words. A double-quoted identifier keeps its case and may
 * hold spaces or ';' ("" is a quote); other words are folded to lower case, as PostgreSQL does.
 * Empty statements (";;", a trailing ';') are dropped.
 */
export function splitStatements(sql: string): string[][] {
  if (sql.length > MAX_QUERY_LENGTH)
    throw new AdminSyntaxError(`console query longer than ${MAX_QUERY_LENGTH} characters`);
  const statements: string[][] = [];
  let words: string[] = [];
  let i = 0;
  const end = () => {
    if (words.length > 0) statements.push(words);
    words = [];
    if (statements.length > MAX_STATEMENTS)
      throw new AdminSyntaxError(`more than ${MAX_STATEMENTS} statements in one query`);
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === ';') {
      end();
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let word = '';
      for (i++; ; i++) {
        if (i >= sql.length) throw new AdminSyntaxError('unterminated quoted identifier');
        if (sql[i] === '"') {
          if (sql[i + 1] !== '"') break;
          i++;
        }
        word += sql[i];
      }
      i++;
      if (word === '') throw new AdminSyntaxError('zero-length quoted identifier');
      words.push(word);
    } else {
      const start = i;
      while (i < sql.length && !/[\s;"]/.test(sql[i]!)) i++;
      words.push(sql.slice(start, i).toLowerCase());
    }
  }
  end();
  return statements;
}

/** One statement's words as a command, or an AdminSyntaxError saying what is wrong. */
export function parseCommand(words: string[]): AdminCommand {
  const [verb, ...args] = words;
  switch (verb) {
    case 'show': {
      const item = only(args, 'SHOW needs one of: ' + SHOW_ITEMS.map((s) => s.toUpperCase()).join(', '));
      if (!(SHOW_ITEMS as readonly string[]).includes(item)) {
        throw new AdminSyntaxError(`unknown SHOW item: ${item}`, HELP_HINT);
      }
      return { kind: 'show', item: item as ShowItem };
    }
    case 'pause':
    case 'resume':
    case 'reconnect':
      if (args.length > 1) throw new AdminSyntaxError(`${verb.toUpperCase()} takes at most one database name`);
      return { kind: verb, database: args[0] ?? null };
    case 'kill':
    case 'disable':
    case 'enable':
      return { kind: verb, database: only(args, `${verb.toUpperCase()} needs a database name`) };
    case 'kill_client': {
      const text = only(args, 'KILL_CLIENT needs a client id (the id column of SHOW CLIENTS)');
      const id = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
      if (!(id <= MAX_CLIENT_ID)) throw new AdminSyntaxError(`KILL_CLIENT: not a client id: ${text}`);
      return { kind: 'kill_client', id };
    }
    case 'reload':
    case 'shutdown':
      if (args.length > 0) throw new AdminSyntaxError(`${verb.toUpperCase()} takes no arguments`);
      return { kind: verb };
    default:
      throw new AdminSyntaxError(`unknown command: ${words.join(' ').slice(0, 80)}`, HELP_HINT);
  }
}

function only(args: string[], usage: string): string {
  const [arg] = args;
  if (args.length !== 1 || arg === undefined) throw new AdminSyntaxError(usage, HELP_HINT);
  return arg;
}
