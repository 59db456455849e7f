// A client's startup settings (proxy/session-settings.ts): shared by the clients that send the same.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SessionSettings, type SharedSettings } from '../../src/proxy/session-settings.js';
import { LruCache } from '../../src/sql/lru.js';

const params = (entries: [string, string][]) => new Map(entries);

describe('startup settings', () => {
  it('are shared by clients that send the same parameters, whoever they log in as', () => {
    const shared = new LruCache<SharedSettings>(100, 1 << 20);
    const a = new SessionSettings(
      params([
        ['user', 'a'],
        ['database', 'x'],
        ['application_name', 'app'],
        ['DateStyle', 'ISO'],
      ]),
      shared,
    );
    const b = new SessionSettings(
      params([
        ['user', 'b'],
        ['database', 'y'],
        ['application_name', 'app'],
        ['DateStyle', 'ISO'],
      ]),
      shared,
    );
    assert.equal(a.startup, b.startup);
    assert.deepEqual(
      [...a.startup],
      [
        ['application_name', 'app'],
        ['datestyle', 'ISO'],
      ],
    );
  });

  it('given in another order, or from options, have the same key', () => {
    const shared = new LruCache<SharedSettings>(100, 1 << 20);
    const a = new SessionSettings(
      params([
        ['application_name', 'app'],
        ['search_path', 's'],
      ]),
      shared,
    );
    const b = new SessionSettings(
      params([
        ['search_path', 's'],
        ['application_name', 'app'],
      ]),
      shared,
    );
    const c = new SessionSettings(params([['options', '-c search_path=s -c application_name=app']]), shared);
    assert.equal(a.key, b.key);
    assert.equal(a.key, c.key);
    assert.notEqual(a.key, new SessionSettings(params([['search_path', 't']]), shared).key);
  });

  it('with a malformed options value throw at every login, not only the first', () => {
    const shared = new LruCache<SharedSettings>(100, 1 << 20);
    const bad = params([['options', '-c']]);
    assert.throws(() => new SessionSettings(bad, shared));
    assert.throws(() => new SessionSettings(bad, shared));
  });
});
