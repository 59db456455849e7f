// What each configuration key accepts. The same descriptions check the TOML file, the
// environment and a Config built in code, so the three can never disagree.
import { MAX_SCRAM_ITERATIONS } from '../auth/scram-client.js';
import { MAX_PEER_ID, MAX_WORKER_ID } from './peering.js';
import { parseRedirectList } from './redirect-list.js';
import type { BackendConfig, Config, DatabaseConfig, PeerConfig, UserConfig } from './types.js';

/** setTimeout() fires at once when asked to wait more than 2^31-1 ms, so a longer
 *  timeout would silently behave as no wait at all. */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const MAX_COUNT = 2 ** 31 - 1;
/** Every port is one listening socket per address; hundreds are a typo in a range. */
const MAX_LISTEN_PORTS = 256;
/** Each function-list regex is tried on every unknown function call a client makes. */
const MAX_PATTERNS = 256;
/** admin_users / stats_users are checked at every console login. */
const MAX_NAMES = 256;

export type Field =
  | { kind: 'string'; nonEmpty?: boolean; maxLength?: number }
  | { kind: 'secret' }
  | { kind: 'boolean' }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'addresses' }
  | { kind: 'ports' }
  /** A list of regular expressions (TOML array; comma-separated in the environment). */
  | { kind: 'patterns' }
  /** Pgpool-II's "regex:target(weight),…" text, see src/config/redirect-list.ts. */
  | { kind: 'redirect-list' }
  /** A list of user names (TOML array; comma-separated in the environment). */
  | { kind: 'names' }
  /** Distinct values out of a fixed set, at least one (TOML array; comma-separated in the environment). */
  | { kind: 'choices'; values: readonly string[] }
  /** "host:port", or empty for off. */
  | { kind: 'host-port' };

export type Read = { ok: true; value: unknown } | { ok: false; message: string };

const text: Field = { kind: 'string' };
const name: Field = { kind: 'string', nonEmpty: true };
const flag: Field = { kind: 'boolean' };
const seconds: Field = { kind: 'number', min: 0, max: MAX_SECONDS };
const count: Field = { kind: 'integer', min: 0, max: MAX_COUNT };
const positive: Field = { kind: 'integer', min: 1, max: MAX_COUNT };
const port: Field = { kind: 'integer', min: 1, max: 65535 };
const tlsMode: Field = { kind: 'enum', values: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] };
const poolMode: Field = { kind: 'enum', values: ['session', 'transaction', 'statement'] };
const consistency: Field = { kind: 'enum', values: ['eventual', 'read_your_writes', 'primary_only'] };
const transactionRouting: Field = { kind: 'enum', values: ['conservative', 'first_statement'] };
const redirectList: Field = { kind: 'redirect-list' };
const patterns: Field = { kind: 'patterns' };
/** The cancel key's pid has room for this many instances (src/proxy/cancel-keys.ts). */
const peerId: Field = { kind: 'integer', min: 0, max: MAX_PEER_ID };

export type ScalarKey = Exclude<keyof Config, 'backends' | 'peers' | 'databases' | 'users'>;

