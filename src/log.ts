import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, RotatingLogFile } from './log-file.js';

export type { Logger };

// Secrets can reach a log line only through a careless object dump; redact the field names
// that ever hold one, so the mistake costs a "[Redacted]" instead of a leaked password.
const REDACT = ['password', '*.password', 'secret', '*.secret', 'sr_check_password', 'auth.password'];

/**
 * JSON lines with the instance name in each. With `logDir`, every line also goes to
 * `<logDir>/pgtide-<instance>.log`, rotated by size (the seed's log volume).
 */
export function createLogger(instance: string, level: string, destination?: NodeJS.WritableStream, logDir = ''): Logger {
  const options = { level, base: { instance }, redact: { paths: REDACT, censor: '[Redacted]' } };
  const out = destination ?? pino.destination({ fd: 1, sync: false });
  if (!logDir) return pino(options, out);
  const file = new RotatingLogFile({ path: join(logDir, `pgtide-${instance}.log`), maxBytes: DEFAULT_LOG_MAX_BYTES, keep: DEFAULT_LOG_KEEP });
  const fileStream = { write: (line: string) => file.write(Buffer.from(line)) };
  return pino(options, pino.multistream([{ stream: out, level: level as pino.Level }, { stream: fileStream, level: level as pino.Level }]));
}
