// Peering: several pgtide instances behind one TCP load balancer. A client cancels on a new
// connection, which the balancer may hand to any instance; the key's pid names the instance
// that issued it (cancel-keys.ts), and the instance that receives it forwards it there.
import { MAX_FORWARDS_PER_PEER } from '../config/peering.js';
import type { PeerConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import {
  forwardedCancelPid,
  isIssuedCancelPid,
  issuedCancelPid,
  peerOfCancelPid,
  workerOfCancelPid,
} from './cancel-keys.js';
import { sendCancelRequest } from './cancel-request.js';
import type { ProxyContext } from './context.js';

/** A peer that has not closed the forwarded request by then is given up on: whoever pressed
 *  Ctrl-C wants the query stopped now, and the socket is better spent on the next cancel. */
const FORWARD_TIMEOUT_MS = 2000;
/** A failing peer is logged at most this often (a flood of cancels would repeat it). */
const FAILURE_LOG_MS = 10_000;

/** What became of the cancels forwarded to one peer, for /metrics. */
export interface PeerCancelCounts {
  /** Open now. */
  inFlight: number;
  /** The peer closed the connection: it has acted on the request (or found no such key). */
  confirmed: number;
  /** Not delivered, or not closed within FORWARD_TIMEOUT_MS. */
  failed: number;
  /** Not sent: MAX_FORWARDS_PER_PEER were open already. */
  dropped: number;
}

export class PeerCancels {
  readonly counts = new Map<number, PeerCancelCounts>();
  private lastFailureLog = 0;

  constructor(private readonly log: Logger) {}

  /** Sends a client's CancelRequest on to the peer that issued its key, marked as forwarded. */
  forward(peer: PeerConfig, pid: number, secret: Buffer, sent: () => void): void {
    const counts = this.countsOf(peer.id);
    if (counts.inFlight >= MAX_FORWARDS_PER_PEER) {
      counts.dropped++;
      this.log.debug({ peer: peer.id }, 'cancel request not forwarded: too many already open towards that peer');
      return sent();
    }
    counts.inFlight++;
    sendCancelRequest(peer, forwardedCancelPid(pid), secret, FORWARD_TIMEOUT_MS, (outcome) => {
      counts.inFlight--;
      sent();
      if (outcome === 'closed') return void counts.confirmed++;
      counts.failed++;
      const now = Date.now();
      if (now - this.lastFailureLog < FAILURE_LOG_MS) return;
      this.lastFailureLog = now;
      this.log.warn(
        { peer: peer.id, host: peer.host, port: peer.port, outcome },
        'a cancel request forwarded to a peer got no answer; check that [[peers]] names a running pgtide',
      );
    });
  }

  private countsOf(id: number): PeerCancelCounts {
    let counts = this.counts.get(id);
    if (!counts) {
      counts = { inFlight: 0, confirmed: 0, failed: 0, dropped: 0 };
      this.counts.set(id, counts);
    }
    return counts;
  }
}

/**
 * A CancelRequest received from anyone: a client, or a peer forwarding one. A key this
 * instance issued cancels its client's query (in the worker process that holds the client,
 * with `workers = N`); a key of a configured peer goes to that peer, unless a peer forwarded
 * it already (a loop, when [[peers]] disagree about who is who); any other key is dropped, as
 * PostgreSQL drops unknown keys, without a word to the sender.
 *
 * `sent` runs once the request reached the server (which closed its cancel connection), or
 * went nowhere: the sender's connection is closed only then. libpq, pgJDBC and the others
 * take that close as "the backend was signalled" and send their next statement; closed
 * earlier, the cancel could arrive during that next statement and cancel it instead.
 */
export function handleCancelRequest(ctx: ProxyContext, pid: number, secret: Buffer, sent: () => void): void {
  const own = ctx.cancelKeys.peerId;
  const issued = isIssuedCancelPid(pid);
  const peerId = peerOfCancelPid(pid);
  if (peerId === own) {
    const worker = workerOfCancelPid(pid);
    if (worker === ctx.cancelKeys.workerId || ctx.relayToWorker === null)
      return cancelOwnClient(ctx, pid, secret, sent);
    ctx.log.debug({ to_worker: worker }, 'cancel request relayed');
    return ctx.relayToWorker(pid, secret, sent);
  }
  const peer = issued ? ctx.config.peers.find((p) => p.id === peerId) : undefined;
  if (peer) return ctx.peerCancels.forward(peer, pid, secret, sent);
  ctx.log.debug(
    { peer: peerId, forwarded: !issued },
    'cancel request for another instance dropped: no [[peers]] entry, or a peer forwarded it already',
  );
  sent();
}

/** A key of this process (or relayed by another worker, which ends here): cancel its client's
 *  query. */
export function cancelOwnClient(ctx: ProxyContext, pid: number, secret: Buffer, sent: () => void): void {
  const target = ctx.cancelKeys.find(isIssuedCancelPid(pid) ? pid : issuedCancelPid(pid), secret);
  if (target) return target.cancelRunningQuery(sent);
  ctx.log.debug('cancel request for an unknown key dropped');
  sent();
}
