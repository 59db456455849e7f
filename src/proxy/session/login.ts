// A client's way in: the startup packet (or SSLRequest, GSSENCRequest, CancelRequest), TLS,
// hba and authentication, then the login itself: the pool's settings to report, BackendKeyData
// and the first ReadyForQuery. The admin console's login ends here too.
import tls from 'node:tls';
import { collectTable } from '../../protocol/scanner.js';
import {
  LATEST_MINOR,
  PROTOCOL_3_0,
  parseOptions,
  StartupOptionsError,
  startupName,
  type StartupPacket,
} from '../../protocol/startup.js';
import { FrontendMessage } from '../../protocol/types.js';
import * as encode from '../../protocol/encode.js';
import { SQLSTATE } from '../../protocol/encode.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import { paramsForClients } from '../../pool/pool.js';
import { ClientAuth } from '../client-auth.js';
import { lookUpPassword, lookUpRoles, needsLookup } from '../auth-lookup.js';
import { checkAccess, type Access } from '../client-access.js';
import { acceptClientTls, clientCertificate, directTlsAgreed, opensDirectTls, tlsServerEndPoint } from '../tls.js';
import { handleCancelRequest } from '../peer-cancel.js';
import { SessionSettings } from '../session-settings.js';
import type { ClientSession } from '../client-session.js';
import { CONSOLE_PARAMS, answerConsoleQuery, consoleRole, type ConsoleRole } from './console.js';
import { setUp } from './handoff.js';
import { loginAnswer } from './reported-params.js';
import { isOn, isSerializable } from './setting-values.js';
import { NO_CHUNKS, NO_PARAMS, State, poolOf, releaseAfterFailure } from './state.js';
import { bindSocket, shareClientReads, unbindSocket, writeToClient } from './socket.js';
import { leaveIfAnswered } from './client-end.js';
import { eventNow } from '../../event-clock.js';

/** The roles of a user when no hba line asks for them. */
const NO_ROLES: ReadonlySet<string> = new Set();

// During login every message is looked at: only password-family ('p') messages are legal.
export const AUTH_TYPES = new Uint8Array(256).fill(1);
// Sync points (Query, Sync, FunctionCall), Parse (to route by its text), Execute (which may start a COPY IN), the end
// of a COPY IN (CopyDone, CopyFail), Flush (what a client that ends is owed) and Terminate; of a Bind (to route by the
// statement it runs) only the names at its start, never its parameters; of a Describe or Close only that it came (it
// opens a batch where COPY data after a Query would not, see copyAfterQuery). Query and Parse bodies are read whole
// while the process-wide AssemblyBudget allows.
const QUERY_TYPES = collectTable('SEcfXFH', 'BDC', 'QP');
const AUTHENTICATION_OK = encode.authenticationOk();
const AUTHENTICATED: readonly Buffer[] = [AUTHENTICATION_OK];
const NO_HEAD: readonly Buffer[] = [];
// The answers to SSLRequest and GSSENCRequest (libpq's default sslmode=prefer asks at every connection).
const NO = Buffer.from('N');
const YES = Buffer.from('S');

/** Login is where a session's fields are first set, and the session itself is what the login
 *  registers (cancel key, clients logging in, pool waiter): these functions take it whole. */
type LoginSession = ClientSession;

export function onStartupData(s: LoginSession, chunk: Buffer): void {
  if (opensDirectTls(chunk, s.startup!)) return startDirectTls(s, chunk);
  const got = s.startup!.push(chunk);
  if (!got) return;
  const rest = got.consumed < chunk.length ? chunk.subarray(got.consumed) : null;
  onStartupPacket(s, got.packet, rest);
}

