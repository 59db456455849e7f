import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';

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

  constructor(private readonly rotation: LogRotation) {
    this.fd = openSync(rotation.path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Buffer): void {
    if (this.size > 0 && this.size + chunk.length > this.rotation.maxBytes) this.rotate();
    writeSync(this.fd, chunk);
    this.size += chunk.length;
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    const { path, keep } = this.rotation;
    // Shift <path>.N-1 to <path>.N; the oldest is overwritten by the rename.
    for (let n = keep - 1; n >= 1; n--) renameQuietly(`${path}.${n}`, `${path}.${n + 1}`);
    if (keep > 0) renameSync(path, `${path}.1`);
    this.fd = openSync(path, keep > 0 ? 'a' : 'w');
    this.size = 0;
  }
}

function renameQuietly(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
