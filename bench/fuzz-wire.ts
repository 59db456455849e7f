// The differential fuzzer's side of the wire: frontend messages built byte by byte (so that it
// can send what no driver would), a raw connection that collects the answers, and the
// normalised text of each answer that the two sides are compared by.
import net from 'node:net';

const PROTOCOL_3_0 = 196608;

function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s), Buffer.from([0])]);
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

function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}

/** Frontend messages, named as in PostgreSQL's protocol documentation. */
export const Frontend = {
  query: (sql: string) => message('Q', cstr(sql)),
  /** No parameter types: the server infers them. */
  parse: (statement: string, sql: string) => message('P', cstr(statement), cstr(sql), int16(0)),
  /** Text parameters and results. */
  bind: (portal: string, statement: string, params: string[]) =>
    message(
      'B',
      cstr(portal),
      cstr(statement),
      int16(0),
      int16(params.length),
      ...params.flatMap((p) => [int32(Buffer.byteLength(p)), Buffer.from(p)]),
      int16(0),
    ),
  describe: (kind: 'S' | 'P', name: string) => message('D', Buffer.from(kind), cstr(name)),
  execute: (portal: string, maxRows: number) => message('E', cstr(portal), int32(maxRows)),
  close: (kind: 'S' | 'P', name: string) => message('C', Buffer.from(kind), cstr(name)),
  sync: () => message('S'),
};

interface BackendMessage {
  type: string;
  body: Buffer;
}

/** What one side answered to a batch: its messages, or why they stopped coming. */
export interface Answer {
  end: 'ready' | 'closed' | 'timeout';
  messages: string[];
}

/** A raw protocol connection that queues every backend message it receives. */
export class RawConnection {
  private readonly socket: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private received: BackendMessage[] = [];
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
    const params = [...['user', user, 'database', database, 'application_name', 'fuzz'].map(cstr), Buffer.from([0])];
    const body = Buffer.concat([int32(PROTOCOL_3_0), ...params]);
    c.socket.write(Buffer.concat([int32(body.length + 4), body]));
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

/** The fields of an ErrorResponse or NoticeResponse, by their one-letter codes. */
function fields(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (let p = 0; p < body.length && body[p] !== 0; ) {
    const end = body.indexOf(0, p + 1);
    out.set(String.fromCharCode(body[p]!), body.toString('utf8', p + 1, end));
    p = end + 1;
  }
  return out;
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
export function normalise({ type, body }: BackendMessage): string {
  switch (type) {
    case 'E':
    case 'N': {
      const f = fields(body);
      const kind = type === 'E' ? 'ErrorResponse' : 'NoticeResponse';
      return `${kind} ${f.get('S')} ${f.get('C')} ${f.get('M')}`;
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
