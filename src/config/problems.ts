import { readFileSync } from 'node:fs';

/** Where a value sits in the configuration, e.g. ['backends', 1, 'port']. */
export type Path = readonly (string | number)[];

/** A problem found while reading, before it is tied to a line of the file. */
export interface Issue {
  path: Path;
  message: string;
}

export interface Problem {
  key: string;
  line?: number;
  message: string;
}

/** The exit status of a command refused for its configuration (sysexits' EX_CONFIG): starting
 *  again cannot help, so a supervisor does not restart the pooler after it. */
export const EXIT_CONFIG = 78;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: Problem[];
  readonly source: string | undefined;

  constructor(problems: Problem[], source?: string) {
    const sorted = sortByLine(problems);
    super(formatProblems(sorted, source));
    this.problems = sorted;
    this.source = source;
  }
}

/** Renders a path the way TOML spells it, so the key in a message can be searched for in the file. */
export function renderPath(path: Path): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
      out += out === '' ? key : `.${key}`;
    }
  }
  return out;
}

export function toProblems(issues: readonly Issue[], lineOf?: (path: Path) => number | undefined): Problem[] {
  return issues.map(({ path, message }) => {
    const line = lineOf?.(path);
    return line === undefined ? { key: renderPath(path), message } : { key: renderPath(path), line, message };
  });
}

function sortByLine(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
}

function formatProblems(problems: readonly Problem[], source: string | undefined): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.map((p) => {
    const where = p.line === undefined ? '' : `line ${p.line}: `;
    const key = p.key === '' ? '' : `${p.key}: `;
    return `  ${where}${key}${p.message}`;
  });
  return [`${source ?? 'configuration'}: ${count}`, ...lines].join('\n');
}

/** Why a file a setting names could not be read, worded for an operator rather than errno. */
export function cannotRead(path: string, error: unknown): string {
  const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
  return `cannot read ${path}: ${reason}`;
}

/** The bytes of a file a setting names; one it cannot read is a problem of that setting, so
 *  `start` refuses it as a configuration (status 78) rather than crashing with a bare ENOENT. */
export function readNamedFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError([{ key, message: cannotRead(path, error) }]);
  }
}
