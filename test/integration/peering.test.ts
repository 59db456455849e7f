// Peering: pgtide instances behind one TCP load balancer, where a client's cancel request may
// land on another instance than the one running its query. Two instances on this machine, A in
// the test process and B a `pgtide start` process of its own, with one [[peers]] list naming
// both (each skips its own entry); a cancel sent to the wrong one must still cancel.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { CancelKeys } from '../../src/proxy/cancel-keys.js';
import { parseConfig } from '../../src/config/load.js';
import { MAX_FORWARDS_PER_PEER } from '../../src/config/peering.js';
import { freePorts } from '../support/free-ports.js';
import { startPgtide, writeAuthFile, type RunningPgtide } from '../support/pgtide.js';
import { spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';
import { issuedKey, sendCancelRequest } from '../support/raw-client.js';
import { currentTopology, scramLogin, sqlOn } from '../support/topology.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const HOST = '127.0.0.1';

type KeyedClient = pg.Client & { processID: number; secretKey: number };

async function connect(port: number, database = t.database): Promise<KeyedClient> {
  const client = new pg.Client({ ...scramLogin(t, { host: HOST, port }), database }) as KeyedClient;
  await client.connect();
  return client;
}

/** What `outcome` resolves to, or 'still running' after `ms`: a missed cancel fails the test quickly. */
function within(outcome: Promise<string>, ms: number): Promise<string> {
  return Promise.race([
    outcome,
    new Promise<string>((resolve) => setTimeout(() => resolve('still running'), ms).unref()),
  ]);
}

/** Starts `sql` on `client`; resolves to its SQLSTATE, or 'ok'. */
function run(client: pg.Client, sql: string): Promise<string> {
  return client.query(sql).then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  );
}

/** Until PostgreSQL runs `sql`: a cancel before that finds nothing to cancel. */
async function untilRunning(sql: string): Promise<void> {
  await waitFor('the statement to run on the server', async () => {
    const rows = await sqlOn(
      t.primary,
      "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE query = $1 AND state = 'active'",
      [sql],
    );
    return rows.length > 0;
  });
}

/** The console's SHOW PEERS on `port`, as node-postgres reads its rows (int4 columns as numbers). */
async function showPeers(port: number): Promise<Record<string, string | number>[]> {
  const console_ = await connect(port, 'pgtide');
  try {
    return (await console_.query({ text: 'SHOW PEERS', queryMode: 'simple' } as pg.QueryConfig)).rows as Record<
      string,
      string | number
    >[];
  } finally {
    await console_.end();
  }
}

describe('peering: cancel requests between two pgtide instances', { timeout: 60_000 }, () => {
  let a: RunningPgtide;
  let b: PgtideProcess;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-peering-'));
    const [portA, portB] = (await freePorts(2)) as [number, number];
    const peers = [
      ['[[peers]]', 'id = 1', `host = "${HOST}"`, `port = ${portA}`],
      ['[[peers]]', 'id = 2', `host = "${HOST}"`, `port = ${portB}`],
    ].flat();
    const authFile = writeAuthFile(t, dir);
    b = await spawnPgtide(
      t,
      dir,
      authFile,
      [`stats_users = ["${t.scramUser.user}"]`, 'peer_id = 2', ...peers],
      undefined,
      portB,
    );
    a = await startPgtide(t, { listen_port: [portA], peer_id: 1, peers: parseConfig(peers.join('\n')).peers });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [holder, other] of [
    ['A', 'B'],
    ['B', 'A'],
  ] as const) {
    test(`a query through ${holder} is cancelled by its key sent to ${other}`, async (ctx) => {
      const port = (name: 'A' | 'B') => (name === 'A' ? a.port : b.port);
      const client = await connect(port(holder));
      const sql = `SELECT pg_catalog.pg_sleep(30) -- held by ${holder}`;
      try {
        const sleeping = run(client, sql);
        await untilRunning(sql);
        const sent = Date.now();
        await sendCancelRequest(HOST, port(other), client.processID, client.secretKey);
        assert.equal(await within(sleeping, 5000), '57014');
        const latency = Date.now() - sent;
        ctx.diagnostic(`cancel through the peer: ${latency} ms from CancelRequest to 57014`);
        assert.ok(latency < 2000, `took ${latency} ms`);
        assert.equal(await run(client, 'SELECT 1'), 'ok');
      } finally {
        await client.end();
      }
    });
  }

  test('each instance counts what it forwarded: SHOW PEERS', async () => {
    assert.deepEqual(await showPeers(b.port), [
      {
        peer_id: 1,
        host: HOST,
        port: a.port,
        pool_size: MAX_FORWARDS_PER_PEER,
        cancels_in_flight: 0,
        cancels_confirmed: '1',
        cancels_failed: '0',
        cancels_dropped: '0',
      },
    ]);
    assert.deepEqual(
      { ...a.pgtide.context.peerCancels.counts.get(2) },
      { inFlight: 0, confirmed: 1, failed: 0, dropped: 0 },
    );
  });

  test('bogus keys sent to B cancel nothing, and both instances keep serving', async () => {
    const client = await connect(a.port);
    const sql = 'SELECT pg_catalog.pg_sleep(1.5) -- bogus keys';
    try {
      const sleeping = run(client, sql);
      await untilRunning(sql);
      // A's key with a wrong secret: forwarded (B cannot check it), refused by A.
      await sendCancelRequest(HOST, b.port, client.processID, client.secretKey ^ 1);
      // A key of peer 7, which B does not know; a key as a peer forwards it, naming A.
      await sendCancelRequest(HOST, b.port, issuedKey(new CancelKeys(7, 0)).cancelPid, client.secretKey);
      await sendCancelRequest(HOST, b.port, client.processID & ~(1 << 30), client.secretKey);
      assert.equal(await sleeping, 'ok', 'a bogus key cancelled the query');
      const [peer] = await showPeers(b.port);
      assert.equal(peer!['cancels_confirmed'], '2', 'only the wrong secret was forwarded');
      const onB = await connect(b.port);
      assert.equal(await run(onB, 'SELECT 1'), 'ok');
      await onB.end();
    } finally {
      await client.end();
    }
  });
});

