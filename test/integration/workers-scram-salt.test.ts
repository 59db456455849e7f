// `workers = 2`: a SCRAM login shows every worker the same salt for a user name, whether the
// user exists or not. A salt that changed from worker to worker would tell a client which names
// are unknown (their mock salt) or hold a plain password (derived in each process), since a
// stored SCRAM secret's salt is the same everywhere.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScramClient } from '../../src/auth/scram-client.js';
import { workerOfCancelPid } from '../../src/proxy/cancel-keys.js';
import { int32, rawConnect, startupPacket } from '../support/raw-client.js';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';
import { allWorkersStarted } from '../support/workers.js';

const t = currentTopology();
const AUTH_SASL_CONTINUE = 11;

let dir: string;
let p: PgtideProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgtide-workers-salt-'));
  // writeAuthFile lists the SCRAM test user with its plain password.
  p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
    'workers = 2',
    'auth_type = "scram-sha-256"',
    // allWorkersStarted reads the primary's info lines.
    'log_level = "info"',
  ]);
  await allWorkersStarted(p);
});

after(async () => {
  await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Messages from a raw socket, one at a time. */
function messageReader(socket: net.Socket): () => Promise<{ type: string; body: Buffer }> {
  let pending = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  socket.on('data', (d) => {
    pending = Buffer.concat([pending, d]);
    wake?.();
  });
  socket.on('close', () => wake?.());
  return async () => {
    while (pending.length < 5 || pending.length < 1 + pending.readInt32BE(1)) {
      if (socket.destroyed) throw new Error('pgtide closed the connection');
      await new Promise<void>((resolve) => (wake = resolve));
    }
    const end = 1 + pending.readInt32BE(1);
    const message = { type: String.fromCharCode(pending[0]!), body: pending.subarray(5, end) };
    pending = pending.subarray(end);
    return message;
  };
}

function passwordMessage(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from('p'), int32(4 + payload.length), payload]);
}

/** The salt a SCRAM login of `user` is given; with `password`, the login is completed and the
 *  worker that holds it (from its cancel key) is returned too. */
async function saltFor(
  user: string,
  password?: string,
  port = p.port,
): Promise<{ salt: string; worker: number | null }> {
  const socket = await rawConnect(port);
  socket.on('error', () => {});
  try {
    const next = messageReader(socket);
    socket.write(startupPacket({ user, database: t.database }));
    assert.equal((await next()).type, 'R');
    const client = new ScramClient({ password: password ?? 'not the password' });
    const first = Buffer.from(client.clientFirst());
    socket.write(passwordMessage(Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(first.length), first])));
    const cont = await next();
    assert.equal(cont.body.readInt32BE(0), AUTH_SASL_CONTINUE);
    const serverFirst = cont.body.subarray(4).toString();
    const salt = /,s=([^,]+),/.exec(serverFirst)?.[1];
    assert.ok(salt, serverFirst);
    if (password === undefined) return { salt, worker: null };
    socket.write(passwordMessage(Buffer.from(client.serverFirst(serverFirst))));
    for (let m = await next(); ; m = await next()) {
      assert.notEqual(m.type, 'E', m.body.toString());
      if (m.type === 'K') return { salt, worker: workerOfCancelPid(m.body.readInt32BE(0)) };
    }
  } finally {
    socket.destroy();
  }
}

test('a user with a plain password gets one salt from every worker', async () => {
  const saltByWorker = new Map<number, Set<string>>();
  for (let i = 0; i < 64 && saltByWorker.size < 2; i++) {
    const { salt, worker } = await saltFor(t.scramUser.user, t.scramUser.password);
    if (!saltByWorker.has(worker!)) saltByWorker.set(worker!, new Set());
    saltByWorker.get(worker!)!.add(salt);
  }
  assert.equal(saltByWorker.size, 2, 'no login reached one of the workers in 64 tries');
  const all = new Set([...saltByWorker.values()].flatMap((s) => [...s]));
  assert.equal(all.size, 1, `salts by worker: ${JSON.stringify([...saltByWorker].map(([w, s]) => [w, [...s]]))}`);
});

test('an unknown user gets one salt, whichever worker answers', async () => {
  const salts = new Set<string>();
  // The kernel spreads connections by their ports: 24 logins reach both workers but for a
  // chance of 2^-23.
  for (let i = 0; i < 24; i++) salts.add((await saltFor('nobody_by_this_name')).salt);
  assert.equal(salts.size, 1, [...salts].join(' '));
});

test('with state_dir, an unknown user keeps its salt across a restart (one process and workers)', {
  timeout: 90_000,
}, async () => {
  for (const workers of [1, 2]) {
    const own = mkdtempSync(join(tmpdir(), 'pgtide-salt-restart-'));
    const toml = [
      `workers = ${workers}`,
      'auth_type = "scram-sha-256"',
      `state_dir = "${join(own, 'state')}"`,
      'log_level = "info"',
    ];
    const saltAfterStart = async () => {
      const instance = await spawnPgtide(t, own, writeAuthFile(t, own), toml);
      try {
        if (workers > 1) await allWorkersStarted(instance);
        return (await saltFor('nobody_by_this_name', undefined, instance.port)).salt;
      } finally {
        await instance.stop();
      }
    };
    try {
      const first = await saltAfterStart();
      assert.equal(await saltAfterStart(), first, `workers = ${workers}`);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  }
});
