// The admin socket (admin_socket_dir): the console for the OS user running pgtide, without a
// password, as PgBouncer's `pgbouncer` had it over its unix socket with peer authentication.
// The kernel is the guard: an owner-only directory and socket, checked at start.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import pg from 'pg';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { Pgtide } from '../../src/server.js';
import { selfSignedCertificate } from '../support/certificate.js';
import { freePorts } from '../support/free-ports.js';
import { psql } from '../support/psql.js';
import { startPgtide, writeAuthFile, type RunningPgtide } from '../support/pgtide.js';
import { connectTo, spawnPgtide, writeConfig } from '../support/pgtide-process.js';
import { currentTopology, scramLogin } from '../support/topology.js';
import { allWorkersStarted, workerOf } from '../support/workers.js';

const t = currentTopology();
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const base = mkdtempSync(join(tmpdir(), 'pgtide-admin-socket-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A client on the admin socket in `dir` (pg takes a host starting with '/' as a socket directory). */
async function overAdminSocket(dir: string, port: number, database: string, user = 'pgbouncer'): Promise<pg.Client> {
  const client = new pg.Client({ host: dir, port, user, database });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function oneQuery(client: pg.Client, sql: string): Promise<pg.QueryResult> {
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('the console on the admin socket', () => {
  let p: RunningPgtide;
  let dir: string;
  before(async () => {
    dir = join(base, 'admin');
    const [port] = (await freePorts(1)) as [number];
    // No admin_users: the seed's configuration, whose operator used PgBouncer's unix socket.
    p = await startPgtide(t, { listen_port: [port], admin_socket_dir: dir });
  });
  after(() => p?.stop());

  test('psql logs in as pgbouncer without a password; SHOW POOLS, SHOW CLIENTS, PAUSE and RESUME run', async () => {
    const pools = await psql(t, { host: dir, port: p.port, user: 'pgbouncer', database: 'pgbouncer' }, 'SHOW POOLS');
    // The console's own pool row: database pgbouncer, user pgbouncer, psql the one active client.
    assert.match(pools, /^pgbouncer\|pgbouncer\|1\|/m);
    const client = await overAdminSocket(dir, p.port, 'pgbouncer');
    try {
      const clients = await client.query('SHOW CLIENTS');
      const own = clients.rows.find((row) => row.database === 'pgbouncer');
      assert.equal(own?.user, 'pgbouncer', JSON.stringify(clients.rows));
      assert.equal((await client.query('PAUSE')).command, 'PAUSE');
      assert.equal(p.pgtide.isPausedEverywhere, true);
      assert.equal((await client.query('RESUME')).command, 'RESUME');
      assert.equal(p.pgtide.isPausedEverywhere, false);
    } finally {
      await client.end();
    }
  });

  test('any user name and the database pgtide work too (psql defaults -U to the OS user)', async () => {
    const answer = await psql(t, { host: dir, port: p.port, user: 'root', database: 'pgtide' }, 'SHOW STATE');
    assert.match(answer, /paused\|no/);
  });

  test('the same user over TCP is refused with 42501; over the admin socket it is admin', async () => {
    const tcp = new pg.Client({ ...scramLogin(t, { host: p.host, port: p.port }), database: 'pgbouncer' });
    tcp.on('error', () => {});
    await assert.rejects(tcp.connect(), { code: '42501' });
    const local = await overAdminSocket(dir, p.port, 'pgbouncer', t.scramUser.user);
    assert.equal((await oneQuery(local, 'RECONNECT')).command, 'RECONNECT');
  });

  test('another database over the admin socket is refused with 28000', async () => {
    await assert.rejects(overAdminSocket(dir, p.port, t.database, t.scramUser.user), (err: pg.DatabaseError) => {
      assert.equal(err.code, '28000');
      assert.match(err.message, /the admin socket serves only the admin console .* not database "/);
      return true;
    });
  });

  test('the directory is made 0700 and the socket is 0600', () => {
    assert.equal(lstatSync(dir).mode & 0o777, 0o700);
    const socket = lstatSync(join(dir, `.s.PGSQL.${p.port}`));
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);
  });

  test('the start log says how to reach the console', () => {
    const started = p.logs.find((line) => line['msg'] === 'pgtide started');
    assert.equal(started?.['admin_console'], `psql -h ${dir} -p ${p.port} -U pgbouncer pgbouncer`);
  });
});

test('with max_client_conn reached, the admin socket still lets the operator in', async () => {
  const dir = join(base, 'full');
  const [port] = (await freePorts(1)) as [number];
  const p = await startPgtide(t, { listen_port: [port], admin_socket_dir: dir, max_client_conn: 1 });
  const first = new pg.Client(p.pgConfig());
  try {
    await first.connect();
    const second = new pg.Client(p.pgConfig());
    second.on('error', () => {});
    await assert.rejects(second.connect(), { code: '53300' });
    const rows = (await oneQuery(await overAdminSocket(dir, port, 'pgbouncer'), 'SHOW CLIENTS')).rows;
    assert.equal(rows.length, 2, JSON.stringify(rows));
  } finally {
    await first.end();
    await p.stop();
  }
});

test('client_tls_sslmode = "require" does not apply on the admin socket (psql uses no TLS on a unix socket)', async () => {
  const dir = join(base, 'tls');
  const [port] = (await freePorts(1)) as [number];
  const { key, cert } = selfSignedCertificate(base);
  const p = await startPgtide(t, {
    listen_port: [port],
    admin_socket_dir: dir,
    client_tls_sslmode: 'require',
    client_tls_key_file: key,
    client_tls_cert_file: cert,
  });
  try {
    assert.match(
      await psql(t, { host: dir, port, user: 'pgbouncer', database: 'pgbouncer' }, 'SHOW STATE'),
      /paused\|no/,
    );
    // Over TCP the requirement stands.
    const plain = new pg.Client({ ...p.pgConfig(), ssl: false });
    plain.on('error', () => {});
    await assert.rejects(plain.connect(), { code: '28000', message: 'SSL required' });
  } finally {
    await p.stop();
  }
});

describe('a directory the kernel would not keep others out of is refused at start', () => {
  /** What start() throws for admin_socket_dir `dir`; the TCP port must be free again after it. */
  async function startFailure(dir: string): Promise<string> {
    const [port] = (await freePorts(1)) as [number];
    const config: Config = {
      ...defaultConfig(),
      listen_port: [port],
      admin_socket_dir: dir,
      auth_file: writeAuthFile(t, base),
      server_tls_sslmode: 'disable',
      backends: [{ name: 'primary', host: t.primary.host, port: t.primary.port, weight: 1, role: 'primary' }],
    };
    const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
    const pgtide = new Pgtide(config, { logger: createLogger('test', 'info', { destination: quiet }) });
    const error = await pgtide.start().then(
      () => assert.fail('pgtide started'),
      (err: Error) => err,
    );
    await pgtide.stop();
    // Nothing is left listening on the TCP port.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
    probe.close();
    return error.message;
  }

  test('group or others may enter it', async () => {
    const dir = join(base, 'group');
    mkdirSync(dir);
    chmodSync(dir, 0o750);
    assert.equal(
      await startFailure(dir),
      `admin_socket_dir ${dir} has mode 0750: group or others may use it; chmod 700 ${dir}, or choose another directory`,
    );
  });

  test('another user owns it', async (ctx) => {
    if (process.getuid!() !== 0) return ctx.skip('giving a directory to another user needs root');
    const dir = join(base, 'foreign');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    assert.match(
      await startFailure(dir),
      /^admin_socket_dir .*foreign belongs to uid 65534, not to uid 0 that runs pgtide/,
    );
  });

  test('it is a symbolic link', async () => {
    const target = join(base, 'target');
    mkdirSync(target, { mode: 0o700 });
    const link = join(base, 'link');
    symlinkSync(target, link);
    assert.equal(await startFailure(link), `admin_socket_dir ${link} is a symbolic link; name the directory itself`);
  });
});

test('pgtide check names an admin_socket_dir that pgtide would refuse', async () => {
  const dir = mkdtempSync(join(base, 'check-'));
  const adminDir = join(dir, 'open');
  mkdirSync(adminDir, { mode: 0o755 });
  chmodSync(adminDir, 0o755);
  const [port] = (await freePorts(1)) as [number];
  const config = writeConfig(t, dir, writeAuthFile(t, dir), port, [`admin_socket_dir = "${adminDir}"`]);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_')));
  const { stdout } = await new Promise<{ stdout: string }>((resolve) =>
    execFile(process.execPath, [CLI, 'check', '--config', config], { env }, (_error, out) => resolve({ stdout: out })),
  );
  assert.match(
    stdout,
    new RegExp(
      `^admin console: psql -h ${adminDir} -p ${port} -U pgbouncer pgbouncer \\(admin_socket_dir ${adminDir}: warning: admin_socket_dir ${adminDir} has mode 0755: .*; pgtide will not start;`,
      'm',
    ),
  );
});

test('workers = 2: worker 0 alone listens on the admin socket, and its console shows the whole instance', async () => {
  const dir = mkdtempSync(join(base, 'workers-'));
  const adminDir = join(dir, 'admin');
  const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
    'workers = 2',
    'log_level = "info"',
    `admin_socket_dir = "${adminDir}"`,
  ]);
  const clients: pg.Client[] = [];
  try {
    await allWorkersStarted(p);
    const byWorker = new Set<number>();
    for (let i = 0; i < 64 && byWorker.size < 2; i++) {
      const c = await connectTo(t, p);
      clients.push(c);
      byWorker.add(workerOf(c));
    }
    assert.equal(byWorker.size, 2, 'clients on both workers');
    for (let i = 0; i < 4; i++) {
      const console_ = await overAdminSocket(adminDir, p.port, 'pgbouncer');
      try {
        assert.equal(workerOf(console_), 0);
        const rows = (await console_.query('SHOW CLIENTS')).rows;
        assert.equal(rows.filter((row) => row.database === t.database).length, clients.length);
      } finally {
        await console_.end();
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    await p.stop();
  }
});
