import type { ExchangeType } from '../config/types.js';
import { parseSecret, md5PasswordHash, scramSecretFromPassword, type Secret } from '../auth/secret.js';
import { md5Verify } from '../auth/md5.js';
import { randomBuffer } from '../auth/random-pool.js';
import { ScramServer, type NameSalts, type ScramStep } from '../auth/scram-server.js';
import { constantTimeEqual } from '../auth/scram.js';
import type { ScramCredentials } from '../auth/scram-client.js';
import { decodePassword, decodeSASLInitialResponse, decodeSASLResponse } from '../protocol/frontend.js';
import * as encode from '../protocol/encode.js';
import { LruCache } from '../sql/lru.js';

export type AuthStep =
  | { kind: 'send'; message: Buffer }
  | { kind: 'ok'; final?: Buffer }
  | { kind: 'fail'; reason: string }
  | { kind: 'protocol'; reason: string }
  /** A SCRAM feature the client asks for that PostgreSQL does not offer either (0A000). */
  | { kind: 'unsupported'; reason: string };

const enum Method {
  Trust,
  Plain,
  Md5,
  Scram,
}

// PostgreSQL's order: libpq takes -PLUS when offered and its channel_binding allows.
const OFFER_SCRAM: AuthStep = { kind: 'send', message: encode.authenticationSASL(['SCRAM-SHA-256']) };
const OFFER_SCRAM_PLUS: AuthStep = {
  kind: 'send',
  message: encode.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']),
};

const CERT_MISMATCH: AuthStep = {
  kind: 'fail',
  reason: 'certificate validation (clientcert=verify-full) failed: CN mismatch',
};

/**
 * One client's login exchange. Unknown users and unusable secrets go through the same
 * exchange as real ones and fail only at the end, so a client cannot probe for user names.
 */
export class ClientAuth {
  private readonly method: Method;
  private readonly secret: Secret | null;
  /** MD5's salt, drawn when that exchange starts (most logins are SCRAM). */
  private salt: Buffer | null = null;
  private scram: ScramServer | null = null;
  private scramStep = 0;
  /** SCRAM keys proven by the client, for logging in to servers without the password. */
  scramKeys: ScramCredentials | null = null;

  /**
   * plainToScram turns a plain auth_file password into a SCRAM secret; the session passes a
   * cached derivation so that 4096 PBKDF2 rounds do not stall the event loop at every login.
   */
  /** endPoint: tls-server-end-point hash of pgtide's certificate on a TLS connection, which
   *  offers SCRAM-SHA-256-PLUS (see tlsServerEndPoint); null elsewhere. certMismatch: hba's
   *  clientcert=verify-full found another name in the certificate, so even the right password
   *  fails, at the end, as in PostgreSQL. salts: the instance's per-user salts (ProxyContext). */
  constructor(
    authType: ExchangeType,
    private readonly user: string,
    stored: string | undefined,
    private readonly plainToScram: (user: string, password: string) => Secret,
    private readonly endPoint: Buffer | null = null,
    private readonly certMismatch = false,
    private readonly salts?: NameSalts,
  ) {
    this.secret = stored === undefined ? null : safeParse(stored);
    this.method = chooseMethod(authType, this.secret);
  }

  /** The first message to send, or ok for trust. */
  start(): AuthStep {
    switch (this.method) {
      case Method.Trust:
        return { kind: 'ok' };
      case Method.Plain:
        return { kind: 'send', message: encode.authenticationCleartextPassword() };
      case Method.Md5:
        this.salt = randomBuffer(4);
        return { kind: 'send', message: encode.authenticationMD5Password(this.salt) };
      case Method.Scram:
        this.scram = new ScramServer(this.scramSecret(), this.user, this.salts, this.endPoint);
        return this.endPoint ? OFFER_SCRAM_PLUS : OFFER_SCRAM;
    }
  }

  private scramSecret(): Secret | null {
    const secret = this.secret;
    if (!secret || secret.kind === 'md5') return null;
    // An empty password never authenticates; ScramServer treats it like an unknown user.
    if (secret.kind === 'plain') return secret.password ? this.plainToScram(this.user, secret.password) : secret;
    return secret;
  }

  /** A PasswordMessage-family ('p') body from the client. */
  onPasswordMessage(body: Buffer): AuthStep {
    switch (this.method) {
      case Method.Plain: {
        const password = decodePassword(body);
        if (password === null) return { kind: 'protocol', reason: 'invalid password packet' };
        return this.verdict(this.secret !== null && plainMatches(this.user, this.secret, password));
      }
      case Method.Md5: {
        const response = decodePassword(body);
        if (response === null) return { kind: 'protocol', reason: 'invalid password packet' };
        return this.verdict(this.secret !== null && md5Verify(this.user, this.secret, this.salt!, response));
      }
      case Method.Scram:
        return this.onScram(body);
      default:
        return { kind: 'protocol', reason: 'unexpected password message' };
    }
  }

