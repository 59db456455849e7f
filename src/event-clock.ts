// The time of the read being handled. One transaction reads the clock at many steps (the
// client's last activity, the start and end of its wait for a server, the server's lease and
// return): each Date.now() is a call into V8's runtime and the kernel's clock, and within the
// handling of one read they are the same millisecond. The read handlers stamp their read and
// clear the stamp in a `finally`; anything else (timers, promises, the console) reads the clock
// afresh.

let stamped = 0;

/** Date.now(), as of the start of the read being handled, if any. */
export function eventNow(): number {
  return stamped !== 0 ? stamped : Date.now();
}

/** A read's handling begins: eventNow() is this time until clearStamp. */
export function stampRead(): void {
  stamped = Date.now();
}

export function clearStamp(): void {
  stamped = 0;
}
