// The server's side of a login: its authentication requests answered (cleartext, md5, SCRAM with
// channel binding to its certificate) within what server_auth_methods allows, its refusal, its end.
import tls from 'node:tls';
import type net from 'node:net';
import { decodeAuthentication, decodeErrorFields, readyForQueryStatus } from '../protocol/backend.js';
import * as encode from '../protocol/encode.js';
import { SQLSTATE } from '../protocol/sqlstate.js';
import { BackendMessage, TransactionStatus } from '../protocol/types.js';
import { md5Response } from '../auth/md5.js';
import { isEmptyPassword } from '../auth/secret.js';
import { tlsServerEndPointHash } from '../auth/channel-binding.js';
import { ScramClient, type ChannelBinding, type ScramCredentials } from '../auth/scram-client.js';
import type { ServerAuthMethod } from '../config/types.js';
import { describeEndpoint, ServerLoginError, type ServerLogin } from './server-login.js';

/** One login's exchange; every refusal is a ServerLoginError, thrown before anything secret is sent. */
export class ServerLoginExchange {
  private scram: ScramClient | null = null;
  /** The SCRAM exchange is bound to the server's certificate (SCRAM-SHA-256-PLUS). */
  private bound = false;
  /** AuthenticationOk arrived: the server may now finish the login, and ask for nothing more. */
  private authenticated = false;
  /** The server asked for a password, a hash or SASL: an AuthenticationOk before that is 'none'. */
  private challenged = false;

  constructor(private readonly login: ServerLogin) {}

  /**
   * A login message other than ParameterStatus and BackendKeyData (the connection keeps those),
   * answered on `socket` (the TLS one over TLS). Returns true when it ended the login.
   */
  onMessage(type: number, body: Buffer, socket: net.Socket): boolean {
    switch (type) {
      case BackendMessage.Authentication:
        this.onAuthentication(body, socket);
        return false;
      case BackendMessage.ErrorResponse: {
        const fields = decodeErrorFields(body);
        // 57P03 (starting up / shutting down / in recovery without hot standby) goes away, as
        // does a login that a fast shutdown (57P01) or a crash restart (57P02) ended: the
        // clients waiting for it wait for the server to come back, as for a refused connection.
        const code = fields.code;
        const transient = code === '57P03' || code === '53300' || code === '57P01' || code === '57P02';
        throw new ServerLoginError(fields.message || 'server refused the login', fields, transient);
      }
      case BackendMessage.NegotiateProtocolVersion:
        // We ask for 3.0 with no options, so any answer is fine.
        return false;
      case BackendMessage.NoticeResponse:
        return false;
      case BackendMessage.ReadyForQuery:
        // It ends a login only once authenticated, and must find no transaction open.
        if (!this.authenticated)
          throw new ServerLoginError('server sent ReadyForQuery before AuthenticationOk', null, false);
        if (readyForQueryStatus(body) !== TransactionStatus.Idle) {
          throw new ServerLoginError('server ended the login with a malformed or non-idle ReadyForQuery', null, false);
        }
        return true;
      default:
        throw new ServerLoginError(
          `unexpected message '${String.fromCharCode(type)}' from server during login`,
          null,
          false,
        );
    }
  }

