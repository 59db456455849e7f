// Pgpool-II's *_redirect_preference_list: "regex:target[(weight)],…" sends the reads of a
// matching database / application / user to the primary, any standby, or one backend.

export type RedirectTarget = 'primary' | 'standby' | number;

export interface RedirectRule {
  /** Anchored (^…$) as Pgpool-II does: "app" matches only "app", not "myapp". */
  pattern: RegExp;
  target: RedirectTarget;
  /** Share of the matching reads sent to the target, 0 to 1; the rest are balanced as usual. */
  weight: number;
}

/** A list is a configuration value, not client input, but a runaway one still must not
 *  make every session scan thousands of patterns. */
const MAX_RULES = 256;
const MAX_BACKEND_INDEX = 1023;

/** Throws an Error saying which entry is wrong and why; '' (or only spaces) is no rules. */
export function parseRedirectList(text: string): RedirectRule[] {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === '') return [];
  if (entries.length > MAX_RULES) throw new Error(`has more than ${MAX_RULES} entries`);
  return entries.map(parseEntry);
}

function parseEntry(entry: string): RedirectRule {
  const where = `entry ${JSON.stringify(entry)}`;
  // The last colon splits: a regex may contain colons, a target never does.
  const colon = entry.lastIndexOf(':');
  if (colon <= 0) throw new Error(`${where} must look like "regex:target", e.g. "app.*:standby"`);
  const source = entry.slice(0, colon).trim();
  const match = /^\s*([A-Za-z]+|\d+)\s*(?:\(\s*([^)]*?)\s*\))?\s*$/.exec(entry.slice(colon + 1));
  if (match === null)
    throw new Error(
      `${where}: the target must be primary, standby or a backend index, optionally followed by (weight)`,
    );
  return {
    pattern: compileAnchored(source, where),
    target: parseTarget(match[1]!, where),
    weight: parseWeight(match[2], where),
  };
}

function compileAnchored(source: string, where: string): RegExp {
  if (source === '') throw new Error(`${where} has an empty pattern`);
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (error) {
    throw new Error(`${where}: invalid regular expression (${(error as Error).message})`);
  }
}

function parseTarget(word: string, where: string): RedirectTarget {
  const lower = word.toLowerCase();
  if (lower === 'primary' || lower === 'standby') return lower;
  if (/^\d+$/.test(word) && Number(word) <= MAX_BACKEND_INDEX) return Number(word);
  throw new Error(
    `${where}: the target must be primary, standby or a backend index (0 to ${MAX_BACKEND_INDEX}), got ${JSON.stringify(word)}`,
  );
}

function parseWeight(text: string | undefined, where: string): number {
  if (text === undefined) return 1;
  const weight = /^(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : NaN;
  if (!(weight >= 0 && weight <= 1))
    throw new Error(`${where}: the weight must be a number from 0 to 1, got ${JSON.stringify(text)}`);
  return weight;
}
