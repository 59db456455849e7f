// One client process of the many-idle-clients benchmark (bench/idle-60k.ts): it logs in
// connections with a minimal protocol client (raw bytes, SCRAM-SHA-256, no driver: a
// node-postgres Client costs the client process several times more memory and CPU) and holds
// them idle. Started with fork(); it answers its parent over IPC with the messages of
// bench/idle.ts:
//   { open: n }     logs in n more connections, at most RAW_CLIENTS_CONCURRENCY at a time;
//   { check: true } every connection runs `SELECT 1` and must get its row and ReadyForQuery;
// and exits (closing every connection) when its parent disconnects.
// Environment: RAW_CLIENTS_HOSTS and RAW_CLIENTS_PORTS (comma-separated: connection i goes to
// host i mod hosts and port i mod ports, so that no destination (address, port) needs more
// ephemeral ports than the kernel has), RAW_CLIENTS_CONCURRENCY, PGUSER / PGPASSWORD / PGDATABASE.
import net from 'node:net';
import { clientKeyOf, randomNonce, saltedPassword, SCRAM_MECHANISM, serverKeyOf, sha256 } from '../src/auth/scram.js';
import { ScramClient, type ScramCredentials } from '../src/auth/scram-client.js';
import { decodeErrorFields } from '../src/protocol/backend.js';
import { query, saslInitialResponse, saslResponse, startupMessage } from '../src/protocol/encode.js';
import { answerParent } from './idle.js';

const hosts = (process.env['RAW_CLIENTS_HOSTS'] ?? '127.0.0.1').split(',');
const ports = (process.env['RAW_CLIENTS_PORTS'] ?? '').split(',').map(Number);
if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p <= 0))
  throw new Error('RAW_CLIENTS_PORTS: no ports');
const concurrency = Number(process.env['RAW_CLIENTS_CONCURRENCY'] ?? 32);
const user = process.env['PGUSER'] ?? '';
const password = process.env['PGPASSWORD'] ?? '';
const database = process.env['PGDATABASE'] ?? '';
const startup = startupMessage({ user, database });
const selectOne = query('SELECT 1');

/**
 * PBKDF2 (4096 rounds) once per salt, not per login: the server side's cost is what is
 * measured, and a worker keeps one salt for its life. Each worker may have its own salt.
 */
const keysBySalt = new Map<string, ScramCredentials>();

/** What a connection waits for: the end of its login, or the answer to its query. */
interface Pending {
  resolve(): void;
  reject(err: Error): void;
}

class RawConnection {
  readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private scram: ScramClient | null = null;
  private nonce: string | null = null;
  private pending: Pending | null = null;
  private rowSeen = false;
  closed = false;

  constructor(host: string, port: number) {
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      if (!this.closed) lost++;
      this.closed = true;
      this.fail(new Error('connection closed'));
    });
  }

  login(): Promise<void> {
    return this.wait(() => this.socket.write(startup));
  }

  /** SELECT 1: resolves once its row and ReadyForQuery have arrived. */
  check(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    this.rowSeen = false;
    return this.wait(() => this.socket.write(selectOne)).then(() => {
      if (!this.rowSeen) throw new Error('SELECT 1 returned no row');
    });
  }

  private wait(send: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      send();
    });
  }

  private fail(err: Error): void {
    const pending = this.pending;
    this.pending = null;
    pending?.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 5) {
      const length = this.buffer.readUInt32BE(1);
      if (this.buffer.length < 1 + length) break;
      const type = this.buffer[0]!;
      const body = this.buffer.subarray(5, 1 + length);
      this.buffer = this.buffer.subarray(1 + length);
      try {
        this.onMessage(type, body);
      } catch (err) {
        this.fail(err as Error);
        this.socket.destroy();
        return;
      }
    }
    if (this.buffer.length === 0) this.buffer = Buffer.alloc(0);
  }

  private onMessage(type: number, body: Buffer): void {
    switch (type) {
      case 0x52: // 'R' Authentication*
        this.onAuthentication(body.readInt32BE(0), body.subarray(4));
        return;
      case 0x45: {
        // 'E' ErrorResponse
        const fields = decodeErrorFields(body);
        throw new Error(`${fields.code ?? '?'}: ${fields.message ?? 'error'}`);
      }
      case 0x44: // 'D' DataRow
        this.rowSeen = true;
        return;
      case 0x5a: {
        // 'Z' ReadyForQuery
        const pending = this.pending;
        this.pending = null;
        pending?.resolve();
        return;
      }
      default: // ParameterStatus, BackendKeyData, RowDescription, CommandComplete, NoticeResponse
    }
  }

  private onAuthentication(code: number, data: Buffer): void {
    switch (code) {
      case 0: // AuthenticationOk
        this.scram = null;
        return;
      case 10: // AuthenticationSASL
        if (!data.toString('latin1').split('\0').includes(SCRAM_MECHANISM))
          throw new Error('the server offers no SCRAM-SHA-256');
        this.nonce = randomNonce();
        this.socket.write(
          saslInitialResponse(SCRAM_MECHANISM, new ScramClient({ password }, this.nonce).clientFirst()),
        );
        return;
      case 11: {
        // AuthenticationSASLContinue: server-first
        if (this.nonce === null) throw new Error('SASLContinue before SASL');
        // A client holding this salt's keys continues the exchange begun above (same nonce,
        // so the same client-first-message): PBKDF2 runs once per salt, not per login.
        const text = data.toString('utf8');
        this.scram = new ScramClient(keysFor(text), this.nonce);
        this.scram.clientFirst();
        this.socket.write(saslResponse(this.scram.serverFirst(text)));
        return;
      }
      case 12: // AuthenticationSASLFinal
        if (!this.scram) throw new Error('SASLFinal before SASLContinue');
        this.scram.serverFinal(data);
        return;
      default:
        throw new Error(`authentication method ${code} asked for; this client speaks SCRAM-SHA-256 only`);
    }
  }
}

/** The keys for the salt and iteration count of a server-first-message (derived once). */
function keysFor(serverFirst: string): ScramCredentials {
  const salt = /(?:^|,)s=([^,]*)/.exec(serverFirst)?.[1];
  const iterations = Number(/(?:^|,)i=(\d+)/.exec(serverFirst)?.[1]);
  // Malformed: let ScramClient reject it with its own message.
  if (salt === undefined || !Number.isInteger(iterations)) return { password };
  const key = `${iterations}:${salt}`;
  let keys = keysBySalt.get(key);
  if (!keys) {
    const saltBytes = Buffer.from(salt, 'base64');
    const salted = saltedPassword(password, saltBytes, iterations);
    const clientKey = clientKeyOf(salted);
    keys = { clientKey, storedKey: sha256(clientKey), serverKey: serverKeyOf(salted), salt: saltBytes, iterations };
    keysBySalt.set(key, keys);
  }
  return keys;
}

const held: RawConnection[] = [];
let lost = 0;
let opened = 0;

async function openOne(): Promise<void> {
  const i = opened++;
  const connection = new RawConnection(hosts[i % hosts.length]!, ports[i % ports.length]!);
  await connection.login();
  held.push(connection);
}

answerParent(
  { open: openOne, check: (i) => held[i]!.check(), count: () => held.length, lost: () => lost },
  concurrency,
);
