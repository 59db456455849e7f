// The floor of a Node.js pooler's cost per connection (`pgbench -S -C` with SCRAM): what a
// process pays to accept a socket, read and answer each step of a SCRAM login and one query,
// and close, with no pooling logic and no checking. It makes the client's round trips as
// pgtide does (the SSLRequest's 'N', SASL, SASLContinue, the whole login answer in one write,
// the query's answer) with the same socket settings (no Nagle, keepalive, half-open), but it
// takes every chunk as one whole message, checks no proof (it hashes only what the client
// needs to trust it: one HMAC for the server signature) and answers every query with the
// same row. With an upstream port, each query goes as received to one of POOLED persistent
// connections to an answering process (this script with --answer, a process of its own so
// that its CPU is not counted) and its answer back to the client: the one write and one read
// a transaction pooler makes on a server connection per transaction. With a user and a database
// after the upstream port, the upstream is PostgreSQL itself, logged in to once at start with
// the same password (the `pool-floor` target): a transaction pooler's forwarding path, each
// query waking a real backend, the floor of pgtide's CPU per transaction in pooling.
// FLOOR_SOCKETS=direct: once logged in, its sockets move bytes as pgtide's do, reads through
// net's onread mode into one shared buffer and writes to the socket's handle
// (src/proxy/session/shared-reads.ts, src/pool/direct-write.ts); else 'data' events and write().
// Usage: node dist/bench/node-connect-floor.js <port> <password> <SCRAM iterations> [upstream port [user database]]
//        node dist/bench/node-connect-floor.js --answer <port>
import { createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import { ScramClient } from '../src/auth/scram-client.js';
import { writeDirect } from '../src/pool/direct-write.js';
import { decodeErrorFields } from '../src/protocol/backend.js';
import { saslInitialResponse, saslResponse, startupMessage } from '../src/protocol/encode.js';
import { AuthenticationCode, BackendMessage } from '../src/protocol/types.js';
import { copyOfRead, shareReads } from '../src/proxy/session/shared-reads.js';
import { integerSetting } from './settings.js';

const [port, password, iterationsArg, upstreamPort, upstreamUser, upstreamDatabase] = process.argv.slice(2);
const answering = port === '--answer';
const iterations = Number(iterationsArg);
if (!port || password === undefined || (!answering && !(iterations > 0))) {
  console.error('usage: node-connect-floor <port> <password> <SCRAM iterations> [upstream port] | --answer <port>');
  process.exit(2);
}
const saltBytes = randomBytes(16);
const salt = saltBytes.toString('base64');
// The one derivation, at start: as a pooler keeps the secret it derived from a plain password.
const serverKey = answering
  ? Buffer.alloc(0)
  : createHmac('sha256', pbkdf2Sync(password, saltBytes, iterations, 32, 'sha256'))
      .update('Server Key')
      .digest();
const SERVER_NONCE = 'floorfloorfloorfloorfloo';

function message(type: string, ...parts: (Buffer | string | number)[]): Buffer {
  const bodies = parts.map((p) => {
    if (typeof p === 'number') {
      const b = Buffer.alloc(4);
      b.writeInt32BE(p);
      return b;
    }
    return typeof p === 'string' ? Buffer.from(`${p}\0`) : p;
  });
  const body = Buffer.concat(bodies);
  const head = Buffer.alloc(5);
  head.write(type);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const NO = Buffer.from('N');
const SASL = message('R', 10, 'SCRAM-SHA-256', Buffer.alloc(1));
const PARAMS = Buffer.concat([
  ...Object.entries({
    client_encoding: 'UTF8',
    DateStyle: 'ISO, MDY',
    integer_datetimes: 'on',
    IntervalStyle: 'postgres',
    is_superuser: 'off',
    server_encoding: 'UTF8',
    server_version: '18.0',
    session_authorization: 'floor',
    standard_conforming_strings: 'on',
    TimeZone: 'UTC',
  }).map(([name, value]) => message('S', name, value)),
  message('K', 1, 1),
  message('Z', Buffer.from('I')),
]);
const OK = message('R', 0);
const ROW = Buffer.concat([
  message('T', Buffer.from([0, 1]), 'abalance', 0, Buffer.from([0, 0, 0, 0, 0, 23, 0, 4, 255, 255, 255, 255, 0, 0])),
  message('D', Buffer.from([0, 1]), 1, Buffer.from('1')),
  message('C', 'SELECT 1'),
  message('Z', Buffer.from('I')),
]);
/** pgbench's look at pgbench_accounts before its run (partitions: none, or it stops). */
const TABLE_INFO = Buffer.concat([
  message(
    'T',
    Buffer.from([0, 3]),
    ...['n', 'partstrat', 'count'].flatMap((name) => [
      name,
      0,
      Buffer.from([0, 0, 0, 0, 0, 23, 0, 4, 255, 255, 255, 255, 0, 0]),
    ]),
  ),
  message('D', Buffer.from([0, 3]), 1, Buffer.from('1'), -1, 1, Buffer.from('0')),
  message('C', 'SELECT 1'),
  message('Z', Buffer.from('I')),
]);

interface Login {
  /** 0: startup (or SSLRequest), 1: SASLInitialResponse, 2: SASLResponse, 3: queries. */
  step: number;
  firstBare: string;
  serverFirst: string;
}

const direct = process.env['FLOOR_SOCKETS'] === 'direct';
const forward = direct ? writeDirect : (socket: net.Socket, chunk: Buffer) => socket.write(chunk);
/** Each client socket's login, for the shared reads' one callback. */
const logins = new WeakMap<net.Socket, Login>();

/** Server connections held, as the poolers' default_pool_size (bench/poolers.ts). */
const POOLED = integerSetting(process.env, 'BENCH_POOL_SIZE', 20, 1);
/** Idle upstream connections, and the clients waiting for one, first come first served. */
const idle: net.Socket[] = [];
const waiting: { client: net.Socket; query: Buffer }[] = [];
/** The client each busy upstream connection answers. */
const busy = new Map<net.Socket, net.Socket>();

if (answering) {
  // The stand-in server: every chunk is one query, answered with the row.
  net
    .createServer({ noDelay: true }, (socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk.includes('partstrat') ? TABLE_INFO : ROW));
      socket.on('error', () => socket.destroy());
    })
    .listen(Number(password), '127.0.0.1');
} else {
  if (upstreamPort) {
    for (let i = 0; i < POOLED; i++) {
      const upstream = net.connect({ host: '127.0.0.1', port: Number(upstreamPort), noDelay: true });
      if (upstreamUser === undefined) {
        upstream.on('data', (chunk: Buffer) => forwardAnswer(upstream, chunk));
        idle.push(upstream);
      } else logIn(upstream, upstreamUser, upstreamDatabase ?? upstreamUser);
    }
  }
  listen();
}

