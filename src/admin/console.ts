// The admin console: PgBouncer's commands over the simple query protocol, on the virtual
// database `pgtide` (alias `pgbouncer`).
import { setTimeout } from 'node:timers/promises';
import type { Pgtide } from '../server.js';
import * as encode from '../protocol/encode.js';
import { AdminSyntaxError, isAdminOnly, parseCommand, splitStatements, type AdminCommand } from './commands.js';
import { encodeTable } from './table.js';
import { isMerged, showTable } from './show.js';
import { answerQuestion, missingWorkersNotice, type ServerCountQuestion } from './across-workers.js';
import { ADMIN_DATABASES, sessionSettingValue } from './show-settings.js';
import { poolGroups } from './snapshot.js';
import { SettingRefused } from '../config/runtime-setting.js';
import { loggedValue, REFUSAL_CODE } from './console-set.js';

export { ADMIN_DATABASES };

export interface AdminRequest {
  sql: string;
  user: string;
  /** false: a stats user, who may only SHOW. */
  admin: boolean;
  /** Whether the client has left (a WAIT_CLOSE stops waiting for it). */
  gone?: () => boolean;
}

const INSUFFICIENT_PRIVILEGE = '42501';
const UNDEFINED_DATABASE = '3D000';
const UNDEFINED_OBJECT = '42704';
const OPERATOR_INTERVENTION = '57000';

/** A command that parsed but cannot run; carries its SQLSTATE. */
class AdminCommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** How often WAIT_CLOSE and PAUSE count the servers they wait for. */
const SERVER_COUNT_POLL_MS = 100;

/** Commands that act on the whole instance: with `workers = N`, every worker runs them. */
const INSTANCE_WIDE = new Set<AdminCommand['kind']>([
  'pause',
  'resume',
  'reconnect',
  'kill',
  'disable',
  'enable',
  'reload',
  'set',
  'shutdown',
]);

export class AdminConsole {
  constructor(private readonly pgtide: Pgtide) {}

  /** A command another worker's console ran, passed on by the primary (or a signal's, see
   *  SIGNAL_COMMANDS): run here too, never passed on again. A failure here cannot reach that
   *  console's client: it is logged. */
  runShared(command: AdminCommand, by = 'another worker'): void {
    try {
      this.execute(command, by);
    } catch (err) {
      this.pgtide.log.error(
        { command: command.kind, err: errorOf(err)[1] },
        'admin command from another worker failed here',
      );
    }
  }

  /**
   * Answer one Query message: the encoded results in order, without the final ReadyForQuery.
   * As in PostgreSQL, the first failing statement ends the answer with its ErrorResponse. With
   * `workers = N`, a statement that needs the other workers' part makes the answer a promise.
   */
  run(req: AdminRequest): Buffer[] | Promise<Buffer[]> {
    let statements: string[][];
    try {
      statements = splitStatements(req.sql);
    } catch (err) {
      return this.failed([], err);
    }
    if (statements.length === 0) return [encode.emptyQueryResponse()];
    return this.runFrom(statements, 0, req, []);
  }

  /** Statements from `i` on, in order; one that waits for the other workers continues the rest once it has its answer. */
  private runFrom(statements: string[][], i: number, req: AdminRequest, out: Buffer[]): Buffer[] | Promise<Buffer[]> {
    for (; i < statements.length; i++) {
      let command: AdminCommand;
      let answer: Buffer[] | Promise<Buffer[]>;
      try {
        command = parseCommand(statements[i]!);
        if (isAdminOnly(command) && !req.admin)
          throw new AdminCommandError(INSUFFICIENT_PRIVILEGE, 'must be an admin user');
        answer = this.execute(command, req.user, req.gone);
      } catch (err) {
        return this.failed(out, err);
      }
      if (answer instanceof Promise) {
        const next = i + 1;
        const ran = command;
        return answer.then(
          (messages) => {
            this.ran(ran, messages, out);
            return this.runFrom(statements, next, req, out);
          },
          (err: unknown) => this.failed(out, err),
        );
      }
      this.ran(command, answer, out);
      if (command.kind === 'pause') {
        // As PgBouncer's: answered once the transactions running now have ended (an operator
        // restarts PostgreSQL next), after the other workers were told to pause too.
        const next = i + 1;
        const left = this.untilNoServer({ kind: 'paused_servers', database: command.database }, req.gone);
        if (left) return left.then(() => this.runFrom(statements, next, req, out));
      }
    }
    return out;
  }

