// The admin console's language: PgBouncer's commands, case-insensitive, ';'-separated.
import { SQLSTATE } from '../protocol/sqlstate.js';
import type { ScalarKey } from '../config/fields.js';
import { runtimeKey, settingValue } from '../config/runtime-setting.js';
import { parseAssignment } from './console-set.js';

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
  'peer_pools',
  'state',
  'totals',
  'dns_hosts',
  'dns_zones',
  'help',
] as const;
export type ShowItem = (typeof SHOW_ITEMS)[number];

/**
 * Session settings a driver may SHOW or SET on connecting, as on a server: the console answers
 * SHOW with a fixed value and ignores SET, as PgBouncer's does (show-settings.ts has the values).
 */
export const SESSION_SETTINGS = [
  'client_encoding',
  'datestyle',
  'default_transaction_isolation',
  'extra_float_digits',
  'standard_conforming_strings',
  'timezone',
] as const;
export type SessionSetting = (typeof SESSION_SETTINGS)[number];

export type AdminCommand =
  | { kind: 'show'; item: ShowItem }
  | { kind: 'show_setting' | 'set_setting'; name: SessionSetting }
  /** A setting of pgtide's, the value as the statement wrote it (each worker reads it itself). */
  | { kind: 'set'; key: ScalarKey; value: string }
  | { kind: 'pause' | 'resume' | 'reconnect' | 'wait_close' | 'kill'; database: string | null }
  | { kind: 'disable' | 'enable'; database: string }
  | { kind: 'kill_client'; id: number }
  | { kind: 'reload' | 'shutdown' };

/** Commands that change pgtide's state: admins only. */
export function isAdminOnly(command: AdminCommand): boolean {
  return command.kind !== 'show' && command.kind !== 'show_setting' && command.kind !== 'set_setting';
}

/** A statement the console cannot run; SQLSTATE 42601 unless said otherwise. */
export class AdminSyntaxError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly code = '42601',
  ) {
    super(message);
  }
}

const DRAIN_HINT =
  'SIGTERM to pgtide (its primary with workers = N) stops accepting clients and lets running transactions finish, for up to shutdown_timeout.';

/** What PgBouncer's console has and pgtide's does not, and what to use instead. */
const NOT_IN_PGTIDE: Record<string, string> = {
  'show mem':
    'pgtide has no memory caches of its own to show; /metrics has the process memory (process_resident_memory_bytes, nodejs_heap_size_used_bytes).',
  'show fds':
    'pgtide hands no sockets to another process (PgBouncer -R); SHOW CLIENTS and SHOW SERVERS list the connections.',
  'show sockets': 'SHOW CLIENTS and SHOW SERVERS list the connections.',
  'show active_sockets': 'SHOW CLIENTS and SHOW SERVERS list the connections.',
  suspend:
    'SUSPEND readies an online restart of PgBouncer (-R); pgtide has none. PAUSE holds new transactions; workers = N keeps clients served while one worker restarts.',
  'shutdown wait_for_clients': DRAIN_HINT,
  'shutdown wait_for_servers': DRAIN_HINT,
};

function notInPgtide(what: string): AdminSyntaxError {
  return new AdminSyntaxError(
    `${what.toUpperCase()} is not available in pgtide`,
    NOT_IN_PGTIDE[what],
    SQLSTATE.FEATURE_NOT_SUPPORTED,
  );
}

export const HELP_HINT = 'SHOW HELP lists the commands of the pgtide console.';

/** A query string longer than this is not a console command; refusing it bounds the work. */
const MAX_QUERY_LENGTH = 64 * 1024;
const MAX_STATEMENTS = 64;
const MAX_CLIENT_ID = 2 ** 31 - 1;