function onStartupPacket(s: LoginSession, packet: StartupPacket, rest: Buffer | null): void {
  const cfg = s.ctx.config;
  switch (packet.kind) {
    case 'error':
      return s.fatal(packet.sqlstate, packet.message);
    case 'terminate':
      return s.close();
    case 'cancel':
      s.ctx.log.debug({ client: s.remote }, 'cancel request');
      // Nothing is read from it until it is closed, once the cancel went out (see
      // handleCancelRequest); then only its end, which a closed session ignores.
      s.pauseClient();
      handleCancelRequest(s.ctx, packet.pid, packet.secret, () => {
        s.close();
        s.resumeClient();
      });
      return;
    case 'gssenc':
      if (rest) return s.protocolViolation('unexpected data after GSSENCRequest');
      s.startup!.reset();
      writeToClient(s, NO);
      return;
    case 'ssl':
      // Bytes already sent behind the SSLRequest were not protected by TLS: an injection.
      if (rest) return s.protocolViolation('unexpected data after SSLRequest');
      s.startup!.reset();
      if (!s.ctx.clientTls) {
        writeToClient(s, NO);
        return;
      }
      s.startup!.tlsStarted();
      s.socket.write(YES);
      return startTls(s);
    case 'startup':
      break;
  }
  // The admin socket is local, as a PostgreSQL `local` line is: TLS would guard nothing there.
  if (
    !s.viaAdminSocket &&
    (cfg.client_tls_sslmode === 'require' ||
      cfg.client_tls_sslmode === 'verify-ca' ||
      cfg.client_tls_sslmode === 'verify-full')
  ) {
    if (!(s.socket instanceof tls.TLSSocket))
      return s.fatal(SQLSTATE.INVALID_AUTHORIZATION, 'SSL required', undefined, 'Connect with sslmode=require.');
  }
  // Versions up to 3.2 are taken as asked, as PostgreSQL 18 takes them (its 3.1 is 3.0).
  if (packet.minor > LATEST_MINOR || packet.unknownProtocolOptions.length > 0) {
    const version = PROTOCOL_3_0 | Math.min(packet.minor, LATEST_MINOR);
    s.socket.write(encode.negotiateProtocolVersion(version, packet.unknownProtocolOptions));
  }
  s.startup = null;
  s.startupParams = packet.params;
  s.user = startupName(packet.params.get('user') ?? '');
  s.database = startupName(packet.params.get('database') || s.user);
  // After the names: the refusal's log line says whose it was.
  if (wantsReplication(packet.params.get('replication'))) {
    // A walsender session (streaming, logical decoding, CREATE_REPLICATION_SLOT) lives on one
    // server for good and speaks its own commands: pooling it would only break it.
    return s.fatal(
      SQLSTATE.FEATURE_NOT_SUPPORTED,
      'pgtide does not proxy replication connections',
      undefined,
      'Connect to the primary directly for replication (logical replication, pg_basebackup, pg_receivewal).',
    );
  }
  if (s.viaAdminSocket) return adminSocketLogin(s, rest);
  if (s.overCapacity && !s.ctx.admin.isConsole(s.database))
    return s.fatal(SQLSTATE.TOO_MANY_CONNECTIONS, s.ctx.capRefusal);
  beginAuth(s, rest);
}

/**
 * A login on the admin socket (proxy/admin-socket.ts): only pgtide's OS user or root could
 * connect, so the console is theirs as an admin, without a password and under any user name:
 * the name proves nothing the kernel has not, and psql's default (the OS user's name) works.
 * The socket serves nothing else: clients belong on the listen ports, under hba and passwords.
 */
function adminSocketLogin(s: LoginSession, rest: Buffer | null): void {
  if (!s.ctx.admin.isConsole(s.database)) {
    return s.fatal(
      SQLSTATE.INVALID_AUTHORIZATION,
      `the admin socket serves only the admin console (database "pgbouncer" or "pgtide"), not database "${s.database}"`,
      undefined,
      'Connect to a listen port (listen_addr, unix_socket_dir) for other databases.',
    );
  }
  enterConsole(s, AUTHENTICATED, 'admin');
  if (rest && !s.isClosed) s.dispatch(rest);
}

/**
 * A client that starts with a TLS handshake (PostgreSQL 17's direct TLS, which saves the
 * SSLRequest's round trip): TLS begins on the bytes already read. As PostgreSQL, a server
 * without TLS closes such a connection without a word, since the client reads no plain text.
 */
function startDirectTls(s: LoginSession, hello: Buffer): void {
  if (!s.ctx.clientTls) {
    s.ctx.log.info({ client: s.remote }, 'direct TLS connection, but client TLS is not configured: closed');
    return s.close();
  }
  s.startup!.tlsStarted();
  startTls(s, hello);
}

