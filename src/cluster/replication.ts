// What one check of a backend learns, and the lag arithmetic on it. Pure: no I/O.

/** One statement per check, so a check is one round trip. Every name is schema-qualified
 *  (operators too, by calling their functions) so that a hostile search_path of the check
 *  user cannot substitute its own. pg_current_wal_lsn() fails during recovery, hence the CASE.
 *  The replay delay is computed on the standby itself, so clock skew with pgtide cannot matter. */
export const CHECK_QUERY = `SELECT r,
  CASE WHEN r THEN NULL ELSE pg_catalog.pg_current_wal_lsn() END,
  CASE WHEN r THEN NULL ELSE pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()) END,
  pg_catalog.pg_last_wal_receive_lsn(),
  pg_catalog.pg_last_wal_replay_lsn(),
  pg_catalog.date_part('epoch', pg_catalog.timestamptz_mi(pg_catalog.now(), pg_catalog.pg_last_xact_replay_timestamp())),
  (pg_catalog.pg_control_system()).system_identifier,
  (pg_catalog.pg_control_checkpoint()).timeline_id,
  (SELECT w.received_tli FROM pg_catalog.pg_stat_wal_receiver AS w)
FROM (SELECT pg_catalog.pg_is_in_recovery() AS r) AS recovery`;

export interface CheckResult {
  inRecovery: boolean;
  /** Primary: where WAL is being written now. */
  currentLsn: bigint | null;
  /** Primary: the timeline WAL is being written on (from the WAL file name, which a fast
   *  promotion changes at once, unlike the last checkpoint's timeline). */
  timeline: number | null;
  /** Standby: WAL received from the primary so far (null when not streaming). */
  receiveLsn: bigint | null;
  /** Standby: WAL replayed so far. */
  replayLsn: bigint | null;
  /** Standby: time since the last replayed transaction committed, ms (null before any). */
  replayDelayMs: number | null;
  /** pg_control_system(): the cluster's identity, shared by a primary and its standbys (a
   *  re-initdb'd cluster has another). Timelines only compare within one. */
  systemId: string | null;
  /** Timeline of the last checkpoint (a standby's: of its last restartpoint): proof that a
   *  writer of this timeline existed, though it lags a promotion until the next checkpoint. */
  checkpointTimeline: number | null;
  /** Standby: the timeline its WAL receiver streams (null when not streaming, or when the
   *  check user lacks pg_read_all_stats / pg_monitor). */
  receiverTimeline: number | null;
}

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const WAL_FILE = /^([0-9A-Fa-f]{8})[0-9A-Fa-f]{16}$/;

