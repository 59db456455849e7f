// pgtide's own queries on a server connection (health, role, settings, probes, auth_query):
// the answer being collected, how it ends, and copies of what the server says meanwhile.
import { decodeDataRow, decodeErrorFields, type ErrorFields } from '../protocol/backend.js';
import * as encode from '../protocol/encode.js';
import { BackendMessage } from '../protocol/types.js';
import { rowShape } from '../protocol/row-shape.js';

/** pgtide's own queries return little; an endless result must not fill memory. */
const MAX_RESULT_BYTES = 4 * 1024 * 1024;

/**
 * The server answered one of pgtide's own queries (`query()`) with an ErrorResponse and is
 * idle again: the query failed, the connection is sound. Any other rejection of `query()`
 * means the connection is gone (or was not idle), and it must not be used again.
 */
export class ServerQueryError extends Error {
  override readonly name = 'ServerQueryError';
  /** The SQLSTATE; '' when the server sent none. */
  readonly code: string;

  constructor(readonly fields: ErrorFields) {
    super(fields.message);
    this.code = fields.code;
  }
}

export type Rows = (string | null)[][];

/** One of pgtide's own queries in flight: its rows so far and its first error, until ReadyForQuery. */
export class OwnQuery {
  private readonly rows: Rows = [];
  /** DataRow bytes received, against MAX_RESULT_BYTES. */
  private bytes = 0;
  private error: ErrorFields | null = null;

  constructor(
    private readonly resolve: (rows: Rows) => void,
    private readonly reject: (err: Error) => void,
    /** The query changes settings: their ParameterStatus is pgtide's doing, which the session reports itself. */
    readonly changesSettings: boolean,
    /** Where the shapes Describes tell go (RowDescription or NoData, see row-shape.ts), if wanted. */
    private readonly shapes: Buffer[] | null = null,
  ) {}

  /** Any other answer: kept when it tells a shape that is wanted. */
  addAnswer(type: number, body: Buffer): void {
    if (this.shapes !== null && (type === BackendMessage.RowDescription || type === BackendMessage.NoData))
      this.shapes.push(rowShape(type, body));
  }

  /** Keeps a DataRow; returns why the server can no longer be trusted, or null. */
  addRow(body: Buffer): string | null {
    const row = decodeDataRow(body);
    if (!row) return 'malformed DataRow';
    this.bytes += body.length;
    if (this.bytes > MAX_RESULT_BYTES) return `result of an internal query exceeds ${MAX_RESULT_BYTES} bytes`;
    this.rows.push(row);
    return null;
  }

  /** An ErrorResponse: the first one is what the query rejects with. */
  addError(body: Buffer): void {
    this.error ??= decodeErrorFields(body);
  }

  /** ReadyForQuery: the rows, or the ServerQueryError of a query the server refused. */
  settle(): void {
    if (this.error) this.reject(new ServerQueryError(this.error));
    else this.resolve(this.rows);
  }

  /** The connection is gone: a plain Error, not a ServerQueryError. */
  abandon(reason: string): void {
    this.reject(new Error(`server connection closed: ${reason}`));
  }
}

/**
 * A whole copy of a message the server sent on its own while pgtide's query ran for a client,
 * for that client. A notification names `notifierPid` when it is not 0 (see notifier.ts).
 */
export function copyForClient(type: number, body: Buffer, notifierPid: number): Buffer {
  const message = encode.messageOf(type, [body]);
  if (type === BackendMessage.NotificationResponse && notifierPid !== 0) message.writeInt32BE(notifierPid, 5);
  return message;
}
