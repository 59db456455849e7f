// What pgtide logs in to a server with (endpoint, credentials, TLS, limits), and how a login fails.
import type { ErrorFields } from '../protocol/backend.js';
import { SQLSTATE } from '../protocol/sqlstate.js';
import type { Secret } from '../auth/secret.js';
import type { ScramCredentials } from '../auth/scram-client.js';
import type { ServerAuthMethod, ServerChannelBinding, ServerTlsMode } from '../config/types.js';

export interface ServerEndpoint {
  host: string;
  port: number;
}

export interface ServerCredentials {
  user: string;
  /** Plain or md5 secret; enough for cleartext, md5 and (plain only) SCRAM. */
  secret?: Secret;
  /** Keys recovered from a client's SCRAM login, for SCRAM without the password. */
  scram?: ScramCredentials;
}

export interface ServerTls {
  mode: ServerTlsMode;
  ca?: Buffer;
  key?: Buffer;
  cert?: Buffer;
}

export interface ServerLogin {
  endpoint: ServerEndpoint;
  credentials: ServerCredentials;
  database: string;
  params: Record<string, string>;
  tls: ServerTls;
  connectTimeoutMs: number;
  maxPacketSize: number;
  maxPreparedStatements: number;
  /** server_auth_methods: what the server may ask for before pgtide sends anything secret. */
  authMethods: readonly ServerAuthMethod[];
  /** server_scram_max_iterations: a higher count the server asks for fails the login. */
  maxScramIterations: number;
  /** server_channel_binding: SCRAM-SHA-256-PLUS when offered over TLS, never, or required. */
  channelBinding: ServerChannelBinding;
}

export class ServerLoginError extends Error {
  constructor(
    message: string,
    readonly fields: ErrorFields | null,
    readonly transient: boolean,
    /** Nothing answered within connectTimeoutMs: unlike a refusal, the server may take no new
     *  connection at all while its open ones still answer (a stopped postmaster). */
    readonly timedOut = false,
  ) {
    super(message);
  }
}

/** host:port, as messages and logs name a server. */
export function describeEndpoint(endpoint: ServerEndpoint): string {
  return `${endpoint.host}:${endpoint.port}`;
}

/** pgtide itself has no file descriptor left for a server connection: the clients waiting for
 *  one are told so now (53300, as PostgreSQL says when it has no room for a connection)
 *  rather than at query_wait_timeout with a misleading 57014. */
export function outOfDescriptors(server: string, code: string): ServerLoginError {
  const message = `pgtide cannot open a connection to server ${server}: no file descriptor left (${code})`;
  return new ServerLoginError(
    message,
    {
      severity: 'FATAL',
      code: SQLSTATE.TOO_MANY_CONNECTIONS,
      message,
      hint: "Raise pgtide's open-files limit (ulimit -n, LimitNOFILE) or lower max_client_conn.",
    },
    false,
  );
}