  private onScram(body: Buffer): AuthStep {
    const scram = this.scram!;
    if (this.scramStep === 0) {
      const initial = decodeSASLInitialResponse(body);
      if (!initial) return { kind: 'protocol', reason: 'invalid SASLInitialResponse' };
      const plus = initial.mechanism === 'SCRAM-SHA-256-PLUS' && this.endPoint !== null;
      if (initial.mechanism !== 'SCRAM-SHA-256' && !plus)
        return { kind: 'protocol', reason: `unsupported SASL mechanism "${initial.mechanism}"` };
      const step = scram.clientFirst(initial.data, plus);
      if (!step.ok) return scramRefusal(step);
      this.scramStep = 1;
      return { kind: 'send', message: encode.authenticationSASLContinue(step.message) };
    }
    if (this.scramStep !== 1) return { kind: 'protocol', reason: 'unexpected SASL message' };
    this.scramStep = 2;
    const step = scram.clientFinal(decodeSASLResponse(body));
    if (!step.ok) return scramRefusal(step);
    if (this.certMismatch) return CERT_MISMATCH;
    const secret = this.secret;
    if (secret?.kind === 'scram' && scram.clientKey) {
      this.scramKeys = {
        clientKey: scram.clientKey,
        storedKey: secret.storedKey,
        serverKey: secret.serverKey,
        salt: secret.salt,
        iterations: secret.iterations,
      };
    }
    return { kind: 'ok', final: encode.authenticationSASLFinal(step.message) };
  }

  private verdict(ok: boolean): AuthStep {
    if (!ok) return { kind: 'fail', reason: 'password does not match' };
    return this.certMismatch ? CERT_MISMATCH : { kind: 'ok' };
  }
}

// A stored secret is parsed (a regular expression, three base64 decodes) once, not at every
// login; the parsed secret is never changed, so sessions share it.
const PARSED_SECRETS = 10_000;
const PARSED_SECRET_BYTES = 300;
const parsedSecrets = new LruCache<Secret | null>(PARSED_SECRETS, PARSED_SECRETS * PARSED_SECRET_BYTES);

function safeParse(stored: string): Secret | null {
  const cached = parsedSecrets.get(stored);
  if (cached !== undefined) return cached;
  let secret: Secret | null;
  try {
    secret = parseSecret(stored);
  } catch {
    secret = null;
  }
  parsedSecrets.set(stored, secret, PARSED_SECRET_BYTES);
  return secret;
}

function chooseMethod(authType: ExchangeType, secret: Secret | null): Method {
  switch (authType) {
    case 'trust':
      return Method.Trust;
    case 'plain':
      return Method.Plain;
    case 'md5':
      // As PostgreSQL does: an md5 request cannot be answered from a SCRAM secret, so ask for SCRAM;
      // and a user without a secret (unknown, or no usable password) gets the mock SCRAM exchange,
      // as PostgreSQL's default password_encryption gives it, so md5 does not single it out.
      return secret === null || secret.kind === 'scram' ? Method.Scram : Method.Md5;
    case 'scram-sha-256':
      return Method.Scram;
  }
}

function plainMatches(user: string, secret: Secret, password: string): boolean {
  switch (secret.kind) {
    case 'plain':
      return constantTimeEqual(Buffer.from(secret.password), Buffer.from(password));
    case 'md5':
      return constantTimeEqual(Buffer.from(secret.hash), Buffer.from(md5PasswordHash(user, password)));
    case 'scram': {
      const derived = scramSecretFromPassword(password, secret.salt, secret.iterations);
      return constantTimeEqual(derived.storedKey, secret.storedKey);
    }
  }
}

/** PostgreSQL's SQLSTATE for a failed SCRAM step: 28P01 for a wrong password only; a malformed
 *  message (a nonce that is not the exchange's, a channel-binding claim, a proof that is no
 *  proof) is 08P01, an authorization identity or extension 0A000. */
function scramRefusal(step: Extract<ScramStep, { ok: false }>): AuthStep {
  if (step.sqlstate === '28P01') return { kind: 'fail', reason: step.error };
  if (step.sqlstate === '0A000') return { kind: 'unsupported', reason: step.error };
  return { kind: 'protocol', reason: step.error };
}
