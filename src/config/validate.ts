// Checks that look at more than one key. Every single key is re-checked too (through
// readDocument), so a Config built in code gets the same scrutiny as a file.
import { parseRedirectList, type RedirectRule } from './redirect-list.js';
import { readDocument } from './document.js';
import { ConfigError, toProblems, type Issue } from './problems.js';
import type { Config } from './types.js';
import { limitsEachWorkerNeeds } from './worker-share.js';
import path from 'node:path';
import { MAX_SOCKET_PATH_BYTES, socketPath } from './socket-path.js';

export function validateConfig(config: Config): void {
  const issues = configIssues(config);
  if (issues.length > 0) throw new ConfigError(toProblems(issues));
}

export function configIssues(config: Config): Issue[] {
  const issues: Issue[] = [];
  readDocument(config, issues);
  checkListeners(config, issues);
  checkSocketDirs(config, issues);
  checkWorkerShares(config, issues);
  checkBackends(config, issues);
  checkPeers(config, issues);
  checkTls(config, issues);
  checkRedirectTargets(config, issues);
  checkAuthQuery(config, issues);
  return issues;
}

function checkListeners(config: Config, issues: Issue[]): void {
  if (config.listen_addr.length === 0 && config.unix_socket_dir === '') {
    issues.push({
      path: ['listen_addr'],
      message: 'is empty and unix_socket_dir is not set: pgtide would accept no clients',
    });
  }
}

/** A socket path the kernel cannot hold would fail at start with a bare EINVAL; two sockets
 *  of the same name would take each other's place. */
function checkSocketDirs(config: Config, issues: Issue[]): void {
  for (const key of ['unix_socket_dir', 'admin_socket_dir'] as const) {
    const dir = config[key];
    if (dir === '') continue;
    const file = socketPath(dir, config);
    if (Buffer.byteLength(file) > MAX_SOCKET_PATH_BYTES)
      issues.push({
        path: [key],
        message: `makes the socket path ${file} (${Buffer.byteLength(file)} bytes), longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have: choose a shorter directory`,
      });
  }
  const admin = config.admin_socket_dir;
  if (admin === '') return;
  // libpq takes a host as a socket directory only when it starts with '/'.
  if (!path.isAbsolute(admin))
    issues.push({
      path: ['admin_socket_dir'],
      message: `must be an absolute path (psql -h takes it then), got "${admin}"`,
    });
  else if (config.unix_socket_dir !== '' && path.resolve(config.unix_socket_dir) === path.resolve(admin))
    issues.push({
      path: ['admin_socket_dir'],
      message:
        'is the same directory as unix_socket_dir: both sockets are named .s.PGSQL.<first listen_port>; give the admin socket a directory of its own',
    });
}

/** Each worker gets its share of every limit (worker-share.ts): none may get 0, which would
 *  leave its clients no server (a pool size) or no cap at all (0 = unlimited). */
function checkWorkerShares(config: Config, issues: Issue[]): void {
  if (config.workers === 1) return;
  for (const { path, value } of limitsEachWorkerNeeds(config)) {
    if (value < config.workers) {
      issues.push({
        path,
        message: `(${value}) is below workers (${config.workers}): the limit is split among the workers and each needs at least 1; raise it or lower workers`,
      });
    }
  }
}

function checkBackends(config: Config, issues: Issue[]): void {
  if (config.backends.length === 0) {
    issues.push({
      path: ['backends'],
      message:
        'no backend servers are configured: add a [[backends]] table with host (and port) for each PostgreSQL server, or set PGTIDE_BACKENDS=host:port,…',
    });
  }
  const names = new Set<string>();
  const addresses = new Set<string>();
  config.backends.forEach((backend, index) => {
    if (names.has(backend.name))
      issues.push({ path: ['backends', index, 'name'], message: `"${backend.name}" is used by an earlier backend` });
    names.add(backend.name);
    const address = `${backend.host}:${backend.port}`;
    if (addresses.has(address))
      issues.push({ path: ['backends', index, 'host'], message: `${address} is listed by an earlier backend` });
    addresses.add(address);
  });
}

/** Each instance is told apart by its id alone: a clash would send cancels to the wrong one.
 *  The entry of this instance's own peer_id is no clash: one list may serve every instance. */