/**
 * Splits a Query into statements of words, each as written. A double-quoted identifier may hold
 * spaces or ';' ("" is a quote). A single-quoted string (SET's value) may too, and stays in its
 * word with its quotes. Empty statements (";;", a trailing ';') are dropped.
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
      while (i < sql.length && !/[\s;"]/.test(sql[i]!)) i = sql[i] === "'" ? afterString(sql, i) : i + 1;
      words.push(sql.slice(start, i));
    }
  }
  end();
  return statements;
}

/** The index after the single-quoted string that starts at `open` ('' is a quote inside it). */
function afterString(sql: string, open: number): number {
  for (let i = open + 1; i < sql.length; i++) {
    if (sql[i] !== "'") continue;
    if (sql[i + 1] !== "'") return i + 1;
    i++;
  }
  throw new AdminSyntaxError('unterminated quoted string');
}

/**
 * One statement's words as a command, or an AdminSyntaxError saying what is wrong. Commands,
 * SHOW items and setting names are matched without their case; a database name is taken as
 * written, as PgBouncer takes it (`PAUSE MyDb` pauses `MyDb`, not `mydb`).
 */
export function parseCommand(words: string[]): AdminCommand {
  const [first, ...args] = words;
  const verb = first?.toLowerCase();
  switch (verb) {
    case 'show': {
      // A quoted item is matched without its case, as PgBouncer matches it.
      const item = only(args, 'SHOW needs one of: ' + SHOW_ITEMS.map((s) => s.toUpperCase()).join(', ')).toLowerCase();
      if (isSessionSetting(item)) return { kind: 'show_setting', name: item };
      if (`show ${item}` in NOT_IN_PGTIDE) throw notInPgtide(`show ${item}`);
      if (!(SHOW_ITEMS as readonly string[]).includes(item)) {
        throw new AdminSyntaxError(`unknown SHOW item: ${item}`, HELP_HINT);
      }
      return { kind: 'show', item: item as ShowItem };
    }
    case 'set': {
      // SET name = value, SET name TO value, SET name=value: only the name matters here.
      const name = args[0]?.split('=')[0]?.toLowerCase() ?? '';
      if (name === '') throw new AdminSyntaxError('SET needs a setting name: SET name = value', HELP_HINT);
      if (isSessionSetting(name)) return { kind: 'set_setting', name };
      return parseSet(args);
    }
    case 'suspend':
      throw notInPgtide(verb);
    case 'pause':
    case 'resume':
    case 'reconnect':
    case 'wait_close':
    case 'kill':
      if (args.length > 1) throw new AdminSyntaxError(`${verb.toUpperCase()} takes at most one database name`);
      return { kind: verb, database: args[0] ?? null };
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
      if (verb === 'shutdown' && `shutdown ${args[0]?.toLowerCase()}` in NOT_IN_PGTIDE)
        throw notInPgtide(`shutdown ${args[0]!.toLowerCase()}`);
      if (args.length > 0) throw new AdminSyntaxError(`${verb.toUpperCase()} takes no arguments`);
      return { kind: verb };
    default:
      throw new AdminSyntaxError(`unknown command: ${words.join(' ').slice(0, 80)}`, HELP_HINT);
  }
}

/** SET of one of pgtide's settings: throws a SettingRefused for a key or value it cannot take. */
function parseSet(args: string[]): AdminCommand {
  const assignment = parseAssignment(args);
  if (assignment === null)
    throw new AdminSyntaxError("SET takes one setting and its value: SET name = value (or TO 'value')", HELP_HINT);
  const key = runtimeKey(assignment.name);
  // Checked here too, so that a value no key could take is refused before anything runs.
  settingValue(key, assignment.value);
  return { kind: 'set', key, value: assignment.value };
}

function isSessionSetting(name: string): name is SessionSetting {
  return (SESSION_SETTINGS as readonly string[]).includes(name);
}

function only(args: string[], usage: string): string {
  const [arg] = args;
  if (args.length !== 1 || arg === undefined) throw new AdminSyntaxError(usage, HELP_HINT);
  return arg;
}
