// pgtide verifying a client with SCRAM-SHA-256, as PostgreSQL's auth-scram.c does:
// the n= user name is ignored (the startup packet's user counts), channel binding is not
// offered, so the client may say "n" or "y" but never "p=".
import { randomBytes } from 'node:crypto';
import {
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_KEY_LENGTH,
  SCRAM_SALT_LENGTH,
  constantTimeEqual,
  decodeBase64,
  decodeMessage,
  hmac,
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

type ExchangeState =
  | { phase: 'client-first' }
  | { phase: 'client-final'; clientFirstBare: string; serverFirst: string; nonce: string; channelBinding: string }
  | { phase: 'done' };

/**
 * Default key for per-user salts. Workers that share a listener should pass one common
 * key, or an unknown user's salt would change from worker to worker and give it away.
 */
const PROCESS_SALT_KEY = randomBytes(32);

export class ScramServer {
  readonly #secret: ScramSecret;
  /** true when no real secret exists: the exchange runs to the end and then fails. */
  readonly #mock: boolean;
  #state: ExchangeState = { phase: 'client-first' };
  #clientKey: Buffer | null = null;

  /**
   * secret: plain (a SCRAM secret is derived, 4096 iterations) or scram. null = unknown
   * user / md5-only secret / empty password: the whole exchange runs with a mock secret
   * and fails at the end, so a client cannot tell which users exist.
   * saltKey: keys the per-user salt of mock and plain secrets. The salt is the same on
   * every attempt, whether the user exists or not (a fresh random salt per login would
   * reveal the users that do).
   */
  constructor(secret: Secret | null, userName: string, saltKey: Buffer = PROCESS_SALT_KEY) {
    const salt = hmac(saltKey, `salt\0${userName}`).subarray(0, SCRAM_SALT_LENGTH);
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
        storedKey: hmac(saltKey, `stored\0${userName}`),
        serverKey: hmac(saltKey, `server\0${userName}`),
      };
      this.#mock = true;
    }
  }

  /** After a successful clientFinal: the client's ClientKey, to log in to servers holding the same secret. */
  get clientKey(): Buffer | null {
    return this.#clientKey;
  }

  /** data = SASLInitialResponse payload. Returns server-first-message. */
  clientFirst(data: Buffer): ScramStep {
    if (this.#state.phase !== 'client-first') return this.#fail('08P01', 'unexpected SCRAM client-first-message');
    const text = decodeMessage(data);
    if (text === null) return this.#malformed('not valid UTF-8 or too long');

    const flagEnd = text.indexOf(',');
    const headerEnd = flagEnd < 0 ? -1 : text.indexOf(',', flagEnd + 1);
    if (headerEnd < 0) return this.#malformed('missing GS2 header');
    const channelBindingFlag = text.slice(0, flagEnd);
    if (channelBindingFlag.startsWith('p=')) {
      return this.#fail('08P01', 'the client selected SCRAM-SHA-256 but asks for channel binding; SCRAM-SHA-256-PLUS is not offered');
    }
    if (channelBindingFlag !== 'n' && channelBindingFlag !== 'y') return this.#malformed('unexpected channel-binding flag');
    if (headerEnd !== flagEnd + 1) return this.#fail('0A000', 'client uses an authorization identity, which is not supported');

    const clientFirstBare = text.slice(headerEnd + 1);
    const attributes = parseAttributes(clientFirstBare);
    if (!attributes) return this.#malformed(ATTRIBUTE_FORM);
    if (attributes[0]?.name === 'm') return this.#fail('0A000', 'client requires an unsupported SCRAM extension');
    if (attributes[0]?.name !== 'n') return this.#malformed('expected username attribute "n"');
    const clientNonce = attributes[1];
    if (clientNonce?.name !== 'r' || !isPrintable(clientNonce.value)) return this.#malformed('expected a nonce attribute "r"');

    const nonce = clientNonce.value + randomNonce();
    const serverFirst = `r=${nonce},s=${this.#secret.salt.toString('base64')},i=${this.#secret.iterations}`;
    const channelBinding = Buffer.from(text.slice(0, headerEnd + 1)).toString('base64');
    this.#state = { phase: 'client-final', clientFirstBare, serverFirst, nonce, channelBinding };
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
    const attributes = parseAttributes(withoutProof);
    if (!attributes) return this.#malformed(ATTRIBUTE_FORM);
    if (attributes[0]?.name !== 'c') return this.#malformed('expected channel-binding attribute "c"');
    if (attributes[0].value !== state.channelBinding) return this.#malformed('channel-binding data does not match the GS2 header');
    if (attributes[1]?.name !== 'r' || attributes[1].value !== state.nonce) return this.#malformed('nonce does not match');
    const proof = decodeBase64(text.slice(proofAt + 3));
    if (proof?.length !== SCRAM_KEY_LENGTH) return this.#malformed('invalid client proof');

    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(this.#secret.storedKey, authMessage));
    // Verify even for a mock secret so a missing user costs the same time as a wrong password.
    const proofMatches = constantTimeEqual(sha256(clientKey), this.#secret.storedKey);
    this.#state = { phase: 'done' };
    if (!proofMatches || this.#mock) return { ok: false, error: 'password authentication failed', sqlstate: '28P01' };
    this.#clientKey = clientKey;
    return { ok: true, message: `v=${hmac(this.#secret.serverKey, authMessage).toString('base64')}` };
  }

  #malformed(detail: string): ScramStep {
    return this.#fail('08P01', `malformed SCRAM message: ${detail}`);
  }

  #fail(sqlstate: '08P01' | '0A000', error: string): ScramStep {
    this.#state = { phase: 'done' };
    return { ok: false, error, sqlstate };
  }
}
