// `pgtide import` and `pgtide start --pgbouncer` on the seed's files, run as operators run
// them: the CLI in its own process, in front of the harness topology.
import assert from 'node:assert/strict';
import { learnProbe } from '../support/reader.js';
import { untilAnswering } from '../support/answering.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parse } from 'smol-toml';
import { md5PasswordHash } from '../../src/auth/secret.js';
import { freePorts } from '../support/free-ports.js';
import { currentTopology } from '../support/topology.js';
import { waitFor } from '../support/wait.js';
import { watch } from '../support/child-output.js';
import { psql } from '../support/psql.js';

const t = currentTopology();
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const SEED = fileURLToPath(new URL('../../../test/fixtures/seed/', import.meta.url));
const seed = (file: string) => join(SEED, file);
const SEED_ARGS = [
  '--pgbouncer',
  seed('pgbouncer.ini'),
  '--users',
  seed('users.txt'),
  '--pgpool',
  seed('pgpool.conf'),
  '--pool-hba',
  seed('pool_hba.conf'),
  '--pool-passwd',
  seed('pool_passwd'),
  '--haproxy',
  seed('haproxy.cfg'),
];
const user = t.md5User;

const dir = mkdtempSync(join(tmpdir(), 'pgtide-cli-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const authFile = join(dir, 'users.txt');
writeFileSync(authFile, `"${user.user}" "${md5PasswordHash(user.user, user.password)}"\n`);

/** The test runner's own PGTIDE_ variable would be rejected as an unknown setting. */
function childEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PGTIDE_')));
  return { ...env, ...overrides };
}

/** How the tests run the CLI: node and its script, or that inside the image's layout (imageLayout). */
const PLAIN = [process.execPath, CLI];

function runCli(args: string[], command = PLAIN): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command[0]!, [...command.slice(1), ...args], { env: childEnv({}) }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

/** The ports of listen_port, ranges expanded. */
function importedPorts(toml: string): number[] {
  const listed = (parse(toml) as { listen_port: (number | string)[] }).listen_port;
  return listed.flatMap((item) => {
    if (typeof item === 'number') return [item];
    const [first, last] = item.split('-').map(Number) as [number, number];
    return Array.from({ length: last - first + 1 }, (_, i) => first + i);
  });
}

/** The fixture's backends are weave host names: the harness nodes stand in for them. */
async function harnessEnv(portCount: number, extra: Record<string, string> = {}) {
  const ports = await freePorts(portCount);
  const env = childEnv({
    PGTIDE_LISTEN_ADDR: '127.0.0.1',
    PGTIDE_LISTEN_PORT: ports.join(','),
    PGTIDE_BACKENDS: [t.primary, ...t.standbys].map((node) => `${node.host}:${node.port}`).join(','),
    PGTIDE_SR_CHECK_USER: user.user,
    PGTIDE_SR_CHECK_PASSWORD: user.password,
    PGTIDE_SERVER_TLS_SSLMODE: 'disable',
    PGTIDE_LOG_LEVEL: 'warn',
    ...extra,
  });
  return { ports, env };
}

interface RunningCli {
  output(): string;
  stop(): Promise<void>;
}

async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  ports: number[],
  command = PLAIN,
): Promise<RunningCli & { pid: number }> {
  const child: ChildProcess = spawn(command[0]!, [...command.slice(1), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const { output, exited } = watch(child);
  const running = {
    pid: child.pid!,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
  try {
    for (const port of ports)
      await untilAnswering(port, 20_000, () => (child.exitCode === null ? null : `pgtide exited: ${output()}`));
  } catch (error) {
    await running.stop();
    throw error;
  }
  return running;
}

async function connect(port: number, database = 'challenge'): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: user.user, password: user.password, database });
  await client.connect();
  return client;
}

