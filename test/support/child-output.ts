// A child process a test watches: what it printed so far, and its end.
import type { ChildProcess } from 'node:child_process';

export interface Watched {
  /** Its stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** Collects the output of `child`, spawned with stdout and stderr piped. */
export function watch(child: ChildProcess): Watched {
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { output: () => out, exited };
}
