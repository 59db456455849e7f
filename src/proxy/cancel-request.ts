// Sending a CancelRequest: to PostgreSQL for a query one of pgtide's server connections runs,
// or to a peer pgtide for a client that peer holds. Each goes on a connection of its own.
import net from 'node:net';
import * as encode from '../protocol/encode.js';

/**
 * How the cancel connection ended. PostgreSQL (and pgtide) close it once they have acted on
 * the request, so only `closed` confirms it; `unsent` failed before the request was written
 * and so can never arrive late; `unconfirmed` was written, then timed out or failed.
 */
export type CancelOutcome = 'closed' | 'unsent' | 'unconfirmed';

export function sendCancelRequest(
  to: { host: string; port: number },
  pid: number,
  secret: Buffer,
  timeoutMs: number,
  done: (outcome: CancelOutcome) => void,
): void {
  const socket = net.connect({ host: to.host, port: to.port });
  let sent = false;
  let finished = false;
  const finish = (closed: boolean) => {
    if (finished) return;
    finished = true;
    socket.destroy();
    done(closed ? 'closed' : sent ? 'unconfirmed' : 'unsent');
  };
  socket.setTimeout(timeoutMs, () => finish(false));
  socket.once('connect', () => {
    sent = true;
    socket.write(encode.cancelRequest(pid, secret));
  });
  socket.once('error', () => finish(false));
  socket.once('close', () => finish(true));
}
