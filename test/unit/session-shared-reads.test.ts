import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { loopbackPair } from '../support/loopback-pair.js';
import { copyOfRead, readsShared, shareReads, sharedReadsAvailable } from '../../src/proxy/session/shared-reads.js';
import { bindSocket, shareClientReads, type SocketSession } from '../../src/proxy/session/socket.js';
import { State } from '../../src/proxy/session/state.js';

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

/** A session as socket.ts sees it, bound to `socket`; what it dispatches lands in `got`. */
function fakeSession(
  socket: net.Socket,
  fields: { state: State; encrypted?: boolean; clientPaused?: boolean; clientTls?: boolean },
) {
  const got: Buffer[] = [];
  const s = {
    socket,
    state: fields.state,
    encrypted: fields.encrypted ?? false,
    clientPaused: fields.clientPaused ?? false,
    dispatch: (chunk: Buffer) => got.push(chunk),
    close() {},
    fatal() {},
    onClientEnd() {},
    remote: 'test',
    server: null,
    serverPaused: false,
    ctx: { log: { debug() {}, error() {} }, clientTls: fields.clientTls ? {} : null },
  };
  bindSocket(s as unknown as SocketSession, socket);
  return { s: s as unknown as SocketSession & { clientPaused: boolean }, got };
}

test('a session switches to shared reads only where TLS can no longer begin, in plain text, not paused, and with nothing buffered', async () => {
  const cases: [string, { state: State; encrypted?: boolean; clientPaused?: boolean; clientTls?: boolean }, boolean][] =
    [
      ['ready', { state: State.Ready }, true],
      ['linked', { state: State.Linked }, true],
      ['waiting', { state: State.Waiting }, true],
      ['logging in', { state: State.Login }, false],
      ['authenticating', { state: State.Auth }, true],
      ['reading the startup packet, client TLS configured', { state: State.Startup, clientTls: true }, false],
      ['reading the startup packet, no client TLS', { state: State.Startup }, true],
      ['after TLS began, reading the startup packet', { state: State.Startup, encrypted: true }, false],
      ['authenticating, client TLS configured', { state: State.Auth, clientTls: true }, true],
      ['TLS', { state: State.Ready, encrypted: true }, false],
      ['paused', { state: State.Ready, clientPaused: true }, false],
    ];
  for (const [name, fields, expected] of cases) {
    const { accepted, close } = await loopbackPair();
    try {
      const { s } = fakeSession(accepted, fields);
      shareClientReads(s);
      assert.equal(readsShared(accepted), expected, name);
    } finally {
      close();
    }
  }
});

test('bytes the stream holds keep the session on data events until they are out, in order', async () => {
  const { client, accepted, close } = await loopbackPair();
  try {
    const { s, got } = fakeSession(accepted, { state: State.Ready });
    accepted.pause();
    client.write('early;');
    await until(() => accepted.readableLength > 0);
    shareClientReads(s);
    assert.equal(readsShared(accepted), false);
    accepted.resume();
    await until(() => got.length > 0);
    // The 'data' event that emptied the stream switched it.
    assert.equal(readsShared(accepted), true);
    client.write('late;');
    await until(() => Buffer.concat(got).length === 'early;late;'.length);
    assert.equal(Buffer.concat(got).toString(), 'early;late;');
  } finally {
    close();
  }
});

test('a read taken while the session is paused stops the reads there until it resumes', async () => {
  const { client, accepted, close } = await loopbackPair();
  try {
    const { s, got } = fakeSession(accepted, { state: State.Ready });
    shareClientReads(s);
    s.clientPaused = true;
    client.write('one;');
    await until(() => got.length === 1);
    client.write('two;');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(Buffer.concat(got).toString(), 'one;');
    s.clientPaused = false;
    accepted.resume();
    await until(() => Buffer.concat(got).length === 8);
    assert.equal(Buffer.concat(got).toString(), 'one;two;');
  } finally {
    close();
  }
});
