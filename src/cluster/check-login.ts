// The login of pgtide's check connections: sr_check_user (or the first user of auth_file)
// to sr_check_database, named "pgtide monitor <instance_name>" so DBAs can tell them apart.
import { parseSecret } from '../auth/secret.js';
import { serverApplicationName } from '../config/application-name.js';
import type { ServerCredentials, ServerLogin, ServerTls } from '../pool/server-login.js';
import type { BackendConfig, Config } from '../config/types.js';

/** Throws when no user is configured for the checks, or its stored secret is malformed. */
export function checkLogin(
  config: Config,
  users: ReadonlyMap<string, string>,
  backend: BackendConfig,
  tls: ServerTls,
): ServerLogin {
  const user = config.sr_check_user || users.keys().next().value;
  if (user === undefined) throw new Error('no user for health checks: set sr_check_user or list a user in auth_file');
  const stored = config.sr_check_password || users.get(user);
  const credentials: ServerCredentials = stored === undefined ? { user } : { user, secret: parseSecret(stored) };
  return {
    endpoint: { host: backend.host, port: backend.port },
    credentials,
    database: config.sr_check_database,
    // search_path too, on top of qualified names: nothing the check runs resolves elsewhere.
    params: { ...serverApplicationName(config, `monitor ${config.instance_name}`), search_path: 'pg_catalog' },
    tls,
    // health_check_timeout bounds the whole check; 0 means none, but a login still needs a bound.
    connectTimeoutMs: (config.health_check_timeout || config.server_connect_timeout) * 1000,
    maxPacketSize: config.max_packet_size,
    maxPreparedStatements: config.max_prepared_statements,
    // A health check sends the same password as a pool would: the same methods protect it.
    authMethods: config.server_auth_methods,
    maxScramIterations: config.server_scram_max_iterations,
    channelBinding: config.server_channel_binding,
  };
}
