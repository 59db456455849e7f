// What a client session's parts share: the phase it is in, and small helpers more than one phase uses.
import type { ServerPool } from '../../pool/pool.js';
import type { ServerConnection } from '../../pool/server-connection.js';
import { TransactionStatus } from '../../protocol/types.js';

export const enum State { Startup, Tls, Lookup, Auth, Login, Ready, Waiting, Linked, Admin, Closed }

/** Startup parameters before the startup packet and after the login, which reads them. */
export const NO_PARAMS: ReadonlyMap<string, string> = new Map();

/** Idle and clean, a server can serve others; a failure inside pgtide's own transaction leaves it aborted. */
export function releaseAfterFailure(pool: ServerPool, server: ServerConnection, why: string): void {
  if (server.isClosed) return;
  if (server.txStatus === TransactionStatus.Idle) pool.release(server);
  else server.close(why);
}
