// The memory floor of any Node.js server: a bare `net` server that accepts connections and
// holds them open, reading and dropping whatever arrives, with the socket options pgtide's
// listener sets and one shared handler per event. It allocates nothing of its own per
// connection, so its RSS per idle connection is what Node.js itself costs for one; the memory
// benchmark (bench/memory.ts) holds its clients against it and against pgtide in one run.
// Usage: node dist/bench/idle-floor.js <listen port>
import net from 'node:net';

const [listenPort] = process.argv.slice(2);
if (!listenPort) {
  console.error('usage: idle-floor <listen port>');
  process.exit(2);
}

const ignore = (): void => {};

net
  .createServer({ noDelay: true, keepAlive: true }, (socket) => {
    socket.on('data', ignore);
    socket.on('error', ignore);
  })
  .listen(Number(listenPort), '127.0.0.1');
