import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CancelKeys, LARGEST_REAL_PID, workerOfCancelPid } from '../../src/proxy/cancel-keys.js';

describe('cancel keys', () => {
  it('hand out pids above any real Linux pid and below 2^31, for every worker', () => {
    for (const worker of [0, 1, 5, 127]) {
      const keys = new CancelKeys<number>(worker);
      for (let i = 0; i < 2000; i++) {
        const { pid } = keys.issue(i);
        assert.ok(pid > LARGEST_REAL_PID, `worker ${worker}: pid ${pid} may name a real process`);
        assert.ok(pid < 2 ** 31, `worker ${worker}: pid ${pid} is negative as an int32`);
        assert.equal(workerOfCancelPid(pid), worker);
      }
    }
  });

  it('find a key only with its secret, and forget it once revoked', () => {
    const keys = new CancelKeys<string>(3);
    const key = keys.issue('client');
    assert.equal(keys.find(key.pid, key.secret), 'client');
    const wrong = Buffer.from(key.secret);
    wrong[0] = wrong[0]! ^ 0xff;
    assert.equal(keys.find(key.pid, wrong), undefined);
    assert.equal(keys.find(key.pid, Buffer.concat([key.secret, Buffer.alloc(1)])), undefined);
    keys.revoke(key.pid);
    assert.equal(keys.find(key.pid, key.secret), undefined);
  });
});