export const TOP_LEVEL_FIELDS: Record<ScalarKey, Field> = {
  // Goes into application_name, which PostgreSQL truncates at 63 bytes.
  instance_name: { kind: 'string', nonEmpty: true, maxLength: 63 },
  peer_id: peerId,
  listen_addr: { kind: 'addresses' },
  listen_port: { kind: 'ports' },
  unix_socket_dir: text,
  listen_backlog: { kind: 'integer', min: 1, max: 65535 },
  // A cancel key has 5 bits for the worker that owns the client (proxy/cancel-keys.ts).
  workers: { kind: 'integer', min: 1, max: MAX_WORKER_ID + 1 },
  auth_type: { kind: 'enum', values: ['scram-sha-256', 'md5', 'plain', 'trust', 'cert'] },
  auth_file: text,
  hba_file: text,
  auth_user: text,
  auth_query: name,
  auth_dbname: text,
  client_tls_sslmode: tlsMode,
  client_tls_key_file: text,
  client_tls_cert_file: text,
  client_tls_ca_file: text,
  server_tls_sslmode: tlsMode,
  server_tls_ca_file: text,
  server_tls_key_file: text,
  server_tls_cert_file: text,
  server_auth_methods: { kind: 'choices', values: ['scram-sha-256', 'md5', 'password', 'none'] },
  server_channel_binding: { kind: 'enum', values: ['disable', 'prefer', 'require'] },
  pool_mode: poolMode,
  default_pool_size: positive,
  min_pool_size: count,
  reserve_pool_size: count,
  reserve_pool_timeout: seconds,
  max_client_conn: positive,
  max_login_clients: count,
  max_db_connections: count,
  max_user_connections: count,
  server_reset_query: text,
  max_prepared_statements: { kind: 'integer', min: 1, max: MAX_COUNT },
  max_client_prepared_statements: { kind: 'integer', min: 1, max: MAX_COUNT },
  pin_on_session_state: { kind: 'enum', values: ['pin', 'error'] },
  trust_functions: flag,
  server_reset_query_always: flag,
  server_lifetime: seconds,
  server_max_uses: count,
  server_idle_timeout: seconds,
  pool_idle_timeout: seconds,
  server_application_name: { kind: 'string', maxLength: 63 },
  server_connect_timeout: seconds,
  server_login_retry: seconds,
  server_scram_max_iterations: { kind: 'integer', min: 1, max: MAX_SCRAM_ITERATIONS },
  client_login_timeout: seconds,
  query_timeout: seconds,
  query_wait_timeout: seconds,
  client_idle_timeout: seconds,
  idle_transaction_timeout: seconds,
  shutdown_timeout: seconds,
  max_packet_size: { kind: 'integer', min: 1024, max: 1024 * 1024 * 1024 },
  tcp_keepalive: flag,
  log_connections: flag,
  log_disconnections: flag,
  log_pooler_errors: flag,
  log_level: { kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
  log_statements: flag,
  log_dir: text,
  state_dir: text,
  admin_users: { kind: 'names' },
  stats_users: { kind: 'names' },
  admin_http_listen: { kind: 'host-port' },
  admin_socket_dir: text,
  sr_check_period: seconds,
  sr_check_user: text,
  sr_check_password: { kind: 'secret' },
  sr_check_database: name,
  health_check_period: seconds,
  health_check_timeout: seconds,
  health_check_max_retries: { kind: 'integer', min: 0, max: 1000 },
  // Bytes of WAL: a day of heavy writes is far beyond 2^31, but well within exact doubles.
  delay_threshold: { kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER },
  delay_threshold_by_time: count,
  prefer_lower_delay_standby: flag,
  load_balance_mode: flag,
  database_redirect_preference_list: redirectList,
  app_name_redirect_preference_list: redirectList,
  user_redirect_preference_list: redirectList,
  write_function_list: patterns,
  read_only_function_list: patterns,
  consistency,
  read_your_writes_timeout: seconds,
  transaction_routing: transactionRouting,
};

export const BACKEND_FIELDS: Record<keyof BackendConfig, Field> = {
  name,
  host: name,
  port,
  weight: { kind: 'number', min: 0, max: 1_000_000 },
  role: { kind: 'enum', values: ['auto', 'primary', 'standby'] },
  user: name,
  password: { kind: 'secret' },
};

export const PEER_FIELDS: Record<keyof PeerConfig, Field> = {
  id: peerId,
  host: name,
  port,
};

export const DATABASE_FIELDS: Record<keyof DatabaseConfig, Field> = {
  dbname: text,
  pool_mode: poolMode,
  pool_size: positive,
  min_pool_size: count,
  reserve_pool_size: count,
  max_db_connections: count,
  user: name,
  password: { kind: 'secret' },
  consistency,
  transaction_routing: transactionRouting,
};

export const USER_FIELDS: Record<keyof UserConfig, Field> = {
  pool_mode: poolMode,
  pool_size: positive,
  max_user_connections: count,
  consistency,
};

/** Checks a value from TOML (or a typed Config) against its field; returns it normalised. */
export function readField(field: Field, value: unknown): Read {
  switch (field.kind) {
    case 'string':
      return readString(field, value);
    case 'secret':
      // Never echo the value: it is a password.
      if (typeof value !== 'string') return fail(`must be a string, got ${typeName(value)}`);
      return value.includes('\0') ? fail('must not contain a NUL character') : ok(value);
    case 'boolean':
      return typeof value === 'boolean' ? ok(value) : fail(`must be true or false, got ${showMismatch(value)}`);
    case 'integer':
    case 'number': {
      const integer = field.kind === 'integer';
      const inRange = typeof value === 'number' && Number.isFinite(value) && value >= field.min && value <= field.max;
      if (inRange && (!integer || Number.isInteger(value))) return ok(value);
      return fail(
        `must be ${integer ? 'an integer' : 'a number'} from ${field.min} to ${field.max}, got ${showMismatch(value)}`,
      );
    }
    case 'enum':
      if (typeof value === 'string' && field.values.includes(value)) return ok(value);
      return fail(`must be one of ${field.values.map((v) => `"${v}"`).join(', ')}, got ${show(value)}`);
    case 'addresses':
      return readAddresses(value);
    case 'ports':
      return readPorts(value);
    case 'patterns':
      return readPatterns(value);
    case 'redirect-list':
      return readRedirectList(value);
    case 'names':
      return readNames(value);
    case 'choices':
      return readChoices(field, value);
    case 'host-port':
      return readHostPort(value);
  }
}

/** Turns an environment variable's text into the value its field expects, then checks it. */
export function readEnvField(field: Field, envText: string): Read {
  switch (field.kind) {
    case 'boolean': {
      const word = envText.trim().toLowerCase();
      if (['on', 'true', '1', 'yes'].includes(word)) return ok(true);
      if (['off', 'false', '0', 'no'].includes(word)) return ok(false);
      return fail(`must be on/off, true/false or 1/0, got ${show(envText)}`);
    }
    case 'integer':
    case 'number': {
      const trimmed = envText.trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed))
        return fail(`must be a number, got ${show(envText)}`);
      return readField(field, Number(trimmed));
    }
    case 'addresses':
      return readField(field, splitList(envText));
    case 'ports':
      return readField(
        field,
        splitList(envText).map((item) => (/^\d+$/.test(item) ? Number(item) : item)),
      );
    case 'patterns':
    case 'names':
    case 'choices':
      return readField(field, splitList(envText));
    default:
      return readField(field, envText);
  }
}

