// The auth_file as the pooler reads it: a file that cannot be read or parsed is a problem of
// the configuration, named by its key, not a bare ENOENT from deep inside a start.
import { readFileSync } from 'node:fs';
import { parseUserList } from '../auth/userlist.js';
import { cannotRead, ConfigError } from './problems.js';
import type { Config } from './types.js';

/** The user list in a file, errors named by the file's path and line. */
export function loadUserList(path: string): Map<string, string> {
  return parseUserList(readFileSync(path, 'utf8'), path);
}

/** user -> stored password; empty when auth_file is unset. Throws a ConfigError naming auth_file. */
export function readAuthFile(config: Config, source?: string): Map<string, string> {
  if (!config.auth_file) return new Map();
  try {
    return loadUserList(config.auth_file);
  } catch (error) {
    throw new ConfigError([{ key: 'auth_file', message: cannotRead(config.auth_file, error) }], source);
  }
}
