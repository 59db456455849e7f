// pgtide verifying a client with SCRAM-SHA-256, as PostgreSQL's auth-scram.c does: the n=
// user name is ignored (the startup packet's user counts). On TLS, SCRAM-SHA-256-PLUS binds
// the exchange to pgtide's certificate (tls-server-end-point, RFC 5929): a man in the middle
// who terminates TLS with another certificate cannot relay the client's proof.
import { randomBytes } from 'node:crypto';
import { LruCache } from '../sql/lru.js';
import {
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_KEY_LENGTH,
  SCRAM_SALT_LENGTH,
  constantTimeEqual,
  decodeBase64,
  decodeMessage,
  hmac,
  hmacBase64,
  isPrintable,
  parseAttributes,
  randomNonce,
  sha256,
  xor,
} from './scram.js';
import { scramSecretFromPassword, type ScramSecret, type Secret } from './secret.js';

/** sqlstate: 08P01 malformed exchange, 0A000 unsupported SCRAM feature, 28P01 wrong password. */
export type ScramStep =
  | { ok: true; message: string }
  | { ok: false; error: string; sqlstate: '08P01' | '0A000' | '28P01' };

const ATTRIBUTE_FORM = 'attributes must have the form <letter>=<value>';

// The c= attribute without channel binding: base64 of the GS2 header, `n,,` or `y,,`.
const UNBOUND_N = Buffer.from('n,,').toString('base64');
const UNBOUND_Y = Buffer.from('y,,').toString('base64');

type ExchangeState =
  | { phase: 'client-first' }
  | {
      phase: 'client-final';
      clientFirstBare: string;
      serverFirst: string;
      nonce: string;
      channelBinding: string;
      /** The client-final-message without proof that a client sends without extensions. */
      usualWithoutProof: string;
    }
  | { phase: 'done' };

/** What a user name derives from the salt key: its salt, and the mock keys of a user without a secret. */
interface NameMaterial {
  salt: Buffer;
  mockStoredKey: Buffer;
  mockServerKey: Buffer;
}

// Three HMACs per name, the same at every login: kept for the names seen lately. A hit or a miss
// tells only whether a name was tried lately, not whether it exists (unknown names are kept alike).
const NAME_CACHE_ENTRIES = 10_000;
const NAME_MATERIAL_BYTES = 3 * 32 + 200;

/**
 * Per-user salts and mock keys under one key. Workers that share a listener should use one
 * common key, or an unknown user's salt would change from worker to worker and give it away.
 */
export class NameSalts {
  readonly #key: Buffer;
  readonly #cache = new LruCache<NameMaterial>(NAME_CACHE_ENTRIES, NAME_CACHE_ENTRIES * NAME_MATERIAL_BYTES);

  constructor(key: Buffer = randomBytes(32)) {
    this.#key = key;
  }

  of(userName: string): NameMaterial {
    const cached = this.#cache.get(userName);
    if (cached) return cached;
    const key = this.#key;
    const material = {
      salt: hmac(key, `salt\0${userName}`).subarray(0, SCRAM_SALT_LENGTH),
      mockStoredKey: hmac(key, `stored\0${userName}`),
      mockServerKey: hmac(key, `server\0${userName}`),
    };
    this.#cache.set(userName, material, NAME_MATERIAL_BYTES);
    return material;
  }
}

const PROCESS_SALTS = new NameSalts();

export class ScramServer {
  readonly #secret: ScramSecret;
  /** true when no real secret exists: the exchange runs to the end and then fails. */
  readonly #mock: boolean;
  #state: ExchangeState = { phase: 'client-first' };
  #clientKey: Buffer | null = null;
  /** The tls-server-end-point hash of pgtide's certificate; null when not on TLS (no -PLUS). */
  readonly #endPoint: Buffer | null;