describe('peering: forwarding is bounded', { timeout: 60_000 }, () => {
  let c: RunningPgtide;
  /** Accepts forwarded cancels and never answers, as a hung peer would. */
  let hole: net.Server;
  const held = new Set<net.Socket>();
  let mostHeld = 0;
  const SELF = 1;
  const HUNG = 5;

  before(async () => {
    hole = net.createServer((socket) => {
      held.add(socket);
      mostHeld = Math.max(mostHeld, held.size);
      socket.on('error', () => {});
      socket.on('close', () => held.delete(socket));
      socket.resume(); // reads (and ignores) the request, so that pgtide giving up is seen
    });
    await new Promise<void>((resolve) => hole.listen(0, HOST, resolve));
    const holePort = (hole.address() as net.AddressInfo).port;
    const [port] = await freePorts(1);
    // Peer SELF is a misconfiguration: it points back at this very instance.
    c = await startPgtide(t, {
      listen_port: [port!],
      peer_id: 3,
      peers: [
        { id: SELF, host: HOST, port: port! },
        { id: HUNG, host: HOST, port: holePort },
      ],
    });
  });
  after(async () => {
    await c?.stop();
    for (const socket of held) socket.destroy();
    hole?.close();
  });

  test('a forwarded cancel is never forwarded again, even when [[peers]] make a loop', async () => {
    const key = issuedKey(new CancelKeys(SELF, 0));
    await sendCancelRequest(HOST, c.port, key.cancelPid, key.cancelSecret);
    const counts = await waitFor('the forward to end', () => {
      const n = c.pgtide.context.peerCancels.counts.get(SELF);
      return n && n.inFlight === 0 ? n : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual({ ...counts }, { inFlight: 0, confirmed: 1, failed: 0, dropped: 0 });
  });

  test(`a flood of cancels for a hung peer holds at most ${MAX_FORWARDS_PER_PEER} sockets, each for a bounded time`, async () => {
    const keys = new CancelKeys(HUNG, 0);
    const flood = 3 * MAX_FORWARDS_PER_PEER;
    // A sender's connection stays open while its forward does (see handleCancelRequest): the
    // dropped ones are closed at once, the forwarded ones once given up on.
    let closed = 0;
    const senders = Promise.all(
      Array.from({ length: flood }, () => {
        const key = issuedKey(keys);
        return sendCancelRequest(HOST, c.port, key.cancelPid, key.cancelSecret).then(() => closed++);
      }),
    );
    await waitFor('the forwards to reach the hung peer', () => held.size === MAX_FORWARDS_PER_PEER);
    await waitFor('the dropped cancels to be closed', () => closed === flood - MAX_FORWARDS_PER_PEER);
    const counts = c.pgtide.context.peerCancels.counts.get(HUNG)!;
    assert.equal(counts.dropped, flood - MAX_FORWARDS_PER_PEER);
    assert.equal(mostHeld, MAX_FORWARDS_PER_PEER);
    // The instance serves its clients meanwhile.
    const client = new pg.Client(c.pgConfig());
    await client.connect();
    assert.equal(await run(client, 'SELECT 1'), 'ok');
    await client.end();
    // The hung peer's sockets are given up on, and forwarding works again.
    await waitFor('the forwards to time out', () => held.size === 0 && counts.inFlight === 0, 5000);
    assert.equal(counts.failed, MAX_FORWARDS_PER_PEER);
    await senders;
    const key = issuedKey(keys);
    const sender = sendCancelRequest(HOST, c.port, key.cancelPid, key.cancelSecret);
    await waitFor('a new forward', () => held.size === 1);
    await sender;
  });
});
