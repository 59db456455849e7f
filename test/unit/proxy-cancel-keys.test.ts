import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PEER_ID, MAX_WORKER_ID } from '../../src/config/peering.js';
import {
  CancelKeys,
  LARGEST_REAL_PID,
  forwardedCancelPid,
  isIssuedCancelPid,
  issuedCancelPid,
  peerOfCancelPid,
  workerOfCancelPid,
  type CancelKeyHolder,
} from '../../src/proxy/cancel-keys.js';

class Owner implements CancelKeyHolder {
  cancelPid = 0;
  cancelSecret = 0;
  constructor(readonly name: string) {}

  get secret(): Buffer {
    const b = Buffer.alloc(4);
    b.writeInt32BE(this.cancelSecret);
    return b;
  }
}

function issued(keys: CancelKeys<Owner>, name: string): Owner {
  const owner = new Owner(name);
  assert.ok(keys.issue(owner));
  return owner;
}

describe('cancel keys', () => {
  it('hand out pids above any real Linux pid and below 2^31, naming their peer and worker', () => {
    for (const [peer, worker] of [
      [0, 0],
      [1, 0],
      [0, 1],
      [5, 17],
      [MAX_PEER_ID, 0],
      [0, MAX_WORKER_ID],
      [MAX_PEER_ID, MAX_WORKER_ID],
    ] as const) {
      const keys = new CancelKeys<Owner>(peer, worker);
      for (let i = 0; i < 2000; i++) {
        const pid = issued(keys, String(i)).cancelPid;
        assert.ok(pid > LARGEST_REAL_PID, `peer ${peer} worker ${worker}: pid ${pid} may name a real process`);
        assert.ok(pid < 2 ** 31, `peer ${peer} worker ${worker}: pid ${pid} is negative as an int32`);
        assert.equal(peerOfCancelPid(pid), peer);
        assert.equal(workerOfCancelPid(pid), worker);
        assert.ok(isIssuedCancelPid(pid));
      }
    }
  });

  it('refuse peer and worker ids the pid has no room for', () => {
    for (const [peer, worker] of [
      [-1, 0],
      [MAX_PEER_ID + 1, 0],
      [0, -1],
      [0, MAX_WORKER_ID + 1],
      [1.5, 0],
    ]) {
      assert.throws(() => new CancelKeys(peer!, worker!), RangeError, `peer ${peer} worker ${worker}`);
    }
  });

  it('a forwarded pid is marked as such, keeps its peer and worker, and maps back to the issued one', () => {
    const keys = new CancelKeys<Owner>(9, 3);
    for (let i = 0; i < 1000; i++) {
      const owner = issued(keys, String(i));
      const { cancelPid: pid, secret } = owner;
      const forwarded = forwardedCancelPid(pid);
      assert.notEqual(forwarded, pid);
      assert.equal(isIssuedCancelPid(forwarded), false);
      assert.equal(peerOfCancelPid(forwarded), 9);
      assert.equal(workerOfCancelPid(forwarded), 3);
      assert.equal(issuedCancelPid(forwarded), pid);
      assert.equal(keys.find(forwarded, secret), undefined);
      assert.equal(keys.find(issuedCancelPid(forwarded), secret), owner);
    }
  });

  it('pids of different peers never collide, and every bit of the secret stays random', () => {
    const seen = new Map<number, number>();
    let anyBit = 0;
    let everyBit = 0xffffffff;
    for (let peer = 0; peer <= MAX_PEER_ID; peer++) {
      const keys = new CancelKeys<Owner>(peer, 0);
      for (let i = 0; i < 200; i++) {
        const { cancelPid: pid, secret } = issued(keys, String(i));
        assert.ok(!seen.has(pid), `pid ${pid} issued by peers ${seen.get(pid)} and ${peer}`);
        seen.set(pid, peer);
        assert.equal(secret.length, 4);
        anyBit = (anyBit | secret.readUInt32BE(0)) >>> 0;
        everyBit = (everyBit & secret.readUInt32BE(0)) >>> 0;
      }
    }
    // Over 6,400 random secrets each bit is both 0 and 1 somewhere; a bit spent on routing would not be.
    assert.equal(anyBit, 0xffffffff);
    assert.equal(everyBit, 0);
  });

  it('find a key only with its secret, and forget it once revoked', () => {
    const keys = new CancelKeys<Owner>(2, 3);
    const key = issued(keys, 'client');
    assert.equal(keys.find(key.cancelPid, key.secret), key);
    for (let byte = 0; byte < 4; byte++) {
      const wrong = key.secret;
      wrong[byte] = wrong[byte]! ^ 0x01;
      assert.equal(keys.find(key.cancelPid, wrong), undefined, `byte ${byte} differs`);
    }
    assert.equal(keys.find(key.cancelPid, Buffer.concat([key.secret, Buffer.alloc(1)])), undefined);
    assert.equal(keys.find(key.cancelPid, key.secret.subarray(0, 3)), undefined);
    keys.revoke(key.cancelPid);
    assert.equal(keys.find(key.cancelPid, key.secret), undefined);
  });

  it('stop issuing before the id space is too crowded to draw a free id, and issue again once keys are revoked', () => {
    const keys = new CancelKeys<Owner>(0, 0);
    const owners: Owner[] = [];
    for (;;) {
      const owner = new Owner('');
      if (!keys.issue(owner)) break;
      owners.push(owner);
    }
    assert.equal(owners.length, 2 ** 19, 'half of the 2^20 local ids');
    assert.equal(new Set(owners.map((o) => o.cancelPid)).size, owners.length);
    keys.revoke(owners[0]!.cancelPid);
    assert.ok(keys.issue(new Owner('')));
  });
});