/** `hello`: the handshake's first bytes when TLS began without an SSLRequest (direct), else null. */
function startTls(s: LoginSession, hello: Buffer | null = null): void {
  const cfg = s.ctx.config;
  const raw = s.socket;
  unbindSocket(raw);
  s.state = State.Tls;
  const verify = cfg.client_tls_sslmode === 'verify-ca' || cfg.client_tls_sslmode === 'verify-full';
  const secure = acceptClientTls(raw, s.ctx.clientTls!, hello, {
    // As PostgreSQL with ssl_ca_file: a certificate is asked for, for hba's cert and clientcert.
    requestCert: verify || cfg.client_tls_ca_file !== '',
    rejectUnauthorized: verify,
  });
  bindSocket(s, secure);
  s.encrypted = true;
  secure.once('secure', () => {
    if (s.state !== State.Tls) return;
    if (hello && !directTlsAgreed(secure)) {
      s.ctx.log.info({ client: s.remote }, 'direct TLS connection without ALPN postgresql: closed');
      return s.close();
    }
    // verify-ca / verify-full: a certificate from another CA ends the connection, as a failed
    // handshake would (see clientCertificate for why Node does not do it here).
    if (verify && !clientCertificate(secure)?.valid) {
      s.ctx.log.info({ client: s.remote }, 'client certificate not signed by client_tls_ca_file; connection closed');
      return s.close();
    }
    s.state = State.Startup;
  });
}

/** rest: bytes that came behind the startup packet, read as the client's first auth messages. */
function beginAuth(s: LoginSession, rest: Buffer | null): void {
  if (!s.ctx.hba?.needsGroups) return decideAccess(s, NO_ROLES, rest);
  whileLookingUp(s, lookUpRoles(s.ctx, s.database, s.user), (roles) => {
    if (typeof roles === 'string') return lookupFailed(s, roles, 'its role memberships');
    decideAccess(s, roles, rest);
  });
}

/** roles: those the user is or belongs to, for hba's +group and samerole. */
function decideAccess(s: LoginSession, roles: ReadonlySet<string>, rest: Buffer | null): void {
  const certificate = s.socket instanceof tls.TLSSocket ? clientCertificate(s.socket) : null;
  const { user, database } = s;
  const access = checkAccess(s.ctx, {
    remoteAddress: s.socket.remoteAddress,
    ssl: s.encrypted,
    user,
    database,
    certificate,
    roles,
  });
  if (!access.ok) {
    s.ctx.log.info(
      { client: s.remote, user, database, hba_line: access.line, certificate_cn: certificate?.cn },
      access.message,
    );
    return s.fatal(SQLSTATE.INVALID_AUTHORIZATION, access.message);
  }
  // trust lets in the users auth_file lists or auth_query finds, as PgBouncer's does (an
  // imported configuration may use that list to keep others out); anyone when neither is set.
  const { config, users } = s.ctx;
  const unlisted =
    access.authType === 'trust' &&
    !access.byCertificate &&
    !users.has(user) &&
    (config.auth_file !== '' || config.auth_user !== '');
  if (!needsLookup(s.ctx, user) || (access.authType === 'trust' && !unlisted)) {
    if (unlisted) return refuseUnlisted(s);
    return startAuth(s, access, users.get(user), rest);
  }
  // An unknown user, or one without a usable password, goes through the whole exchange and
  // fails at its end like a wrong password (no user probing).
  whileLookingUp(s, lookUpPassword(s.ctx, database, user), (answer) => {
    if (answer.kind === 'failed') return lookupFailed(s, answer.reason, 'its password');
    if (unlisted && answer.kind === 'unknown') return refuseUnlisted(s);
    if (answer.kind === 'unusable')
      s.ctx.log.warn({ client: s.remote, user, err: answer.reason }, 'auth_query password unusable');
    startAuth(s, access, answer.kind === 'found' ? (answer.stored ?? undefined) : undefined, rest);
  });
}

/** trust for a user neither auth_file nor auth_query knows (see decideAccess). */
function refuseUnlisted(s: LoginSession): void {
  const message = `"trust" authentication failed for user "${s.user}"`;
  s.ctx.log.info(
    { client: s.remote, user: s.user, database: s.database },
    `${message}: neither auth_file nor auth_query knows the user`,
  );
  s.fatal(SQLSTATE.INVALID_AUTHORIZATION, message);
}

