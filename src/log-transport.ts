// The log file's writer: a pino transport, so it runs in pino's worker thread. The pooler's
// event loop only copies each line into a shared buffer; the file writes and the rotation
// (renames, reopen) happen here, where a slow or stalled log volume blocks nobody else.
import build from 'pino-abstract-transport';
import { RotatingLogFile, type LogRotation } from './log-file.js';

/** Called by pino's worker with the `options` given to `pino.transport()`. */
export default function logFileTransport(rotation: LogRotation) {
  const file = new RotatingLogFile(rotation);
  return build(
    (source) => {
      // 'data', not `for await`: each line is written before the stream can end, so the main
      // thread's end() (it blocks until this stream closes) returns with every line on disk.
      source.on('data', (line: string) => {
        try {
          file.write(Buffer.from(`${line}\n`));
        } catch (error) {
          // Reaches the main thread as the transport's 'error' (a full disk, a removed volume).
          source.destroy(error as Error);
        }
      });
    },
    {
      // Lines are written as they came (the supervisor's copy holds non-JSON stderr lines too):
      // no JSON.parse per line, and nothing is dropped as "unknown".
      parse: 'lines',
      parseLine: (line) => line,
      metadata: false,
      close(error, callback) {
        try {
          file.close();
        } catch {
          // A failed rotation already closed it; the error that caused it is the one to report.
        }
        callback(error);
      },
    },
  );
}
