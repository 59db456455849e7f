// A cancel of a client's query that still waits for a server (see cancelRunningQuery) follows
// the query's bytes to the server they reach. Whoever sent that CancelRequest is answered (its
// connection closed) only once the cancel reached that server, as PostgreSQL closes it once the
// backend was signalled: libpq, pgJDBC and the others send their next statement on that close,
// and a cancel still on its way would then meet that statement instead.
import type { LinkedServer } from '../../pool/linked-server.js';
import type { ClientSession } from '../client-session.js';

/** The longest a CancelRequest's connection waits for its query to reach a server: a pool
 *  exhausted for minutes must not hold a driver's cancel call as long. The cancel itself still
 *  follows the query; only the early close leaves the late-cancel race open again. */
const HOLD_MS = 5000;

/** Who waits, by session. Rarely anyone, so kept here rather than on every session. */
const waiting = new Map<HeldCancelSession, Array<() => void>>();

export type HeldCancelSession = Pick<ClientSession, 'cancelAgain' | 'cancelWanted' | 'ctx'>;

/** A cancel for the query that waits: `sent` runs once the cancel reached a server, was dropped,
 *  or after HOLD_MS. */
export function holdCancel(s: HeldCancelSession, sent?: () => void): void {
  s.cancelWanted = true;
  if (!sent) return;
  let timer: NodeJS.Timeout | null = null;
  const once = () => {
    if (timer === null) return;
    clearTimeout(timer);
    timer = null;
    sent();
  };
  timer = setTimeout(once, HOLD_MS);
  timer.unref();
  const list = waiting.get(s);
  if (list) list.push(once);
  else waiting.set(s, [once]);
}

/** The query's bytes went to `server`: the cancel follows them. */
export function sendHeldCancel(s: HeldCancelSession, server: LinkedServer): void {
  s.cancelWanted = false;
  s.cancelAgain = true;
  const senders = takeSenders(s);
  s.ctx.sendCancel(server, senders && (() => release(senders)));
}

/** The query ended without reaching a server (answered, or its client left), or had ended
 *  there already: nothing to cancel, the senders are answered now. */
export function dropHeldCancel(s: HeldCancelSession): void {
  s.cancelWanted = false;
  const senders = takeSenders(s);
  if (senders) release(senders);
}

function takeSenders(s: HeldCancelSession): Array<() => void> | undefined {
  const senders = waiting.get(s);
  if (senders) waiting.delete(s);
  return senders;
}

function release(senders: Array<() => void>): void {
  for (const sent of senders) sent();
}