  private onAuthentication(body: Buffer, socket: net.Socket): void {
    const auth = decodeAuthentication(body);
    if (!auth) throw new ServerLoginError('invalid authentication request from server', null, false);
    // A second request would make us send a password to a server that has already let us in.
    if (this.authenticated)
      throw new ServerLoginError('authentication request from server after AuthenticationOk', null, false);
    const { credentials } = this.login;
    const secret = credentials.secret;
    switch (auth.code) {
      case 0:
        // Skipping SASLFinal would skip the server's proof that it knows the password.
        if (this.scram)
          throw new ServerLoginError(
            'server sent AuthenticationOk before completing SCRAM authentication',
            null,
            false,
          );
        // A server (or a man in the middle) that lets pgtide in unasked proves nothing about
        // itself; with no password configured (or an empty one) there is nothing better to
        // expect (libpq alike).
        if (!this.challenged && ((secret && !isEmptyPassword(secret)) || credentials.scram)) this.allow('none');
        if (this.login.channelBinding === 'require' && !this.bound)
          throw this.bindingRequired('no authentication at all (AuthenticationOk unasked)');
        this.authenticated = true;
        return;
      case 3:
        this.allow('password');
        if (secret?.kind !== 'plain') throw this.noPassword('a cleartext password');
        this.challenged = true;
        socket.write(encode.passwordMessage(secret.password));
        return;
      case 5:
        this.allow('md5');
        if (!secret || secret.kind === 'scram') throw this.noPassword('an md5 password or hash');
        this.challenged = true;
        socket.write(encode.passwordMessage(md5Response(credentials.user, secret, auth.data.subarray(0, 4))));
        return;
      case 10: {
        if (this.scram) throw new ServerLoginError('unexpected second AuthenticationSASL from server', null, false);
        this.allow('scram-sha-256');
        const mechanisms = auth.data.toString('latin1').split('\0');
        const binding = this.channelBinding(mechanisms.includes('SCRAM-SHA-256-PLUS'), socket);
        if (typeof binding === 'string' && !mechanisms.includes('SCRAM-SHA-256')) {
          throw new ServerLoginError(
            `server offers no supported SASL mechanism (${mechanisms.filter(Boolean).join(', ')})`,
            null,
            false,
          );
        }
        const creds: ScramCredentials | undefined =
          secret?.kind === 'plain' ? { password: secret.password } : credentials.scram;
        if (!creds) throw this.noPassword('a plain password or the SCRAM keys of a client login');
        this.challenged = true;
        this.bound = typeof binding !== 'string';
        this.scram = new ScramClient(creds, undefined, this.login.maxScramIterations, binding);
        socket.write(encode.saslInitialResponse(this.scram.mechanism, this.scram.clientFirst()));
        return;
      }
      case 11:
        if (!this.scram) throw new ServerLoginError('unexpected SASLContinue from server', null, false);
        socket.write(encode.saslResponse(this.scram.serverFirst(auth.data)));
        return;
      case 12:
        if (!this.scram) throw new ServerLoginError('unexpected SASLFinal from server', null, false);
        this.scram.serverFinal(auth.data);
        this.scram = null;
        return;
      default:
        throw new ServerLoginError(`server asks for unsupported authentication method ${auth.code}`, null, false);
    }
  }

  /**
   * How this SCRAM exchange binds to TLS: to the server certificate's hash when the server
   * offers -PLUS over TLS (unless turned off); else 'y' where pgtide could have bound, so that
   * a server supporting -PLUS refuses an offer stripped of it. Throws when binding is required
   * and cannot happen, before anything is sent.
   */
  private channelBinding(plusOffered: boolean, socket: net.Socket): ChannelBinding {
    const mode = this.login.channelBinding;
    const endPoint =
      mode !== 'disable' && socket instanceof tls.TLSSocket
        ? tlsServerEndPointHash(socket.getPeerX509Certificate())
        : null;
    if (endPoint && plusOffered) return { endPoint };
    if (mode === 'require') {
      const why = !(socket instanceof tls.TLSSocket)
        ? 'the connection is not TLS'
        : endPoint === null
          ? 'its certificate names no hash to bind to'
          : 'it does not offer SCRAM-SHA-256-PLUS';
      throw this.bindingRequired(`SCRAM without channel binding: ${why}`);
    }
    return endPoint ? 'y' : 'n';
  }

  private bindingRequired(what: string): ServerLoginError {
    const message =
      `pgtide refused to log in to server ${describeEndpoint(this.login.endpoint)} as "${this.login.credentials.user}": ` +
      `server_channel_binding is "require", and the server offers ${what}`;
    return new ServerLoginError(
      message,
      {
        severity: 'FATAL',
        code: SQLSTATE.INVALID_AUTHORIZATION,
        message,
        hint: 'Have the server use TLS and SCRAM-SHA-256 (pg_hba.conf hostssl ... scram-sha-256), or set server_channel_binding to "prefer".',
      },
      false,
    );
  }

  /** Throws, before anything is sent, when server_auth_methods does not allow `method`. */
  private allow(method: ServerAuthMethod): void {
    if (this.login.channelBinding === 'require' && method !== 'scram-sha-256') {
      throw this.bindingRequired(
        method === 'none' ? 'no authentication at all (AuthenticationOk unasked)' : `"${method}" authentication`,
      );
    }
    const allowed = this.login.authMethods;
    if (allowed.includes(method)) return;
    const asked =
      method === 'none' ? 'no authentication at all (AuthenticationOk unasked)' : `"${method}" authentication`;
    const message =
      `pgtide refused to log in to server ${describeEndpoint(this.login.endpoint)} as "${this.login.credentials.user}": ` +
      `the server asked for ${asked}, but server_auth_methods allows only ${allowed.join(', ')}`;
    throw new ServerLoginError(
      message,
      {
        severity: 'FATAL',
        code: SQLSTATE.INVALID_AUTHORIZATION,
        message,
        hint: `Make the server's pg_hba.conf ask for ${allowed.join(' or ')}, or add "${method}" to pgtide's server_auth_methods if that server is trusted.`,
      },
      false,
    );
  }

  private noPassword(what: string): ServerLoginError {
    return new ServerLoginError(
      `cannot log in to server ${describeEndpoint(this.login.endpoint)} as "${this.login.credentials.user}": it asks for ${what}, which the auth_file does not provide`,
      null,
      false,
    );
  }
}
