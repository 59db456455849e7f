// Bounds of peering that the configuration is checked against and the proxy enforces, and
// which [[peers]] entries are other instances; here so that config/ depends on no proxy module.
import type { Config, PeerConfig } from './types.js';

/** Peer and worker ids each take 5 bits of a cancel key's pid (proxy/cancel-keys.ts): 0 to 31. */
export const MAX_PEER_ID = 31;
export const MAX_WORKER_ID = 31;

/** Forwarded cancels open at once towards one peer; more are dropped. Only that peer can check
 *  a key's secret, so forged keys naming it are forwarded too: a flood of them costs at most
 *  this many sockets per peer, each for a bounded time (proxy/peer-cancel.ts). */
export const MAX_FORWARDS_PER_PEER = 32;

/** The [[peers]] a cancel request may be forwarded to: every entry but this instance's own,
 *  which a list shared by all the instances names too. */
export function forwardTargets(config: Pick<Config, 'peers' | 'peer_id'>): PeerConfig[] {
  return config.peers.filter((peer) => peer.id !== config.peer_id);
}
