// pgtide's own queries between a client's transactions (its settings read back, the pin probe,
// the write position, how far a standby has replayed), as statements prepared once per server
// connection. A simple query was parsed and planned each time, and planning the probe's
// catalog views cost the server more than running them. Bound to the unnamed portal, they
// leave the client's unnamed statement be.
import * as encode from '../protocol/encode.js';
import type { LinkedServer } from '../pool/linked-server.js';
import { ServerQueryError, type Rows } from '../pool/own-query.js';
import type { PreparedSet } from '../pool/prepared-set.js';
import type { ServerPeer } from '../pool/server-peer.js';
import {
  NAMED_SETTINGS,
  SESSION_SETTINGS,
  SESSION_SETTINGS_BEFORE_15,
  SETTABLE_NAMES,
  SETTINGS_PRINT,
} from './session-settings.js';
import { SESSION_STATE_PROBE } from './session/pinning.js';

/** One of pgtide's own statements: its bit in PreparedSet.own. */
export const enum Check {
  /** The session's own default isolation (serializable is refused on a standby) must not apply. */
  Begin = 1,
  Settings = 2,
  Print = 4,
  SettableNames = 8,
  Probe = 16,
  Position = 32,
  Commit = 64,
  /** How far a standby has replayed. */
  Replayed = 128,
  /** Settings, on a server older than PostgreSQL 15. */
  SettingsBefore15 = 256,
  /** The settings plain SETs named. */
  Named = 512,
  /** How many shared statements the server holds. */
  Kept = 1024,
}

/** Counts the shared statements (pgtide_N) on the server, as PreparedSet.size does: not the
 *  checks, some of which a request prepares only after this step ran. */
const KEPT_STATEMENTS = `SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements
  WHERE pg_catalog.left(name, 7) OPERATOR(pg_catalog.=) 'pgtide_' AND pg_catalog.left(name, 13) OPERATOR(pg_catalog.<>) 'pgtide_check_'`;

/**
 * Where the primary's WAL ends once a transaction has committed: the insert position, not the
 * write position (`pg_current_wal_lsn()`). With `synchronous_commit = off` (the server's or the
 * client's) a commit returns before its record is written, so a standby that replayed up to the
 * write position may still lack the transaction. Should the last record end on a page boundary,
 * the insert position lies past the next page's header: reads then wait for the next record,
 * or for read_your_writes_timeout.
 */
export const WRITE_POSITION = 'SELECT pg_catalog.pg_current_wal_insert_lsn()';

const EXECUTE = encode.execute('', 0);
const SYNC = encode.sync();

/** A statement's name and text, and its Bind and Execute without parameters, made once. */
interface OwnStatement {
  readonly name: string;
  readonly text: string;
  readonly run: Buffer;
}

const STATEMENTS = new Map<Check, OwnStatement>(
  (
    [
      [Check.Begin, 'BEGIN ISOLATION LEVEL READ COMMITTED'],
      [Check.Settings, SESSION_SETTINGS],
      [Check.Print, SETTINGS_PRINT],
      [Check.SettableNames, SETTABLE_NAMES],
      [Check.Probe, SESSION_STATE_PROBE],
      [Check.Position, WRITE_POSITION],
      [Check.Commit, 'COMMIT'],
      [Check.Replayed, 'SELECT pg_catalog.pg_last_wal_replay_lsn()'],
      [Check.SettingsBefore15, SESSION_SETTINGS_BEFORE_15],
      [Check.Named, NAMED_SETTINGS],
      [Check.Kept, KEPT_STATEMENTS],
    ] as const
  ).map(([check, text]) => {
    const name = `pgtide_check_${check}`;
    return [check, { name, text, run: Buffer.concat([encode.bindText(name, []), EXECUTE]) }];
  }),
);

/** The Settings check `server` can run: by the major version it reported at login. */
export function settingsCheck(server: LinkedServer): Check {
  const major = Number.parseInt(server.params.get('server_version') ?? '', 10);
  return major < 15 ? Check.SettingsBefore15 : Check.Settings;
}

/** A statement to run, with its parameters' text. */
export type CheckStep = readonly [Check, ...string[]];

/**
 * Runs `steps` on `server` for `owner` (see ServerConnection.request). Code pgtide cannot see
 * into may have dropped the statements (`EXECUTE 'DEALLOCATE ALL'` in a function): then they
 * are prepared again, once, as the shared ones are before their next use.
 */
export async function runChecks(
  server: LinkedServer,
  steps: readonly CheckStep[],
  owner: ServerPeer | null,
): Promise<Rows> {
  try {
    return await server.request(checksRequest(server.prepared, steps), owner, false);
  } catch (err) {
    // A Parse may have failed: each is made again, closed first.
    server.prepared.own = 0;
    if (!(err instanceof ServerQueryError) || err.code !== SQLSTATE_NO_STATEMENT) throw err;
    server.prepared.doubtAll();
    if (server.txStatus !== IDLE) await server.query('ROLLBACK', owner);
    return server.request(checksRequest(server.prepared, steps), owner, false);
  }
}

/** invalid_sql_statement_name: a prepared statement the request named does not exist. */
const SQLSTATE_NO_STATEMENT = '26000';
/** ReadyForQuery's status outside a transaction block. */
const IDLE = 0x49;

/**
 * The messages running `steps` in order, then a Sync: a statement not yet prepared on the
 * server is prepared right before it runs (closed first, should an earlier copy remain, which
 * is harmless when none does). Not before: parsing a query takes a snapshot, after which the
 * Begin step could no longer set its isolation (a session whose default is serializable got
 * "SET TRANSACTION ISOLATION LEVEL must be called before any query"). The rows come in the
 * steps' order.
 */
function checksRequest(prepared: PreparedSet, steps: readonly CheckStep[]): Buffer {
  const messages: Buffer[] = [];
  for (const step of steps) {
    const check = step[0];
    const statement = STATEMENTS.get(check)!;
    if ((prepared.own & check) === 0) {
      messages.push(encode.closeStatement(statement.name), encode.parseText(statement.name, statement.text));
      prepared.own |= check;
    }
    if (step.length === 1) messages.push(statement.run);
    else messages.push(encode.bindText(statement.name, step.slice(1) as string[]), EXECUTE);
  }
  messages.push(SYNC);
  return Buffer.concat(messages);
}

/** The checks run alone, as one list each. */
export const POSITION_ALONE: readonly CheckStep[] = [[Check.Position]];
export const REPLAYED_ALONE: readonly CheckStep[] = [[Check.Replayed]];
export const PROBE_ALONE: readonly CheckStep[] = [[Check.Probe]];