function checkPeers(config: Config, issues: Issue[]): void {
  const addressOf = new Map<number, string>();
  const addresses = new Set<string>();
  config.peers.forEach((peer, index) => {
    const address = `${peer.host}:${peer.port}`;
    const earlier = addressOf.get(peer.id);
    if (earlier !== undefined) {
      const message = earlier === address ? 'is listed twice' : `is used by an earlier peer at ${earlier}`;
      issues.push({ path: ['peers', index, 'id'], message: `${peer.id} ${message}` });
    } else {
      if (addresses.has(address))
        issues.push({ path: ['peers', index, 'host'], message: `${address} is listed by an earlier peer` });
      addressOf.set(peer.id, address);
    }
    addresses.add(address);
  });
}

function checkTls(config: Config, issues: Issue[]): void {
  const clientMode = config.client_tls_sslmode;
  if (clientMode !== 'disable') {
    // Offering TLS to clients at all needs the pooler's own key and certificate.
    for (const key of ['client_tls_key_file', 'client_tls_cert_file'] as const) {
      if (config[key] === '') issues.push({ path: ['client_tls_sslmode'], message: `"${clientMode}" needs ${key}` });
    }
  }
  if (config.auth_type === 'cert' && (clientMode === 'disable' || config.client_tls_ca_file === '')) {
    issues.push({
      path: ['auth_type'],
      message:
        '"cert" needs client_tls_sslmode other than "disable" and client_tls_ca_file to check client certificates',
    });
  }
  if ((clientMode === 'verify-ca' || clientMode === 'verify-full') && config.client_tls_ca_file === '') {
    issues.push({
      path: ['client_tls_sslmode'],
      message: `"${clientMode}" needs client_tls_ca_file to check client certificates`,
    });
  }
  const serverMode = config.server_tls_sslmode;
  if ((serverMode === 'verify-ca' || serverMode === 'verify-full') && config.server_tls_ca_file === '') {
    issues.push({
      path: ['server_tls_sslmode'],
      message: `"${serverMode}" needs server_tls_ca_file to check server certificates`,
    });
  }
  if (config.server_channel_binding === 'require' && (serverMode === 'disable' || serverMode === 'allow')) {
    issues.push({
      path: ['server_channel_binding'],
      message: `"require" binds logins to the server's TLS certificate, which server_tls_sslmode "${serverMode}" may not use: set it to "prefer" or stricter`,
    });
  }
  if ((config.server_tls_key_file === '') !== (config.server_tls_cert_file === '')) {
    const missing = config.server_tls_key_file === '' ? 'server_tls_key_file' : 'server_tls_cert_file';
    issues.push({ path: [missing], message: 'is needed as well: a client certificate and its key go together' });
  }
}

function checkRedirectTargets(config: Config, issues: Issue[]): void {
  if (config.backends.length === 0) return; // reported by checkBackends
  const keys = [
    'database_redirect_preference_list',
    'app_name_redirect_preference_list',
    'user_redirect_preference_list',
  ] as const;
  for (const key of keys) {
    let rules: RedirectRule[];
    try {
      rules = parseRedirectList(config[key]);
    } catch {
      continue; // readDocument has reported the syntax already.
    }
    for (const { target } of rules) {
      if (typeof target === 'number' && target >= config.backends.length) {
        issues.push({
          path: [key],
          message: `names backend ${target}, but backends are numbered 0 to ${config.backends.length - 1}`,
        });
      }
    }
  }
}

function checkAuthQuery(config: Config, issues: Issue[]): void {
  if (config.auth_user === '') return;
  // pgtide passes the user name as $1; a query without it fails at every login.
  if (!/\$1(?![0-9])/.test(config.auth_query)) {
    issues.push({ path: ['auth_query'], message: 'must use $1, the name of the user logging in' });
  }
  const dbs = config.databases;
  const name = config.auth_dbname;
  if (name !== '' && Object.keys(dbs).length > 0 && dbs[name] === undefined && dbs['*'] === undefined) {
    issues.push({ path: ['auth_dbname'], message: `"${name}" is not listed in [databases]` });
  }
}
