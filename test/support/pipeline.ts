// Raw extended-protocol conversations for tests that must control every byte a client sends
// (pipelines no driver would build, answers compared byte for byte with PostgreSQL's own), and
// helpers that decide which pooled server runs a transaction.
import net from 'node:net';
import tls from 'node:tls';
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { md5Response } from '../../src/auth/md5.js';
import { SCRAM_MECHANISM } from '../../src/auth/scram.js';
import { ScramClient } from '../../src/auth/scram-client.js';
import { decodeErrorFields } from '../../src/protocol/backend.js';
import {
  passwordMessage,
  saslInitialResponse,
  saslResponse,
  sslRequest,
  terminate,
} from '../../src/protocol/encode.js';
import { startupPacket } from './raw-client.js';
import { AuthenticationCode, FrontendMessage, HEADER_SIZE } from '../../src/protocol/types.js';
import type { Config } from '../../src/config/types.js';
import { startPgtide, type RunningPgtide } from './pgtide.js';
import { sqlOn, type PgNode, type Topology } from './topology.js';

export { query, sync } from '../../src/protocol/encode.js';

/** One backend message: its type letter and its payload without the 5-byte header. */
export interface Message {
  type: string;
  body: Buffer;
}

/** A test's answers are small; a longer length word means a desynchronised stream. */
const MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

function cstring(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function frame(type: number, parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([type]), int32(body.length + 4), body]);
}

/** Parse: `name` '' is the unnamed statement; parameter types left to the server. */
export function parse(name: string, text: string, paramTypes: number[] = []): Buffer {
  return frame(FrontendMessage.Parse, [
    cstring(name),
    cstring(text),
    int16(paramTypes.length),
    ...paramTypes.map(int32),
  ]);
}

/** Bind with every parameter and every result column in text format. */
export function bind(portal: string, statement: string, params: (string | null)[] = []): Buffer {
  const values = params.map((v) =>
    v === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(v)), Buffer.from(v)]),
  );
  return frame(FrontendMessage.Bind, [
    cstring(portal),
    cstring(statement),
    int16(0),
    int16(params.length),
    ...values,
    int16(0),
  ]);
}

export function execute(portal = '', maxRows = 0): Buffer {
  return frame(FrontendMessage.Execute, [cstring(portal), int32(maxRows)]);
}

export function describe(kind: 'S' | 'P', name: string): Buffer {
  return frame(FrontendMessage.Describe, [Buffer.from(kind), cstring(name)]);
}

export function close(kind: 'S' | 'P', name: string): Buffer {
  return frame(FrontendMessage.Close, [Buffer.from(kind), cstring(name)]);
}

/** CopyData carrying `text` (rows in COPY's text format). */
export function copyData(text: string): Buffer {
  return frame(FrontendMessage.CopyData, [Buffer.from(text)]);
}

export interface WireLogin {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** More startup parameters (application_name, options …). */
  params?: Record<string, string>;
  /** Ask for TLS first (the peer's certificate is not checked). */
  tls?: boolean;
  /** The minor version of protocol 3 to ask for (default 0). */
  minor?: number;
  /** Keep writing after the peer's FIN, as a driver busy sending (pgJDBC's COPY) does; Node.js
   *  ends its side at once by default. */
  halfOpen?: boolean;
}

/**
 * A logged-in protocol 3.0 connection that hands back whole messages. Authenticates with
 * SCRAM-SHA-256, md5 or a cleartext password, whichever the peer asks for.
 */
