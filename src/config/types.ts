// The one typed configuration of a pgtide process. Key names follow PgBouncer's where
// PgBouncer has the same setting, so operators can carry their knowledge (and files) over.
// Durations are seconds (fractions allowed); 0 disables a timeout or a limit unless noted.

export type PoolMode = 'session' | 'transaction' | 'statement';
/** cert: PgBouncer's; every client needs TLS and a certificate client_tls_ca_file signed whose CN is its user. */
export type AuthType = 'scram-sha-256' | 'md5' | 'plain' | 'trust' | 'cert';
/** How a client proves its password, once access is granted (cert is settled before). */
export type ExchangeType = Exclude<AuthType, 'cert'>;
export type ClientTlsMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
/** How a server may make pgtide prove its login; 'none' is a server that asks for nothing (trust). */
export type ServerAuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'none';
export type ServerChannelBinding = 'disable' | 'prefer' | 'require';
export type ServerTlsMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export type BackendRole = 'auto' | 'primary' | 'standby';
export type Consistency = 'eventual' | 'read_your_writes' | 'primary_only';
export type TransactionRouting = 'conservative' | 'first_statement';

/** Another pgtide instance behind the same TCP load balancer: cancel requests for its clients go there. */
export interface PeerConfig {
  /** Its peer_id. */
  id: number;
  host: string;
  port: number;
}

export interface BackendConfig {
  /** Name used in logs, stats and the admin console; defaults to host:port. */
  name: string;
  host: string;
  port: number;
  /** Share of reads; 0 means this backend takes no load-balanced reads. */
  weight: number;
  /** A hint only: roles are discovered with pg_is_in_recovery(). */
  role: BackendRole;
  /** Per-backend login override for server connections. */
  user?: string;
  password?: string;
}

/** Per-database overrides. A database absent from the table is passed through by name. */
export interface DatabaseConfig {
  /** Name of the database on the servers (defaults to the client-facing name). */
  dbname: string;
  pool_mode?: PoolMode;
  pool_size?: number;
  min_pool_size?: number;
  reserve_pool_size?: number;
  max_db_connections?: number;
  /** Force every server login of this database to this user (PgBouncer's `user=`). */
  user?: string;
  password?: string;
  consistency?: Consistency;
  transaction_routing?: TransactionRouting;
}

export interface UserConfig {
  pool_mode?: PoolMode;
  pool_size?: number;
  max_user_connections?: number;
  consistency?: Consistency;
}

export interface Config {
  /** Names the instance in logs and in application_name of pgtide's own server connections. */
  instance_name: string;
  /** This instance's number among its peers, carried in every cancel key it hands out. */
  peer_id: number;

  // Listening: many ports at once replaces the seed's HAProxy.
  listen_addr: string[];
  listen_port: number[];
  /** Directory for the unix socket `.s.PGSQL.<first port>`; empty disables it. */
  unix_socket_dir: string;
  listen_backlog: number;
  /** Processes that serve clients, sharing the TCP listen ports (reusePort); the instance's
   *  limits are split among them (config/worker-share.ts). 1 = one process, no primary. */
  workers: number;

  // Client authentication.
  auth_type: AuthType;
  /** PgBouncer auth_file format: `"user" "password-or-md5-or-SCRAM-secret"` per line. */
  auth_file: string;
  /** pg_hba.conf-format rules (PgBouncer's hba_file); when set they choose each client's
   *  method (auth_type is then unused) and refuse clients no line admits. Empty = off. */
  hba_file: string;
  /** PgBouncer's auth_user: users absent from auth_file are looked up with auth_query, run
   *  as this user (its password comes from auth_file). Empty = off. */
  auth_user: string;
  /** Returns (user name, stored password) for the user name in $1; see src/auth/auth-query.ts. */
  auth_query: string;
  /** Database auth_query runs in; empty = the database the client asked for. */
  auth_dbname: string;

  client_tls_sslmode: ClientTlsMode;
  client_tls_key_file: string;
  client_tls_cert_file: string;
  client_tls_ca_file: string;

  server_tls_sslmode: ServerTlsMode;
  server_tls_ca_file: string;
  server_tls_key_file: string;
  server_tls_cert_file: string;
  /** Methods a server may ask pgtide to log in with (libpq's require_auth): anything else is
   *  refused before a password or hash is sent, so nobody on the way can downgrade SCRAM. */
  server_auth_methods: ServerAuthMethod[];
  /** libpq's channel_binding towards servers: SCRAM-SHA-256-PLUS when offered over TLS
   *  ('prefer'), never ('disable'), or a login refused without it ('require'). */
  server_channel_binding: ServerChannelBinding;

