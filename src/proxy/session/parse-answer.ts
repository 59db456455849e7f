// A Parse that needs no server: between transactions (no server linked, transaction or statement
// pooling), a request of only Parses of named statements and its Sync, each of a statement some
// server already parsed, is answered by pgtide itself. A server there would only say what is
// known, and waiting for one can deadlock: libpq's PQprepare blocks its thread until the answer
// comes, so a thread that drives several clients (pgbench -j) stops the very clients that hold
// every server inside their transactions, waiting for their next statement. The statement is
// prepared on a server at the client's first Bind of it, as for any server that lacks it.
import * as encode from '../../protocol/encode.js';
import { FrontendMessage } from '../../protocol/types.js';
import type { ClientSession } from '../client-session.js';
import type { ClientStatements } from '../prepared-statements.js';
import type { Statement, StatementRegistry } from '../statement-registry.js';

const PARSE_COMPLETE = encode.parseComplete();
const READY_IDLE = encode.readyForQuery('I');

/** What answerParses uses of the session. */
export type ParseAnswerSession = Pick<
  ClientSession,
  'ctx' | 'pendingBegin' | 'pinned' | 'pool' | 'queuedSyncs' | 'socket' | 'statements'
>;

/**
 * The whole request `data` of a client with no server linked is answered here (true): its
 * names are the client's from now on, and no server is taken and no transaction counted.
 * False: it goes to a server as usual.
 */
export function answerParses(s: ParseAnswerSession, data: Buffer): boolean {
  const statements = s.statements;
  const pool = s.pool;
  // A deferred BEGIN (first_statement) means the client is inside a transaction: not idle.
  if (statements === null || pool === null || s.pinned || s.pendingBegin !== null) return false;
  if (data[0] !== FrontendMessage.Parse) return false;
  const parses = knownParses(statements, s.ctx.statements, data);
  if (parses === null) return false;
  for (const [name, statement] of parses) statements.parsedWithoutServer(name, statement, pool.stats);
  // The Sync just scanned is answered here: it is no sync point for any server.
  s.queuedSyncs = 0;
  const out = s.socket;
  out.cork();
  for (let i = 0; i < parses.size; i++) out.write(PARSE_COMPLETE);
  out.write(READY_IDLE);
  out.uncork();
  return true;
}

/** The names and statements of `data` when it is whole Parses of known statements under new names, then a Sync; else null. */
function knownParses(
  statements: ClientStatements,
  registry: StatementRegistry,
  data: Buffer,
): Map<string, Statement> | null {
  const parses = new Map<string, Statement>();
  let off = 0;
  while (off + 5 <= data.length && data[off] === FrontendMessage.Parse) {
    const end = off + 1 + data.readUInt32BE(off + 1);
    const nameEnd = data.indexOf(0, off + 5);
    // The unnamed statement runs at once (it may be a DEALLOCATE): a server's.
    if (end > data.length || nameEnd <= off + 5 || nameEnd >= end) return null;
    const name = data.toString('utf8', off + 5, nameEnd);
    // A name in use, the client's or earlier in this request: PostgreSQL's 42P05 comes from a server.
    if (statements.has(name) || parses.has(name)) return null;
    // A text that depends on the client's names is made for it (see OwnStatements).
    if (statements.ownText(name, data.subarray(nameEnd + 1, end))) return null;
    const statement = registry.parsed(data.subarray(nameEnd + 1, end), statements.scope());
    if (statement === null) return null;
    parses.set(name, statement);
    off = end;
  }
  const synced = off + 5 === data.length && data[off] === FrontendMessage.Sync && data.readUInt32BE(off + 1) === 4;
  return synced && parses.size > 0 ? parses : null;
}

/** What parseAnswered uses of the session. */
export type ParsedSession = Pick<ClientSession, 'server' | 'statements'>;

/**
 * A server answered a Parse of the statement `serverName` that pgtide tracked (`ok`:
 * ParseComplete): whether its text parses, which answerParses relies on. An error clears it,
 * even one that says nothing of the text (a transaction already aborted), until a server
 * parses it again: a statement is answered here only while nothing says it could fail.
 */
export function parseAnswered(s: ParsedSession, serverName: string, ok: boolean): void {
  const statement = s.statements?.statementNamed(serverName);
  if (!statement) return;
  if (!ok) statement.parsedEpoch = -1;
  // Only a copy of its current version says so: one older was parsed before the text went stale.
  else if (s.server?.prepared.holds(statement)) statement.parsedEpoch = statement.epoch;
}
