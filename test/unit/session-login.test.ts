// A client's way in (session/login.ts), against the fake context of session-harness.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import { ClientSession } from '../../src/proxy/client-session.js';
import { isOn, isSerializable } from '../../src/proxy/session/setting-values.js';
import { FakeClientSocket, FakeServer, harness } from './session-harness.js';

function connect(h: Awaited<ReturnType<typeof harness>>): { session: ClientSession; client: FakeClientSocket } {
  const client = new FakeClientSocket();
  const session = new ClientSession(client as never, h.ctx, 'test-client');
  return { session, client };
}

describe('login', () => {
  it('trust: AuthenticationOk, the settings to report, BackendKeyData, then ReadyForQuery', async () => {
    const h = await harness();
    const { session, client } = connect(h);
    client.send(encode.startupMessage({ user: 'app', database: 'app' }));
    assert.equal(client.takeTypes(), 'R S K ZI');
    assert.equal(session.isLoggingIn, false);
    assert.ok(session.cancelPid > 0);
    assert.equal(h.ctx.loggingIn.size, 0);
  });

  it('md5: a wrong password ends the login with an error, and nothing reaches a server', async () => {
    const h = await harness({ auth_type: 'md5' });
    h.ctx.users.set('app', 'secret');
    const a = new FakeServer('a');
    h.pools.get('pg1')!.idle.push(a);
    const { client } = connect(h);
    client.send(encode.startupMessage({ user: 'app', database: 'app' }));
    assert.equal(client.takeTypes(), 'R', 'asked for a password');
    client.send(encode.passwordMessage('wrong'));
    assert.match(client.takeTypes(), /^E$/);
    assert.equal(client.writable, false);
    assert.deepEqual(a.received, []);
  });

  it('an SSLRequest without TLS configured gets N, and the startup packet after it logs in', async () => {
    const h = await harness();
    const { client } = connect(h);
    client.send(encode.sslRequest());
    assert.equal(Buffer.concat(client.written.splice(0)).toString(), 'N');
    client.send(encode.startupMessage({ user: 'app', database: 'app' }));
    assert.equal(client.takeTypes(), 'R S K ZI');
  });

  it('a replication connection is refused with 0A000', async () => {
    const h = await harness();
    const { client } = connect(h);
    client.send(encode.startupMessage({ user: 'app', database: 'app', replication: 'database' }));
    const reply = Buffer.concat(client.written.splice(0)).toString();
    assert.match(reply, /0A000/);
    assert.match(reply, /does not proxy replication connections/);
  });

  it('replication=false in any of its spellings is an ordinary session', async () => {
    const h = await harness();
    const { client } = connect(h);
    client.send(encode.startupMessage({ user: 'app', database: 'app', replication: 'no' }));
    assert.equal(client.takeTypes(), 'R S K ZI');
  });
});

describe('setting values', () => {
  it('reads booleans and isolation levels as PostgreSQL spells them', () => {
    for (const on of ['on', "'on'", 'TRUE', '1', 'yes']) assert.equal(isOn(on), true, on);
    for (const off of ['off', 'false', '0', null]) assert.equal(isOn(off), false, String(off));
    assert.equal(isSerializable(" 'SERIALIZABLE' "), true);
    assert.equal(isSerializable('repeatable read'), false);
  });
});