describe('pgtide import', () => {
  test('writes the TOML with -o and the warnings to stderr', async () => {
    const out = join(dir, 'written.toml');
    const result = await runCli(['import', ...SEED_ARGS, '-o', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^warning: pgbouncer\.ini:24: default_pool_size lowered/m);
    assert.match(result.stderr, /^warning: pool_hba\.conf: /m);
    const toml = readFileSync(out, 'utf8');
    assert.deepEqual(importedPorts(toml), [5426, 5427, 5428, 5429, 5430, 5431, 5432]);
    assert.equal((parse(toml) as { backends: unknown[] }).backends.length, 3);
  });

  test('prints the TOML without -o', async () => {
    const result = await runCli(['import', ...SEED_ARGS]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^pool_mode = "transaction"/m);
    assert.doesNotMatch(result.stdout, /^warning:/m);
  });

  test('exits 1 naming the file and line of a broken setting', async () => {
    const broken = join(dir, 'broken.ini');
    writeFileSync(broken, '[pgbouncer]\nlisten_addr = *\nlisten_port = not-a-port\n');
    const result = await runCli(['import', '--pgbouncer', broken]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /broken\.ini:3: listen_port must be a port number/);
  });

  test('exits 1 without --pgbouncer or --pgpool', async () => {
    const result = await runCli(['import', '--users', seed('users.txt')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--pgbouncer/);
  });
});

describe('the imported configuration runs', { timeout: 60_000 }, () => {
  const configFile = join(dir, 'pgtide.toml');
  let pgtide: RunningCli;
  let ports: number[];
  before(async () => {
    const result = await runCli(['import', ...SEED_ARGS, '-o', configFile]);
    assert.equal(result.code, 0, result.stderr);
    // One server connection per pool makes transaction pooling visible: clients share it.
    const shifted = await harnessEnv(importedPorts(readFileSync(configFile, 'utf8')).length, {
      PGTIDE_AUTH_FILE: authFile,
      PGTIDE_DEFAULT_POOL_SIZE: '1',
    });
    ports = shifted.ports;
    pgtide = await startCli(['start', '--config', configFile], shifted.env, ports);
  });
  after(() => pgtide?.stop());

  test('every imported listen port (shifted) accepts connections', async () => {
    assert.equal(ports.length, 7);
    for (const port of ports) {
      const client = await connect(port);
      try {
        assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
      } finally {
        await client.end();
      }
    }
  });

  test('transaction pooling: connected clients take turns on one server connection', async () => {
    const clients = await Promise.all([ports[0]!, ports[1]!, ports[2]!].map((port) => connect(port)));
    try {
      await clients[0]!.query('CREATE TABLE IF NOT EXISTS cli_import_t (id int)');
      const served: { pid: number; port: number }[] = [];
      for (const [i, client] of clients.entries()) {
        await client.query('BEGIN');
        await client.query('INSERT INTO cli_import_t VALUES ($1)', [i]);
        served.push(
          (await client.query('SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.inet_server_port() AS port'))
            .rows[0],
        );
        await client.query('COMMIT');
      }
      assert.deepEqual(
        served.map((s) => s.port),
        [t.primary.port, t.primary.port, t.primary.port],
      );
      assert.equal(new Set(served.map((s) => s.pid)).size, 1, `server pids: ${JSON.stringify(served)}`);
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });

  test('reads of database challenge land on the standbys', async () => {
    const client = await connect(ports[3]!);
    try {
      // The first call of a function pgtide has not met goes to the primary while it looks it up.
      await learnProbe((sql) => client.query(sql));
      const standbyPorts = t.standbys.map((node) => node.port);
      for (let i = 0; i < 10; i++) {
        const { port } = (await client.query('SELECT pg_catalog.inet_server_port() AS port')).rows[0];
        assert.ok(standbyPorts.includes(port), `read served by port ${port}, standbys are ${standbyPorts.join(', ')}`);
      }
    } finally {
      await client.end();
    }
  });
});

/** pg's answer to the console (simple protocol; pgtide's console speaks no other). */
async function consoleQuery(
  port: number,
  login: { user: string; password: string },
  sql: string,
): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: '127.0.0.1', port, ...login, database: 'pgbouncer' });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe("the seed's files as they are: the operator's console is on the admin socket", { timeout: 60_000 }, () => {
  const configFile = join(dir, 'seed-console.toml');
  // The default admin_socket_dir, as the OS user running these tests runs pgtide.
  const adminDir = `/tmp/pgtide-${process.getuid!()}`;

  test('import says where; check prints it; psql logs in there as pgbouncer without a password, not over TCP', async () => {
    const imported = await runCli(['import', ...SEED_ARGS, '-o', configFile]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(
      imported.stderr,
      /^warning: pgbouncer\.ini lists no admin_users or stats_users: .* as the OS user running pgtide, without a password, on the admin socket: psql -h \/tmp\/pgtide-\$\(id -u\) -p 5426 -U pgbouncer pgbouncer /m,
    );
    const { ports, env } = await harnessEnv(7, { PGTIDE_AUTH_FILE: authFile });
    const command = `psql -h ${adminDir} -p ${ports[0]} -U pgbouncer pgbouncer`;
    const checked = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'check', '--config', configFile], { env }, (_error, stdout, stderr) =>
        resolve({ stdout, stderr }),
      );
    });
    assert.match(
      checked.stdout,
      new RegExp(`^admin console: ${command.replaceAll('/', '\\/')} \\(admin_socket_dir `, 'm'),
    );
    const pgtide = await startCli(['start', '--config', configFile], env, ports);
    try {
      const target = { host: adminDir, port: ports[0]!, user: 'pgbouncer', database: 'pgbouncer' };
      assert.match(await psql(t, target, 'SHOW POOLS'), /^pgbouncer\|pgbouncer\|1\|/m);
      assert.match(await psql(t, target, 'SHOW CLIENTS'), /^C\|pgbouncer\|pgbouncer\|none\|active\|unix\|/m);
      assert.equal(await psql(t, target, 'PAUSE'), 'PAUSE\n');
      assert.match(await psql(t, target, 'SHOW STATE'), /^paused\|yes$/m);
      assert.equal(await psql(t, target, 'RESUME'), 'RESUME\n');
      assert.match(await psql(t, target, 'SHOW STATE'), /^paused\|no$/m);
      assert.equal(statSync(adminDir).mode & 0o777, 0o700);
      assert.equal(statSync(join(adminDir, `.s.PGSQL.${ports[0]}`)).mode & 0o777, 0o600);
      // The same console over TCP: the user logs in, but is no console user.
      await assert.rejects(consoleQuery(ports[0]!, user, 'SHOW POOLS'), { code: '42501' });
    } finally {
      await pgtide.stop();
    }
  });
});