function startAuth(
  s: LoginSession,
  access: Access & { ok: true },
  stored: string | undefined,
  rest: Buffer | null,
): void {
  s.state = State.Auth;
  s.scanner.collect = AUTH_TYPES;
  const endPoint = s.socket instanceof tls.TLSSocket ? tlsServerEndPoint(s.socket) : null;
  s.auth = new ClientAuth(
    access.authType,
    s.user,
    stored,
    s.ctx.plainToScram,
    endPoint,
    access.certMismatch,
    s.ctx.nameSalts,
  );
  onAuthStep(s, s.auth.start());
  // A method that asks nothing (trust) ends the login here: the bytes are then its first queries.
  if (rest && !s.isClosed) s.dispatch(rest);
}

/** The client, paused, waits for a lookup on the server (auth-lookup.ts); `then` runs only
 *  if it is still there. A lookup that throws (a bug) ends the login like a failed one. */
function whileLookingUp<T>(s: LoginSession, lookup: Promise<T>, then: (answer: T) => void): void {
  s.state = State.Lookup;
  s.pauseClient();
  lookup.then(
    (answer) => {
      if (s.state !== State.Lookup) return; // gone meanwhile (client_login_timeout, shutdown)
      s.resumeClient();
      then(answer);
    },
    (err: Error) => {
      if (s.state === State.Lookup) lookupFailed(s, `internal error: ${err.stack}`, 'what it needs');
    },
  );
}

function lookupFailed(s: LoginSession, reason: string, what: string): void {
  s.ctx.log.error({ client: s.remote, user: s.user, database: s.database, err: reason }, 'auth_query lookup failed');
  s.fatal(
    SQLSTATE.INVALID_AUTHORIZATION,
    `authentication failed for user "${s.user}": pgtide could not look up ${what}`,
    undefined,
    "The lookup on the server (auth_user) failed; pgtide's log says why.",
  );
}

export function onAuthData(s: LoginSession, chunk: Buffer): void {
  const end = s.scanner.scan(chunk, s);
  if (end < 0) return s.protocolViolation(s.scanner.error);
  // The scan stops where the login ended: what follows in the chunk (a client that did not wait
  // for AuthenticationOk, `printf … | nc`) is its first queries, as PostgreSQL reads them.
  if (end < chunk.length && s.state !== State.Closed) s.dispatch(chunk.subarray(end));
}

function onAuthStep(s: LoginSession, step: ReturnType<ClientAuth['start']>): void {
  switch (step.kind) {
    case 'send':
      writeToClient(s, step.message);
      return;
    case 'protocol':
      return s.protocolViolation(step.reason);
    case 'unsupported':
      return s.fatal(SQLSTATE.FEATURE_NOT_SUPPORTED, step.reason);
    case 'fail':
      s.ctx.log.info({ client: s.remote, user: s.user, reason: step.reason }, 'client authentication failed');
      return s.fatal(SQLSTATE.INVALID_PASSWORD, `password authentication failed for user "${s.user}"`);
    case 'ok':
      return authenticated(s, step.final ? [step.final, AUTHENTICATION_OK] : AUTHENTICATED);
  }
}

/**
 * head: what the answer starts with (SASLFinal, AuthenticationOk). Where the pool's settings
 * are known, the whole login answer follows it in one Buffer and one write: each write is a
 * system call, and several corked writes cost Node.js a writev and a request per Buffer.
 */