/** An answer chunk back to its client; the connection is free again after ReadyForQuery. */
function forwardAnswer(upstream: net.Socket, chunk: Buffer): void {
  const client = busy.get(upstream);
  if (client) forward(client, chunk);
  // PostgreSQL may answer in several chunks; the stand-in answers in one.
  if (upstreamUser !== undefined && chunk[chunk.length - 6] !== BackendMessage.ReadyForQuery) return;
  busy.delete(upstream);
  release(upstream);
}

/** `upstream` to the first client waiting, else to the idle ones. */
function release(upstream: net.Socket): void {
  const next = waiting.shift();
  if (next) send(upstream, next.client, next.query);
  else idle.push(upstream);
}

/** Logs `upstream` in to PostgreSQL with SCRAM (not measured: once, at start), then pools it. */
function logIn(upstream: net.Socket, user: string, database: string): void {
  const scram = new ScramClient({ password: password! });
  let pending = Buffer.alloc(0);
  const onLogin = (chunk: Buffer): void => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 1 + pending.readInt32BE(1)) {
      const end = 1 + pending.readInt32BE(1);
      const type = pending[0];
      const body = pending.subarray(5, end);
      pending = pending.subarray(end);
      if (type === BackendMessage.ErrorResponse)
        throw new Error(`upstream login failed: ${decodeErrorFields(body).message}`);
      if (type === BackendMessage.Authentication) authenticate(upstream, scram, body);
      else if (type === BackendMessage.ReadyForQuery) {
        upstream.removeListener('data', onLogin);
        if (!direct || !shareReads(upstream, onUpstreamRead))
          upstream.on('data', (answer: Buffer) => forwardAnswer(upstream, answer));
        release(upstream);
      }
    }
  };
  upstream.on('data', onLogin);
  upstream.write(startupMessage({ user, database }));
}

