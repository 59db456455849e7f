// The time of the read being handled. One transaction reads the clock at many steps (the
// client's last activity, the start and end of its wait for a server, the server's lease and
// return): each Date.now() is a call into V8's runtime and the kernel's clock, and within the
// handling of one read they are the same millisecond. The read handlers mark their read
// (beginRead, and endRead in a `finally`): its first eventNow() reads the clock, the others
// reuse that time, and a read that asks for none (a chunk of a long result) reads no clock.
// Anything else (timers, promises, the console) reads the clock afresh.

/** The read's time; NOT_READ: in a read, the clock not read yet; 0: outside a read. */
const NOT_READ = -1;
let readTime = 0;

/** Date.now(), as of the read being handled, if any. */
export function eventNow(): number {
  if (readTime > 0) return readTime;
  const now = Date.now();
  if (readTime === NOT_READ) readTime = now;
  return now;
}

export function beginRead(): void {
  readTime = NOT_READ;
}

export function endRead(): void {
  readTime = 0;
}
