// pgtide logging in to a PostgreSQL server with SCRAM-SHA-256. With clientKey credentials
// (taken from the client's own SCRAM exchange, see ScramServer.clientKey) it proves
// knowledge of the password without knowing it, as PgBouncer's auth passthrough does.
import {
  clientKeyOf,
  constantTimeEqual,
  decodeBase64,
  decodeMessage,
  hmac,
  isPrintable,
  parseAttributes,
  randomNonce,
  saltedPassword,
  serverKeyOf,
  sha256,
  xor,
} from './scram.js';

export type ScramCredentials =
  | { password: string }
  | { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer; salt: Buffer; iterations: number };

const MAX_SERVER_NONCE_LENGTH = 512;
/**
 * Each iteration is an HMAC computed synchronously, on the event loop every client shares
 * (1,000,000 took ~190 ms): a server asking for more than this is refused at login.
 * PostgreSQL's default is 4096; server_scram_max_iterations raises the cap.
 */
export const DEFAULT_MAX_SCRAM_ITERATIONS = 100_000;
/** The most server_scram_max_iterations allows, and what the parser reads (8 digits). */
export const MAX_SCRAM_ITERATIONS = 10_000_000;
/**
 * How the exchange is tied to the TLS connection (RFC 5802 §6): `endPoint`, bound to the
 * server certificate's hash (SCRAM-SHA-256-PLUS); 'y', not bound although pgtide could have
 * (the server offered no -PLUS over TLS: a server that does support it refuses 'y', so a man in
 * the middle cannot strip -PLUS from the offer); 'n', not bound (no TLS, or turned off).
 */
export type ChannelBinding = { endPoint: Buffer } | 'y' | 'n';

type ExchangeState =
  | { phase: 'initial' }
  | { phase: 'sent-client-first'; clientFirstBare: string }
  | { phase: 'sent-client-final'; serverSignature: Buffer }
  | { phase: 'done' };

export class ScramClient {
  readonly #credentials: ScramCredentials;
  readonly #clientNonce: string;
  readonly #maxIterations: number;
  readonly #gs2Header: string;
  /** The c= attribute: base64 of the GS2 header and, when bound, the binding data. */
  readonly #channelBinding: string;
  #state: ExchangeState = { phase: 'initial' };

  /** clientNonce is for reproducible exchanges (test vectors); leave it random otherwise. */
  constructor(
    credentials: ScramCredentials,
    clientNonce: string = randomNonce(),
    maxIterations = DEFAULT_MAX_SCRAM_ITERATIONS,
    binding: ChannelBinding = 'n',
  ) {
    this.#credentials = credentials;
    this.#clientNonce = clientNonce;
    this.#maxIterations = maxIterations;
    this.#gs2Header = typeof binding === 'string' ? `${binding},,` : 'p=tls-server-end-point,,';
    const data = typeof binding === 'string' ? Buffer.alloc(0) : binding.endPoint;
    this.#channelBinding = Buffer.concat([Buffer.from(this.#gs2Header), data]).toString('base64');
  }

  /** The SASL mechanism to name in SASLInitialResponse. */
  get mechanism(): string {
    return this.#gs2Header.startsWith('p=') ? 'SCRAM-SHA-256-PLUS' : 'SCRAM-SHA-256';
  }

