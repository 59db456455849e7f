// Who is the primary, and who may take reads. Pure: decisions on what the checks saw.

export type Role = 'primary' | 'standby' | 'unknown';

/** A backend whose latest check says it is not in recovery, with its WAL timeline. */
export interface Writer {
  index: number;
  timeline: number | null;
}

export interface Election {
  /** Index of the primary, or null when none can be trusted. */
  primary: number | null;
  /** More than one backend accepts writes: every one but the winner must never be written to. */
  splitBrain: boolean;
}

/**
 * With no writer seen in this round (the primary's check failed once, say), the current
 * primary stays: health, not one failed check, takes it out. With several, the newest timeline
 * wins, because promotion starts a new timeline and the old primary can only be behind it; a
 * tie or an unknown timeline leaves no primary, since writing to the wrong one loses data.
 */
export function electPrimary(writers: readonly Writer[], current: number | null): Election {
  if (writers.length === 0) return { primary: current, splitBrain: false };
  if (writers.length === 1) return { primary: writers[0]!.index, splitBrain: false };
  let best: Writer | null = null;
  let tie = false;
  for (const writer of writers) {
    if (writer.timeline === null) return { primary: null, splitBrain: true };
    if (best === null || writer.timeline > best.timeline!) {
      best = writer;
      tie = false;
    } else if (writer.timeline === best.timeline) {
      tie = true;
    }
  }
  return { primary: tie ? null : best!.index, splitBrain: true };
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
  lagBytes: number | null;
  lagMs: number | null;
}

/** An unmeasured lag (no primary to compare with, nothing replayed yet) does not exclude a
 *  standby: with the primary gone, stale reads beat no reads, as in Pgpool-II. */
export function isReadable(backend: Readability, limits: ReadLimits): boolean {
  if (!backend.healthy || backend.role === 'unknown') return false;
  if (backend.role === 'primary') return true;
  if (limits.delayThreshold > 0 && backend.lagBytes !== null && backend.lagBytes > limits.delayThreshold) return false;
  if (limits.delayThresholdByTime > 0 && backend.lagMs !== null && backend.lagMs > limits.delayThresholdByTime) return false;
  return true;
}

/** Readable standbys, plus the primary when its weight > 0; all with weight > 0. */
export function readCandidates<B extends { readable: boolean; config: { weight: number } }>(backends: readonly B[]): B[] {
  return backends.filter((backend) => backend.readable && backend.config.weight > 0);
}
