import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync, type Stats } from 'node:fs';

export interface LogRotation {
  path: string;
  /** The file is rotated before it would grow past this size. */
  maxBytes: number;
  /** Rotated files kept: <path>.1 (newest) … <path>.<keep>. */
  keep: number;
}

export const DEFAULT_LOG_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_LOG_KEEP = 4;

/**
 * An append-only log file with size-based rotation. It runs in the log transport's worker
 * thread (src/log-transport.ts), for the pooler's log_dir and the supervisor's --log-file
 * alike: there its writes can be synchronous, which keeps the size exact and the rotation
 * atomic, without ever blocking an event loop that serves clients or forwards signals.
 */
export class RotatingLogFile {
  private fd: number;
  private size: number;
  private lookedAt = 0;

  constructor(private readonly rotation: LogRotation) {
    this.fd = openSync(rotation.path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Buffer): void {
    const now = Date.now();
    if (now - this.lookedAt >= LOOK_EVERY_MS) {
      this.lookedAt = now;
      this.followPath();
    }
    if (this.size > 0 && this.size + chunk.length > this.rotation.maxBytes) this.rotate();
    writeSync(this.fd, chunk);
    this.size += chunk.length;
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    // Moved away since the last look: the file at the path (if any) is not one to shift.
    if (!this.ownsPath()) return this.reopen();
    closeSync(this.fd);
    const { path, keep } = this.rotation;
    // Shift <path>.N-1 to <path>.N; the oldest is overwritten by the rename.
    for (let n = keep - 1; n >= 1; n--) renameQuietly(`${path}.${n}`, `${path}.${n + 1}`);
    if (keep > 0) renameSync(path, `${path}.1`);
    this.fd = openSync(path, keep > 0 ? 'a' : 'w');
    this.size = 0;
  }

  /**
   * The file was moved or removed by someone else (a host's logrotate on the log volume, an
   * operator): lines go to a new file at the path, as PgBouncer's after its reopen at SIGHUP.
   * Left writing to the moved file, the next rotation found no file to rename and failed,
   * which ended the supervisor and the pooler with it. A file truncated in place (logrotate's
   * copytruncate) is measured again.
   */
  private followPath(): void {
    if (this.ownsPath()) this.size = fstatSync(this.fd).size;
    else this.reopen();
  }

  private ownsPath(): boolean {
    let atPath: Stats;
    try {
      atPath = statSync(this.rotation.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const own = fstatSync(this.fd);
    return atPath.ino === own.ino && atPath.dev === own.dev;
  }

  private reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.rotation.path, 'a');
    this.size = fstatSync(this.fd).size;
  }
}

/** How often the path is checked for being the file written (a stat per look). */
const LOOK_EVERY_MS = 1000;

function renameQuietly(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
