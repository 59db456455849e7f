import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { untilAnswering } from '../support/answering.js';

async function serve(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer(onConnection).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('untilAnswering', () => {
  it('is not fooled by a port that accepts and drops, as pgtide claiming its ports before its workers bind them', async () => {
    const claim = await serve((socket) => socket.destroy());
    try {
      await assert.rejects(
        untilAnswering(claim.port, 300, () => null),
        /nothing answered/,
      );
    } finally {
      claim.close();
    }
  });

  it('resolves once the server answers an SSLRequest', async () => {
    const server = await serve((socket) => socket.once('data', () => socket.end('N')));
    try {
      await untilAnswering(server.port, 2000, () => null);
    } finally {
      server.close();
    }
  });

  it('stops at once with the reason the process is gone', async () => {
    const claim = await serve((socket) => socket.destroy());
    try {
      await assert.rejects(
        untilAnswering(claim.port, 10_000, () => 'pgtide exited'),
        /pgtide exited/,
      );
    } finally {
      claim.close();
    }
  });
});
