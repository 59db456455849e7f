// Turns a parsed TOML document into a Config. It also accepts a Config itself, which is how
// validateConfig() re-checks every field of a Config that was built in code.
import { defaultConfig, emptyMap } from './defaults.js';
import {
  BACKEND_FIELDS,
  DATABASE_FIELDS,
  PEER_FIELDS,
  TOP_LEVEL_FIELDS,
  USER_FIELDS,
  readField,
  typeName,
  type Field,
  type ScalarKey,
} from './fields.js';
import type { Issue, Path } from './problems.js';
import { closest } from './suggest.js';
import type { BackendConfig, Config, DatabaseConfig, PeerConfig, UserConfig } from './types.js';

const CONFIG_KEYS: readonly string[] = [...Object.keys(TOP_LEVEL_FIELDS), 'backends', 'peers', 'databases', 'users'];

const DEFAULT_BACKEND_PORT = 5432;
/** pgtide's own default listen_port. */
const DEFAULT_PEER_PORT = 5432;

type Table = Record<string, unknown>;

/** Reads a document on top of the defaults, collecting every problem rather than stopping at
 *  the first. Invalid values are reported and left at their defaults. */
export function readDocument(document: unknown, issues: Issue[]): Config {
  const config = defaultConfig();
  const raw = asTable(document, [], issues);
  if (raw === undefined) return config;
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (isScalarKey(key)) {
      const read = readField(TOP_LEVEL_FIELDS[key], value);
      if (read.ok) setScalar(config, key, read.value);
      else issues.push({ path: [key], message: read.message });
    } else if (key === 'backends') {
      config.backends = readTableArray('backends', BACKEND_FIELDS, ['host'], value, issues, completeBackend);
    } else if (key === 'peers') {
      config.peers = readTableArray('peers', PEER_FIELDS, ['id', 'host'], value, issues, completePeer);
    } else if (key === 'databases') {
      config.databases = readNamedTables(value, ['databases'], issues, readDatabase);
    } else if (key === 'users') {
      config.users = readNamedTables(value, ['users'], issues, readUser);
    } else {
      issues.push(unknownKey([], key, CONFIG_KEYS));
    }
  }
  return config;
}

export function isScalarKey(key: string): key is ScalarKey {
  return Object.hasOwn(TOP_LEVEL_FIELDS, key);
}

export function setScalar<K extends ScalarKey>(config: Config, key: K, value: unknown): void {
  // readField() has checked the value against TOP_LEVEL_FIELDS[key], which matches Config[K].
  config[key] = value as Config[K];
}

/** Fills in a backend's defaults; undefined (with an issue) when it has no host. */
export function completeBackend(
  fields: Partial<BackendConfig>,
  path: Path,
  issues: Issue[],
): BackendConfig | undefined {
  const { host } = fields;
  if (host === undefined) {
    issues.push({ path, message: 'needs a host' });
    return undefined;
  }
  const port = fields.port ?? DEFAULT_BACKEND_PORT;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    ...fields,
    name: fields.name ?? `${hostPart}:${port}`,
    host,
    port,
    weight: fields.weight ?? 1,
    role: fields.role ?? 'auto',
  };
}

export function unknownKey(path: Path, key: string, candidates: readonly string[]): Issue {
  const guess = closest(key, candidates);
  return {
    path: [...path, key],
    message: guess === undefined ? 'unknown key' : `unknown key; did you mean "${guess}"?`,
  };
}

function completePeer(fields: Partial<PeerConfig>, path: Path, issues: Issue[]): PeerConfig | undefined {
  const { id, host } = fields;
  if (id === undefined) issues.push({ path, message: "needs an id (that instance's peer_id)" });
  if (host === undefined) issues.push({ path, message: 'needs a host' });
  if (id === undefined || host === undefined) return undefined;
  return { id, host, port: fields.port ?? DEFAULT_PEER_PORT };
}

/** An array of tables ([[backends]], [[peers]]); an entry whose `required` keys are missing or
 *  invalid is reported and left out. */
function readTableArray<T>(
  key: string,
  fields: Record<string, Field>,
  required: readonly string[],
  value: unknown,
  issues: Issue[],
  complete: (fields: Partial<T>, path: Path, issues: Issue[]) => T | undefined,
): T[] {
  if (!Array.isArray(value)) {
    issues.push({ path: [key], message: `must be an array of tables ([[${key}]]), got ${typeName(value)}` });
    return [];
  }
  const entries: T[] = [];
  value.forEach((item: unknown, index) => {
    const path = [key, index];
    const before = issues.length;
    const read = readFields(fields, item, path, issues) as Partial<T> | undefined;
    if (read === undefined) return;
    // A required key that was present but invalid is already reported; do not also say it is missing.
    if (issues.slice(before).some((issue) => required.includes(String(issue.path[2])))) return;
    const entry = complete(read, path, issues);
    if (entry !== undefined) entries.push(entry);
  });
  return entries;
}

function readDatabase(table: Table, path: Path, issues: Issue[]): DatabaseConfig | undefined {
  const fields = readFields(DATABASE_FIELDS, table, path, issues) as Partial<DatabaseConfig> | undefined;
  if (fields === undefined) return undefined;
  const name = path[path.length - 1];
  // '*' is the fallback entry for any database not listed; its server-side name is the
  // one the client asked for, which an empty dbname stands for.
  return { ...fields, dbname: fields.dbname ?? (name === '*' ? '' : String(name)) };
}

function readUser(table: Table, path: Path, issues: Issue[]): UserConfig | undefined {
  return readFields(USER_FIELDS, table, path, issues) as UserConfig | undefined;
}

function readNamedTables<T>(
  value: unknown,
  path: Path,
  issues: Issue[],
  readEntry: (table: Table, path: Path, issues: Issue[]) => T | undefined,
): Record<string, T> {
  const entries = emptyMap<T>();
  const table = asTable(value, path, issues);
  if (table === undefined) return entries;
  for (const [name, entry] of Object.entries(table)) {
    if (name === '') {
      issues.push({ path, message: 'a name must not be empty' });
      continue;
    }
    const entryTable = asTable(entry, [...path, name], issues);
    const read = entryTable === undefined ? undefined : readEntry(entryTable, [...path, name], issues);
    if (read !== undefined) entries[name] = read;
  }
  return entries;
}

/** The valid fields of a table; each invalid or unknown one becomes an issue. */
function readFields(fields: Record<string, Field>, value: unknown, path: Path, issues: Issue[]): Table | undefined {
  const table = asTable(value, path, issues);
  if (table === undefined) return undefined;
  const out: Table = {};
  for (const [key, item] of Object.entries(table)) {
    if (item === undefined) continue;
    const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (field === undefined) {
      issues.push(unknownKey(path, key, Object.keys(fields)));
      continue;
    }
    const read = readField(field, item);
    if (read.ok) out[key] = read.value;
    else issues.push({ path: [...path, key], message: read.message });
  }
  return out;
}

function asTable(value: unknown, path: Path, issues: Issue[]): Table | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)) {
    return value as Table;
  }
  issues.push({ path, message: `must be a table, got ${typeName(value)}` });
  return undefined;
}
