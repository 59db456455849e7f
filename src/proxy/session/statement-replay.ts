// A shared statement that a server showed stale (0A000: its table changed) keeps its old shape on
// a standby that has not replayed the change yet. Run there, a client told the new shape gets
// 0A000 again, or, told the old one there, gets it again wherever the change is replayed: two
// errors for one table change, which asyncpg (it retries once) passes to the application, and
// again at each later run while the standby lags. So the statement's transactions go only where
// the change is replayed: to the primary until pgtide knows how far the WAL stood on the server
// that showed the statement stale (asked once its transaction ends), then to standbys past that
// position, as read_your_writes sends a client's reads after its own write.
import { parseLsn } from '../../cluster/replication.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import type { ClientSession } from '../client-session.js';
import type { Statement } from '../statement-registry.js';
import type { StatementLink } from './statement-link.js';

/** The longest a statement stays on the primary alone, should its WAL position never be learned (a client gone). */
const PRIMARY_ONLY_MS = 5000;

/** A standby's position is what it has replayed; the primary's, where its WAL ends (see WRITE_POSITION). */
const WAL_POSITION = `SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
  ELSE pg_catalog.pg_current_wal_insert_lsn() END`;

/** The linked server showed `statement` stale. */
export function staleSeen(link: StatementLink, statement: Statement): void {
  statement.primaryUntil = Date.now() + PRIMARY_ONLY_MS;
  (link.replayToLearn ??= []).push(statement);
}

/** The transaction being routed runs `statement`: only on a server that has its table as it is now. */
export function followReplay(s: Pick<ClientSession, 'routeWrite' | 'lastWriteLsn'>, statement: Statement): void {
  if (statement.primaryUntil !== 0) {
    if (statement.primaryUntil > Date.now()) {
      s.routeWrite = true;
      return;
    }
    statement.primaryUntil = 0;
  }
  if (statement.replayedAt !== 0n && (s.lastWriteLsn === null || s.lastWriteLsn < statement.replayedAt))
    s.lastWriteLsn = statement.replayedAt;
}

/** The statements a link showed stale, to learn a WAL position for once its transaction ends; null: none. */
export function takeReplayToLearn(s: Pick<ClientSession, 'statementLink'>): Statement[] | null {
  const link = s.statementLink;
  if (link === null || link.replayToLearn === null) return null;
  const statements = link.replayToLearn;
  link.replayToLearn = null;
  return statements;
}

/** `lsn`: where the WAL stood on the server after the transaction that showed the statements stale. */
export function replayedAt(statements: readonly Statement[], lsn: bigint): void {
  for (const statement of statements) {
    if (lsn > statement.replayedAt) statement.replayedAt = lsn;
    statement.primaryUntil = 0;
  }
}

/** Learn the position on the server the transaction ran on (idle, given back afterwards). */
export function learnReplay(server: LinkedServer, statements: readonly Statement[]): void {
  server.query(WAL_POSITION).then(
    (rows) => {
      replayedAt(statements, parseLsn(rows[0]?.[0] ?? ''));
      server.returnWhenCancelsDone();
    },
    () => server.close('could not read the WAL position'),
  );
}