describe("docs/migration.md's path: import, check, start, log in to the console", { timeout: 60_000 }, () => {
  // The seed names no console users (its PgBouncer console was reached over the unix socket);
  // an operator adds them to pgbouncer.ini before migrating, as PgBouncer's docs advise.
  const pgbouncerIni = join(dir, 'pgbouncer-console.ini');
  writeFileSync(
    pgbouncerIni,
    `${readFileSync(seed('pgbouncer.ini'), 'utf8')}\nadmin_users = challenge\nstats_users = monitor\n`,
  );
  const args = SEED_ARGS.map((arg) => (arg === seed('pgbouncer.ini') ? pgbouncerIni : arg));
  const configFile = join(dir, 'migrated.toml');

  test('import keeps the console users and takes --users as the auth_file', async () => {
    const result = await runCli(['import', ...args, '-o', configFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /admin_users|stats_users/);
    const config = parse(readFileSync(configFile, 'utf8')) as {
      admin_users: string[];
      stats_users: string[];
      auth_file: string;
    };
    assert.deepEqual(config.admin_users, ['challenge']);
    assert.deepEqual(config.stats_users, ['monitor']);
    assert.equal(config.auth_file, seed('users.txt'));
  });

  test("check and start run from it; the seed's admin user runs the console, its stats user only SHOW", async () => {
    const { ports, env } = await harnessEnv(7);
    const checked = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'check', '--config', configFile], { env }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
      );
    });
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    const pgtide = await startCli(['start', '--config', configFile], env, ports);
    try {
      // users.txt: challenge's md5 hash is of the password "challenge"; monitor's is plain.
      const pools = await consoleQuery(ports[0]!, { user: 'challenge', password: 'challenge' }, 'SHOW POOLS');
      assert.ok(pools.fields.some((f) => f.name === 'cl_active'));
      const stats = await consoleQuery(
        ports[0]!,
        { user: 'monitor', password: 'monitor-plain-password' },
        'SHOW STATS',
      );
      assert.ok(stats.fields.some((f) => f.name === 'total_query_count'));
      await assert.rejects(consoleQuery(ports[0]!, { user: 'monitor', password: 'monitor-plain-password' }, 'PAUSE'), {
        code: '42501',
      });
      assert.equal(
        (await consoleQuery(ports[0]!, { user: 'challenge', password: 'challenge' }, 'RESUME')).command,
        'RESUME',
      );
    } finally {
      await pgtide.stop();
    }
  });

  test('an auth_file that does not exist is named by its key', async () => {
    const ini = join(dir, 'elsewhere.ini');
    writeFileSync(
      ini,
      '[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\nauth_file = /nonexistent/pgbouncer/users.txt\n',
    );
    const imported = join(dir, 'elsewhere.toml');
    const result = await runCli(['import', '--pgbouncer', ini, '-o', imported]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /elsewhere\.ini:4: auth_file \/nonexistent\/pgbouncer\/users\.txt does not exist on this machine/,
    );
    // check's 1 says invalid; start's 78, a configuration refused, which no supervisor restarts.
    for (const [command, code] of [
      ['check', 1],
      ['start', 78],
    ] as const) {
      const failed = await runCli([command, '--config', imported]);
      assert.equal(failed.code, code, failed.stdout + failed.stderr);
      assert.match(failed.stderr, /auth_file: cannot read \/nonexistent\/pgbouncer\/users\.txt: no such file/);
      assert.doesNotMatch(failed.stderr, /ENOENT/);
    }
  });
});

