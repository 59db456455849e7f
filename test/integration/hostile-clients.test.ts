import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { firstError, int32, rawConnect, rawExchange, startupPacket } from '../support/raw-client.js';
import { timeUntil } from '../support/faults.js';

const t = currentTopology();

describe('bad input from clients', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { client_login_timeout: 2, max_packet_size: 65536 });
  });
  after(() => p.stop());

  /** After every hostile exchange a normal client must still connect and query within 1 s. */
  async function stillServes(): Promise<void> {
    const started = Date.now();
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.end();
    assert.ok(Date.now() - started < 1000, `a normal client needed ${Date.now() - started} ms`);
  }

  const cases: [string, Buffer[], string][] = [
    ['garbage bytes (an HTTP request)', [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], '08P01'],
    ['an absurd startup length', [Buffer.concat([int32(0x7fffffff), int32(196608)])], '08P01'],
    ['a negative startup length', [Buffer.concat([int32(0xffffffff), int32(196608)])], '08P01'],
    ['a startup length below the minimum', [Buffer.concat([int32(4), int32(196608)])], '08P01'],
    // PostgreSQL: "unsupported frontend protocol 4.0: server supports 3.0 to 3.2", 0A000.
    ['an unknown protocol version', [Buffer.concat([int32(8), int32(0x00040000)])], '0A000'],
    [
      'a PasswordMessage before the startup packet',
      [Buffer.concat([Buffer.from('p'), int32(9), Buffer.from('pass\0')])],
      '08P01',
    ],
    ['a startup packet without a user', [startupPacket({ database: 'x' })], '28000'],
    [
      'startup parameters without the final NUL',
      [Buffer.concat([int32(16), int32(196608), Buffer.from('user\0x\0z')])],
      '08P01',
    ],
    [
      'SSLRequest followed by plaintext in the same packet',
      [Buffer.concat([int32(8), int32(80877103), startupPacket({ user: 'x' })])],
      '08P01',
    ],
  ];
  for (const [name, chunks, code] of cases) {
    test(`${name}: a clean ${code} error and close`, async () => {
      const out = await rawExchange(p.port, chunks);
      assert.ok(out.closed, 'pgtide must close the connection');
      assert.equal(out.error?.code, code, `got ${JSON.stringify(out.error)}`);
      assert.equal(out.error?.severity, 'FATAL');
      await stillServes();
    });
  }

  test('a second StartupMessage during authentication is a protocol violation', async () => {
    const out = await rawExchange(p.port, [
      startupPacket({ user: t.scramUser.user, database: t.database }),
      startupPacket({ user: 'postgres' }),
    ]);
    assert.ok(out.closed);
    // The first message is the SASL request; the error follows it.
    assert.equal(out.received[0], 0x52);
    const saslLen = out.received.readUInt32BE(1);
    assert.equal(firstError(out.received, 1 + saslLen)?.code, '08P01');
    await stillServes();
  });

  test('a SASLInitialResponse with a 0xFFFFFFFF data length is refused', async () => {
    const body = Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(0xffffffff), Buffer.from('n,,n=,r=abc')]);
    const sasl = Buffer.concat([Buffer.from('p'), int32(body.length + 4), body]);
    const out = await rawExchange(p.port, [startupPacket({ user: t.scramUser.user, database: t.database }), sasl]);
    assert.ok(out.closed);
    const saslLen = out.received.readUInt32BE(1);
    assert.equal(firstError(out.received, 1 + saslLen)?.code, '08P01');
    await stillServes();
  });

  test('a message longer than max_packet_size after login is refused', async () => {
    const c = new pg.Client(p.pgConfig());
    const errors: { code?: string }[] = [];
    c.on('error', (e) => errors.push(e as { code?: string }));
    await c.connect();
    await assert.rejects(c.query(`SELECT '${'x'.repeat(70_000)}'`));
    await stillServes();
  });

  test('a truncated startup packet is closed at client_login_timeout', async () => {
    const started = Date.now();
    const out = await rawExchange(p.port, [Buffer.concat([int32(100), int32(196608), Buffer.from('user\0')])], 5000);
    assert.ok(out.closed);
    assert.equal(out.error?.code, '08P01');
    assert.match(out.error?.message ?? '', /client_login_timeout/);
    assert.ok(Date.now() - started < 4000);
    await stillServes();
  });

  test('1000 silent connections neither lock out nor slow down a normal client', async () => {
    const silent: net.Socket[] = [];
    for (let i = 0; i < 1000; i++) {
      const s = await rawConnect(p.port);
      s.on('error', () => {});
      silent.push(s);
    }
    await stillServes();
    for (const s of silent) s.destroy();
  });
});

