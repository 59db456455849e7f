// What every importer shares: one error type that names the file and line, and a bounded
// file read (an imported file is an operator's, but a wrong path can still point at a huge
// log or a device).
import { readFileSync, statSync } from 'node:fs';

/** Larger than any real pgbouncer.ini / pgpool.conf / haproxy.cfg by orders of magnitude. */
const MAX_SOURCE_BYTES = 8 * 1024 * 1024;

export class ImportError extends Error {
  override readonly name = 'ImportError';

  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  }
}

/** Reads a text file for an importer; errors say which file and why. */
export function readSource(path: string): string {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new ImportError(path, 0, 'not a regular file');
    if (stat.size > MAX_SOURCE_BYTES) throw new ImportError(path, 0, `larger than ${MAX_SOURCE_BYTES} bytes`);
    // Read in the same try: a file stat can see but not open (a users.txt of mode 0600).
    return readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    if (error instanceof ImportError) throw error;
    throw new ImportError(path, 0, `cannot read: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Splits text into lines, numbered from 1, tolerating CRLF files. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}