export class WireClient {
  /** ParameterStatus values as the peer reported them, updated as more arrive. */
  readonly parameters = new Map<string, string>();
  /** The login's NegotiateProtocolVersion and BackendKeyData, if the peer sent them. */
  negotiated: Message | null = null;
  keyData: Message | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private readonly inbox: Message[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private closed = false;
  /** The length of each read from the socket since recordReads, when recording. */
  private reads: number[] | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      this.closed = true;
      this.fail(new Error('connection closed by the peer'));
    });
  }

  static async connect(login: WireLogin): Promise<WireClient> {
    let socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: login.host, port: login.port, allowHalfOpen: login.halfOpen }, () => resolve(s));
      s.once('error', reject);
    });
    if (login.tls) socket = await startTls(socket);
    const client = new WireClient(socket);
    try {
      await client.authenticate(login);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return client;
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** Every message up to and including the `count`-th ReadyForQuery from now. */
  async untilReady(count = 1, timeoutMs = 10_000): Promise<Message[]> {
    const got: Message[] = [];
    const deadline = Date.now() + timeoutMs;
    while (count > 0) {
      const m = await this.next(deadline);
      got.push(m);
      if (m.type === 'Z') count--;
    }
    return got;
  }

  /** Every message up to and including the next one of `type` (an error whose ReadyForQuery is not owed yet). */
  async until(type: string, timeoutMs = 10_000): Promise<Message[]> {
    const got: Message[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(deadline);
      got.push(m);
      if (m.type === type) return got;
    }
  }

  /** Send, then read through as many ReadyForQuery as the messages contain Sync/Query. */
  async exchange(...messages: Buffer[]): Promise<Message[]> {
    const syncPoints = messages.filter((m) => m[0] === FrontendMessage.Sync || m[0] === FrontendMessage.Query).length;
    this.send(...messages);
    return this.untilReady(syncPoints);
  }

  /** Gone, as a killed process is: its kernel sends a FIN, and a reset for whatever comes after. */
  vanish(): void {
    this.socket.destroy();
  }

  /** Sends the messages, then a FIN: the client writes nothing more but still reads. */
  sendAndEnd(...messages: Buffer[]): void {
    this.socket.end(Buffer.concat(messages));
  }

  /** Every message from now until the peer closes the connection. */
  async untilClosed(timeoutMs = 10_000): Promise<Message[]> {
    const got: Message[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        got.push(await this.next(deadline));
      } catch (err) {
        if (this.closed) return got;
        throw err;
      }
    }
  }

  /** Resolves once the connection closed, whatever ended it (a reset the client's writes hit too). */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Closes both directions at once, with no Terminate: the client is gone, it reads nothing more. */
  drop(): void {
    this.socket.destroy();
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end(terminate());
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
    this.socket.destroy();
  }

  private async authenticate(login: WireLogin): Promise<void> {
    this.send(startupPacket({ user: login.user, database: login.database, ...login.params }, login.minor));
    const deadline = Date.now() + 10_000;
    let scram: ScramClient | null = null;
    for (;;) {
      const m = await this.next(deadline);
      if (m.type === 'E') throw new Error(`login failed: ${errorText(m.body)}`);
      if (m.type === 'Z') return;
      if (m.type === 'v') this.negotiated = m;
      if (m.type === 'K') this.keyData = m;
      if (m.type !== 'R') continue;
      const code = m.body.readInt32BE(0);
      const data = m.body.subarray(4);
      switch (code) {
        case AuthenticationCode.Ok:
          break;
        case AuthenticationCode.CleartextPassword:
          this.send(passwordMessage(login.password));
          break;
        case AuthenticationCode.MD5Password:
          this.send(passwordMessage(md5Response(login.user, { kind: 'plain', password: login.password }, data)));
          break;
        case AuthenticationCode.SASL:
          scram = new ScramClient({ password: login.password });
          this.send(saslInitialResponse(SCRAM_MECHANISM, scram.clientFirst()));
          break;
        case AuthenticationCode.SASLContinue:
          if (!scram) throw new Error('SASLContinue before SASL');
          this.send(saslResponse(scram.serverFirst(data)));
          break;
        case AuthenticationCode.SASLFinal:
          if (!scram) throw new Error('SASLFinal before SASL');
          scram.serverFinal(data);
          break;
        default:
          throw new Error(`unsupported authentication request ${code}`);
      }
    }
  }

  /** From now on, the length of each read the socket delivers (how the peer's writes arrived). */
  recordReads(): number[] {
    this.reads = [];
    return this.reads;
  }

  private receive(chunk: Buffer): void {
    this.reads?.push(chunk.length);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (this.pending.length - off >= HEADER_SIZE) {
      const length = this.pending.readUInt32BE(off + 1);
      if (length < 4 || length > MAX_MESSAGE_SIZE) {
        this.fail(new Error(`bad message length ${length}`));
        this.socket.destroy();
        return;
      }
      if (this.pending.length - off < 1 + length) break;
      const type = String.fromCharCode(this.pending[off]!);
      const body = Buffer.from(this.pending.subarray(off + HEADER_SIZE, off + 1 + length));
      if (type === 'S') {
        const [name, value] = body.toString('utf8').split('\0');
        this.parameters.set(name!, value!);
      }
      this.inbox.push({ type, body });
      off += 1 + length;
    }
    this.pending = this.pending.subarray(off);
    this.wakeReader();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wakeReader();
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** The next message, waiting until `deadline` (ms since epoch). */
  async next(deadline: number): Promise<Message> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** An SSLRequest answered 'S', then the TLS handshake over `socket`. */
async function startTls(socket: net.Socket): Promise<tls.TLSSocket> {
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('error', reject);
    socket.write(sslRequest());
  });
  if (answer.toString() !== 'S') {
    socket.destroy();
    throw new Error(`the peer answered the SSLRequest with ${JSON.stringify(answer.toString('latin1'))}`);
  }
  const secure = tls.connect({ socket, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  return secure;
}

function errorText(body: Buffer): string {
  const e = decodeErrorFields(body);
  return `${e.code} ${e.message}`;
}

/** The SQLSTATEs of the ErrorResponses among `messages`, in order. */
export function errorCodes(messages: Message[]): string[] {
  return messages.filter((m) => m.type === 'E').map((m) => decodeErrorFields(m.body).code);
}

/**
 * Messages as comparable lines: the exact bytes, except for ErrorResponse and NoticeResponse,
 * whose source file/line fields may legitimately differ: severity, SQLSTATE and text.
 */
export function normalise(messages: Message[]): string[] {
  return messages.map((m) => {
    if (m.type === 'E' || m.type === 'N') {
      const e = decodeErrorFields(m.body);
      return `${m.type} ${e.severity} ${e.code} ${e.message}`;
    }
    return `${m.type} ${printable(m.body)}`;
  });
}

function printable(body: Buffer): string {
  let s = '';
  for (const byte of body)
    s +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  return s;
}

/** The login of the test user straight to the primary, to compare pgtide's answers with. */
export function directLogin(t: Topology): WireLogin {
  return {
    host: t.primary.host,
    port: t.primary.port,
    user: t.scramUser.user,
    password: t.scramUser.password,
    database: t.database,
  };
}

/** Runs `scenario` on a new client of each login in turn: every login's result must equal the
 *  first's (a direct connection's, to compare pgtide's with), which is returned. */
export async function sameAnswers<T>(
  logins: readonly WireLogin[],
  scenario: (c: WireClient) => Promise<T>,
): Promise<T> {
  const results: T[] = [];
  for (const login of logins) {
    const c = await WireClient.connect(login);
    try {
      results.push(await scenario(c));
    } finally {
      await c.close();
    }
  }
  for (const result of results.slice(1)) assert.deepEqual(result, results[0]);
  return results[0]!;
}

/** Sends each step's messages on `c` in turn; the answers to each, as comparable lines (see normalise). */
export async function stepAnswers(c: WireClient, steps: readonly Buffer[][]): Promise<string[][]> {
  const answers: string[][] = [];
  for (const step of steps) answers.push(normalise(await c.exchange(...step)));
  return answers;
}

/** The text columns of each DataRow among `messages`. */
export function dataRows(messages: Message[]): (string | null)[][] {
  return messages
    .filter((m) => m.type === 'D')
    .map((m) => {
      const values: (string | null)[] = [];
      let off = 2;
      for (let i = m.body.readInt16BE(0); i > 0; i--) {
        const len = m.body.readInt32BE(off);
        off += 4;
        values.push(len < 0 ? null : m.body.toString('utf8', off, off + len));
        if (len > 0) off += len;
      }
      return values;
    });
}

// Steering transactions between pooled servers: a test that must prove state followed a client
// to another server forces the move instead of hoping for it.

const PID_QUERY = 'SELECT pg_catalog.pg_backend_pid() AS pid';

/**
 * Keeps the pooled server whose backend is `pid` inside a transaction, so that the next
 * transaction of any other client runs on another server. Opens at most `poolSize` clients:
 * those that got another server are let go. Resolves with the function that releases it.
 */
export async function holdServer(config: pg.ClientConfig, pid: number, poolSize: number): Promise<() => Promise<void>> {
  const holders: pg.Client[] = [];
  const release = async (c: pg.Client) => {
    await c.query('COMMIT');
    await c.end();
  };
  try {
    for (let i = 0; i < poolSize; i++) {
      const c = new pg.Client(config);
      holders.push(c);
      await c.connect();
      await c.query('BEGIN');
      if ((await c.query(PID_QUERY)).rows[0].pid !== pid) continue;
      holders.pop();
      await Promise.all(holders.map(release));
      return () => release(c);
    }
  } catch (err) {
    await Promise.all(holders.map((c) => c.end().catch(() => undefined)));
    throw err;
  }
  await Promise.all(holders.map(release));
  throw new Error(`no pooled server has backend pid ${pid}`);
}

/**
 * Runs `sql` once on every server of a pool of `poolSize` (each client holds its server in a
 * transaction while the others take theirs) and returns the rows per backend pid.
 */
export async function onEveryServer<Row>(
  config: pg.ClientConfig,
  poolSize: number,
  sql: string,
): Promise<Map<number, Row[]>> {
  const clients = Array.from({ length: poolSize }, () => new pg.Client(config));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(clients.map((c) => c.query('BEGIN')));
    const byPid = new Map<number, Row[]>();
    for (const c of clients) {
      const pid = (await c.query(PID_QUERY)).rows[0].pid as number;
      byPid.set(pid, (await c.query(sql)).rows as Row[]);
    }
    if (byPid.size !== poolSize)
      throw new Error(`${poolSize} clients in a transaction shared servers: pids ${[...byPid.keys()]}`);
    await Promise.all(clients.map((c) => c.query('COMMIT')));
    return byPid;
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * Inside a describe(): a pgtide started before the suite's tests and stopped after them, and
 * `connect` for logged-in WireClients (closed with it). `to` logs in elsewhere (e.g. direct).
 */
export function useWirePgtide(
  t: Topology,
  overrides: Partial<Config>,
): {
  pgtide(): RunningPgtide;
  login(): WireLogin;
  connect(params?: Record<string, string>, to?: WireLogin): Promise<WireClient>;
} {
  let p: RunningPgtide | null = null;
  let login: WireLogin | null = null;
  const clients: WireClient[] = [];
  before(async () => {
    p = await startPgtide(t, overrides);
    login = p.wireLogin();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await p?.stop();
  });
  return {
    pgtide: () => p!,
    login: () => login!,
    async connect(params, to = login!) {
      const c = await WireClient.connect({ ...to, params });
      clients.push(c);
      return c;
    },
  };
}

/**
 * Runs `body` with a one-row table `name (v int)` = 7 that every test user may read, then drops
 * it. `changeType()` turns v into text ('new-7'): a plan prepared on it before goes stale, and
 * PostgreSQL fails its next run with 0A000 "cached plan must not change result type".
 */
export async function withStaleableTable(
  node: PgNode,
  name: string,
  body: (changeType: () => Promise<void>) => Promise<void>,
): Promise<void> {
  await sqlOn(
    node,
    `DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (v int); INSERT INTO ${name} VALUES (7); GRANT ALL ON ${name} TO PUBLIC`,
  );
  try {
    await body(() =>
      sqlOn(node, `ALTER TABLE ${name} ALTER COLUMN v TYPE text USING 'new-' || v`).then(() => undefined),
    );
  } finally {
    await sqlOn(node, `DROP TABLE IF EXISTS ${name}`);
  }
}