function authenticated(s: LoginSession, head: readonly Buffer[]): void {
  const ctx = s.ctx;
  if (ctx.admin.isConsole(s.database)) return enterConsole(s, head, consoleRole(ctx.config, s.user));
  if (ctx.admin.isDisabled(s.database)) {
    send(s, head);
    return s.fatal(
      SQLSTATE.CANNOT_CONNECT_NOW,
      `database "${s.database}" is disabled`,
      undefined,
      'An administrator ran DISABLE; ENABLE lets clients in again.',
    );
  }
  const mode = ctx.pools.modeFor(s.database, s.user);
  if (!ctx.pools.knowsDatabase(s.database)) {
    send(s, head);
    return s.fatal(
      SQLSTATE.INVALID_CATALOG_NAME,
      `no such database: ${s.database}`,
      undefined,
      'The database is not listed in the [databases] section of the pgtide configuration.',
    );
  }
  if (s.auth!.scramKeys) ctx.pools.rememberScramKeys(s.user, s.auth!.scramKeys);
  s.auth = null;
  s.mode = mode;
  s.applicationName = s.startupParams.get('application_name') ?? '';
  s.consistency = ctx.pools.consistencyFor(s.database, s.user);
  s.firstStatementRouting = mode === 'transaction' && ctx.pools.transactionRoutingFor(s.database) === 'first_statement';
  s.readOnlySession = isOn(startupSetting(s, 'default_transaction_read_only'));
  s.serializableSession = isSerializable(startupSetting(s, 'default_transaction_isolation'));
  try {
    s.settings = new SessionSettings(s.startupParams, ctx.startupSettings);
  } catch (err) {
    send(s, head);
    if (!(err instanceof StartupOptionsError)) throw err;
    return s.fatal(err.sqlstate, err.message);
  }
  s.startupParams = NO_PARAMS;
  // The login learns the settings to report from a primary connection; session pooling
  // also keeps its whole session there.
  // The session is its own ReadContext (database, user and application name are fixed from
  // here on): routing a read allocates nothing.
  const backend = ctx.router.writeBackend() ?? ctx.router.readBackend(s) ?? ctx.config.backends[0]!;
  s.pool = poolOf(s, backend);
  s.state = State.Login;
  s.scanner.collect = QUERY_TYPES;
  s.scanner.allow(ctx.config.max_packet_size);
  // Any backend's settings will do: a login must not wait for a primary that is down.
  const known = ctx.pools.serverParams(s.database, s.user);
  if (known) {
    // A setting no login to this pool gave is tried on an idle server first, as PostgreSQL
    // refuses an unknown name or a bad value at login; with none idle the login does not wait,
    // and its first statement gets the refusal (lib/pq reads that as a broken connection and retries).
    const server = s.pool.knowsSettings(s.settings.startup) ? null : s.pool.takeIdle(0, 0);
    if (server === null) return finishLogin(s, known, head);
    send(s, head);
    return learnServerParams(s, server, known);
  }
  send(s, head);
  s.waitingSince = eventNow();
  s.pool.acquire(s);
}

/** Called by the janitor while the login waits for its pool's first server: a backend that left
 *  service meanwhile (a primary declared unhealthy, a standby out of the rotation) may never
 *  give one, and any other backend's settings will do. */
export function relocateLogin(s: LoginSession): void {
  const ctx = s.ctx;
  const pool = s.pool!;
  let current = s.firstBackend;
  if (pool !== s.firstPool) for (const [backend, held] of s.otherPools!) if (held === pool) current = backend;
  if (current && ctx.router.isReadable(current)) return;
  const backend = ctx.router.writeBackend() ?? ctx.router.readBackend(s);
  if (!backend || backend === current) return;
  pool.cancelWait(s);
  s.pool = poolOf(s, backend);
  const known = ctx.pools.serverParams(s.database, s.user);
  if (known) return finishLogin(s, known);
  s.pool.acquire(s);
}

/** Several messages in one write. */
function send(s: LoginSession, messages: readonly Buffer[]): void {
  const out = s.socket;
  out.cork();
  for (const message of messages) out.write(message);
  out.uncork();
}

/** A setting from the startup packet, given directly or as `options=-c name=value`. */
function startupSetting(s: LoginSession, name: string): string | null {
  const direct = s.startupParams.get(name);
  if (direct !== undefined) return direct;
  const options = s.startupParams.get('options');
  if (!options) return null;
  const parsed = parseOptions(options);
  return parsed instanceof Map ? (parsed.get(name) ?? null) : null;
}

/** The virtual admin database: PgBouncer's console, answered by pgtide itself. */
function enterConsole(s: LoginSession, head: readonly Buffer[], role: ConsoleRole | null): void {
  if (role === null) {
    send(s, head);
    return s.fatal(
      SQLSTATE.INSUFFICIENT_PRIVILEGE,
      `user "${s.user}" may not use the admin console`,
      undefined,
      'List the user in admin_users or stats_users, or log in as the OS user running pgtide over the admin socket (admin_socket_dir).',
    );
  }
  s.consoleAdmin = role === 'admin';
  s.auth = null;
  s.scanner.allow(s.ctx.config.max_packet_size);
  // SHOW CLIENTS names the console's clients too, as PgBouncer does.
  s.applicationName = s.startupParams.get('application_name') ?? '';
  s.state = State.Admin;
  finishLogin(s, CONSOLE_PARAMS, head);
  s.state = State.Admin;
}

