// A client that has sent all it will, with a FIN (`printf … | nc -N`, a socket.end() after the
// write) or a Terminate behind its query: PostgreSQL reads its messages in order, answers each,
// then finds the end and closes. Through pgtide the same answers must come, queued for a server
// or not, in transaction and session pooling, over TLS too; then the client leaves as any does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology, runningNow, sqlOn, scramLogin } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { selfSignedCertificate } from '../support/certificate.js';
import { waitFor } from '../support/wait.js';
import { flush, passwordMessage, terminate } from '../../src/protocol/encode.js';
import { rawConnect, startupPacket } from '../support/raw-client.js';
import {
  bind,
  copyData,
  describe as describeMessage,
  errorCodes,
  execute,
  normalise,
  parse,
  query,
  sync,
  WireClient,
  type Message,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();
const LONG_SLEEP = 'SELECT pg_catalog.pg_sleep(30)';
const direct: WireLogin = scramLogin(t, t.primary);
const through = (p: RunningPgtide, extra: Partial<WireLogin> = {}): WireLogin => ({
  ...direct,
  host: p.host,
  port: p.port,
  ...extra,
});

/** pgtide's question, a second after a FIN, whether the client is still there (client-end.ts). */
const isRepeat = (m: Message) => m.type === 'S' && m.body.toString('latin1').startsWith('server_version\0');

/** What a client that logs in, then writes `messages` and its FIN (or, terminated, a Terminate
 *  and no FIN) reads until the connection closes, and how long that took; pgtide's repeats of
 *  server_version are counted apart. */
async function sendAndLeave(
  to: WireLogin,
  messages: Buffer[],
  how: 'fin' | 'terminate' = 'fin',
): Promise<{ got: Message[]; types: string; ms: number; repeats: number }> {
  const c = await WireClient.connect(to);
  const started = Date.now();
  if (how === 'fin') c.sendAndEnd(...messages);
  else c.send(...messages, terminate());
  const all = await c.untilClosed();
  const got = all.filter((m) => !isRepeat(m));
  return { got, types: got.map((m) => m.type).join(''), ms: Date.now() - started, repeats: all.length - got.length };
}

const BATCHES: [string, Buffer[]][] = [
  ['a simple Query', [query('SELECT 1 AS one, pg_catalog.pg_sleep(0.2)')]],
  ['an extended Parse/Bind/Execute/Sync batch', [parse('', 'SELECT 2 AS two'), bind('', ''), execute(), sync()]],
  [
    'several pipelined, simple and extended',
    [
      query('SELECT 1'),
      parse('', 'SELECT $1::int + 1 AS n'),
      bind('', '', ['41']),
      execute(),
      sync(),
      query('SELECT 3, pg_catalog.pg_sleep(0.1)'),
    ],
  ],
];

/** Extended-protocol batches ended by a Flush, no Sync: PostgreSQL sends what the Flush asked
 *  for, then finds the end; what it had not flushed never leaves it, and nothing is committed. */
const FLUSHED: [string, Buffer[]][] = [
  ['a Parse/Bind/Execute/Flush batch', [parse('', 'SELECT 1 AS one'), bind('', ''), execute(), flush()]],
  [
    'a slow statement, flushed',
    [parse('', 'SELECT pg_catalog.pg_sleep(0.3) AS slept'), bind('', ''), execute(), flush()],
  ],
  ['a flushed statement that fails', [parse('', 'SELECT 1/0 AS never'), bind('', ''), execute(), flush()]],
  [
    'part of a portal, flushed',
    [parse('', 'SELECT generate_series(1, 5) AS n'), bind('', ''), execute('', 2), flush()],
  ],
  ['a named statement, flushed', [parse('flushed', 'SELECT 3 AS three'), bind('', 'flushed'), execute(), flush()]],
  ['a statement described, flushed', [parse('', 'SELECT $1::int AS n'), describeMessage('S', ''), flush()]],
  [
    // Longer than the second after which pgtide's janitor looks at an ended client again.
    'a Query, then a slow flushed batch',
    [query('SELECT 1'), parse('', 'SELECT 2 AS two, pg_catalog.pg_sleep(1.2)'), bind('', ''), execute(), flush()],
  ],
  [
    'a flushed batch, then more that is never flushed',
    [
      parse('', 'SELECT 1 AS one'),
      bind('', ''),
      execute(),
      flush(),
      parse('', 'SELECT 2 AS two'),
      bind('', ''),
      execute(),
    ],
  ],
];

const COPY_TABLE = 'client_end_copy';
const COPY_IN = `COPY ${COPY_TABLE} FROM STDIN`;
/** A COPY IN whose data ends with the client's end: PostgreSQL fails the COPY (08006, then a
 *  FATAL 08P01, no ReadyForQuery) and commits none of its rows. */
const COPY_CUTS: [string, Buffer[]][] = [
  ['a COPY IN with a row sent', [query(COPY_IN), copyData('1\tcut\n')]],
  ['a COPY IN in a transaction block', [query('BEGIN'), query(COPY_IN), copyData('1\tcut\n')]],
  [
    'a COPY IN begun by an extended batch',
    [parse('', COPY_IN), bind('', ''), execute(), sync(), copyData('1\tcut\n'), copyData('2\tcut\n')],
  ],
  ['a COPY IN cut inside a CopyData message', [query(COPY_IN), copyData('1\tcut\n').subarray(0, 8)]],
];

async function createCopyTable(): Promise<void> {
  await sqlOn(t.primary, `CREATE TABLE IF NOT EXISTS ${COPY_TABLE} (id int, note text)`);
  await sqlOn(t.primary, `GRANT ALL ON ${COPY_TABLE} TO ${t.scramUser.user}`);
}

/** Rows a cut COPY (or a flushed INSERT) left on the primary: none, once its backend is gone or rolled back. */
async function rowsLeft(note: string): Promise<number> {
  const rows = await sqlOn<{ n: number }>(t.primary, `SELECT count(*)::int AS n FROM ${COPY_TABLE} WHERE note = $1`, [
    note,
  ]);
  return rows[0]!.n;
}

/** Backends the test user holds on the primary that are not idle (an open or running transaction). */
async function busyServers(): Promise<number> {
  const rows = await sqlOn<{ n: number }>(
    t.primary,
    `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity
      WHERE usename = $1 AND datname = $2 AND backend_type = 'client backend' AND state <> 'idle'`,
    [t.scramUser.user, t.database],
  );
  return rows[0]!.n;
}

/** A client holding the only server of a pool in a transaction; resolves with its release. */
async function holdOnlyServer(p: RunningPgtide): Promise<() => Promise<void>> {
  const holder = new pg.Client(p.pgConfig());
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT 1');
  return async () => {
    await holder.query('COMMIT');
    await holder.end();
  };
}

for (const mode of ['transaction', 'session'] as const) {
  describe(`a client that ends its side after its messages, ${mode} pooling`, { timeout: 60_000 }, () => {
    let p: RunningPgtide;
    before(async () => {
      p = await startPgtide(t, { pool_mode: mode, default_pool_size: 4 });
    });
    after(() => p.stop());

    for (const [name, messages] of BATCHES) {
      for (const how of ['fin', 'terminate'] as const) {
        test(`${name}, then ${how === 'fin' ? 'a FIN' : 'a Terminate'}: the answers PostgreSQL gives, then the close`, async () => {
          const expected = await sendAndLeave(direct, messages, how);
          assert.ok(expected.types.endsWith('Z'), `PostgreSQL itself answered ${expected.types}`);
          const out = await sendAndLeave(through(p), messages, how);
          assert.deepEqual(normalise(out.got), normalise(expected.got));
        });
      }
    }

    for (const [name, messages] of FLUSHED) {
      test(`${name}, then a FIN: what PostgreSQL flushed, then the close`, async () => {
        const expected = await sendAndLeave(direct, messages);
        assert.ok(expected.got.length > 0, 'PostgreSQL itself answered nothing');
        const out = await sendAndLeave(through(p), messages);
        assert.deepEqual(normalise(out.got), normalise(expected.got));
      });
    }

    for (const [name, messages] of COPY_CUTS) {
      test(`${name}, then a FIN: PostgreSQL's errors, then the close, and no row kept`, async () => {
        await createCopyTable();
        const expected = await sendAndLeave(direct, messages);
        assert.deepEqual(errorCodes(expected.got), ['08006', '08P01'], `PostgreSQL itself answered ${expected.types}`);
        const out = await sendAndLeave(through(p), messages);
        assert.deepEqual(normalise(out.got), normalise(expected.got));
        // As soon as the COPY begins, like PostgreSQL (not at pgtide's next look at its clients, each second).
        assert.ok(out.ms < 700, `closed after ${out.ms} ms`);
        await waitFor('the cut COPY to be rolled back', async () => (await busyServers()) === 0);
        assert.equal(await rowsLeft('cut'), 0);
      });
    }

    test('a COPY IN with a row sent, then a Terminate: the errors PostgreSQL sends, then the close, and no row kept', async () => {
      await createCopyTable();
      const messages = COPY_CUTS[0]![1];
      const expected = await sendAndLeave(direct, messages, 'terminate');
      assert.deepEqual(errorCodes(expected.got), ['08P01', '08P01'], `PostgreSQL itself answered ${expected.types}`);
      const out = await sendAndLeave(through(p), messages, 'terminate');
      assert.deepEqual(normalise(out.got), normalise(expected.got));
      await waitFor('the cut COPY to be rolled back', async () => (await busyServers()) === 0);
      assert.equal(await rowsLeft('cut'), 0);
    });

    test('a FIN with nothing owed closes at once, with nothing sent', async () => {
      const out = await sendAndLeave(through(p), []);
      assert.equal(out.types, '');
      assert.ok(out.ms < 500, `closed after ${out.ms} ms`);
    });
  });
}

describe('a half-closed client in a transaction, or waiting for a server', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { default_pool_size: 1, query_wait_timeout: 2 });
    await sqlOn(t.primary, 'CREATE TABLE IF NOT EXISTS client_end_rows (id int, note text)');
    await sqlOn(t.primary, `GRANT ALL ON client_end_rows TO ${t.scramUser.user}`);
  });
  after(() => p.stop());

  test('its answers come, then its open transaction is rolled back and the server is back, idle', async () => {
    const messages = [query('BEGIN'), query(`INSERT INTO client_end_rows VALUES (1, 'half-closed')`)];
    const expected = await sendAndLeave(direct, messages);
    const out = await sendAndLeave(through(p), messages);
    assert.deepEqual(normalise(out.got), normalise(expected.got));
    assert.equal(out.types, 'CZCZ');
    await waitFor('the open transaction to be rolled back', async () => (await busyServers()) === 0);
    const rows = await sqlOn(t.primary, `SELECT count(*)::int AS n FROM client_end_rows WHERE note = 'half-closed'`);
    assert.equal(rows[0].n, 0);
    // The pool's only server serves the next client at once.
    const next = new pg.Client(p.pgConfig());
    await next.connect();
    assert.deepEqual((await next.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await next.end();
  });

  for (const [name, messages] of BATCHES) {
    test(`${name}, queued for the busy pool's server: answered once the server is free`, async () => {
      const release = await holdOnlyServer(p);
      const left = sendAndLeave(through(p), messages);
      await new Promise((r) => setTimeout(r, 300));
      await release();
      const expected = await sendAndLeave(direct, messages);
      assert.deepEqual(normalise((await left).got), normalise(expected.got));
    });
  }

  test('one gone (killed) while its query runs: the query is cancelled and the server back within seconds', async () => {
    const c = await WireClient.connect(through(p));
    c.send(query(LONG_SLEEP));
    await waitFor('the query on the server', async () => (await runningNow(t.primary, LONG_SLEEP)) === 1);
    const goneAt = Date.now();
    c.vanish();
    await waitFor('the query cancelled', async () => (await runningNow(t.primary, LONG_SLEEP)) === 0, 5000);
    assert.ok(Date.now() - goneAt < 3000, `cancelled ${Date.now() - goneAt} ms after the client went`);
    // Before, the pool's only server stayed with the gone client for the 30 s of its query.
    const next = new pg.Client(p.pgConfig({ query_timeout: 3000 }));
    await next.connect();
    assert.deepEqual((await next.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await next.end();
  });

  test('one that reads on through a slow query gets its answers, and a repeat of what it was told of server_version', async () => {
    const messages = [query('SELECT 1 AS one, pg_catalog.pg_sleep(1.5)')];
    const expected = await sendAndLeave(direct, messages);
    const out = await sendAndLeave(through(p), messages);
    assert.equal(expected.repeats, 0);
    assert.ok(out.repeats >= 1 && out.repeats <= 2, `${out.repeats} repeats`);
    assert.deepEqual(normalise(out.got), normalise(expected.got));
  });

  test('one whose server never comes still gets query_wait_timeout, then the close', async () => {
    const release = await holdOnlyServer(p);
    try {
      const out = await sendAndLeave(through(p), [query('SELECT 1')]);
      assert.deepEqual(errorCodes(out.got), ['57014']);
      assert.ok(out.ms < 4000, `closed after ${out.ms} ms`);
    } finally {
      await release();
    }
  });

  test('one that ends inside a COPY IN is not kept waiting for its data', async () => {
    const out = await sendAndLeave(through(p), [
      query('COPY client_end_rows FROM STDIN'),
      Buffer.from([0x64, 0, 0, 0, 7, 0x31, 0x09, 0x0a]),
    ]);
    assert.ok(out.types.startsWith('G'), `got ${out.types}`);
    assert.ok(out.ms < 1500, `closed after ${out.ms} ms`);
    await waitFor('the COPY to end', async () => (await busyServers()) === 0);
  });
});

for (const mode of ['transaction', 'session'] as const) {
  describe(`the server of a client that ended mid-COPY or mid-batch, ${mode} pooling`, { timeout: 60_000 }, () => {
    let p: RunningPgtide;
    before(async () => {
      await createCopyTable();
      p = await startPgtide(t, { pool_mode: mode, default_pool_size: 1 });
    });
    after(() => p.stop());

    /** The backend pid of the pool's only server, as the next client finds it (which it runs a query on). */
    async function poolServer(): Promise<number> {
      const next = new pg.Client(p.pgConfig());
      await next.connect();
      try {
        const rows = (await next.query('SELECT pg_catalog.pg_backend_pid() AS pid, 1 AS one')).rows;
        assert.equal(rows[0].one, 1);
        return rows[0].pid as number;
      } finally {
        await next.end();
      }
    }

    // A cut inside a CopyData message leaves the server waiting for the rest: it is closed, as before.
    for (const [name, messages] of COPY_CUTS.filter(([name]) => !name.includes('inside a CopyData'))) {
      test(`${name}, then a FIN: the COPY is aborted, the server serves the next client`, async () => {
        const before = await poolServer();
        await sendAndLeave(through(p), messages);
        await waitFor('the cut COPY to be rolled back', async () => (await busyServers()) === 0);
        assert.equal(await rowsLeft('cut'), 0);
        assert.equal(await poolServer(), before, 'the server was not given back to the pool');
      });
    }

    test('a COPY IN whose client closes the connection outright: no row kept, the server serves the next client', async () => {
      const before = await poolServer();
      const c = await WireClient.connect(through(p));
      c.send(query(COPY_IN), copyData('1\tdropped\n'));
      const deadline = Date.now() + 5000;
      while ((await c.next(deadline)).type !== 'G');
      c.send(copyData('2\tdropped\n'));
      c.drop();
      await waitFor('the dropped COPY to be rolled back', async () => (await busyServers()) === 0);
      assert.equal(await rowsLeft('dropped'), 0);
      assert.equal(await poolServer(), before);
    });

    test('a flushed INSERT, then a FIN: answered, rolled back as by PostgreSQL, the server serves the next client', async () => {
      const messages = [parse('', `INSERT INTO ${COPY_TABLE} VALUES (1, 'flushed')`), bind('', ''), execute(), flush()];
      const expected = await sendAndLeave(direct, messages);
      assert.equal(expected.types, '12C');
      const before = await poolServer();
      const out = await sendAndLeave(through(p), messages);
      assert.deepEqual(normalise(out.got), normalise(expected.got));
      await waitFor('the flushed INSERT to be rolled back', async () => (await busyServers()) === 0);
      assert.equal(await rowsLeft('flushed'), 0);
      assert.equal(await poolServer(), before);
    });

    test('a flushed batch queued for the busy server: answered once the server is free', async () => {
      const release = await holdOnlyServer(p);
      const messages = FLUSHED[0]![1];
      const left = sendAndLeave(through(p), messages);
      await new Promise((r) => setTimeout(r, 300));
      await release();
      const expected = await sendAndLeave(direct, messages);
      assert.deepEqual(normalise((await left).got), normalise(expected.got));
    });
  });
}

describe('a half-closed client over TLS', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-client-end-'));
    const { key, cert } = selfSignedCertificate(dir);
    p = await startPgtide(t, { client_tls_sslmode: 'prefer', client_tls_key_file: key, client_tls_cert_file: cert });
  });
  after(async () => {
    await p?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Node's end() on a TLS socket sends close_notify and then the FIN; PostgreSQL answers what
  // came before them (measured with a TLS-enabled PostgreSQL 18).
  for (const [name, messages] of BATCHES) {
    test(`${name}: answered as in plain text`, async () => {
      const expected = await sendAndLeave(direct, messages);
      const out = await sendAndLeave(through(p, { tls: true }), messages);
      assert.deepEqual(normalise(out.got), normalise(expected.got));
    });
  }

  for (const [name, messages] of [...FLUSHED.slice(0, 1), ...COPY_CUTS.slice(0, 1)]) {
    test(`${name}: answered as in plain text`, async () => {
      await createCopyTable();
      const expected = await sendAndLeave(direct, messages);
      const out = await sendAndLeave(through(p, { tls: true }), messages);
      assert.deepEqual(normalise(out.got), normalise(expected.got));
    });
  }
});

/** The types of the messages pgtide sends to a client that writes `bytes` at once, with its FIN
 *  or without one, until pgtide closes the connection. */
/** `slowMs`: the client stops reading for that long after each read. */
async function oneWrite(port: number, bytes: Buffer[], fin: boolean, slowMs = 0): Promise<string> {
  const socket = await rawConnect(port);
  const parts: Buffer[] = [];
  socket.on('data', (d: Buffer) => {
    parts.push(d);
    if (slowMs === 0) return;
    socket.pause();
    setTimeout(() => socket.resume(), slowMs);
  });
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000);
  });
  if (fin) socket.end(Buffer.concat(bytes));
  else socket.write(Buffer.concat(bytes));
  assert.ok(await closed, 'pgtide did not close the connection');
  const all = Buffer.concat(parts);
  let types = '';
  for (let off = 0; off + 5 <= all.length; off += 1 + all.readUInt32BE(off + 1))
    types += String.fromCharCode(all[off]!);
  return types;
}

