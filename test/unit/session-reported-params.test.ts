import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reportSettings, tell, type ReportedParamsSession } from '../../src/proxy/session/reported-params.js';
import { FakeClientSocket } from './session-harness.js';

function session(): ReportedParamsSession & { socket: FakeClientSocket } {
  return {
    socket: new FakeClientSocket(),
    toldAtLogin: new Map([['DateStyle', 'ISO, MDY'], ['TimeZone', 'UTC']]),
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
    reportSettings(s, { params: new Map([['DateStyle', 'ISO, MDY'], ['search_path', 'app']]) } as never, ['search_path']);
    assert.equal(s.socket.takeTypes(), 'S');
  });
});