/** One authentication request of the upstream's login: SCRAM's steps answered, anything else refused. */
function authenticate(upstream: net.Socket, scram: ScramClient, body: Buffer): void {
  switch (body.readInt32BE(0)) {
    case AuthenticationCode.SASL:
      return void upstream.write(saslInitialResponse(scram.mechanism, scram.clientFirst()));
    case AuthenticationCode.SASLContinue:
      return void upstream.write(saslResponse(scram.serverFirst(body.subarray(4))));
    case AuthenticationCode.SASLFinal:
    case AuthenticationCode.Ok:
      return;
    default:
      // Rather than wait for ever on a request it does not answer.
      throw new Error(`upstream asks for authentication ${body.readInt32BE(0)}; the floor speaks SCRAM only`);
  }
}

function send(upstream: net.Socket, client: net.Socket, query: Buffer): void {
  busy.set(upstream, client);
  forward(upstream, query);
}

function onUpstreamRead(this: net.Socket, length: number): boolean {
  forwardAnswer(this, copyOfRead(length));
  return true;
}

function onClientRead(this: net.Socket, length: number): boolean {
  answer(this, logins.get(this)!, copyOfRead(length));
  return true;
}

function listen(): void {
  net
    .createServer({ noDelay: true, keepAlive: true, allowHalfOpen: true }, (socket) => {
      const login: Login = { step: 0, firstBare: '', serverFirst: '' };
      socket.on('data', (chunk: Buffer) => answer(socket, login, chunk));
      socket.on('end', () => socket.destroy());
      socket.on('error', () => socket.destroy());
    })
    .listen(Number(port), '127.0.0.1');
}

function answer(socket: net.Socket, login: Login, chunk: Buffer): void {
  switch (login.step) {
    case 0:
      if (chunk.readInt32BE(4) === 80877103) return void socket.write(NO);
      login.step = 1;
      return void socket.write(SASL);
    case 1: {
      // 'p', length, mechanism\0, data length, gs2 header "n,," then client-first-message-bare.
      const data = chunk.toString('utf8', 5 + 'SCRAM-SHA-256'.length + 1 + 4);
      login.firstBare = data.slice(3);
      const clientNonce = /r=([^,]*)/.exec(login.firstBare)![1];
      login.serverFirst = `r=${clientNonce}${SERVER_NONCE},s=${salt},i=${iterations}`;
      login.step = 2;
      return void socket.write(message('R', 11, Buffer.from(login.serverFirst)));
    }
    case 2: {
      const final = chunk.toString('utf8', 5);
      const withoutProof = final.slice(0, final.lastIndexOf(',p='));
      const signature = createHmac('sha256', serverKey)
        .update(`${login.firstBare},${login.serverFirst},${withoutProof}`)
        .digest('base64');
      login.step = 3;
      if (direct && shareReads(socket, onClientRead)) logins.set(socket, login);
      return void socket.write(Buffer.concat([message('R', 12, Buffer.from(`v=${signature}`)), OK, PARAMS]));
    }
    default: {
      if (chunk[0] === 0x58) return void socket.destroy();
      if (upstreamPort === undefined) return void socket.write(chunk.includes('partstrat') ? TABLE_INFO : ROW);
      const upstream = idle.pop();
      if (upstream) send(upstream, socket, chunk);
      else waiting.push({ client: socket, query: chunk });
    }
  }
}
