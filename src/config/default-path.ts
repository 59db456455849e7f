// Where `pgtide start` and `pgtide check` look for their configuration when no --config (and
// no seed file) is given: the working directory first, as a developer runs it, then the
// system-wide place a package or image installs it to.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const DEFAULT_CONFIG_PATHS: readonly string[] = ['pgtide.toml', '/etc/pgtide/pgtide.toml'];

/** The first of `candidates` that exists, resolved against `cwd`; undefined when none does
 *  (pgtide then runs on its defaults and PGTIDE_<KEY> variables alone, as the image may). */
export function findDefaultConfig(
  cwd = process.cwd(),
  candidates: readonly string[] = DEFAULT_CONFIG_PATHS,
): string | undefined {
  for (const candidate of candidates) {
    const path = resolve(cwd, candidate);
    if (existsSync(path)) return path;
  }
  return undefined;
}