// With max_packet_size at its default (256 MB), a client that had not logged in could make
// pgtide hold a password message of that size: 5 such connections grew it by 1.3 GB (a helper).
// PostgreSQL reads a length of at most 65535 during authentication.
describe('a client that has not logged in', { timeout: 30_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { admin_users: [t.scramUser.user] });
  });
  after(() => p.stop());

  test('is refused a password message longer than PostgreSQL reads there, before its bytes come', async () => {
    const header = Buffer.concat([Buffer.from('p'), int32(250_000_000)]);
    const out = await rawExchange(p.port, [startupPacket({ user: t.scramUser.user, database: t.database }), header]);
    assert.ok(out.closed, 'pgtide must close the connection');
    const saslLen = out.received.readUInt32BE(1);
    const error = firstError(out.received, 1 + saslLen);
    assert.equal(error?.code, '08P01');
    assert.match(error?.message ?? '', /exceeds the limit during authentication/);
  });

  test('still logs in with a SCRAM exchange, and then sends statements beyond that size, to the console too', async () => {
    const long = 'x'.repeat(100_000);
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    try {
      assert.equal((await c.query(`SELECT length('${long}') AS n`)).rows[0].n, 100_000);
    } finally {
      await c.end();
    }
    // The console kept the limit of the login (a reviewer: FATAL, the connection closed, for a
    // 70-KB statement); its own limit answers with an error, and the session goes on.
    const admin = new pg.Client(p.pgConfig({ database: 'pgbouncer' }));
    await admin.connect();
    try {
      await assert.rejects(admin.query(`SHOW VERSION /* ${long} */`), /console query longer than/);
      assert.ok((await admin.query('SHOW VERSION')).rows.length > 0);
    } finally {
      await admin.end();
    }
  });
});

describe('login flood protection', { timeout: 30_000 }, () => {
  test('beyond max_login_clients the oldest unfinished login is dropped, not the newcomer', async () => {
    const p = await startPgtide(t, { max_login_clients: 10 });
    try {
      const silent: net.Socket[] = [];
      const closed: boolean[] = [];
      for (let i = 0; i < 20; i++) {
        const s = await rawConnect(p.port);
        s.on('error', () => {});
        closed.push(false);
        s.on('close', () => (closed[i] = true));
        s.resume();
        silent.push(s);
      }
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
      await c.end();
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(closed.slice(0, 10).every(Boolean), 'the ten oldest silent sockets should have been dropped');
      assert.ok(!closed[19], 'the newest silent socket should still be open');
      for (const s of silent) s.destroy();
    } finally {
      await p.stop();
    }
  });
});

const msg = (type: string, body: Buffer) => Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);

/** A raw client logged in (auth_type trust) and everything it receives, login answers included. */
async function rawLogin(port: number): Promise<{ socket: net.Socket; received: Buffer[] }> {
  const socket = await rawConnect(port);
  socket.on('error', () => {});
  const received: Buffer[] = [];
  socket.on('data', (d: Buffer) => received.push(d));
  socket.write(startupPacket({ user: t.scramUser.user, database: t.database }));
  await new Promise((r) => setTimeout(r, 200));
  return { socket, received };
}

describe('a client cannot leak results to another client', { timeout: 30_000 }, () => {
  /**
   * Client A (raw bytes, pool of one server) sends `pipeline`, which must keep the server
   * until A's last statement is answered; client B then queries and must get its own row,
   * while A gets the answer it is owed (`aExpects`), when it is owed one.
   */
  async function bGetsItsOwnRow(pipeline: Buffer[], aExpects?: RegExp): Promise<void> {
    const p = await startPgtide(t, { auth_type: 'trust', default_pool_size: 1 });
    try {
      const { socket: a, received } = await rawLogin(p.port);
      a.write(Buffer.concat(pipeline));
      await new Promise((r) => setTimeout(r, 100));
      const b = new pg.Client(p.pgConfig());
      await b.connect();
      const answer = b.query(`SELECT 'B own row' AS v`);
      await new Promise((r) => setTimeout(r, 600));
      if (aExpects) assert.match(Buffer.concat(received).toString('latin1'), aExpects);
      // A batch without Sync holds A's server until A leaves: only then may B's query run.
      a.destroy();
      const { rows } = await answer;
      assert.deepEqual(rows, [{ v: 'B own row' }]);
      await b.end();
    } finally {
      await p.stop();
    }
  }

  test('a stray CopyDone does not end an extended-protocol batch early', async () => {
    await bGetsItsOwnRow([
      msg('Q', Buffer.from('SELECT pg_catalog.pg_sleep(0.3)\0')),
      msg('P', Buffer.from(`\0SELECT 'INJECTED BY A'\0\0\0`)),
      msg('B', Buffer.from('\0\0\0\0\0\0\0\0')),
      msg('E', Buffer.from('\0\0\0\0\0')),
      msg('c', Buffer.alloc(0)),
    ]);
  });

  test('a FunctionCall is a sync point: its ReadyForQuery does not release the server early', async () => {
    // FunctionCall of pg_backend_pid() (oid 2026): no argument formats, no arguments, text result.
    const functionCall = msg('F', Buffer.concat([int32(2026), Buffer.alloc(6)]));
    await bGetsItsOwnRow(
      [functionCall, msg('Q', Buffer.from(`SELECT pg_catalog.pg_sleep(0.3), 'ANSWER FOR A'\0`))],
      /ANSWER FOR A[\s\S]*Z\0\0\0\x05I/,
    );
  });
});

