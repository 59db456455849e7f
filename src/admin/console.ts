// The admin console: PgBouncer's commands over the simple query protocol, on the virtual
// database `pgtide` (alias `pgbouncer`).
import type { Pgtide } from '../server.js';
import * as encode from '../protocol/encode.js';
import { AdminSyntaxError, isAdminOnly, parseCommand, splitStatements, type AdminCommand, type ShowItem } from './commands.js';
import { encodeTable, type Table } from './table.js';
import { showBackends, showLists, showPools, showStats, showStatsTotals } from './show-pools.js';
import { showClients, showServers } from './show-connections.js';
import { showConfig, showDatabases, showHelp, showPeers, showUsers, showVersion } from './show-settings.js';

export { ADMIN_DATABASES } from './show-settings.js';

export interface AdminRequest {
  sql: string;
  user: string;
  /** false: a stats user, who may only SHOW. */
  admin: boolean;
}

const SYNTAX_ERROR = '42601';
const INSUFFICIENT_PRIVILEGE = '42501';
const UNDEFINED_DATABASE = '3D000';
const UNDEFINED_OBJECT = '42704';
const OPERATOR_INTERVENTION = '57000';

/** A command that parsed but cannot run; carries its SQLSTATE. */
class AdminCommandError extends Error {
  constructor(readonly code: string, message: string, readonly hint?: string) {
    super(message);
  }
}

const SHOW: Record<ShowItem, (pgtide: Pgtide) => Table> = {
  pools: (p) => showPools(p),
  clients: (p) => showClients(p),
  servers: showServers,
  stats: (p) => showStats(p),
  stats_totals: showStatsTotals,
  databases: showDatabases,
  users: showUsers,
  config: showConfig,
  lists: showLists,
  version: showVersion,
  backends: showBackends,
  peers: showPeers,
  help: showHelp,
};

/** Commands that act on the whole instance: with `workers = N`, every worker runs them. */
const INSTANCE_WIDE = new Set<AdminCommand['kind']>(['pause', 'resume', 'reconnect', 'kill', 'disable', 'enable', 'reload', 'shutdown']);

export class AdminConsole {
  constructor(private readonly pgtide: Pgtide) {}

  /** A command another worker's console ran, passed on by the primary: run here too, never
   *  passed on again. A failure here cannot reach that console's client: it is logged. */
  runShared(command: AdminCommand): void {
    try {
      this.execute(command, 'another worker');
    } catch (err) {
      this.pgtide.log.error({ command: command.kind, err: errorOf(err)[1] }, 'admin command from another worker failed here');
    }
  }

  /**
   * Answer one Query message: the encoded results in order, without the final ReadyForQuery.
   * As in PostgreSQL, the first failing statement ends the answer with its ErrorResponse.
   */
  run(req: AdminRequest): Buffer[] {
    const out: Buffer[] = [];
    try {
      const statements = splitStatements(req.sql);
      if (statements.length === 0) return [encode.emptyQueryResponse()];
      for (const words of statements) {
        const command = parseCommand(words);
        if (isAdminOnly(command) && !req.admin) throw new AdminCommandError(INSUFFICIENT_PRIVILEGE, 'must be an admin user');
        out.push(...this.execute(command, req.user));
        // Only once it ran here: a command refused here (an unknown database …) goes nowhere.
        if (INSTANCE_WIDE.has(command.kind)) this.pgtide.shareAdminCommand(command);
      }
    } catch (err) {
      const [code, message, hint] = errorOf(err);
      this.pgtide.context.pools.countError(code);
      out.push(encode.errorResponse('ERROR', code, message, undefined, hint));
    }
    return out;
  }

  private execute(command: AdminCommand, user: string): Buffer[] {
    const p = this.pgtide;
    switch (command.kind) {
      case 'show':
        return encodeTable(SHOW[command.item](p), 'SHOW');
      case 'pause':
      case 'resume':
      case 'reconnect':
        if (command.database !== null) this.knownDatabase(command.database);
        p.log.info({ user, database: command.database }, `admin: ${command.kind.toUpperCase()}`);
        p[command.kind](command.database ?? undefined);
        return [encode.commandComplete(command.kind.toUpperCase())];
      case 'kill':
        this.knownDatabase(command.database);
        p.log.info({ user, database: command.database }, 'admin: KILL');
        p.killClients(command.database);
        return [encode.commandComplete('KILL')];
      case 'disable':
      case 'enable':
        this.knownDatabase(command.database);
        p.log.info({ user, database: command.database }, `admin: ${command.kind.toUpperCase()}`);
        p.setDisabled(command.database, command.kind === 'disable');
        return [encode.commandComplete(command.kind.toUpperCase())];
      case 'kill_client':
        if (!p.killClient(command.id)) throw new AdminCommandError(UNDEFINED_OBJECT, `no client with id ${command.id}`, 'SHOW CLIENTS lists the ids.');
        p.log.info({ user, client: command.id }, 'admin: KILL_CLIENT');
        return [encode.commandComplete('KILL_CLIENT')];
      case 'reload':
        try {
          p.reloadFromFile();
        } catch (err) {
          throw new AdminCommandError(OPERATOR_INTERVENTION, `RELOAD failed, the running configuration is kept: ${(err as Error).message}`);
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

  private knownDatabase(database: string): void {
    if (!this.pgtide.context.pools.knowsDatabase(database)) {
      throw new AdminCommandError(UNDEFINED_DATABASE, `no such database: ${database}`, 'SHOW DATABASES lists them.');
    }
  }
}

/** SQLSTATE, message and hint of the error a failed console statement answers with. */
function errorOf(err: unknown): [code: string, message: string, hint: string | undefined] {
  if (err instanceof AdminSyntaxError) return [SYNTAX_ERROR, err.message, err.hint];
  if (err instanceof AdminCommandError) return [err.code, err.message, err.hint];
  return [encode.SQLSTATE.INTERNAL_ERROR, `admin command failed: ${(err as Error).message}`, undefined];
}
