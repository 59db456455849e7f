import assert from 'node:assert/strict';
import type net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { loopbackPair } from '../support/loopback-pair.js';
import { allWritten, directWritesAvailable, writeDirect, writePending } from '../../src/pool/direct-write.js';

async function readAll(socket: net.Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of socket) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= bytes) break;
  }
  return Buffer.concat(chunks);
}

test('the Node.js line pgtide ships writes forwarded chunks to the handle', () => {
  // Else every forwarded chunk takes the stream's path, and nothing else would say so.
  assert.equal(directWritesAvailable, true);
});

test('a chunk the kernel takes at once: true, nothing pending, in order with stream writes around it', async () => {
  const { client, accepted, close } = await loopbackPair();
  try {
    client.write('one;');
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(writeDirect(client, Buffer.from('two;')), true);
    assert.equal(writePending(client), false);
    client.write('three;');
    assert.equal((await readAll(accepted, 14)).toString(), 'one;two;three;');
  } finally {
    close();
  }
});

test("a chunk the kernel cannot take: false, pending until read, then 'drain', the bytes whole and before later writes", async () => {
  const { client, accepted, close } = await loopbackPair();
  try {
    accepted.pause();
    const big = Buffer.alloc(16 << 20, 7);
    const drained = once(client, 'drain');
    assert.equal(writeDirect(client, big), false);
    assert.equal(writePending(client), true);
    // What a session that ends after a Terminate asks before it drops the socket outright.
    assert.equal(allWritten(client), false);
    // A later write, direct or not, goes after it.
    writeDirect(client, Buffer.from('end'));
    accepted.resume();
    const got = await readAll(accepted, big.length + 3);
    await drained;
    assert.equal(got.length, big.length + 3);
    assert.equal(
      got.subarray(0, big.length).every((b) => b === 7),
      true,
    );
    assert.equal(got.subarray(big.length).toString(), 'end');
    assert.equal(writePending(client), false);
    assert.equal(allWritten(client), true);
  } finally {
    close();
  }
});

test('a corked socket keeps the chunk until uncork, as socket.write does', async () => {
  const { client, accepted, close } = await loopbackPair();
  try {
    client.cork();
    writeDirect(client, Buffer.from('held;'));
    assert.equal(client.writableLength, 5);
    client.write('after;');
    client.uncork();
    assert.equal((await readAll(accepted, 11)).toString(), 'held;after;');
  } finally {
    close();
  }
});

test("a stream write behind a pending direct one: 'drain' once both are written", async () => {
  const { client, accepted, close } = await loopbackPair();
  try {
    accepted.pause();
    const big = Buffer.alloc(16 << 20, 1);
    let drains = 0;
    client.on('drain', () => drains++);
    assert.equal(writeDirect(client, big), false);
    // A small write the stream takes without asking for a 'drain' of its own (an answer pgtide
    // gives itself while the other side is paused for the pending one).
    assert.equal(client.write('tail'), true);
    accepted.resume();
    await readAll(accepted, big.length + 4);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(drains, 1);
  } finally {
    close();
  }
});
