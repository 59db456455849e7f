// Where PgBouncer 1.18 reads an auth_hba_file otherwise than pgtide (which reads it as
// PostgreSQL reads pg_hba.conf): a line it skips or never matches, which pgtide would apply.
// Imported as it is, such a file would not mean what it meant: `host all all all trust`, or
// `127.0.0.1/8 trust`, let clients into pgtide without the password PgBouncer asked for.
import { dirname, resolve } from 'node:path';
import type { HbaRule, HbaRules } from '../../auth/hba.js';
import { readSource, splitLines } from './source.js';

export interface Divergence {
  line: number;
  why: string;
}

/** Every line of the file at `path` (parsed as `rules`) that PgBouncer 1.18 does not apply. */
export function pgbouncerDivergences(path: string, rules: HbaRules): Divergence[] {
  const found: Divergence[] = [];
  for (const rule of rules.rules) {
    const why = skippedWhy(rule);
    if (why !== null) found.push({ line: rule.line, why });
  }
  splitLines(readSource(path)).forEach((text, index) => {
    const line = text.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.endsWith('\\'))
      found.push({
        line: index + 1,
        why: 'does not join a line ending with a backslash to the next, and skips both',
      });
    for (const token of line.split(/[\s,]+/)) {
      if (token.length > 1 && token.startsWith('@') && holdsBlankLine(resolve(dirname(path), token.slice(1))))
        found.push({ line: index + 1, why: `skips a line whose ${token} holds a blank or comment line` });
    }
  });
  return found.sort((a, b) => a.line - b.line);
}

function skippedWhy(rule: HbaRule): string | null {
  const address = rule.address;
  if (address !== null && address.kind !== 'network') return `skips the address ${address.kind}`;
  if (address?.network.bytes.some((byte, i) => (byte & ~address.mask[i]!) !== 0))
    return 'never matches an address with bits outside its mask (PostgreSQL and pgtide mask it)';
  if (rule.type === 'hostgssenc' || rule.type === 'hostnogssenc') return `skips ${rule.type}`;
  if (rule.users.some((user) => user.kind === 'group')) return 'skips a +group';
  if (rule.databases.some((database) => database.kind === 'samerole')) return 'skips samerole';
  return null;
}

function holdsBlankLine(path: string): boolean {
  let text: string;
  try {
    text = readSource(path);
  } catch {
    return false; // pgtide's own parse names a file it cannot read
  }
  return splitLines(text.replace(/\r?\n$/, '')).some((line) => line.trim() === '' || line.trim().startsWith('#'));
}