/** pg_lsn text 'X/Y' (two 32-bit hex halves) as a 64-bit position. Throws on anything else. */
export function parseLsn(text: string): bigint {
  const match = LSN.exec(text);
  if (match === null) throw new Error(`invalid WAL location ${JSON.stringify(text.slice(0, 40))}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** The row of CHECK_QUERY, checked: a server's answer is untrusted like any other input. */
export function parseCheckRow(rows: (string | null)[][]): CheckResult {
  const row = rows[0];
  if (rows.length !== 1 || row === undefined || row.length !== 9)
    throw new Error('unexpected answer to the check query');
  const [recovery, current, walFile, receive, replay, delaySeconds, systemId, checkpointTimeline, receiverTimeline] =
    row;
  if (recovery !== 't' && recovery !== 'f') throw new Error('unexpected pg_is_in_recovery() value');
  return {
    inRecovery: recovery === 't',
    currentLsn: optional(current, parseLsn),
    timeline: optional(walFile, timelineOfWalFile),
    receiveLsn: optional(receive, parseLsn),
    replayLsn: optional(replay, parseLsn),
    replayDelayMs: optional(delaySeconds, parseSeconds),
    systemId: optional(systemId, parseSystemId),
    checkpointTimeline: optional(checkpointTimeline, parseTimeline),
    receiverTimeline: optional(receiverTimeline, parseTimeline),
  };
}

function parseSystemId(text: string): string {
  if (!/^[0-9]{1,20}$/.test(text)) throw new Error('invalid system identifier');
  return text;
}

function parseTimeline(text: string): number {
  if (!/^[0-9]{1,10}$/.test(text)) throw new Error('invalid timeline');
  return Number(text);
}

export function timelineOfWalFile(name: string): number {
  const match = WAL_FILE.exec(name);
  if (match === null) throw new Error(`invalid WAL file name ${JSON.stringify(name.slice(0, 40))}`);
  return Number.parseInt(match[1]!, 16);
}

/** WAL bytes a standby has still to replay: primary's current position - standby's replay
 *  position, never negative (the two are read at slightly different times). */
export function lagBytes(primaryLsn: bigint | null, replayLsn: bigint | null): number | null {
  if (primaryLsn === null || replayLsn === null) return null;
  return primaryLsn > replayLsn ? Number(primaryLsn - replayLsn) : 0;
}

/** A WAL position of the primary: when a check first saw it there, and when one last did. */
export interface PrimaryPosition {
  readonly at: number;
  lastAt: number;
  readonly lsn: bigint;
}

/** 0 when replay has caught up with what was received and, with a primary known, with the
 *  primary's position to within `caughtUpBytes` (an idle primary sends no new commits, so the
 *  last replay timestamp would grow old while the standby is current). Else, with the
 *  primary's `positions` of earlier checks (oldest first, rising), the time since the primary
 *  wrote the standby's replay position: between the last check that saw the primary before it
 *  and the first that saw it past it, dated in proportion to the bytes (exact for a steady
 *  writer; a quiet spell before a burst counts for nothing, as its last check ends it). The
 *  age of the last replayed commit says less: through a long transaction after a quiet spell it grows
 *  while the standby replays as fast as the primary writes. That age remains the answer for a
 *  standby behind every position kept. A standby cut off from the primary (orphaned by a
 *  failover) has replayed all it got, yet falls behind: only the primary's position tells. A
 *  standby that receives nothing yet (just restarted, its WAL receiver not started: no receive
 *  position) has replayed all it has, and is current when that is the primary's position. */
export function lagMs(
  standby: Pick<CheckResult, 'receiveLsn' | 'replayLsn' | 'replayDelayMs'>,
  bytesBehindPrimary: number | null = null,
  caughtUpBytes = 0,
  checkedAt = 0,
  positions: readonly PrimaryPosition[] = [],
): number | null {
  const { receiveLsn, replayLsn, replayDelayMs } = standby;
  const replayedAll =
    replayLsn !== null && (receiveLsn === null ? bytesBehindPrimary !== null : receiveLsn <= replayLsn);
  if (replayedAll && (bytesBehindPrimary === null || bytesBehindPrimary <= caughtUpBytes)) return 0;
  if (replayLsn !== null && positions.length > 0) {
    const firstAhead = positions.findIndex((p) => p.lsn > replayLsn);
    if (firstAhead < 0) return 0;
    if (firstAhead > 0) {
      const before = positions[firstAhead - 1]!;
      const after = positions[firstAhead]!;
      const share = Number(replayLsn - before.lsn) / Number(after.lsn - before.lsn);
      return Math.max(0, checkedAt - (before.lastAt + share * (after.at - before.lastAt)));
    }
  }
  return replayDelayMs === null ? null : Math.max(0, replayDelayMs);
}

/** Positions kept at most, however short the checks' period. */
const POSITIONS_KEPT = 1024;

/** The primary's positions for lagMs, each once with the first and last checks that saw it,
 *  for `keepMs` back (and the oldest beyond it). Another primary, or a position going back (a
 *  server put in its place), starts them afresh: positions compare only within one history. */
export class PrimaryPositions {
  private list: PrimaryPosition[] = [];
  private primary = '';

  get positions(): readonly PrimaryPosition[] {
    return this.list;
  }

  record(primary: string, at: number, lsn: bigint, keepMs: number): void {
    const newest = this.list.at(-1);
    if (primary !== this.primary || (newest !== undefined && lsn < newest.lsn)) {
      this.list = [];
      this.primary = primary;
    } else if (newest !== undefined && lsn === newest.lsn) {
      newest.lastAt = at;
      return;
    }
    this.list.push({ at, lastAt: at, lsn });
    let stale = 0;
    while (
      stale < this.list.length - 1 &&
      (this.list.length - stale > POSITIONS_KEPT || at - this.list[stale + 1]!.at >= keepMs)
    )
      stale++;
    if (stale > 0) this.list.splice(0, stale);
  }
}

/** Whether a standby replays the primary's timeline: false when its WAL receiver streams
 *  another one (it follows an abandoned primary), or its last restartpoint is on a newer
 *  timeline than the primary's. Unknown timelines (no privilege, not streaming) do not
 *  exclude it: the lag limits then judge. A standby already found orphaned stays so until
 *  its receiver is seen on the primary's timeline: a receiver between two connections to
 *  the abandoned primary shows no timeline, and its restartpoint's is an old one. */
export function followsTimeline(
  standby: Pick<CheckResult, 'receiverTimeline' | 'checkpointTimeline'>,
  primaryTimeline: number | null,
  wasFollowing = true,
): boolean {
  if (primaryTimeline === null) return true;
  if (standby.receiverTimeline !== null)
    return standby.receiverTimeline === primaryTimeline && checkpointNotAhead(standby, primaryTimeline);
  return wasFollowing && checkpointNotAhead(standby, primaryTimeline);
}

function checkpointNotAhead(standby: Pick<CheckResult, 'checkpointTimeline'>, primaryTimeline: number): boolean {
  return standby.checkpointTimeline === null || standby.checkpointTimeline <= primaryTimeline;
}

/** The newest timeline a check proves to have existed: a writer's current one, a standby's
 *  received or last restartpoint's. */
export function timelineSeen(
  result: Pick<CheckResult, 'timeline' | 'checkpointTimeline' | 'receiverTimeline'>,
): number | null {
  let newest: number | null = null;
  for (const t of [result.timeline, result.checkpointTimeline, result.receiverTimeline]) {
    if (t !== null && (newest === null || t > newest)) newest = t;
  }
  return newest;
}

function optional<T>(value: string | null | undefined, parse: (text: string) => T): T | null {
  return value === null || value === undefined ? null : parse(value);
}

function parseSeconds(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds)) throw new Error('invalid replay delay');
  return seconds * 1000;
}
