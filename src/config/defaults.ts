import { DEFAULT_AUTH_QUERY } from '../auth/auth-query.js';
import { DEFAULT_MAX_SCRAM_ITERATIONS } from '../auth/scram-client.js';
import type { Config, DatabaseConfig, UserConfig } from './types.js';

/** The settings a pgtide process runs with when its file says nothing: PgBouncer's defaults
 *  where the key is PgBouncer's, tighter where an unlimited default could overload the server. */
export function defaultConfig(): Config {
  return {
    instance_name: 'pool1',
    peer_id: 0,

    listen_addr: ['127.0.0.1'],
    listen_port: [5432],
    unix_socket_dir: '',
    listen_backlog: 511,
    // One process until workers are asked for: every limit is then exactly as configured, and
    // the console and /metrics show the whole instance (docs/tuning.md, workers).
    workers: 1,

    auth_type: 'scram-sha-256',
    auth_file: '',
    hba_file: '',
    auth_user: '',
    auth_query: DEFAULT_AUTH_QUERY,
    auth_dbname: '',

    client_tls_sslmode: 'disable',
    client_tls_key_file: '',
    client_tls_cert_file: '',
    client_tls_ca_file: '',

    server_tls_sslmode: 'prefer',
    server_tls_ca_file: '',
    server_tls_key_file: '',
    server_tls_cert_file: '',
    // Never cleartext, never a server that skips authentication, unless the operator says so.
    server_auth_methods: ['scram-sha-256', 'md5'],
    server_channel_binding: 'prefer',

    pool_mode: 'transaction',
    default_pool_size: 20,
    min_pool_size: 0,
    reserve_pool_size: 0,
    reserve_pool_timeout: 5,
    max_client_conn: 10000,
    max_login_clients: 1000,
    max_db_connections: 0,
    max_user_connections: 0,

    server_reset_query: 'DISCARD ALL',
    max_prepared_statements: 200,
    max_client_prepared_statements: 10_000,
    pin_on_session_state: 'pin',
    trust_functions: false,
    server_reset_query_always: false,
    server_lifetime: 3600,
    server_max_uses: 0,
    server_idle_timeout: 600,
    pool_idle_timeout: 3600,
    server_application_name: '',
    server_connect_timeout: 15,
    server_login_retry: 15,
    server_scram_max_iterations: DEFAULT_MAX_SCRAM_ITERATIONS,

    client_login_timeout: 60,
    query_timeout: 0,
    query_wait_timeout: 120,
    client_idle_timeout: 0,
    idle_transaction_timeout: 0,
    shutdown_timeout: 30,

    max_packet_size: 256 * 1024 * 1024,
    tcp_keepalive: true,

    log_connections: true,
    log_disconnections: true,
    log_pooler_errors: true,
    log_level: 'info',
    log_statements: false,
    log_dir: '',
    state_dir: '',

    admin_users: [],
    stats_users: [],
    admin_http_listen: '',
    admin_socket_dir: defaultAdminSocketDir(),

    sr_check_period: 10,
    sr_check_user: '',
    sr_check_password: '',
    sr_check_database: 'postgres',
    health_check_period: 5,
    health_check_timeout: 5,
    health_check_max_retries: 2,
    // A standby cut off by a failover must not serve old data for ever (see docs/routing.md).
    delay_threshold: 16 * 1024 * 1024,
    delay_threshold_by_time: 10_000,
    prefer_lower_delay_standby: false,
    load_balance_mode: true,
    database_redirect_preference_list: '',
    app_name_redirect_preference_list: '',
    user_redirect_preference_list: '',
    write_function_list: [],
    read_only_function_list: [],
    consistency: 'read_your_writes',
    read_your_writes_timeout: 0.05,
    transaction_routing: 'conservative',

    backends: [],
    peers: [],
    databases: emptyMap<DatabaseConfig>(),
    users: emptyMap<UserConfig>(),
  };
}

/**
 * On by default, so that a pgtide whose file names no admin_users (one imported from
 * PgBouncer, whose console was reached over its unix socket) still has a console. Per OS user,
 * as tmux's /tmp/tmux-<uid>: another user's pgtide on the same host never meets this one's,
 * and /tmp is there and writable on any host and in any image.
 */
export function defaultAdminSocketDir(): string {
  return `${ADMIN_SOCKET_DIR_PREFIX}${process.getuid?.() ?? 0}`;
}

/** The default admin_socket_dir before the uid. */
export const ADMIN_SOCKET_DIR_PREFIX = '/tmp/pgtide-';

/** Database and user names come from clients: a map with a prototype would answer
 *  `databases['constructor']` with a function instead of "no such database". */
export function emptyMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