  private ran(command: AdminCommand, answer: Buffer[], out: Buffer[]): void {
    out.push(...answer);
    // Only once it ran here: a command refused here (an unknown database …) goes nowhere.
    if (INSTANCE_WIDE.has(command.kind)) this.pgtide.shareAdminCommand(command);
  }

  private failed(out: Buffer[], err: unknown): Buffer[] {
    const [code, message, hint] = errorOf(err);
    this.pgtide.context.pools.countError(code);
    out.push(encode.errorResponse('ERROR', code, message, undefined, hint));
    return out;
  }

  private execute(command: AdminCommand, user: string, gone = () => false): Buffer[] | Promise<Buffer[]> {
    const p = this.pgtide;
    switch (command.kind) {
      case 'show': {
        const { item } = command;
        const ask = p.askOtherWorkers;
        if (ask === undefined || !isMerged(item)) return encodeTable(showTable(item, p), 'SHOW');
        return ask({ kind: 'show', item }).then(({ answers, missing }) => [
          ...missingWorkersNotice(p, `SHOW ${item.toUpperCase()}`, missing),
          ...encodeTable(showTable(item, p, answers), 'SHOW'),
        ]);
      }
      case 'show_setting':
        return encodeTable({ columns: [command.name], rows: [[sessionSettingValue(command.name)]] }, 'SHOW');
      case 'set_setting':
        // A driver setting up its session gets what a server would say; nothing changes.
        return [
          encode.noticeResponse('NOTICE', encode.SQLSTATE.SUCCESSFUL_COMPLETION, 'SET ignored'),
          encode.commandComplete('SET'),
        ];
      case 'pause':
      case 'resume':
      case 'reconnect':
        if (command.database !== null) this.pooledDatabase(command.database, command.kind);
        p.log.info({ user, database: command.database }, `admin: ${command.kind.toUpperCase()}`);
        p[command.kind](command.database ?? undefined);
        return [...stillPaused(p, command), encode.commandComplete(command.kind.toUpperCase())];
      case 'wait_close': {
        if (command.database !== null) this.pooledDatabase(command.database, command.kind);
        const done = [encode.commandComplete('WAIT_CLOSE')];
        return this.untilNoServer({ kind: 'close_needed', database: command.database }, gone)?.then(() => done) ?? done;
      }
      case 'kill': {
        if (command.database !== null) this.pooledDatabase(command.database, command.kind);
        p.log.info({ user, database: command.database }, 'admin: KILL');
        // Held until RESUME, as in PgBouncer. Without a name: every database's clients, and every
        // database held by the pause of all (also one first used after the KILL, unlike
        // PgBouncer: a worker started again knows no names), which a RESUME of all ends.
        if (command.database === null) p.pause();
        else p.pause(command.database);
        const databases = command.database !== null ? [command.database] : pooledDatabases(p);
        for (const database of databases) p.killClients(database);
        return [encode.commandComplete('KILL')];
      }
      case 'disable':
      case 'enable':
        this.pooledDatabase(command.database, command.kind);
        p.log.info({ user, database: command.database }, `admin: ${command.kind.toUpperCase()}`);
        p.setDisabled(command.database, command.kind === 'disable');
        return [encode.commandComplete(command.kind.toUpperCase())];
      case 'kill_client':
        return this.killClient(command.id, user);
      case 'set':
        p.applySetting(command.key, command.value);
        p.log.info({ user, setting: command.key, value: loggedValue(command.key, command.value) }, 'admin: SET');
        return [encode.commandComplete('SET')];
      case 'reload':
        try {
          p.reloadFromFile();
        } catch (err) {
          // In the log too, as a SIGHUP's failed reload is: the operator may not be the one who asked.
          p.log.error({ user, err: (err as Error).message }, 'reload failed; keeping the running configuration');
          throw new AdminCommandError(
            OPERATOR_INTERVENTION,
            `RELOAD failed, the running configuration is kept: ${(err as Error).message}`,
          );
        }
        return [encode.commandComplete('RELOAD')];
      case 'shutdown':
        p.log.warn({ user }, 'admin: SHUTDOWN');
        // With workers, the primary stops every worker, this one included.
        if (p.hasWorkers) return [encode.commandComplete('SHUTDOWN')];
        // After this answer is written: the session sends it before the stop closes it.
        setImmediate(() => void p.shutdown());
        return [encode.commandComplete('SHUTDOWN')];
    }
  }

