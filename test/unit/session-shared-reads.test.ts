import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { loopbackPair } from '../support/loopback-pair.js';
import { copyOfRead, shareReads, sharedReadsAvailable } from '../../src/proxy/session/shared-reads.js';

const received = new WeakMap<net.Socket, Buffer[]>();
function onRead(this: net.Socket, length: number): boolean {
  received.get(this)!.push(copyOfRead(length));
  return true;
}

function until(done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => (done() ? resolve() : setTimeout(poll, 2));
    poll();
  });
}

test('the Node.js line pgtide ships lets accepted sockets read into the shared buffer', () => {
  // Else every client read falls back to 'data' events, and nothing else would say so.
  assert.equal(sharedReadsAvailable, true);
});

test("bytes read while paused come first as 'data', then reads of the shared buffer, in order, each chunk its own copy", async () => {
  const { accepted, client, close } = await loopbackPair();
  try {
    const viaData: Buffer[] = [];
    accepted.on('data', (chunk: Buffer) => viaData.push(chunk));
    accepted.pause();
    client.write('one;');
    await new Promise((r) => setTimeout(r, 30));
    received.set(accepted, []);
    assert.equal(shareReads(accepted, onRead), true);
    accepted.resume();
    await until(() => viaData.length > 0);
    client.write('two;');
    await until(() => received.get(accepted)!.length > 0);
    client.write('three;');
    await until(() => Buffer.concat(received.get(accepted)!).length === 'two;three;'.length);
    assert.equal(Buffer.concat(viaData).toString(), 'one;');
    const chunks = received.get(accepted)!;
    assert.equal(Buffer.concat(chunks).toString(), 'two;three;');
    // A later read overwrote the shared buffer, not the chunks already handed out.
    assert.equal(chunks[0]?.toString().startsWith('two;'), true);
  } finally {
    close();
  }
});

test('pause stops the reads of a shared socket until resume, and the end still comes', async () => {
  const { accepted, client, close } = await loopbackPair();
  try {
    received.set(accepted, []);
    shareReads(accepted, onRead);
    accepted.pause();
    client.write('held');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(received.get(accepted)!.length, 0);
    const ended = once(accepted, 'end');
    accepted.resume();
    client.end();
    await ended;
    assert.equal(Buffer.concat(received.get(accepted)!).toString(), 'held');
  } finally {
    close();
  }
});

test('a socket without a stream handle (not a connected net.Socket) is left as it is', () => {
  const unconnected = new net.Socket();
  assert.equal(shareReads(unconnected, onRead), false);
  unconnected.destroy();
});
