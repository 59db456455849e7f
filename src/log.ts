import { closeSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, type LogRotation } from './log-file.js';

export type { Logger };

// Secrets can reach a log line only through a careless object dump; redact the field names
// that ever hold one, so the mistake costs a "[Redacted]" instead of a leaked password.
const REDACT = ['password', '*.password', 'secret', '*.secret', 'sr_check_password', 'auth.password'];

const TRANSPORT = fileURLToPath(new URL('./log-transport.js', import.meta.url));

/**
 * A log file written by a worker thread. pino's transport ends it on process exit, blocking
 * until the worker has written every line and closed the file (it waits up to 10 s).
 */
export interface LogFileStream {
  /** Copies the bytes into the buffer shared with the worker; never touches the file. */
  write(chunk: string | Buffer): boolean;
  /** Asks the worker to finish; 'close' follows once the file is closed. */
  end(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export interface LoggerOptions {
  /** Where the lines go besides the log file; default: stdout, asynchronously. */
  destination?: NodeJS.WritableStream;
  /** Also write `<logDir>/pgtide-<instance>.log`, rotated by size (the seed's log volume). */
  logDir?: string;
  /**
   * The file the supervisor already copies this process's stdout into (`--log-file`). When it
   * is log_dir's file, the pooler does not open it too: two writers, each rotating, would
   * rename the file under each other.
   */
  supervisorLogFile?: string | undefined;
  /** With `workers = N`: the worker's id, in each line and in the log file's name (each
   *  worker writes and rotates its own file; the primary writes the plain name). */
  worker?: number | undefined;
}

/** JSON lines with the instance name in each; the log file's writes run off the event loop. */
export function createLogger(instance: string, level: string, options: LoggerOptions = {}): Logger {
  const worker = options.worker;
  const base = worker === undefined ? { instance } : { instance, worker };
  const pinoOptions = { level, base, redact: { paths: REDACT, censor: '[Redacted]' } };
  const out = options.destination ?? pino.destination({ fd: 1, sync: false });
  const path = options.logDir
    ? logFilePath(options.logDir, worker === undefined ? instance : `${instance}-${worker}`)
    : null;
  const supervised =
    path !== null && options.supervisorLogFile !== undefined && resolve(path) === resolve(options.supervisorLogFile);
  if (path === null || supervised) {
    const log = pino(pinoOptions, out);
    if (supervised)
      log.info(
        { log_file: path },
        'log_dir: the supervisor writes this file from stdout; not opening it a second time',
      );
    return log;
  }
  const file = openLogFile({ path, maxBytes: DEFAULT_LOG_MAX_BYTES, keep: DEFAULT_LOG_KEEP }, 'log_dir');
  // A log volume that fails later (full, unmounted) must not take the pooler down: stdout goes
  // on. Writes already queued fail too (one 'error' each): report the first, ignore the rest.
  let failed = false;
  const guarded = { write: (line: string) => failed || file.write(line) };
  const log = pino(
    pinoOptions,
    pino.multistream([
      { stream: out, level: level as pino.Level },
      { stream: guarded, level: level as pino.Level },
    ]),
  );
  file.on('error', (error: Error) => {
    if (failed) return;
    failed = true;
    log.error({ log_file: path, err: error.message }, 'log file failed; logging to stdout only');
  });
  return log;
}

export function logFilePath(logDir: string, instance: string): string {
  return join(logDir, `pgtide-${instance}.log`);
}

/**
 * Opens `rotation.path` for appending through the log transport (a worker thread). Throws now,
 * naming `setting`, when the file cannot be written: a clear startup error instead of a worker
 * that fails after the process looks started.
 */
export function openLogFile(rotation: LogRotation, setting: string): LogFileStream {
  try {
    closeSync(openSync(rotation.path, 'a'));
  } catch (error) {
    throw new Error(`${setting}: cannot write the log file ${rotation.path}: ${(error as Error).message}`);
  }
  // thread-stream takes Buffers as well as strings (its types say string): the supervisor's
  // tee passes the child's output as read, and the worker decodes it as UTF-8 across chunks.
  return pino.transport({ target: TRANSPORT, options: rotation }) as unknown as LogFileStream;
}
