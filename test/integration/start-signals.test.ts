// A signal that comes while `pgtide start` is still starting: the listen ports are open before
// the cluster monitor's first round, which waits on a backend that does not answer. A SIGHUP
// must not end the process (its default action), and a SIGINT stops it cleanly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { connectTo, spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';

const t = currentTopology();
// The monitor's check of the silent backend gives up after this long.
const CHECK_TIMEOUT_S = 3;

describe('signals while pgtide starts', { timeout: 60_000 }, () => {
  let dir: string;
  let silent: net.Server;
  const held: net.Socket[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-start-signals-'));
    // Accepts and never answers: the monitor's first round waits on it.
    silent = net.createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    for (const socket of held) socket.destroy();
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function startSlowly(): Promise<PgtideProcess> {
    return spawnPgtide(t, dir, writeAuthFile(t, dir), [
      `sr_check_user = "${t.superuser.user}"`,
      `sr_check_password = "${t.superuser.password}"`,
      `health_check_timeout = ${CHECK_TIMEOUT_S}`,
      `server_connect_timeout = ${CHECK_TIMEOUT_S}`,
      '[[backends]]',
      'host = "127.0.0.1"',
      `port = ${(silent.address() as net.AddressInfo).port}`,
      'role = "standby"',
    ]);
  }

  test('a SIGHUP during the start leaves pgtide running, and serving once started', async () => {
    const p = await startSlowly();
    try {
      p.child.kill('SIGHUP');
      const client = await connectTo(t, p);
      assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
      await client.end();
      assert.equal(p.child.exitCode, null, p.output());
      assert.equal(p.child.signalCode, null, 'pgtide died of the SIGHUP');
    } finally {
      assert.equal(await p.stop(), 0, p.output());
    }
  });

  test('a SIGINT during the start stops pgtide with exit code 0 once it has started', async () => {
    const p = await startSlowly();
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      p.child.once('exit', (code, signal) => resolve([code, signal])),
    );
    p.child.kill('SIGINT');
    // A second SIGINT stops at once, as it should: wait for the first one's end, sending none.
    assert.deepEqual(await exited, [0, null], p.output());
  });
});