export function splitList(listText: string): string[] {
  return listText
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null || value === undefined) return 'nothing';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a table';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

function readString(field: Extract<Field, { kind: 'string' }>, value: unknown): Read {
  if (typeof value !== 'string') return fail(`must be a string, got ${typeName(value)}`);
  if (field.nonEmpty && value === '') return fail('must not be empty');
  if (field.maxLength !== undefined && Buffer.byteLength(value) > field.maxLength) {
    return fail(`must be at most ${field.maxLength} bytes long`);
  }
  // Strings end up in NUL-terminated protocol fields, where a NUL would cut them short.
  return value.includes('\0') ? fail('must not contain a NUL character') : ok(value);
}

function readPatterns(value: unknown): Read {
  if (!Array.isArray(value)) return fail(`must be an array of regular expressions, got ${typeName(value)}`);
  if (value.length > MAX_PATTERNS) return fail(`lists more than ${MAX_PATTERNS} patterns`);
  for (const item of value) {
    if (typeof item !== 'string' || item.trim() === '')
      return fail(`must list non-empty regular expressions, got ${show(item)}`);
    try {
      new RegExp(item);
    } catch (error) {
      return fail(`${show(item)} is not a valid regular expression: ${(error as Error).message}`);
    }
  }
  return ok([...value]);
}