  /**
   * secret: plain (a SCRAM secret is derived, 4096 iterations) or scram. null = unknown
   * user / md5-only secret / empty password: the whole exchange runs with a mock secret
   * and fails at the end, so a client cannot tell which users exist.
   * salts: the per-user salt of mock and plain secrets. The salt is the same on every
   * attempt, whether the user exists or not (a fresh random salt per login would reveal the
   * users that do).
   */
  constructor(
    secret: Secret | null,
    userName: string,
    salts: NameSalts = PROCESS_SALTS,
    endPoint: Buffer | null = null,
  ) {
    this.#endPoint = endPoint;
    const { salt, mockStoredKey, mockServerKey } = salts.of(userName);
    if (secret?.kind === 'scram') {
      this.#secret = secret;
      this.#mock = false;
    } else if (secret?.kind === 'plain' && secret.password !== '') {
      this.#secret = scramSecretFromPassword(secret.password, salt);
      this.#mock = false;
    } else {
      this.#secret = {
        kind: 'scram',
        iterations: SCRAM_DEFAULT_ITERATIONS,
        salt,
        storedKey: mockStoredKey,
        serverKey: mockServerKey,
      };
      this.#mock = true;
    }
  }

  /** After a successful clientFinal: the client's ClientKey, to log in to servers holding the same secret. */
  get clientKey(): Buffer | null {
    return this.#clientKey;
  }

  /** data = SASLInitialResponse payload; plus: the client chose SCRAM-SHA-256-PLUS. Returns server-first-message. */
  clientFirst(data: Buffer, plus = false): ScramStep {
    if (this.#state.phase !== 'client-first') return this.#fail('08P01', 'unexpected SCRAM client-first-message');
    const text = decodeMessage(data);
    if (text === null) return this.#malformed('not valid UTF-8 or too long');

    const flagEnd = text.indexOf(',');
    const headerEnd = flagEnd < 0 ? -1 : text.indexOf(',', flagEnd + 1);
    if (headerEnd < 0) return this.#malformed('missing GS2 header');
    const flag = text.slice(0, flagEnd);
    const refusal = this.#channelBindingRefusal(flag, plus);
    if (refusal) return refusal;
    if (headerEnd !== flagEnd + 1)
      return this.#fail('0A000', 'client uses an authorization identity, which is not supported');

    const clientFirstBare = text.slice(headerEnd + 1);
    const attributes = parseAttributes(clientFirstBare);
    if (!attributes) return this.#malformed(ATTRIBUTE_FORM);
    if (attributes[0]?.name === 'm') return this.#fail('0A000', 'client requires an unsupported SCRAM extension');
    if (attributes[0]?.name !== 'n') return this.#malformed('expected username attribute "n"');
    const clientNonce = attributes[1];
    if (clientNonce?.name !== 'r' || !isPrintable(clientNonce.value))
      return this.#malformed('expected a nonce attribute "r"');

    const nonce = clientNonce.value + randomNonce();
    const serverFirst = `r=${nonce},s=${this.#secret.salt.toString('base64')},i=${this.#secret.iterations}`;
    // c= is the GS2 header, then (with -PLUS) the hash of the certificate the client saw.
    const channelBinding = plus
      ? Buffer.concat([Buffer.from(text.slice(0, headerEnd + 1)), this.#endPoint!]).toString('base64')
      : flag === 'n'
        ? UNBOUND_N
        : UNBOUND_Y;
    const usualWithoutProof = `c=${channelBinding},r=${nonce}`;
    this.#state = { phase: 'client-final', clientFirstBare, serverFirst, nonce, channelBinding, usualWithoutProof };
    return { ok: true, message: serverFirst };
  }

  /** data = SASLResponse payload (client-final). Returns server-final-message ('v=...'). */
  clientFinal(data: Buffer): ScramStep {
    const state = this.#state;
    if (state.phase !== 'client-final') return this.#fail('08P01', 'unexpected SCRAM client-final-message');
    const text = decodeMessage(data);
    if (text === null) return this.#malformed('not valid UTF-8 or too long');

    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) return this.#malformed('missing proof');
    const withoutProof = text.slice(0, proofAt);
    // Clients send no extensions: the usual message needs no parsing.
    if (withoutProof !== state.usualWithoutProof) {
      const refusal = this.#finalRefusal(withoutProof, state);
      if (refusal) return refusal;
    }
    const proof = decodeBase64(text.slice(proofAt + 3));
    if (proof?.length !== SCRAM_KEY_LENGTH) return this.#malformed('invalid client proof');

    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(this.#secret.storedKey, authMessage));
    // Verify even for a mock secret so a missing user costs the same time as a wrong password.
    const proofMatches = constantTimeEqual(sha256(clientKey), this.#secret.storedKey);
    this.#state = { phase: 'done' };
    if (!proofMatches || this.#mock) return { ok: false, error: 'password authentication failed', sqlstate: '28P01' };
    this.#clientKey = clientKey;
    return { ok: true, message: `v=${hmacBase64(this.#secret.serverKey, authMessage)}` };
  }

  /** What is wrong with a client-final-message without proof that is not the usual one; null: nothing (extensions). */
  #finalRefusal(withoutProof: string, state: { channelBinding: string; nonce: string }): ScramStep | null {
    const attributes = parseAttributes(withoutProof);
    if (!attributes) return this.#malformed(ATTRIBUTE_FORM);
    if (attributes[0]?.name !== 'c') return this.#malformed('expected channel-binding attribute "c"');
    if (attributes[0].value !== state.channelBinding)
      return this.#malformed('channel-binding data does not match the GS2 header');
    if (attributes[1]?.name !== 'r' || attributes[1].value !== state.nonce)
      return this.#malformed('nonce does not match');
    return null;
  }

  /** The GS2 flag must agree with the mechanism chosen and with what was offered. */
  #channelBindingRefusal(flag: string, plus: boolean): ScramStep | null {
    if (plus) {
      if (!this.#endPoint)
        return this.#fail('08P01', 'the client selected SCRAM-SHA-256-PLUS, which is only offered on TLS');
      if (flag === 'p=tls-server-end-point') return null;
      if (flag.startsWith('p='))
        return this.#fail('0A000', `unsupported SCRAM channel-binding type "${flag.slice(2, 40)}"`);
      return this.#malformed('the client selected SCRAM-SHA-256-PLUS without channel binding');
    }
    if (flag.startsWith('p='))
      return this.#fail('08P01', 'the client selected SCRAM-SHA-256 but asks for channel binding');
    // "y": the client could bind but believes pgtide cannot; pgtide offered -PLUS, so someone
    // on the way removed it from the list (RFC 5802's downgrade check).
    if (flag === 'y' && this.#endPoint) {
      return this.#fail(
        '08P01',
        'SCRAM channel binding negotiation error: the client believes channel binding is not offered, but it is',
      );
    }
    return flag === 'n' || flag === 'y' ? null : this.#malformed('unexpected channel-binding flag');
  }

  #malformed(detail: string): ScramStep {
    return this.#fail('08P01', `malformed SCRAM message: ${detail}`);
  }

  #fail(sqlstate: '08P01' | '0A000', error: string): ScramStep {
    this.#state = { phase: 'done' };
    return { ok: false, error, sqlstate };
  }
}
