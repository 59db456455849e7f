import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as encode from '../../src/protocol/encode.js';
import {
  correctReported,
  loginAnswer,
  reportSettings,
  tell,
  type ReportedParamsSession,
} from '../../src/proxy/session/reported-params.js';
import { FakeClientSocket } from './session-harness.js';

function session(): ReportedParamsSession & { socket: FakeClientSocket } {
  return {
    socket: new FakeClientSocket(),
    toldAtLogin: new Map([
      ['DateStyle', 'ISO, MDY'],
      ['TimeZone', 'UTC'],
    ]),
    toldOwn: null,
    settings: { startup: new Map([['timezone', 'Europe/Paris']]) },
    isClosed: false,
  } as never;
}

describe('what the client was told of its settings', () => {
  it('keeps no copy of its own while what it was told is what a login tells', () => {
    const s = session();
    tell(s, 'DateStyle', 'ISO, MDY');
    tell(s, 'TimeZone', 'Europe/Paris');
    assert.equal(s.toldOwn, null, "the pool's value, and the client's own startup value");
    assert.equal(s.socket.takeTypes(), 'S S');
  });

  it('remembers a value told in another form', () => {
    const s = session();
    tell(s, 'DateStyle', 'German, DMY');
    assert.equal(s.toldOwn?.get('DateStyle'), 'German, DMY');
  });

  it('reports only the settings named, as the server has them', () => {
    const s = session();
    reportSettings(
      s,
      {
        params: new Map([
          ['DateStyle', 'ISO, MDY'],
          ['search_path', 'app'],
        ]),
      } as never,
      ['search_path'],
    );
    assert.equal(s.socket.takeTypes(), 'S');
  });
});

describe('a startup value the server reports in another form', () => {
  it("is told once, in the server's form, and remembered for the next link", () => {
    const s = session() as ReturnType<typeof session> & { ctx: unknown };
    Object.assign(s, {
      settings: { startup: new Map([['timezone', 'europe/paris']]), values: new Map([['timezone', 'europe/paris']]) },
      ctx: { reportedValues: new Map() },
    });
    const server = {
      params: new Map([
        ['TimeZone', 'Europe/Paris'],
        ['DateStyle', 'ISO, MDY'],
      ]),
    };
    correctReported(s, server as never);
    assert.equal(s.socket.takeTypes(), 'S');
    assert.equal(s.toldOwn?.get('TimeZone'), 'Europe/Paris');
    correctReported(s, server as never);
    assert.equal(s.socket.takeTypes(), '', 'told already');
  });
});

describe('the login answer', () => {
  const key = { cancelPid: 0x40000001, cancelSecret: 0x01020304 };

  function loginSession(own: [string, string][]): ReportedParamsSession & { socket: FakeClientSocket } {
    return {
      socket: new FakeClientSocket(),
      toldAtLogin: new Map(),
      toldOwn: null,
      settings: { startup: new Map(own) },
      isClosed: false,
      ctx: { reportedValues: new Map() },
    } as never;
  }

  it("is one Buffer: the pool's settings with the client's own in their place, BackendKeyData, ReadyForQuery", () => {
    const params = new Map([
      ['DateStyle', 'ISO, MDY'],
      ['application_name', ''],
      ['client_encoding', 'UTF8'],
    ]);
    const plain = loginAnswer(loginSession([]), params, key);
    const s = loginSession([
      ['application_name', 'pgbench'],
      ['client_encoding', 'latin1'],
    ]);
    const own = loginAnswer(s, params, key);
    const expected = Buffer.concat([
      encode.parameterStatus('DateStyle', 'ISO, MDY'),
      encode.parameterStatus('application_name', 'pgbench'),
      encode.parameterStatus('client_encoding', 'LATIN1'),
      encode.backendKeyData(key.cancelPid, Buffer.from([1, 2, 3, 4])),
      encode.readyForQuery('I'),
    ]);
    assert.deepEqual(own, expected);
    assert.equal(s.toldAtLogin, params);
    assert.equal(s.toldOwn?.get('client_encoding'), 'LATIN1', 'told in another form than its startup value');
    // The same map again: the messages encoded once are reused, and the answer is unchanged.
    assert.deepEqual(loginAnswer(loginSession([]), params, key), plain);
    assert.deepEqual(
      plain.subarray(0, encode.parameterStatus('DateStyle', 'ISO, MDY').length),
      encode.parameterStatus('DateStyle', 'ISO, MDY'),
    );
  });
});
