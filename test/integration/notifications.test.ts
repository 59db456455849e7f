// LISTEN/NOTIFY through transaction pooling. A listener is pinned to its server, and after each
// of its transactions pgtide runs its own queries there (the session-state probe, the settings
// read-back): whatever the server sends on its own meanwhile (notifications, notices) must still
// reach the client, in order. A notification names the pid told to the client that sent it,
// where pgtide can be certain which client that was, and otherwise its backend's: never the
// pid of another client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const DRIVERS = fileURLToPath(new URL('../../../test/drivers/', import.meta.url));
const ROUNDS = 5;
const NOTIFIERS = 4;
const PER_NOTIFIER = 40;
/** Linux's largest pid_max: pgtide tells clients pids above it, a backend's is at most it. */
const PID_MAX = 4_194_304;

type KeyedClient = pg.Client & { processID: number };

async function connected(config: pg.ClientConfig): Promise<KeyedClient> {
  const c = new pg.Client(config) as KeyedClient;
  await c.connect();
  return c;
}

/**
 * `rounds` rounds of NOTIFIERS clients each sending PER_NOTIFIER notifications to a listener
 * that keeps its own server busy. Every notification arrives, each notifier's in order, and
 * none names another client's pid. Returns how many named their sender's.
 */
async function notifyUnderLoad(p: RunningPgtide, rounds: number): Promise<number> {
  const listener = await connected(p.pgConfig());
  const got: { payload: string; pid: number }[] = [];
  listener.on('notification', (n) => got.push({ payload: n.payload ?? '', pid: n.processId }));
  await listener.query('LISTEN load_channel');
  const notifiers = await Promise.all(Array.from({ length: NOTIFIERS }, () => connected(p.pgConfig())));
  let named = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      got.length = 0;
      let sending = true;
      // The listener keeps its server busy with transactions, each followed by pgtide's probe
      // (it is pinned) and, every other one, by a settings read-back (it SETs something).
      const busy = (async () => {
        for (let i = 0; sending; i++) {
          await listener.query(i % 2 === 0 ? 'SELECT 1' : `SET application_name = 'listener_${i % 7}'`);
        }
      })();
      await Promise.all(
        notifiers.map(async (c, n) => {
          for (let i = 0; i < PER_NOTIFIER; i++)
            await c.query(`SELECT pg_catalog.pg_notify('load_channel', '${n}:${i}')`);
        }),
      );
      sending = false;
      await busy;
      const expected = NOTIFIERS * PER_NOTIFIER;
      await waitFor(
        `round ${round}: ${expected} notifications (got ${got.length})`,
        () => got.length >= expected,
        5000,
      ).catch(() => {});
      assert.equal(got.length, expected, `round ${round}: notifications lost`);
      // Each notifier's notifications arrive in the order it sent them.
      for (let n = 0; n < NOTIFIERS; n++) {
        const mine = got.filter((g) => g.payload.startsWith(`${n}:`)).map((g) => Number(g.payload.split(':')[1]));
        assert.deepEqual(
          mine,
          Array.from({ length: PER_NOTIFIER }, (_, i) => i),
          `round ${round}, notifier ${n}`,
        );
      }
      for (const { payload, pid } of got) {
        const sender = notifiers[Number(payload.split(':')[0])]!.processID;
        if (pid === sender) named++;
        else assert.ok(pid <= PID_MAX, `round ${round}: ${payload} names client pid ${pid}, sent by ${sender}`);
      }
    }
    await listener.query('UNLISTEN *');
  } finally {
    await Promise.all([listener.end(), ...notifiers.map((c) => c.end())]);
  }
  return named;
}

describe('LISTEN/NOTIFY in transaction mode', { timeout: 90_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { default_pool_size: NOTIFIERS + 1 });
  });
  after(async () => {
    await p.stop();
  });

  test(`a busy listener gets every notification, in order, with no other client's pid (${ROUNDS} rounds of ${NOTIFIERS} x ${PER_NOTIFIER} under load)`, async (c) => {
    // Which ones name their sender depends on how the pool rotated its servers: the test
    // asserts only that none names another client (the count is for the reader).
    const named = await notifyUnderLoad(p, ROUNDS);
    c.diagnostic(`${named} of ${ROUNDS * NOTIFIERS * PER_NOTIFIER} named their sender`);
  });

  test('four notifiers sharing one server: no notification names the wrong client', async () => {
    const tight = await startPgtide(t, { default_pool_size: 2 });
    try {
      await notifyUnderLoad(tight, 2);
    } finally {
      await tight.stop();
    }
  });

  test("a notification from another client names that client's pid; from outside pgtide, the backend's", async () => {
    const listener = await connected(p.pgConfig());
    const sender = await connected(p.pgConfig());
    const direct = await connected({
      host: t.primary.host,
      port: t.primary.port,
      user: t.scramUser.user,
      password: t.scramUser.password,
      database: t.database,
    });
    try {
      const seen: { payload: string; pid: number }[] = [];
      listener.on('notification', (n) => seen.push({ payload: n.payload ?? '', pid: n.processId }));
      await listener.query('LISTEN other_channel');
      await sender.query(`NOTIFY other_channel, 'simple'`);
      await sender.query(`BEGIN; SELECT pg_catalog.pg_notify('other_channel', 'in a block'); COMMIT`);
      await sender.query({ text: `SELECT pg_catalog.pg_notify('other_channel', $1)`, values: ['extended'] });
      const directPid = (await direct.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0]!.pid;
      await direct.query(`NOTIFY other_channel, 'direct'`);
      await waitFor('four notifications', () => seen.length === 4);
      assert.deepEqual(seen, [
        { payload: 'simple', pid: sender.processID },
        { payload: 'in a block', pid: sender.processID },
        { payload: 'extended', pid: sender.processID },
        { payload: 'direct', pid: directPid },
      ]);
    } finally {
      await Promise.all([listener.end(), sender.end(), direct.end()]);
    }
  });

  test('a client that notifies itself sees the pid it was told at login (node-postgres)', async () => {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const told = (c as unknown as { processID: number }).processID;
    const seen: number[] = [];
    c.on('notification', (n) => seen.push(n.processId));
    await c.query('LISTEN self_channel');
    await c.query(`NOTIFY self_channel, 'in its own transaction'`);
    await c.query(`BEGIN; SELECT pg_catalog.pg_notify('self_channel', 'at commit'); COMMIT`);
    await waitFor('two notifications', () => seen.length === 2);
    assert.deepEqual(seen, [told, told]);
    await c.end();
  });

  test("psycopg's own check: a notification from its connection carries conn.info.backend_pid", async () => {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(
        '/usr/bin/python3',
        [DRIVERS + 'psycopg-notify.py'],
        {
          env: {
            ...process.env,
            PGHOST: p.host,
            PGPORT: String(p.port),
            PGUSER: t.scramUser.user,
            PGPASSWORD: t.scramUser.password,
            PGDATABASE: t.database,
          },
          timeout: 30_000,
        },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve({ stdout: out })),
      );
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      backend_pid: number;
      notify_pids: number[];
      payloads: string[];
    };
    assert.deepEqual(result.payloads, ['0', '1', '2', '3', '4']);
    assert.deepEqual(
      result.notify_pids,
      result.payloads.map(() => result.backend_pid),
    );
  });
});
