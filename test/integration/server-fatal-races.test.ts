// A server's FATAL (pg_terminate_backend, a fast shutdown) that reaches pgtide in the same read
// as the ReadyForQuery before it. The connection looks idle at that ReadyForQuery, but it is
// gone: it must never be lent again. A client none of whose work ran there gets another server,
// never "08006 unexpected message 'E' from an idle server" or "server closed the connection".
// A relay between pgtide and the primary holds the server's bytes so that both arrive together.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();

/** A TCP relay to the primary that can hold what the server sends and hand it over in one write. */
class HoldingRelay {
  hold = false;
  private readonly held: { down: net.Socket; bytes: Buffer[]; ended: boolean }[] = [];
  readonly server = net.createServer((down) => {
    const up = net.connect(t.primary.port, t.primary.host);
    const entry = { down, bytes: [] as Buffer[], ended: false };
    this.held.push(entry);
    down.on('error', () => {});
    up.on('error', () => {});
    down.on('data', (b) => up.write(b));
    down.on('end', () => up.end());
    up.on('data', (b) => (this.hold ? entry.bytes.push(b) : down.write(b)));
    up.on('end', () => (this.hold ? (entry.ended = true) : down.end()));
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  release(): void {
    this.hold = false;
    for (const e of this.held) {
      if (e.bytes.length > 0) e.down.write(Buffer.concat(e.bytes.splice(0)));
      if (e.ended) e.down.end();
    }
  }
}

/** The one backend (other than ours) in `state` whose last query starts with `query`. */
async function backendOf(state: string, query: string): Promise<number> {
  let pid = 0;
  await waitFor(`a backend ${state} after ${query}`, async () => {
    const rows = await sqlOn<{ pid: number }>(
      t.primary,
      `SELECT pid FROM pg_catalog.pg_stat_activity
        WHERE pid <> pg_catalog.pg_backend_pid() AND state = $1 AND query LIKE $2 || '%'`,
      [state, query],
    );
    pid = rows[0]?.pid ?? 0;
    return pid !== 0;
  });
  return pid;
}

/** Terminates the backend, lets its FATAL reach the relay, then releases everything held at once. */
async function terminateBehindAnswer(relay: HoldingRelay, pid: number): Promise<void> {
  await sqlOn(t.primary, 'SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  relay.release();
}

const outcome = (q: Promise<pg.QueryResult>): Promise<string> =>
  q.then(
    (r) => `ok ${JSON.stringify(r.rows)}`,
    (e: { code?: string; message: string }) => `${e.code} ${e.message}`,
  );

async function client(p: RunningPgtide, name: string): Promise<pg.Client> {
  const c = new pg.Client(p.pgConfig({ application_name: name }));
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe('a FATAL read with the ReadyForQuery before it', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let relay: HoldingRelay;

  before(async () => {
    relay = new HoldingRelay();
    const port = await relay.listen();
    p = await startPgtide(t, {
      transaction_routing: 'first_statement',
      default_pool_size: 1,
      backends: [{ name: 'primary', host: '127.0.0.1', port, weight: 1, role: 'primary' }],
    });
  });
  after(async () => {
    await p.stop();
    relay.server.close();
  });

  test('behind a deferred BEGIN pgtide ran for the client: the transaction starts on another server', async () => {
    const c = await client(p, 'deferred-begin');
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    // Answered by pgtide; with first_statement routing it runs on the server the next statement gets.
    await c.query('BEGIN');
    relay.hold = true;
    const running = outcome(c.query('SELECT 2 AS two'));
    await terminateBehindAnswer(relay, await backendOf('idle in transaction', 'BEGIN'));
    assert.equal(await running, 'ok [{"two":2}]');
    await c.query('COMMIT');
    await c.end();
  });

  test('behind the last answer of a client transaction: that client goes on, as the client waiting for the server does, each on another server', async () => {
    // One application_name, already the server's: no set-up query runs before either statement.
    const a = await client(p, 'race');
    const b = await client(p, 'race');
    await a.query('SELECT 0');
    let aEnded = false;
    a.once('end', () => (aEnded = true));
    relay.hold = true;
    const first = outcome(a.query('SELECT 1 AS answered'));
    // Pool size 1: b waits for the server a holds, and gets it when a's answer ends a's transaction.
    const second = outcome(b.query('SELECT 2 AS waited'));
    await terminateBehindAnswer(relay, await backendOf('idle', 'SELECT 1 AS answered'));
    assert.equal(await first, 'ok [{"answered":1}]');
    assert.equal(await second, 'ok [{"waited":2}]');
    // a's transaction was over: the FATAL was its pooled connection's, as an idle server's would
    // be, not a's (it used to end a, so a primary restart ended clients between transactions).
    assert.equal((await a.query('SELECT 3 AS again')).rows[0].again, 3);
    assert.equal(aEnded, false);
    assert.equal((await b.query('SELECT 4 AS again')).rows[0].again, 4);
    await a.end();
    await b.end();
  });
});
