// PgBouncer's signals for PAUSE (SIGUSR1) and RESUME (SIGUSR2), which operators' scripts send:
// Node.js would open its inspector on SIGUSR1 (a debugger port without authentication) and end
// the process on SIGUSR2. With workers, the primary process takes them for every worker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { connectTo, spawnCli, spawnPgtide, writeConfig, type PgtideProcess } from '../support/pgtide-process.js';
import { untilAnswering } from '../support/answering.js';
import { freePorts } from '../support/free-ports.js';
import { allWorkersStarted, oneOnEachWorker } from '../support/workers.js';

const t = currentTopology();
/** Node.js's inspector port, which SIGUSR1 would open. */
const INSPECTOR_PORT = 9229;

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether the query finished within `ms` (it goes on either way). */
async function answersWithin(query: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([query.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

for (const workers of [1, 2]) {
  describe(`SIGUSR1 and SIGUSR2 (workers = ${workers})`, { timeout: 60_000 }, () => {
    let dir: string;
    let p: PgtideProcess;
    let clients: pg.Client[];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'pgtide-pause-signals-'));
      p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [`workers = ${workers}`, 'log_level = "info"']);
      const connect = () => connectTo(t, p);
      if (workers === 1) clients = [await connect()];
      else {
        await allWorkersStarted(p);
        clients = await oneOnEachWorker(connect);
      }
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    test('pause every database and resume it, as PgBouncer does, without a debugger port or an exit', async () => {
      const inspectorBefore = await listening(INSPECTOR_PORT);
      p.child.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, 500));
      const queries = clients.map((c) => c.query('SELECT 1'));
      for (const [i, query] of queries.entries()) {
        assert.equal(await answersWithin(query, 700), false, `client ${i} was served during the pause`);
      }
      if (!inspectorBefore) assert.equal(await listening(INSPECTOR_PORT), false, 'SIGUSR1 opened the inspector');
      p.child.kill('SIGUSR2');
      for (const [i, query] of queries.entries()) {
        assert.equal(await answersWithin(query, 5000), true, `client ${i} was not served after the resume`);
      }
      assert.equal(p.child.exitCode, null, p.output());
      assert.equal(p.child.signalCode, null, p.output());
    });
  });
}

// The listeners were set once every module had loaded, and again after the re-run for the young
// generation's size: for the first 0.3-0.7 s a SIGUSR2 ended pgtide and a SIGUSR1 opened the
// inspector (a reviewer). They come first now; only Node.js's own start is left.
test('a SIGUSR2 a quarter of a second into the start leaves pgtide running', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-early-signal-'));
  const [port] = (await freePorts(1)) as [number];
  const child = spawnCli(writeConfig(t, dir, writeAuthFile(t, dir), port));
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await new Promise((r) => setTimeout(r, 250));
    child.kill('SIGUSR2');
    await untilAnswering(port, 15_000, () => (child.exitCode === null && child.signalCode === null ? null : 'exited'));
    assert.equal(child.signalCode, null, output);
    assert.equal(child.exitCode, null, output);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
