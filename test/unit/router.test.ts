import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../src/config/defaults.js';
import type { BackendConfig, Config } from '../../src/config/types.js';
import { Router, type ClusterView } from '../../src/proxy/router.js';

const backend = (name: string, weight: number, role: BackendConfig['role']): BackendConfig => ({
  name,
  host: 'h',
  port: 1,
  weight,
  role,
});
const primary = backend('p', 0, 'primary'),
  s1 = backend('s1', 1, 'standby'),
  s2 = backend('s2', 3, 'standby');

function router(overrides: Partial<Config>, view: Partial<ClusterView> = {}, draws: number[] = [0.5]): Router {
  const config = { ...defaultConfig(), backends: [primary, s1, s2], ...overrides };
  let i = 0;
  return new Router(
    config,
    {
      primary: () => primary,
      readCandidates: () => [s1, s2],
      lagBytes: () => null,
      ...view,
    },
    () => draws[i++ % draws.length]!,
  );
}
const ctx = { database: 'app', user: 'u', applicationName: 'web' };

describe('router', () => {
  test('writes go to the primary; none known → null', () => {
    assert.equal(router({}).writeBackend(), primary);
    assert.equal(router({}, { primary: () => null }).writeBackend(), null);
  });

  test('a standby serves reads only when one is a read candidate and load balancing is on', () => {
    assert.equal(router({}).standbyReadable(), true);
    assert.equal(router({ load_balance_mode: false }).standbyReadable(), false);
    assert.equal(router({}, { readCandidates: () => [] }).standbyReadable(), false);
    // The primary itself taking reads (weight > 0) is no standby.
    assert.equal(router({}, { readCandidates: () => [primary] }).standbyReadable(), false);
    assert.equal(router({}, { readCandidates: () => [primary, s2] }).standbyReadable(), true);
    // No primary known (a failover): a standby still serves reads.
    assert.equal(router({}, { primary: () => null, readCandidates: () => [s1] }).standbyReadable(), true);
  });

  test('reads are drawn by weight', () => {
    // total weight 4: draws below 0.25 pick s1 (weight 1), the rest s2 (weight 3)
    assert.equal(router({}, {}, [0.1]).readBackend(ctx), s1);
    assert.equal(router({}, {}, [0.3]).readBackend(ctx), s2);
    assert.equal(router({}, {}, [0.99]).readBackend(ctx), s2);
  });

  test('no readable backend → the primary; load_balance_mode off → the primary', () => {
    assert.equal(router({}, { readCandidates: () => [] }).readBackend(ctx), primary);
    assert.equal(router({ load_balance_mode: false }).readBackend(ctx), primary);
  });

  test('redirect lists: database, application (wins) and backend index', () => {
    assert.equal(router({ database_redirect_preference_list: 'app:primary' }).readBackend(ctx), primary);
    assert.equal(
      router({
        database_redirect_preference_list: 'app:primary',
        app_name_redirect_preference_list: 'web:1',
      }).readBackend(ctx),
      s1,
    );
    assert.equal(router({ user_redirect_preference_list: 'u:2' }).readBackend(ctx), s2);
    assert.equal(router({ database_redirect_preference_list: 'other:primary' }, {}, [0.1]).readBackend(ctx), s1);
  });

  test('a redirect weight sends only that share of the reads', () => {
    // draw 0.7 ≥ weight 0.5: the rule is skipped and the read is balanced (second draw 0.1 → s1)
    assert.equal(
      router({ database_redirect_preference_list: 'app:primary(0.5)' }, {}, [0.7, 0.1]).readBackend(ctx),
      s1,
    );
    assert.equal(
      router({ database_redirect_preference_list: 'app:primary(0.5)' }, {}, [0.2]).readBackend(ctx),
      primary,
    );
  });

  test('prefer_lower_delay_standby picks the standby with the least lag', () => {
    const lag = (b: BackendConfig) => (b === s2 ? 10 : 5000);
    assert.equal(router({ prefer_lower_delay_standby: true }, { lagBytes: lag }, [0.01]).readBackend(ctx), s2);
  });
});