/** What the client hears after the ReadyForQuery that ends its login. */
const afterLogin = (types: string): string => types.slice(types.indexOf('Z') + 1);

describe('queries written right behind the login, before any answer', { timeout: 60_000 }, () => {
  const login = startupPacket({ user: t.scramUser.user, database: t.database });
  const queries = [query('SELECT 1'), query('SELECT 2')];
  for (const [method, auth] of [
    ['trust', []],
    ['plain', [passwordMessage(t.scramUser.password)]],
  ] as const) {
    describe(`auth_type = ${method}`, () => {
      let p: RunningPgtide;
      before(async () => {
        p = await startPgtide(t, { auth_type: method });
      });
      after(() => p.stop());

      test('with a FIN: the login, then every answer, then the close', async () => {
        assert.equal(afterLogin(await oneWrite(p.port, [login, ...auth, ...queries], true)), 'TDCZTDCZ');
      });

      test('with a Terminate: the same', async () => {
        assert.equal(afterLogin(await oneWrite(p.port, [login, ...auth, ...queries, terminate()], false)), 'TDCZTDCZ');
      });

      test('a 10 MB answer, then a Terminate, read slowly: every row, then the close', async () => {
        // More than the kernel's socket buffers hold, read slowly: the end of the answer may
        // still wait to be written when the session ends, and must not be dropped with the socket.
        const rows = 5000;
        const big = query(`SELECT repeat('x', 2000) FROM generate_series(1, ${rows})`);
        const types = afterLogin(await oneWrite(p.port, [login, ...auth, big, terminate()], false, 5));
        assert.equal(types, `T${'D'.repeat(rows)}CZ`, `${types.length} messages after the login`);
      });
    });
  }
});

