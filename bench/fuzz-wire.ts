// The differential fuzzer's side of the wire: a raw connection (TCP or unix socket) that
// collects the answers to a batch, and the normalised text of each answer that the two sides
// are compared by.
import net from 'node:net';
import { decodeErrorFields } from '../src/protocol/backend.js';
import { startupMessage } from '../src/protocol/encode.js';
import type { Message } from '../test/support/pipeline.js';

/** What one side answered to a batch: its messages, or why they stopped coming. */
export interface Answer {
  end: 'ready' | 'closed' | 'timeout';
  messages: string[];
}

/** A raw protocol connection that queues every backend message it receives. */
export class RawConnection {
  private readonly socket: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private received: Message[] = [];
  private wake: (() => void) | undefined;
  closed = false;

  private constructor(opts: net.NetConnectOpts) {
    this.socket = net.connect(opts);
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    this.socket.on('error', () => undefined);
  }

  /** Logs in (trust) and returns once the server is ready for a query. */
  static async open(opts: net.NetConnectOpts, user: string, database: string): Promise<RawConnection> {
    const c = new RawConnection(opts);
    c.socket.write(startupMessage({ user, database, application_name: 'fuzz' }));
    const answer = await c.collect(1);
    const error = answer.messages.find((m) => m.startsWith('ErrorResponse'));
    if (answer.end !== 'ready' || error) {
      c.close();
      throw new Error(`login failed: ${error ?? answer.end}`);
    }
    return c;
  }

  /** Sends the bytes and collects the answers up to the `readyCount`-th ReadyForQuery. */
  async send(bytes: Buffer, readyCount: number, timeoutMs: number): Promise<Answer> {
    this.socket.write(bytes);
    return this.collect(readyCount, timeoutMs);
  }

  /** Split mode: writes the bytes in pieces cut at `cuts`, pausing `pauses[i]` ms after piece i. */
  async sendSplit(
    bytes: Buffer,
    cuts: number[],
    pauses: number[],
    readyCount: number,
    timeoutMs: number,
  ): Promise<Answer> {
    const answer = this.collect(readyCount, timeoutMs);
    let from = 0;
    for (let i = 0; i <= cuts.length; i++) {
      const to = i < cuts.length ? cuts[i]! : bytes.length;
      if (to > from) this.socket.write(bytes.subarray(from, to));
      from = Math.max(from, to);
      if (i < cuts.length) await new Promise((r) => setTimeout(r, pauses[i] ?? 0));
    }
    return answer;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 5) {
      const end = 1 + this.pending.readInt32BE(1);
      if (this.pending.length < end) break;
      this.received.push({ type: String.fromCharCode(this.pending[0]!), body: this.pending.subarray(5, end) });
      this.pending = this.pending.subarray(end);
    }
    this.wake?.();
  }

  private async collect(readyCount: number, timeoutMs = 10_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    let end: Answer['end'] = 'ready';
    while (this.received.filter((m) => m.type === 'Z').length < readyCount) {
      const left = deadline - Date.now();
      if (this.closed) end = 'closed';
      else if (left <= 0) end = 'timeout';
      if (end !== 'ready') break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => (clearTimeout(timer), resolve());
      });
      this.wake = undefined;
    }
    const got = this.received;
    this.received = [];
    // ParameterStatus differs by design: pgtide replays the client's settings on each server.
    return { end, messages: got.filter((m) => m.type !== 'S').map(normalise) };
  }
}

/** RowDescription without the table OID and column number, which name the server's own objects. */
function rowDescription(body: Buffer): string {
  const columns: string[] = [];
  let p = 2;
  for (let i = 0; i < body.readInt16BE(0); i++) {
    const nameEnd = body.indexOf(0, p);
    const name = body.toString('utf8', p, nameEnd);
    p = nameEnd + 1 + 6;
    const [type, size, modifier, format] = [
      body.readInt32BE(p),
      body.readInt16BE(p + 4),
      body.readInt32BE(p + 6),
      body.readInt16BE(p + 10),
    ];
    columns.push(`${name}:${type}/${size}/${modifier}/${format}`);
    p += 12;
  }
  return columns.join(', ');
}

function dataRow(body: Buffer): string {
  const values: string[] = [];
  let p = 2;
  for (let i = 0; i < body.readInt16BE(0); i++) {
    const len = body.readInt32BE(p);
    p += 4;
    values.push(len < 0 ? 'NULL' : JSON.stringify(body.toString('utf8', p, p + len)));
    if (len > 0) p += len;
  }
  return values.join(', ');
}

const SIMPLE_NAMES: Record<string, string> = {
  '1': 'ParseComplete',
  '2': 'BindComplete',
  '3': 'CloseComplete',
  n: 'NoData',
  I: 'EmptyQueryResponse',
  s: 'PortalSuspended',
};

/** One backend message as comparable text: what a client can rely on, nothing server-specific. */
export function normalise({ type, body }: Message): string {
  switch (type) {
    case 'E':
    case 'N': {
      const e = decodeErrorFields(body);
      return `${type === 'E' ? 'ErrorResponse' : 'NoticeResponse'} ${e.severity} ${e.code} ${e.message}`;
    }
    case 'T':
      return `RowDescription(${rowDescription(body)})`;
    case 'D':
      return `DataRow(${dataRow(body)})`;
    case 'C':
      return `CommandComplete ${body.toString('utf8', 0, body.length - 1)}`;
    case 'Z':
      return `ReadyForQuery ${String.fromCharCode(body[0]!)}`;
    case 't': {
      const oids = Array.from({ length: body.readInt16BE(0) }, (_, i) => body.readInt32BE(2 + 4 * i));
      return `ParameterDescription(${oids.join(', ')})`;
    }
    default:
      return SIMPLE_NAMES[type] ?? `${type} ${body.toString('hex')}`;
  }
}
