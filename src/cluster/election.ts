// Who is the primary, and who may take reads. Pure: decisions on what the checks saw.

export type Role = 'primary' | 'standby' | 'unknown';

/** A backend whose latest check says it is not in recovery, with its WAL timeline and the
 *  newest timeline pgtide has seen for its cluster. */
export interface Writer {
  index: number;
  timeline: number | null;
  newestSeen: number | null;
}

/** The primary before this round, when its own check failed this round. */
export interface Unseen {
  index: number;
  /** Its timeline when it was last seen writing. */
  timeline: number | null;
  /** Still within health_check_max_retries. */
  healthy: boolean;
  newestSeen: number | null;
}

export interface Election {
  /** Index of the primary, or null when none can be trusted (writes then wait). */
  primary: number | null;
  /** More than one eligible backend accepts writes: none is chosen. */
  splitBrain: boolean;
  /** Writers on a timeline older than one seen: abandoned primaries, never written to. */
  abandoned: number[];
}

/** A writer behind a timeline seen is an abandoned primary; an unknown timeline is eligible
 *  only while no timeline is known at all. */
function eligible(timeline: number | null, newestSeen: number | null): boolean {
  if (newestSeen === null) return true;
  return timeline !== null && timeline >= newestSeen;
}

/**
 * Promotion starts a new timeline and the old primary can only be behind it, so a writer on
 * an older timeline than pgtide has seen is never chosen, even when it is the only writer in
 * sight. A primary whose check failed stays the primary while it is healthy (one failed
 * check is no failover: health_check_max_retries decides), unless a writer proves a newer
 * timeline. Two eligible writers (a tie) leave no primary, since writing to the wrong one
 * loses data.
 */
export function electPrimary(writers: readonly Writer[], unseen: Unseen | null): Election {
  const abandoned: number[] = [];
  const contenders: { index: number; timeline: number | null }[] = [];
  for (const writer of writers) {
    if (eligible(writer.timeline, writer.newestSeen)) contenders.push(writer);
    else abandoned.push(writer.index);
  }
  if (unseen?.healthy && eligible(unseen.timeline, unseen.newestSeen)) contenders.push(unseen);
  if (contenders.length <= 1) return { primary: contenders[0]?.index ?? null, splitBrain: false, abandoned };
  let best: { index: number; timeline: number } | null = null;
  let tie = false;
  for (const { index, timeline } of contenders) {
    if (timeline === null) return { primary: null, splitBrain: true, abandoned };
    if (best === null || timeline > best.timeline) {
      best = { index, timeline };
      tie = false;
    } else if (timeline === best.timeline) {
      tie = true;
    }
  }
  return { primary: tie || best === null ? null : best.index, splitBrain: true, abandoned };
}

export interface ReadLimits {
  /** Bytes; 0 = no limit. */
  delayThreshold: number;
  /** Milliseconds; 0 = no limit. */
  delayThresholdByTime: number;
}

export interface Readability {
  role: Role;
  healthy: boolean;
  /** New server connections log in (see BackendState.takesLogins). */
  takesLogins: boolean;
  /** A standby replays the primary's timeline (see followsTimeline). */
  following: boolean;
  lagBytes: number | null;
  lagMs: number | null;
}

/** An unmeasured lag (no primary to compare with, nothing replayed yet) does not exclude a
 *  standby: with the primary gone, stale reads beat no reads, as in Pgpool-II. */
export function isReadable(backend: Readability, limits: ReadLimits): boolean {
  // A backend that takes no new login cannot serve a read that needs a new server there; the
  // primary still takes the writes (there is no other), but its reads may go to standbys.
  if (!backend.healthy || !backend.takesLogins || backend.role === 'unknown') return false;
  if (backend.role === 'primary') return true;
  if (!backend.following) return false;
  if (limits.delayThreshold > 0 && backend.lagBytes !== null && backend.lagBytes > limits.delayThreshold) return false;
  if (limits.delayThresholdByTime > 0 && backend.lagMs !== null && backend.lagMs > limits.delayThresholdByTime)
    return false;
  return true;
}

/** Readable standbys, plus the primary when its weight > 0; all with weight > 0. */
export function readCandidates<B extends { readable: boolean; config: { weight: number } }>(
  backends: readonly B[],
): B[] {
  return backends.filter((backend) => backend.readable && backend.config.weight > 0);
}
