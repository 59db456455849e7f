// Waits until a PostgreSQL-protocol server answers on a port, not merely until the port accepts:
// pgtide with workers first binds each port alone to make sure no other process holds it, and
// drops what connects meanwhile, then lets the workers bind it. A connect that lands in that
// moment succeeds, and the next clients are refused until the workers listen.
import net from 'node:net';

/** An SSLRequest: every PostgreSQL server and pooler answers it with one byte, 'S' or 'N'. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const ATTEMPT_TIMEOUT_MS = 1000;
const RETRY_MS = 50;

/**
 * Resolves once the server on 127.0.0.1:`port` answers an SSLRequest; rejects after
 * `timeoutMs`, or as soon as `gone()` returns a reason (the process exited), with it.
 */
export async function untilAnswering(port: number, timeoutMs: number, gone: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const error = await answerOnce(port);
    if (error === null) return;
    const reason = gone();
    if (reason !== null) throw new Error(reason);
    if (Date.now() > deadline) throw new Error(`nothing answered on port ${port} within ${timeoutMs} ms: ${error}`);
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

/** null when the server answered, else why not. */
function answerOnce(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (error: string | null) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(ATTEMPT_TIMEOUT_MS, () => done('no answer to an SSLRequest'));
    socket.once('connect', () => socket.write(SSL_REQUEST));
    socket.once('data', (answer: Buffer) => done(answer[0] === 0x4e || answer[0] === 0x53 ? null : 'not PostgreSQL'));
    socket.once('error', (err) => done(err.message));
    socket.once('close', () => done('closed without an answer'));
  });
}