describe('pgtide start --pgbouncer', { timeout: 60_000 }, () => {
  test('runs straight from the seed files, --users naming the auth_file', async () => {
    const { ports, env } = await harnessEnv(7);
    const pgtide = await startCli(
      ['start', ...SEED_ARGS.map((arg) => (arg === seed('users.txt') ? authFile : arg))],
      env,
      ports,
    );
    try {
      const client = await connect(ports[6]!, t.database);
      try {
        assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
      } finally {
        await client.end();
      }
      // The importer's warnings reach the log, so nothing changes silently.
      assert.match(pgtide.output(), /default_pool_size lowered/);
    } finally {
      await pgtide.stop();
    }
  });

  test("a reload after an edit logs the import's new warnings, once, and refuses a value PgBouncer would refuse", async () => {
    const ini = join(dir, 'reloaded.ini');
    const original = readFileSync(seed('pgbouncer.ini'), 'utf8');
    writeFileSync(ini, original);
    const { ports, env } = await harnessEnv(1, { PGTIDE_LOG_LEVEL: 'info' });
    const pgtide = await startCli(['start', '--pgbouncer', ini, '--users', authFile], env, ports);
    try {
      const warning = '"import":"[^"]*reloaded\\.ini:\\d+: mystery_knob is not imported';
      const dropped = new RegExp(warning);
      assert.doesNotMatch(pgtide.output(), dropped);
      writeFileSync(ini, `${original}\nmystery_knob = 1\n`);
      process.kill(pgtide.pid, 'SIGHUP');
      await waitFor('the warning logged', () => dropped.test(pgtide.output()), 10_000);
      // The same file read again warns no more.
      process.kill(pgtide.pid, 'SIGHUP');
      await waitFor('a second reload', () => pgtide.output().match(/configuration reloaded/g)?.length === 2, 10_000);
      assert.equal(pgtide.output().match(new RegExp(warning, 'g'))?.length, 1, pgtide.output());
      // A value PgBouncer would refuse is refused, the running configuration kept (not the default).
      writeFileSync(ini, `${original}\ndefault_pool_size = ten\n`);
      process.kill(pgtide.pid, 'SIGHUP');
      await waitFor(
        'the reload refused',
        () =>
          pgtide
            .output()
            .split('\n')
            .some(
              (line) =>
                line.includes('reload failed; keeping the running configuration') &&
                /reloaded\.ini:\d+: default_pool_size: must be a number/.test(line),
            ),
        10_000,
      );
    } finally {
      await pgtide.stop();
    }
  });

  test('exits 78 (a configuration refused, which a supervisor does not restart) with the problem and its source line', async () => {
    const broken = join(dir, 'no-tls-key.ini');
    writeFileSync(
      broken,
      '[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\ndefault_pool_size = 5\nclient_tls_sslmode = require\n',
    );
    const result = await runCli(['start', '--pgbouncer', broken]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /client_tls_sslmode: "require" needs client_tls_key_file \(from no-tls-key\.ini:5\)/);
  });

  test('a --users file PgBouncer could not read either: 78, naming the file and line', async () => {
    const ini = join(dir, 'users-broken.ini');
    writeFileSync(ini, '[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\nauth_type = md5\n');
    const users = join(dir, 'users-broken.txt');
    writeFileSync(users, '"alice" "secret"\n"bob" unquoted\n');
    const result = await runCli(['start', '--pgbouncer', ini, '--users', users]);
    assert.equal(result.code, 78, result.stderr);
    assert.match(result.stderr, /users-broken\.txt: line 2: expected a double-quoted password/);
  });
});

/**
 * The CLI as the image lays the machine out: in a mount namespace of its own, /var/lib is a new
 * tmpfs holding only the image's state directory (or nothing, `withStateDir` false). It needs
 * root and unshare; the reason when it cannot be had here.
 */
