// Named statements a client prepared where pgtide could not map them: its first one came after a
// read link had passed on answers (a Flush), so what the server still owed was unknown, and its
// named statements went to the server under the client's own names, pinning it there (see
// untrackedStatements). What the client sends from then on is kept (copied, bounded) until its
// transaction ends; pgtide then takes the statements over as if it had mapped them from the
// start: the names the server holds become the client's mapped statements, the server drops
// them, and the pin ends as any other, when the probe finds nothing left. Pinned for good, the
// client of a standby would see every later write fail with 25006.
import type { LinkedServer } from '../../pool/linked-server.js';
import type { Rows } from '../../pool/own-query.js';
import type { ServerPeer } from '../../pool/server-peer.js';
import { FrontendMessage } from '../../protocol/types.js';
import * as encode from '../../protocol/encode.js';
import type { ClientSession } from '../client-session.js';
import { clientStatements } from '../prepared-statements.js';
import type { StatementLink } from './statement-link.js';

/** Beyond this much, nothing is kept and the client stays pinned, as when nothing can be learned. */
const MAX_KEPT_BYTES = 1024 * 1024;
const STATEMENT = 0x53;

/** The named statements of the server's session that pgtide did not make, with what identifies
 *  each (text, parameter type oids). Runs under the client's search_path: everything qualified. */
const UNMAPPED_STATEMENTS = `SELECT name, statement, pg_catalog.array_to_string(parameter_types::pg_catalog.oid[], ',')
  FROM pg_catalog.pg_prepared_statements
  WHERE NOT from_sql AND pg_catalog.left(name, 7) OPERATOR(pg_catalog.<>) 'pgtide_'`;

/** Client bytes on their way, unmapped, to the server of a client pinned by its unmapped statements. */
export function keepUntracked(link: StatementLink | null, data: Buffer): void {
  if (!link || link.untrackedSent === null) return;
  link.untrackedSize += data.length;
  if (link.untrackedSize > MAX_KEPT_BYTES) link.untrackedSent = null;
  else link.untrackedSent.push(Buffer.from(data));
}

/** What the kept bytes show: each name's last Parse (its body after the name), and the names
 *  whose shape the client was told (a Describe of the statement, or of a portal bound from it). */
interface Learned {
  parses: Map<string, Buffer>;
  described: Set<string>;
}

function learn(bytes: Buffer): Learned | null {
  const parses = new Map<string, Buffer>();
  const described = new Set<string>();
  const portals = new Map<string, string>();
  let off = 0;
  while (off + 5 <= bytes.length) {
    const type = bytes[off]!;
    const end = off + 1 + bytes.readUInt32BE(off + 1);
    if (end > bytes.length) return null;
    const first = bytes.indexOf(0, off + 5);
    if (type === FrontendMessage.Parse && first > off + 5 && first < end) {
      parses.set(bytes.toString('utf8', off + 5, first), bytes.subarray(first + 1, end));
    } else if (type === FrontendMessage.Bind && first >= 0 && first < end) {
      const second = bytes.indexOf(0, first + 1);
      if (second < 0 || second >= end) return null;
      portals.set(bytes.toString('utf8', off + 5, first), bytes.toString('utf8', first + 1, second));
    } else if ((type === FrontendMessage.Describe || type === FrontendMessage.Close) && end - off >= 7) {
      const name = bytes.toString('utf8', off + 6, end - 1);
      const ofStatement = bytes[off + 5] === STATEMENT;
      if (type === FrontendMessage.Close) {
        if (ofStatement) {
          parses.delete(name);
          described.delete(name);
        } else portals.delete(name);
      } else {
        const statement = ofStatement ? name : portals.get(name);
        if (statement) described.add(statement);
      }
    }
    off = end;
  }
  return off === bytes.length ? { parses, described } : null;
}

/** Whether a Parse body (text, parameter types) made the statement the server lists as `text` with `types`. */
function madeBy(rest: Buffer, text: string | null | undefined, types: string | null | undefined): boolean {
  const textEnd = rest.indexOf(0);
  if (textEnd < 0 || rest.toString('utf8', 0, textEnd) !== text || textEnd + 3 > rest.length) return false;
  const listed = types ? types.split(',') : [];
  const count = rest.readInt16BE(textEnd + 1);
  if (count > listed.length || textEnd + 3 + 4 * count !== rest.length) return false;
  for (let i = 0; i < count; i++) {
    const oid = rest.readUInt32BE(textEnd + 3 + 4 * i);
    // 0: left for the server to infer.
    if (oid !== 0 && String(oid) !== listed[i]) return false;
  }
  return true;
}

export type UntrackedSession = Pick<
  ClientSession,
  | 'ctx'
  | 'remote'
  | 'scanner'
  | 'statementLink'
  | 'statements'
  | 'statementsUntracked'
  | 'database'
  | 'user'
  | 'settings'
  | 'ranDdl'
  | 'scopeMoved'
> &
  ServerPeer;

/** The transaction of a client pinned by unmapped statements ended, and pgtide kept all it sent since. */
export function mayTakeOver(s: UntrackedSession): boolean {
  return s.statementsUntracked && s.statementLink !== null && s.statementLink.untrackedSent !== null;
}

/**
 * Take over the client's unmapped statements on `server` (idle, holding its session; see
 * mayTakeOver), or leave it pinned when the server holds a statement pgtide cannot account for.
 * A statement whose shape the client was told there is described again, so that its Binds are
 * checked against that shape as after any Describe.
 */
export async function takeOverStatements(s: UntrackedSession, server: LinkedServer): Promise<void> {
  const link = s.statementLink!;
  const kept = link.untrackedSent!;
  link.untrackedSent = null;
  // The scan of what comes next already counts on the statements, and gathers whole messages
  // (see splitWhole), which can be rewritten once the server's names are dropped.
  const learned = s.scanner.atBoundary ? learn(kept.length === 1 ? kept[0]! : Buffer.concat(kept)) : null;
  if (learned === null) return;
  const statements = clientStatements(s);
  for (const [name, rest] of learned.parses) statements.adopt(name, rest);
  s.statements = statements;
  let rows: Rows;
  try {
    rows = await server.query(UNMAPPED_STATEMENTS, s);
  } catch (err) {
    giveUp(s, link);
    throw err;
  }
  for (const [name, text, types] of rows) {
    const rest = name ? learned.parses.get(name) : undefined;
    if (!rest || !madeBy(rest, text, types)) return giveUp(s, link);
  }
  // A Parse that failed left no statement.
  const held = new Set(rows.map((row) => row[0]!));
  for (const name of learned.parses.keys()) if (!held.has(name)) statements.disown(name);
  if (held.size > 0) {
    // The shapes the client was told are asked again (PostgreSQL describes a statement as it
    // was planned), then the names are dropped, in one round trip.
    const described = [...held].filter((name) => learned.described.has(name));
    // Until their shapes are in, a description of them counts as an old one.
    for (const name of described) statements.told(name, null);
    const shapes: Buffer[] = [];
    const messages = described.map((name) => encode.describeStatement(name));
    for (const name of held) messages.push(encode.closeStatement(name));
    messages.push(encode.sync());
    await server.request(Buffer.concat(messages), s, false, shapes);
    for (let i = 0; i < described.length; i++) statements.told(described[i]!, shapes[i] ?? null);
  }
  s.statementsUntracked = false;
  s.ctx.log.info({ client: s.remote }, 'named prepared statements mapped from the end of their transaction');
}

function giveUp(s: UntrackedSession, link: StatementLink): void {
  s.statements = null;
  link.whole = null;
}