/** A whole message from a client in the console or authenticating; returns whether the scan goes on. */
export function onLoginMessage(s: LoginSession, type: number, body: Buffer): boolean {
  if (s.state === State.Admin) {
    onAdminMessage(s, type, body);
    return s.state === State.Admin;
  }
  // A client may give up before its password, as psql does when asked for one: quietly.
  if (type === FrontendMessage.Terminate) s.close();
  else if (type !== FrontendMessage.PasswordMessage)
    s.protocolViolation(`unexpected message '${String.fromCharCode(type)}' during authentication`);
  else onAuthStep(s, s.auth!.onPasswordMessage(body));
  return s.state === State.Auth;
}

function onAdminMessage(s: LoginSession, type: number, body: Buffer): void {
  if (type === FrontendMessage.Terminate) return s.close();
  if (type !== FrontendMessage.Query) {
    return s.fatal(
      SQLSTATE.FEATURE_NOT_SUPPORTED,
      'the admin console accepts only simple queries',
      undefined,
      'Use psql, or the simple query protocol.',
    );
  }
  answerConsoleQuery(s, body);
}

/**
 * The first login to a pool borrows a server to learn the settings to report, with the
 * client's startup settings applied (a name or value the server rejects ends the login then);
 * so does a login giving a setting no login to the pool gave (see Pool.knowsSettings),
 * which reports the pool's `known` settings as any later login does.
 */
export function learnServerParams(
  s: LoginSession,
  server: LinkedServer,
  known: ReadonlyMap<string, string> | null = null,
): void {
  const pool = s.pool!;
  setUp(s, server, null).then(
    () => {
      const params = known ?? paramsForClients(server.params);
      pool.tookSettings(s.settings!.startup);
      pool.release(server);
      // What the setup told the client of its own settings the login tells again, in the same
      // form: nothing of it is the client's own to keep (an idle client holds no map).
      if (known !== null) s.toldOwn = null;
      if (s.state === State.Login) finishLogin(s, params);
    },
    (err: Error & { code?: string }) => {
      releaseAfterFailure(pool, server, `applying startup settings failed: ${err.message}`);
      if (server.toldClientOfEnd) return s.close();
      s.fatal(err.code ?? SQLSTATE.CONNECTION_FAILURE, err.message);
    },
  );
}

/** head: messages not sent yet that go first (see authenticated). */
function finishLogin(s: LoginSession, params: ReadonlyMap<string, string>, head: readonly Buffer[] = NO_HEAD): void {
  const ctx = s.ctx;
  ctx.loggingIn.delete(s);
  if (!ctx.cancelKeys.issue(s)) {
    send(s, head);
    return s.fatal(
      SQLSTATE.TOO_MANY_CONNECTIONS,
      'sorry, too many clients already: this process has no cancel key left to give',
    );
  }
  writeToClient(s, loginAnswer(s, params, s, head));
  s.state = State.Ready;
  shareClientReads(s);
  s.lastActive = eventNow();
  if (ctx.config.log_connections) ctx.log.info({ client: s.remote, user: s.user, database: s.database }, 'login');
  const primary = ctx.router.writeBackend();
  // Not for the console, whose database no backend has.
  if (primary && s.mode !== 'session' && !ctx.admin.isConsole(s.database))
    ctx.functions.watchShadows(s.database, () => ctx.pools.loginFor(s.database, s.user, primary));
  const early = s.queued;
  if (early.length > 0) {
    s.queued = NO_CHUNKS;
    // Paused when they came (see ClientSession.onData): whatever the replay sends, the client's
    // next bytes must be read, or a session or transaction it pipelined into its login hangs.
    s.resumeClient();
    for (const chunk of early) s.onQueryData(chunk);
  }
  if (s.clientEnd !== 'open') leaveIfAnswered(s);
}

/** The startup packet's `replication` asks for a walsender: `database`, or true in any of
 *  PostgreSQL's boolean spellings. Only its false spellings mean an ordinary session. */
function wantsReplication(value: string | undefined): boolean {
  return value !== undefined && !/^\s*(off?|f(a(l(se?)?)?)?|no?|0)\s*$/i.test(value);
}
