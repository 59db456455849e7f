// Bounds of peering that the configuration is checked against and the proxy enforces; here so
// that config/ depends on no proxy module.

/** Peer and worker ids each take 5 bits of a cancel key's pid (proxy/cancel-keys.ts): 0 to 31. */
export const MAX_PEER_ID = 31;
export const MAX_WORKER_ID = 31;

/** Forwarded cancels open at once towards one peer; more are dropped. Only that peer can check
 *  a key's secret, so forged keys naming it are forwarded too: a flood of them costs at most
 *  this many sockets per peer, each for a bounded time (proxy/peer-cancel.ts). */
export const MAX_FORWARDS_PER_PEER = 32;