  /**
   * Resolves once no server the question counts is left in any worker (one that does not answer
   * counts as one left), or once the client has left; null when none is left and there is no
   * other worker to ask. Servers close as their clients release them: this counts again every
   * SERVER_COUNT_POLL_MS. WAIT_CLOSE waits for the servers a RECONNECT marked, PAUSE for those
   * of the paused databases.
   */
  private untilNoServer(question: ServerCountQuestion, gone = () => false): Promise<void> | null {
    const p = this.pgtide;
    if (p.askOtherWorkers === undefined && answerQuestion(p, question) === 0) return null;
    return this.pollNoServer(question, gone);
  }

  private async pollNoServer(question: ServerCountQuestion, gone: () => boolean): Promise<void> {
    const p = this.pgtide;
    for (;;) {
      let open = answerQuestion(p, question) as number;
      const ask = p.askOtherWorkers;
      if (ask !== undefined) {
        const { answers, missing } = await ask(question);
        for (const count of answers) open += count as number;
        open += missing.length;
      }
      if (open === 0 || gone()) return;
      await setTimeout(SERVER_COUNT_POLL_MS);
    }
  }

  /** The client may be another worker's (its id says which): that worker drops it. */
  private killClient(id: number, user: string): Buffer[] | Promise<Buffer[]> {
    const p = this.pgtide;
    const done = [encode.commandComplete('KILL_CLIENT')];
    const noSuchClient = (hint = 'SHOW CLIENTS lists the ids.') =>
      new AdminCommandError(UNDEFINED_OBJECT, `no client with id ${id}`, hint);
    if (p.killClient(id)) {
      p.log.info({ user, client: id }, 'admin: KILL_CLIENT');
      return done;
    }
    const ask = p.askOtherWorkers;
    if (ask === undefined) throw noSuchClient();
    return ask({ kind: 'kill_client', id, user }).then(({ answers, missing }) => {
      if (answers.includes(true)) return done;
      if (missing.length === 0) throw noSuchClient();
      throw noSuchClient(`Worker ${missing.join(', ')} did not answer in time: the client may be there. Try again.`);
    });
  }

  /** A database the command may act on: one pgtide pools, not the console's own. */
  private pooledDatabase(database: string, command: AdminCommand['kind']): void {
    // KILL pgbouncer would end every console session, the one that asked included.
    if (ADMIN_DATABASES.includes(database)) {
      throw new AdminCommandError(
        encode.SQLSTATE.FEATURE_NOT_SUPPORTED,
        `${command.toUpperCase()} does not apply to the console database ${database}`,
        'Name a pooled database: SHOW DATABASES lists them.',
      );
    }
    if (!this.pgtide.context.pools.knowsDatabase(database)) {
      throw new AdminCommandError(UNDEFINED_DATABASE, `no such database: ${database}`, 'SHOW DATABASES lists them.');
    }
  }
}

/** The databases of every pool and logged-in client, the console's excepted. */
function pooledDatabases(pgtide: Pgtide): string[] {
  const names = new Set(poolGroups(pgtide).map((g) => g.database));
  return [...names].filter((name) => !ADMIN_DATABASES.includes(name));
}

/** SQLSTATE, message and hint of the error a failed console statement answers with. */
function errorOf(err: unknown): [code: string, message: string, hint: string | undefined] {
  if (err instanceof AdminSyntaxError) return [err.code, err.message, err.hint];
  if (err instanceof AdminCommandError) return [err.code, err.message, err.hint];
  if (err instanceof SettingRefused) return [REFUSAL_CODE[err.reason], err.message, err.hint];
  return [encode.SQLSTATE.INTERNAL_ERROR, `admin command failed: ${(err as Error).message}`, undefined];
}

/** A RESUME of all leaves the databases paused by name paused: a notice says which. */
function stillPaused(p: Pgtide, command: AdminCommand): Buffer[] {
  const names = p.databasesPausedByName;
  if (command.kind !== 'resume' || command.database !== null || names.size === 0) return [];
  const list = [...names].map((name) => `"${name}"`).join(', ');
  return [
    encode.noticeResponse(
      'NOTICE',
      encode.SQLSTATE.SUCCESSFUL_COMPLETION,
      `still paused by name: ${list}; RESUME <database> ends each`,
    ),
  ];
}
