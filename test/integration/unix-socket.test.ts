// The unix socket (`unix_socket_dir`): a file left by a process that died is replaced at
// start, but one a live process still listens on is not taken over by a second pgtide.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePorts } from '../support/free-ports.js';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
let dir: string;
let port: number;
let first: RunningPgtide;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgtide-unix-'));
  [port] = (await freePorts(1)) as [number];
  first = await startPgtide(t, { listen_port: [port], unix_socket_dir: dir });
});

after(async () => {
  await first.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function selectOneThrough(socketDir: string, socketPort: number): Promise<number> {
  const c = new pg.Client({ ...first.pgConfig(), host: socketDir, port: socketPort });
  await c.connect();
  try {
    return (await c.query('SELECT 1 AS one')).rows[0].one;
  } finally {
    await c.end();
  }
}

test("a second pgtide on the same socket directory and port refuses to start and leaves the first's socket", async () => {
  // Another loopback address: the TCP port is free there, only the socket file is shared.
  await assert.rejects(
    startPgtide(t, { listen_addr: ['127.0.0.2'], listen_port: [port], unix_socket_dir: dir }),
    (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EADDRINUSE');
      assert.match(err.message, new RegExp(`unix socket ${join(dir, `.s.PGSQL.${port}`)}`));
      return true;
    },
  );
  assert.equal(await selectOneThrough(dir, port), 1);
});

test('a socket file left by a process that was killed is replaced', async () => {
  const staleDir = mkdtempSync(join(tmpdir(), 'pgtide-unix-stale-'));
  const [stalePort] = (await freePorts(1)) as [number];
  const socketPath = join(staleDir, `.s.PGSQL.${stalePort}`);
  const holder = spawn(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(socketPath)}); setInterval(() => {}, 1000);`,
  ]);
  try {
    await waitFor('the holder socket file', () => existsSync(socketPath), 10_000);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    assert.ok(existsSync(socketPath), 'SIGKILL left the socket file behind');
    const second = await startPgtide(t, { listen_port: [stalePort!], unix_socket_dir: staleDir });
    try {
      assert.equal(await selectOneThrough(staleDir, stalePort!), 1);
    } finally {
      await second.stop();
    }
  } finally {
    holder.kill('SIGKILL');
    rmSync(staleDir, { recursive: true, force: true });
  }
});

test('a unix_socket_dir that does not exist leaves TCP alone, logged, as PgBouncer does (it stopped the start)', async () => {
  const p = await startPgtide(t, { unix_socket_dir: join(dir, 'missing') });
  try {
    assert.ok(
      p.logs.some((l) => l['msg'] === 'no unix socket for clients: listening on TCP alone'),
      JSON.stringify(p.logs),
    );
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.end();
  } finally {
    await p.stop();
  }
});