  /** client-first-message ('n,,n=,r=<nonce>', or with the GS2 header of the binding). */
  clientFirst(): string {
    if (this.#state.phase !== 'initial') throw new Error('SCRAM client-first-message was already sent');
    // PostgreSQL takes the user from the startup packet, so n= stays empty (as in libpq).
    const clientFirstBare = `n=,r=${this.#clientNonce}`;
    this.#state = { phase: 'sent-client-first', clientFirstBare };
    return `${this.#gs2Header}${clientFirstBare}`;
  }

  /** server-first → client-final. Throws on anything that is not a sound server-first-message. */
  serverFirst(data: Buffer | string): string {
    const state = this.#state;
    if (state.phase !== 'sent-client-first') throw new Error('unexpected SCRAM server-first-message');
    this.#state = { phase: 'done' };
    const text = decodeMessage(data);
    if (text === null) throw malformed('server-first', 'not valid UTF-8 or too long');
    const attributes = parseAttributes(text);
    if (attributes?.[0]?.name === 'm') throw new Error('the server requires an unsupported SCRAM extension');
    const [nonce, salt64, iterationText] = attributes ?? [];
    if (nonce?.name !== 'r' || salt64?.name !== 's' || iterationText?.name !== 'i') {
      throw malformed('server-first', 'expected attributes r, s and i');
    }
    if (
      !nonce.value.startsWith(this.#clientNonce) ||
      nonce.value.length === this.#clientNonce.length ||
      !isPrintable(nonce.value)
    ) {
      throw malformed('server-first', 'the server nonce does not extend the client nonce');
    }
    if (nonce.value.length > MAX_SERVER_NONCE_LENGTH)
      throw malformed('server-first', `nonce longer than ${MAX_SERVER_NONCE_LENGTH} bytes`);
    const salt = decodeBase64(salt64.value);
    if (!salt || salt.length === 0) throw malformed('server-first', 'salt is not base64');
    const iterations = /^[1-9][0-9]{0,7}$/.test(iterationText.value) ? Number(iterationText.value) : 0;
    if (iterations < 1 || iterations > MAX_SCRAM_ITERATIONS) {
      throw malformed('server-first', `iteration count must be between 1 and ${MAX_SCRAM_ITERATIONS}`);
    }
    if (iterations > this.#maxIterations) {
      throw new Error(
        `the server asks for ${iterations} SCRAM iterations, more than server_scram_max_iterations (${this.#maxIterations}) allows: ` +
          "raise it if the server's scram_iterations is set that high",
      );
    }

    const { clientKey, storedKey, serverKey } = this.#keys(salt, iterations);
    const withoutProof = `c=${this.#channelBinding},r=${nonce.value}`;
    const authMessage = `${state.clientFirstBare},${text},${withoutProof}`;
    const proof = xor(clientKey, hmac(storedKey, authMessage));
    this.#state = { phase: 'sent-client-final', serverSignature: hmac(serverKey, authMessage) };
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Verifies the server signature; throws on mismatch or on 'e=' server errors. */
  serverFinal(data: Buffer | string): void {
    const state = this.#state;
    if (state.phase !== 'sent-client-final') throw new Error('unexpected SCRAM server-final-message');
    this.#state = { phase: 'done' };
    const text = decodeMessage(data);
    const attribute = text === null ? undefined : parseAttributes(text)?.[0];
    if (attribute?.name === 'e') {
      // The server's text is untrusted: keep it short and printable before it reaches a log.
      const reason = attribute.value.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
      throw new Error(`SCRAM authentication failed: the server reported "${reason}"`);
    }
    if (attribute?.name !== 'v') throw malformed('server-final', 'expected a verifier "v"');
    const signature = decodeBase64(attribute.value);
    if (!signature || !constantTimeEqual(signature, state.serverSignature)) {
      throw new Error('SCRAM server signature does not match: the server does not hold this password');
    }
  }

  #keys(salt: Buffer, iterations: number): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
    const credentials = this.#credentials;
    if ('password' in credentials) {
      const salted = saltedPassword(credentials.password, salt, iterations);
      const clientKey = clientKeyOf(salted);
      return { clientKey, storedKey: sha256(clientKey), serverKey: serverKeyOf(salted) };
    }
    // The ClientKey only fits the salt and iteration count it was derived with.
    if (!salt.equals(credentials.salt) || iterations !== credentials.iterations) {
      throw new Error('SCRAM secret of user does not match the server');
    }
    return credentials;
  }
}

function malformed(message: string, detail: string): Error {
  return new Error(`malformed SCRAM ${message}-message from server: ${detail}`);
}