describe('a client refused mid-stream costs its server connection no more than a moment', { timeout: 30_000 }, () => {
  const parse = msg('P', Buffer.from(`\0SELECT 1\0\0\0`));
  const bind = msg('B', Buffer.from('\0\0\0\0\0\0\0\0'));
  const execute = msg('E', Buffer.from('\0\0\0\0\0'));
  // A header no client sends: type 0 and a length far beyond max_packet_size.
  const garbage = Buffer.concat([Buffer.from([0]), int32(0x7ffffff0)]);

  /**
   * Client A (pool of one server) sends `chunks` one by one; the last is refused (08P01). The
   * server must be closed or drained at once: client B, waiting for it, is served within 2 s
   * (the drain timeout is 10 s).
   */
  async function nextClientServedSoon(chunks: Buffer[]): Promise<void> {
    const p = await startPgtide(t, { auth_type: 'trust', default_pool_size: 1 });
    try {
      const { socket: a, received } = await rawLogin(p.port);
      for (const chunk of chunks) {
        a.write(chunk);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(firstError(Buffer.concat(received))?.code, '08P01');
      const b = new pg.Client(p.pgConfig());
      await b.connect();
      const started = Date.now();
      assert.deepEqual((await b.query(`SELECT 'B' AS v`)).rows, [{ v: 'B' }]);
      assert.ok(Date.now() - started < 2000, `B waited ${Date.now() - started} ms for a server`);
      await b.end();
      a.destroy();
    } finally {
      await p.stop();
    }
  }

  test('the server holds part of a message: it is closed, not drained', async () => {
    // The refused chunk ends the Bind the server has 7 bytes of: nothing of it is sent.
    const cut = parse.length + 7;
    const batch = Buffer.concat([parse, bind, garbage]);
    await nextClientServedSoon([batch.subarray(0, cut), batch.subarray(cut)]);
  });

  test('a client gone in the middle of a message: its server is closed, not drained', async () => {
    const p = await startPgtide(t, { auth_type: 'trust', default_pool_size: 1 });
    try {
      const { socket: a } = await rawLogin(p.port);
      const insert = msg('Q', Buffer.from(`SELECT 'A never finished this' AS v\0`));
      a.write(insert.subarray(0, 12));
      await new Promise((r) => setTimeout(r, 100));
      a.destroy();
      const b = new pg.Client(p.pgConfig());
      await b.connect();
      const started = Date.now();
      for (let i = 0; i < 3; i++) assert.deepEqual((await b.query(`SELECT 'B' AS v`)).rows, [{ v: 'B' }]);
      assert.ok(Date.now() - started < 2000, `B waited ${Date.now() - started} ms for a server`);
      await b.end();
    } finally {
      await p.stop();
    }
  });

  test('a Sync in the refused chunk is owed nothing: the drain ends at once', async () => {
    await nextClientServedSoon([
      Buffer.concat([parse, bind, execute]),
      Buffer.concat([msg('S', Buffer.alloc(0)), garbage]),
    ]);
  });
});

describe('a client that pipelines its first query into its login', { timeout: 30_000 }, () => {
  /** Count of ReadyForQuery messages in what pgtide sent. */
  const readyCount = (received: Buffer[]) =>
    (
      Buffer.concat(received)
        .toString('latin1')
        .match(/Z\0\0\0\x05/g) ?? []
    ).length;

  for (const pool_mode of ['session', 'transaction'] as const) {
    test(`${pool_mode} pooling: its later queries are read once the login is over`, async () => {
      // A new pgtide: the login waits for its pool's first server (the settings to report), and
      // the query that came with the startup packet waits with it.
      const p = await startPgtide(t, { auth_type: 'trust', pool_mode });
      const socket = await rawConnect(p.port);
      socket.on('error', () => {});
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      try {
        socket.write(
          Buffer.concat([
            startupPacket({ user: t.scramUser.user, database: t.database }),
            msg('Q', Buffer.from('BEGIN\0')),
          ]),
        );
        assert.notEqual(await timeUntil(() => readyCount(received) === 2, Date.now(), 5000), Infinity);
        // Before, the client stayed paused: this query was never read, and the transaction hung.
        socket.write(msg('Q', Buffer.from(`SELECT 'read after the login' AS v\0`)));
        socket.write(msg('Q', Buffer.from('COMMIT\0')));
        const ms = await timeUntil(() => readyCount(received) === 4, Date.now(), 3000);
        assert.notEqual(ms, Infinity, `no answer: ${Buffer.concat(received).toString('latin1')}`);
        assert.match(Buffer.concat(received).toString('latin1'), /read after the login/);
      } finally {
        socket.destroy();
        await p.stop();
      }
    });
  }
});
