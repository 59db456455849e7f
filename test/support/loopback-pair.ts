// Two ends of one loopback TCP connection, for tests of what pgtide does with a socket itself.
import net from 'node:net';
import { once } from 'node:events';

export interface LoopbackPair {
  /** The connecting end. */
  client: net.Socket;
  /** The end a net.Server accepted, as pgtide's client sockets are. */
  accepted: net.Socket;
  close(): void;
}

export async function loopbackPair(): Promise<LoopbackPair> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  await once(client, 'connect');
  return {
    client,
    accepted,
    close: () => {
      client.destroy();
      accepted.destroy();
      server.close();
    },
  };
}