// Found by libpq's pipeline tests: a Flush, then a simple Query inside the batch it left open,
// then the client left. PostgreSQL answers that Query with a transaction open ('T'); a Sync
// then answers 'I' yet leaves the backend inside that transaction, and the next statement
// there failed with XX000 "StartTransactionCommand: unexpected state STARTED": the next client
// on the server was closed. A ROLLBACK ends it.
describe('a client that leaves after a Query sent inside a flushed batch', { timeout: 60_000 }, () => {
  test('the next client on its server is served, whatever its settings', async () => {
    const p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
    try {
      for (const appName of ['', 'other_settings']) {
        const c = await WireClient.connect(through(p));
        c.send(parse('', 'SELECT 1'), bind('', ''), execute(), flush());
        await c.until('C');
        const answered = await c.exchange(query('SELECT 2'));
        assert.equal(String.fromCharCode(answered.at(-1)!.body[0]!), 'T', 'PostgreSQL reports a transaction');
        await c.close();
        const next = new pg.Client(p.pgConfig(appName ? { application_name: appName } : {}));
        await next.connect();
        try {
          assert.equal((await next.query("SELECT 'ok' AS ok")).rows[0].ok, 'ok', appName || 'same settings');
        } finally {
          await next.end();
        }
      }
    } finally {
      await p.stop();
    }
  });
});
