// Environment overrides: INSTANCE_NAME (the seed's container variable) and PGTIDE_<KEY>.
import { completeBackend, isScalarKey, setScalar } from './document.js';
import { BACKEND_FIELDS, TOP_LEVEL_FIELDS, readEnvField, readField, splitList } from './fields.js';
import type { Issue } from './problems.js';
import { closest } from './suggest.js';
import type { BackendConfig, Config } from './types.js';

export const ENV_PREFIX = 'PGTIDE_';

/**
 * Set by `pgtide start --supervise` for its child, not by operators: the file the supervisor
 * copies the pooler's stdout into (a log_dir naming it is then not opened twice). Not a setting.
 */
export const SUPERVISOR_LOG_FILE_ENV = 'PGTIDE_SUPERVISOR_LOG_FILE';

/** Set by the primary of `workers = N` for each worker it starts, not by operators:
 *  "<id>/<N>", the worker's id and the number of workers (src/workers/primary.ts). */
export const WORKER_SLOT_ENV = 'PGTIDE_WORKER_SLOT';

/** Set by the primary of `workers = N` for every worker, not by operators: 32 random bytes in
 *  hex, the key of the per-user SCRAM salts, so that every worker gives a name the same salt. */
export const NAME_SALT_KEY_ENV = 'PGTIDE_NAME_SALT_KEY';

/** Variables pgtide sets for its own child processes; they are not settings. */
const INTERNAL = new Set([SUPERVISOR_LOG_FILE_ENV, WORKER_SLOT_ENV, NAME_SALT_KEY_ENV]);

export interface EnvOverrides {
  /** The top-level keys the environment sets, already checked. */
  values: Partial<Config>;
  issues: Issue[];
}

export function readEnv(env: NodeJS.ProcessEnv): EnvOverrides {
  const values: Partial<Config> = {};
  const issues: Issue[] = [];
  const set = (variable: string, key: string, envText: string): void => {
    if (isScalarKey(key)) {
      const read = readEnvField(TOP_LEVEL_FIELDS[key], envText);
      if (read.ok) setScalar(values as Config, key, read.value);
      else issues.push({ path: [variable], message: read.message });
    } else if (key === 'backends') {
      values.backends = readBackendList(variable, envText, issues);
    } else if (key === 'databases' || key === 'users') {
      issues.push({
        path: [variable],
        message: `${key} cannot be set from the environment; use [${key}.<name>] tables in the file`,
      });
    } else if (key === 'peers') {
      issues.push({
        path: [variable],
        message:
          'peers cannot be set from the environment; use [[peers]] tables in the file (PGTIDE_PEER_ID can differ per instance)',
      });
    } else {
      const guess = closest(key, [...Object.keys(TOP_LEVEL_FIELDS), 'backends']);
      const hint = guess === undefined ? '' : `; did you mean ${ENV_PREFIX}${guess.toUpperCase()}?`;
      issues.push({ path: [variable], message: `unknown pgtide setting${hint}` });
    }
  };

  if (env.INSTANCE_NAME !== undefined) set('INSTANCE_NAME', 'instance_name', env.INSTANCE_NAME);
  // Sorted so that problems come out in the same order whatever the environment's order.
  for (const variable of Object.keys(env).sort()) {
    const envText = env[variable];
    if (!variable.startsWith(ENV_PREFIX) || INTERNAL.has(variable) || envText === undefined) continue;
    set(variable, variable.slice(ENV_PREFIX.length).toLowerCase(), envText);
  }
  return { values, issues };
}

/** PGTIDE_BACKENDS: "host[:port],[ipv6]:port,…", each with the defaults of a [[backends]] table. */
function readBackendList(variable: string, envText: string, issues: Issue[]): BackendConfig[] {
  const backends: BackendConfig[] = [];
  for (const item of splitList(envText)) {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(item);
    if (match === null) {
      issues.push({ path: [variable], message: `must list host or host:port entries, got ${JSON.stringify(item)}` });
      continue;
    }
    const host = match[1] ?? match[2];
    const port = match[3] === undefined ? undefined : readField(BACKEND_FIELDS.port, Number(match[3]));
    if (port !== undefined && !port.ok) {
      issues.push({ path: [variable], message: `port of ${JSON.stringify(item)} ${port.message}` });
      continue;
    }
    const backend = completeBackend(
      port === undefined ? { host } : { host, port: port.value as number },
      [variable],
      issues,
    );
    if (backend !== undefined) backends.push(backend);
  }
  return backends;
}
