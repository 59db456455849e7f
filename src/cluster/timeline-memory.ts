// The newest WAL timeline pgtide has seen, per cluster (system identifier). A promotion starts
// a new timeline, so a writer on an older one is an abandoned primary: writing to it loses the
// data when the cluster moves on. pgtide must remember this across its own restarts, when the
// new primary may be the one backend it cannot reach: with state_dir set, the memory is kept in
// a small JSON file there (written only when a timeline grows, which is rare).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';

/** System identifiers are uint64 text; a file holding more clusters than this is not ours. */
const MAX_CLUSTERS = 64;

export class TimelineMemory {
  private readonly newest = new Map<string, number>();

  /** `dir` empty: remembered for the life of the process only. */
  constructor(
    private readonly dir: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {
    if (dir !== '') this.load();
  }

  get file(): string {
    return join(this.dir, `pgtide-${this.instance}.state.json`);
  }

  /** The newest timeline seen for this cluster, or null when none was. */
  newestOf(systemId: string): number | null {
    return this.newest.get(systemId) ?? null;
  }

  /** Record a timeline seen; returns true when it is newer than any before (and saved). */
  see(systemId: string, timeline: number): boolean {
    const known = this.newest.get(systemId);
    if (known !== undefined && known >= timeline) return false;
    if (known === undefined && this.newest.size >= MAX_CLUSTERS) return false;
    this.newest.set(systemId, timeline);
    this.save();
    return true;
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.error(
          { file: this.file, err: (error as Error).message },
          'cannot read the timeline state file; timelines are learnt again from the backends',
        );
      }
      return;
    }
    try {
      const parsed = JSON.parse(text) as { timelines?: unknown };
      const timelines = parsed.timelines;
      if (typeof timelines !== 'object' || timelines === null) throw new Error('no "timelines" object');
      for (const [systemId, timeline] of Object.entries(timelines)) {
        if (!/^[0-9]{1,20}$/.test(systemId) || !Number.isSafeInteger(timeline) || (timeline as number) < 1) continue;
        if (this.newest.size < MAX_CLUSTERS) this.newest.set(systemId, timeline as number);
      }
    } catch (error) {
      this.log.error(
        { file: this.file, err: (error as Error).message },
        'the timeline state file is damaged; timelines are learnt again from the backends',
      );
    }
  }

  /** Written to a temporary file then renamed, so a crash never leaves half a file. */
  private save(): void {
    if (this.dir === '') return;
    const file = this.file;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(`${file}.tmp`, `${JSON.stringify({ timelines: Object.fromEntries(this.newest) })}\n`, {
        mode: 0o600,
      });
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      this.log.error(
        { file, err: (error as Error).message },
        'cannot write the timeline state file: a restart of pgtide would forget the newest timeline',
      );
    }
  }
}
