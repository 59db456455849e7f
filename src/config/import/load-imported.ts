// `pgtide start --pgbouncer pgbouncer.ini`: runs straight from the seed's files. The import is
// done in memory and then goes through the same steps as a native file (parse, environment,
// validation), so a PgBouncer user switches by changing the command alone.
import { readEnv } from '../env.js';
import { parseConfig } from '../load.js';
import { keyLines } from '../locate.js';
import { ConfigError, toProblems, type Path, type Problem } from '../problems.js';
import type { Config } from '../types.js';
import { configIssues } from '../validate.js';
import type { StateDirOptions } from './state-dir.js';
import { importSeedStack, type SeedFiles } from './to-toml.js';

export interface ImportedConfig {
  config: Config;
  /** The importer's warnings: settings whose behaviour changes under pgtide. */
  warnings: string[];
}

/**
 * Imports the seed's files, applies INSTANCE_NAME / PGTIDE_<KEY> and validates the result.
 * (`files.users` names the auth_file even when pgbouncer.ini names another: the import itself
 * sees to that, so `pgtide import` writes the same.) Problems name the source line the key came from (e.g.
 * pgbouncer.ini:24); ImportError (file:line) and ConfigError are thrown.
 */
export function loadImportedConfig(
  files: SeedFiles,
  env: NodeJS.ProcessEnv,
  options: StateDirOptions = {},
): ImportedConfig {
  const { toml, warnings } = importSeedStack(files, options);
  const source = files.pgbouncer ?? files.pgpool ?? 'imported configuration';
  const originOf = originLines(toml);
  let imported: Config;
  try {
    imported = parseConfig(toml);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      error.problems.map((problem) => withOrigin(problem, originOf)),
      source,
    );
  }

  const overrides = readEnv(env);
  if (overrides.issues.length > 0) throw new ConfigError(toProblems(overrides.issues), 'environment');
  const config = { ...imported, ...overrides.values };
  const lineOf = keyLines(toml);
  const fromImport = (path: Path): number | undefined =>
    Object.hasOwn(overrides.values, path[0]!) ? undefined : lineOf(path);
  const invalid = configIssues(config);
  if (invalid.length > 0) {
    throw new ConfigError(
      toProblems(invalid, fromImport).map((problem) => withOrigin(problem, originOf)),
      source,
    );
  }
  return { config, warnings };
}

/** The importer ends each key's line with the place it came from (`key = value  # file:line`):
 *  a line of the generated TOML means nothing to the operator, that place does. */
function originLines(toml: string): (line: number) => string | undefined {
  const lines = toml.split('\n');
  return (line) => /#\s*([^\s#]+:\d+)\s*$/.exec(lines[line - 1] ?? '')?.[1];
}

function withOrigin(problem: Problem, originOf: (line: number) => string | undefined): Problem {
  const origin = problem.line === undefined ? undefined : originOf(problem.line);
  return { key: problem.key, message: origin === undefined ? problem.message : `${problem.message} (from ${origin})` };
}