async function imageLayout(withStateDir: boolean): Promise<string[] | string> {
  const script = `mount -t tmpfs tmpfs /var/lib && ${withStateDir ? 'mkdir /var/lib/pgtide && ' : ''}exec "$0" "$@"`;
  const command = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, ...PLAIN];
  const probe = await runCli(['--version'], command);
  return probe.code === 0 ? command : `no private mount namespace here: ${probe.stderr.trim()}`;
}

const STATE_DIR_UNSET = /state_dir is not set/;

/** pgtide warns of an unset state_dir in the same step that logs 'pgtide started' (at info). */
async function startWarningsWritten(pgtide: RunningCli): Promise<void> {
  await waitFor('pgtide started', () => pgtide.output().includes('pgtide started'), 10_000);
  await new Promise((r) => setTimeout(r, 300));
}

describe('state_dir of an imported configuration', { timeout: 60_000 }, () => {
  test("inside the image's layout, import sets the image's state_dir and the result starts without the warning", async (ctx) => {
    const command = await imageLayout(true);
    if (typeof command === 'string') return ctx.skip(command);
    const configFile = join(dir, 'image-layout.toml');
    const imported = await runCli(['import', ...SEED_ARGS, '-o', configFile], command);
    assert.equal(imported.code, 0, imported.stderr);
    assert.doesNotMatch(imported.stderr, STATE_DIR_UNSET);
    assert.equal((parse(readFileSync(configFile, 'utf8')) as { state_dir?: string }).state_dir, '/var/lib/pgtide');
    const { ports, env } = await harnessEnv(7, { PGTIDE_AUTH_FILE: authFile, PGTIDE_LOG_LEVEL: 'info' });
    const pgtide = await startCli(['start', '--config', configFile], env, ports, command);
    try {
      const client = await connect(ports[0]!, t.database);
      await client.end();
      // The salt key is written at the start, in the directory the process sees.
      const stateDir = `/proc/${pgtide.pid}/root/var/lib/pgtide`;
      await waitFor('the salt key in state_dir', () => existsSync(join(stateDir, 'pgtide-pool1.salt-key')));
      await startWarningsWritten(pgtide);
      assert.doesNotMatch(pgtide.output(), STATE_DIR_UNSET);
    } finally {
      await pgtide.stop();
    }
  });

  test('without that directory and without --state-dir, import says why state_dir is unset and how to set it', async (ctx) => {
    const command = await imageLayout(false);
    if (typeof command === 'string') return ctx.skip(command);
    const imported = await runCli(['import', ...SEED_ARGS], command);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stderr, /^warning: state_dir is not set .*--state-dir DIR/m);
    assert.equal((parse(imported.stdout) as { state_dir?: string }).state_dir, undefined);
    assert.match(imported.stdout, /^# state_dir = "\/var\/lib\/pgtide"/m);
  });

  test('--state-dir sets it, for import and for start from the seed files alike', async () => {
    const stateDir = join(dir, 'state');
    const configFile = join(dir, 'state-dir.toml');
    const imported = await runCli(['import', ...SEED_ARGS, '--state-dir', stateDir, '-o', configFile]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.doesNotMatch(imported.stderr, STATE_DIR_UNSET);
    assert.equal((parse(readFileSync(configFile, 'utf8')) as { state_dir?: string }).state_dir, stateDir);
    const seedArgs = SEED_ARGS.map((arg) => (arg === seed('users.txt') ? authFile : arg));
    for (const args of [
      ['start', '--config', configFile],
      ['start', ...seedArgs, '--state-dir', stateDir],
    ]) {
      rmSync(stateDir, { recursive: true, force: true });
      const { ports, env } = await harnessEnv(7, { PGTIDE_AUTH_FILE: authFile, PGTIDE_LOG_LEVEL: 'info' });
      const pgtide = await startCli(args, env, ports);
      try {
        await waitFor('the salt key in state_dir', () => existsSync(join(stateDir, 'pgtide-pool1.salt-key')));
        const client = await connect(ports[0]!, t.database);
        await client.end();
        await startWarningsWritten(pgtide);
        assert.doesNotMatch(pgtide.output(), STATE_DIR_UNSET, args.join(' '));
      } finally {
        await pgtide.stop();
      }
    }
  });

  test('--state-dir without the seed files is refused', async () => {
    const result = await runCli(['start', '--config', join(dir, 'state-dir.toml'), '--state-dir', dir]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--state-dir goes with the seed files/);
  });
});
