// Which client sent a notification. PostgreSQL names the sender by the pid of the backend that
// committed the NOTIFY; a client of pgtide was told a pid of its own at login, and its
// transactions run on whichever backend is free. A notification names the client's pid when
// that backend served that client alone through every moment the commit could have happened;
// when another client may have committed it, it keeps the backend's pid: never the wrong client.
//
// Why the moment is bounded: a committing backend signals the listening backends before its
// ReadyForQuery, and a listening backend sends what it was signalled before the ReadyForQuery
// that ends its next command outside a transaction block (the server side of PostgreSQL's
// "delayed NOTIFY receipt" fix, in every release since the 2018 minor releases of 9.5). A
// notification that reaches pgtide after the listener's idle ReadyForQuery was therefore
// signalled after the listener read the last sync point that ReadyForQuery answers, so after
// pgtide wrote it. A client that let the sender's backend go before that write (pgtide had read
// its last ReadyForQuery there) cannot have sent it.
//
// Events are ordered by a counter of this process, not by a clock: the order pgtide did things
// in is exact and costs no system call. Backends of another worker process are not known here.

let lastEvent = 0;

/** A number greater than every one drawn before: the order of what this process did. */
export function nextEvent(): number {
  return ++lastEvent;
}

/** What a server connection knows of the clients it served. */
export interface BackendHolder {
  /** The pid told to the client that holds the backend or held it last (0: none yet). */
  readonly holderPid: number;
  /** The event at which a client other than holderPid last let the backend go (0: none did). */
  readonly othersUntil: number;
}

/** Live backends by server endpoint ("host:port") and pid. */
const backends = new Map<string, Map<number, BackendHolder>>();

export function addBackend(endpoint: string, pid: number, holder: BackendHolder): void {
  let byPid = backends.get(endpoint);
  if (byPid === undefined) backends.set(endpoint, (byPid = new Map()));
  byPid.set(pid, holder);
}

export function dropBackend(endpoint: string, pid: number, holder: BackendHolder): void {
  const byPid = backends.get(endpoint);
  if (byPid?.get(pid) !== holder) return;
  byPid.delete(pid);
  if (byPid.size === 0) backends.delete(endpoint);
}

/**
 * The pid told to the client whose transaction on backend `senderPid` of `endpoint` sent a
 * notification that a listener delivered after an idle ReadyForQuery answering pgtide's write
 * of event `listenerWrite`; 0 when that is not certain (the backend is not one of this
 * process's, or another client held it since).
 */
export function notifyingClient(endpoint: string, senderPid: number, listenerWrite: number): number {
  const holder = backends.get(endpoint)?.get(senderPid);
  if (holder === undefined || holder.othersUntil >= listenerWrite) return 0;
  return holder.holderPid;
}
