import { readFileSync } from 'node:fs';
import { parseOpenFilesLimit } from './config/budget.js';

/** The soft limit on open files of this process; undefined where /proc is not Linux's. */
export function openFilesLimit(): number | undefined {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}
