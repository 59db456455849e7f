import { pino, type Logger } from 'pino';

export type { Logger };

// Secrets can reach a log line only through a careless object dump; redact the field names
// that ever hold one, so the mistake costs a "[Redacted]" instead of a leaked password.
const REDACT = ['password', '*.password', 'secret', '*.secret', 'sr_check_password', 'auth.password'];

export function createLogger(instance: string, level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { instance }, redact: { paths: REDACT, censor: '[Redacted]' } },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
