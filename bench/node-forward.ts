// The floor of any Node.js proxy on this machine: a byte forwarder with no protocol logic at
// all, one upstream connection per client, the same socket settings as pgtide (no Nagle,
// one write per received chunk, backpressure both ways). The benchmark puts it in front of
// PgBouncer, so the traffic it carries is exactly what PgBouncer's clients send and receive,
// and its CPU per transaction is what Node costs to move those bytes through one process.
// Usage: node dist/bench/node-forward.js <listen port> <upstream host> <upstream port>
import net from 'node:net';

const [listenPort, upstreamHost, upstreamPort] = process.argv.slice(2);
if (!listenPort || !upstreamHost || !upstreamPort) {
  console.error('usage: node-forward <listen port> <upstream host> <upstream port>');
  process.exit(2);
}

function pipe(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('close', () => to.destroy());
  from.on('error', () => from.destroy());
}

net
  .createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: upstreamHost, port: Number(upstreamPort), noDelay: true });
    pipe(client, upstream);
    pipe(upstream, client);
  })
  .listen(Number(listenPort), '127.0.0.1');