  // Pooling.
  pool_mode: PoolMode;
  default_pool_size: number;
  min_pool_size: number;
  reserve_pool_size: number;
  reserve_pool_timeout: number;
  max_client_conn: number;
  /** Cap on connections that have not finished logging in; the oldest is dropped beyond it. */
  max_login_clients: number;
  max_db_connections: number;
  max_user_connections: number;

  server_reset_query: string;
  /** Named prepared statements kept per server connection (least recently used closed beyond). */
  max_prepared_statements: number;
  /** Named prepared statements one client may hold at once (they live in pgtide's memory). */
  max_client_prepared_statements: number;
  /** Session state a server cannot hand over (temp table, WITH HOLD cursor, advisory lock …):
   *  `pin` keeps the client on its server, `error` refuses the statement (simple protocol). */
  pin_on_session_state: 'pin' | 'error';
  /** Trust code pgtide cannot see into (DO, CALL, FunctionCall, functions it does not know) to
   *  leave no settings or session state; false checks and cleans the server after it. */
  trust_functions: boolean;
  server_reset_query_always: boolean;
  server_lifetime: number;
  /** Close a server connection after this many client transactions/sessions (0 = never). */
  server_max_uses: number;
  server_idle_timeout: number;
  /** Drop a pool (database, user, backend) left with no client, waiter or connection this long (0 = never). */
  pool_idle_timeout: number;
  /** application_name pooled server connections log in with (a linked client's own replaces it); empty = none. */
  server_application_name: string;
  server_connect_timeout: number;
  server_login_retry: number;
  /** A server asking for more SCRAM iterations at login is refused (they run on the event loop). */
  server_scram_max_iterations: number;

  // Client-side timeouts.
  client_login_timeout: number;
  query_timeout: number;
  query_wait_timeout: number;
  client_idle_timeout: number;
  idle_transaction_timeout: number;
  shutdown_timeout: number;

  /** Largest protocol message accepted from a client or server, in bytes. */
  max_packet_size: number;
  tcp_keepalive: boolean;

  // Logging.
  log_connections: boolean;
  log_disconnections: boolean;
  log_pooler_errors: boolean;
  log_level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Log every statement a client sends (Query and Parse texts); off for speed, as the seed sets. */
  log_statements: boolean;
  /** Also write the log to <log_dir>/pgtide-<instance_name>.log, rotated by size; empty = stdout only. */
  log_dir: string;
  /** Where pgtide keeps what must survive its restart (the newest WAL timeline seen); empty = nowhere. */
  state_dir: string;

  // Admin console (virtual database `pgtide`) and metrics.
  /** Users who may run every console command (PAUSE, RELOAD, SHUTDOWN …). */
  admin_users: string[];
  /** Users who may run the read-only SHOW commands. */
  stats_users: string[];
  /** "host:port" of the HTTP server for /metrics, /healthz and /readyz; empty = off. */
  admin_http_listen: string;
  /** Directory (owner-only) of the admin socket `.s.PGSQL.<first port>`: a console login on
   *  it is admin without a password, as only pgtide's OS user (and root) can connect. Empty = off. */
  admin_socket_dir: string;

  // Cluster monitoring and read/write routing (Pgpool-II's names and units).
  /** How often roles (pg_is_in_recovery) and replication lag are checked, seconds. */
  sr_check_period: number;
  /** Login for pgtide's own checks; empty = the first user of auth_file. */
  sr_check_user: string;
  /** Empty = the password auth_file holds for sr_check_user. */
  sr_check_password: string;
  sr_check_database: string;
  /** How often each backend is probed, seconds; 0 disables health checks. */
  health_check_period: number;
  health_check_timeout: number;
  /** Failed probes in a row before a backend leaves the rotation. */
  health_check_max_retries: number;
  /** A standby this many WAL bytes behind leaves the read rotation; 0 disables. */
  delay_threshold: number;
  /** A standby this many milliseconds behind leaves the read rotation; 0 disables. */
  delay_threshold_by_time: number;
  prefer_lower_delay_standby: boolean;
  /** false sends everything to the primary. */
  load_balance_mode: boolean;
  /** Pgpool-II syntax, e.g. `challenge:standby,app.*:primary(0.5)`. */
  database_redirect_preference_list: string;
  app_name_redirect_preference_list: string;
  user_redirect_preference_list: string;
  /** Regexes of function names that write (Pgpool-II's lists). */
  write_function_list: string[];
  read_only_function_list: string[];
  consistency: Consistency;
  /** Longest wait for a standby to replay a client's last write before reading from the primary, seconds. */
  read_your_writes_timeout: number;
  transaction_routing: TransactionRouting;

  backends: BackendConfig[];
  /** The other instances a client's cancel request may land on (see peer_id). */
  peers: PeerConfig[];
  databases: Record<string, DatabaseConfig>;
  users: Record<string, UserConfig>;
}