/** Each name is a user a client logs in as: bounded like PostgreSQL's NAMEDATALEN. */
function readNames(value: unknown): Read {
  if (!Array.isArray(value)) return fail(`must be an array of user names, got ${typeName(value)}`);
  if (value.length > MAX_NAMES) return fail(`lists more than ${MAX_NAMES} names`);
  for (const item of value) {
    if (typeof item !== 'string' || item === '' || item.includes('\0') || Buffer.byteLength(item) > 63) {
      return fail(`must list user names of 1 to 63 bytes, got ${show(item)}`);
    }
  }
  return ok([...value]);
}

function readChoices(field: Extract<Field, { kind: 'choices' }>, value: unknown): Read {
  const allowed = field.values.map((v) => `"${v}"`).join(', ');
  if (!Array.isArray(value) || value.length === 0)
    return fail(`must be a non-empty array of ${allowed}, got ${showMismatch(value)}`);
  for (const [i, item] of value.entries()) {
    if (typeof item !== 'string' || !field.values.includes(item))
      return fail(`must list only ${allowed}, got ${show(item)}`);
    if (value.indexOf(item) !== i) return fail(`lists ${show(item)} twice`);
  }
  return ok([...value]);
}

/** "host:port" (an IPv6 host in brackets: "[::1]:9127"); null when it is not one. Port 0
 *  (any free port) is for tests that build a Config in code; the file must name a port. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]\0]+)):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[3]);
  if (port > 65535) return null;
  return { host: match[1] ?? match[2]!, port };
}

function readHostPort(value: unknown): Read {
  if (typeof value !== 'string') return fail(`must be a string "host:port", got ${typeName(value)}`);
  if (value === '' || (parseHostPort(value)?.port ?? 0) > 0) return ok(value);
  return fail(`must be "host:port" with a port from 1 to 65535 (or "" for off), got ${show(value)}`);
}

function readRedirectList(value: unknown): Read {
  const read = readString({ kind: 'string' }, value);
  if (!read.ok) return read;
  try {
    parseRedirectList(value as string);
  } catch (error) {
    return fail((error as Error).message);
  }
  return read;
}

function readAddresses(value: unknown): Read {
  const items = Array.isArray(value) ? value : [value];
  const addresses: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string' || item === '' || /\s|\0/.test(item)) {
      return fail(`must be a host name or address (or an array of them), got ${show(item)}`);
    }
    if (addresses.includes(item)) return fail(`lists ${show(item)} twice`);
    addresses.push(item);
  }
  return ok(addresses);
}

function readPorts(value: unknown): Read {
  const items = Array.isArray(value) ? value : [value];
  const ports: number[] = [];
  for (const item of items) {
    const range = portRange(item);
    if (typeof range === 'string') return fail(range);
    const [first, last] = range;
    if (ports.length + (last - first + 1) > MAX_LISTEN_PORTS) return fail(`lists more than ${MAX_LISTEN_PORTS} ports`);
    for (let p = first; p <= last; p++) {
      if (ports.includes(p)) return fail(`lists port ${p} twice`);
      ports.push(p);
    }
  }
  return ports.length === 0 ? fail('must list at least one port') : ok(ports);
}

/** A port, or a range "5427-5432", as [first, last]; or the reason it is neither. */
function portRange(item: unknown): [number, number] | string {
  const bad = `must be a port from 1 to 65535 or a range like "5427-5432", got ${show(item)}`;
  if (typeof item === 'number') return Number.isInteger(item) && item >= 1 && item <= 65535 ? [item, item] : bad;
  if (typeof item !== 'string') return bad;
  const match = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(item);
  if (!match) return bad;
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  if (first < 1 || last > 65535 || first > last) return bad;
  return [first, last];
}

function ok(value: unknown): Read {
  return { ok: true, value };
}

function fail(message: string): Read {
  return { ok: false, message };
}

/** Says when a value is a quoted string, the usual slip for a number or boolean in TOML. */
function showMismatch(value: unknown): string {
  return typeof value === 'string' ? `a string (${show(value)})` : show(value);
}

/** A short, printable form of a non-secret value for an error message. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeName(value);
}
