// `pgtide start --supervise` and the image's entrypoint, run outside Docker against the
// harness topology: a killed pooler comes back and serves again, signals reach it, SIGTERM
// stops everything, and the entrypoint's log file fills.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { freePorts } from '../support/free-ports.js';
import { writeConfig } from '../support/pgtide-process.js';
import { SEMI_SPACE_MIB } from '../../src/young-generation.js';

const t = currentTopology();
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SUPERVISOR = join(ROOT, 'dist/src/supervisor.js');
const ENTRYPOINT = join(ROOT, 'docker/docker-entrypoint.sh');
const DEADLINE_MS = 20_000;

/** A process whose output is kept, with the pids of the poolers its supervisor started. */
class Watched {
  output = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  poolerPids(): number[] {
    return [...this.output.matchAll(/"pid":(\d+),[^\n]*supervisor: pooler started/g)].map((m) => Number(m[1]));
  }

  async waitFor(what: string, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + DEADLINE_MS;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${this.output}`);
      await sleep(50);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The environment without the test runner's PGTIDE_ variable, which pgtide would refuse. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_')));
  return { ...env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, ...extra };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `SELECT 1` through pgtide, retrying until it answers (the pooler may be restarting). */
async function queryThrough(port: number, watched: Watched): Promise<number> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const client = new pg.Client(scramLogin(t, { host: '127.0.0.1', port }));
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query('SELECT 41 + 1 AS answer');
      return rows[0].answer;
    } catch (error) {
      if (Date.now() > deadline || watched.child.exitCode !== null)
        throw new Error(`no answer through port ${port}: ${error}; output:\n${watched.output}`);
      await sleep(100);
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** A supervisor (runSupervised, as cli.ts calls it for `start --supervise`, with `own` options
 *  of its own) of a pooler on `port`, with info lines on and a 1 s shutdown_timeout. */
function startSupervisor(
  dir: string,
  port: number,
  extra: string[] = [],
  authFile = writeAuthFile(t, dir),
  own: string[] = [],
): Watched {
  const config = writeConfig(t, dir, authFile, port, ['log_level = "info"', 'shutdown_timeout = 1', ...extra]);
  const main = join(dir, 'supervise.mjs');
  writeFileSync(
    main,
    `import { runSupervised } from ${JSON.stringify(SUPERVISOR)};\nprocess.exit(await runSupervised(process.argv.slice(2)));\n`,
  );
  return new Watched(
    spawn(process.execPath, [main, 'start', '--supervise', ...own, '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({}),
    }),
  );
}

describe('pgtide start --supervise', () => {
  let dir: string;
  let port: number;
  let supervisor: Watched;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-supervisor-'));
    [port] = (await freePorts(1)) as [number];
    supervisor = startSupervisor(dir, port);
  });

  after(async () => {
    if (supervisor.child.exitCode === null) supervisor.child.kill('SIGKILL');
    for (const pid of supervisor.poolerPids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a pooler killed with SIGKILL is started again and serves queries', async () => {
    assert.equal(await queryThrough(port, supervisor), 42);
    const [first] = supervisor.poolerPids();
    assert.ok(first !== undefined && first !== supervisor.child.pid);
    process.kill(first, 'SIGKILL');
    await supervisor.waitFor('a second pooler', () => supervisor.poolerPids().length === 2);
    const second = supervisor.poolerPids()[1]!;
    assert.notEqual(second, first);
    assert.match(supervisor.output, /"signal":"SIGKILL"[^\n]*"restart_in_ms":250[^\n]*pooler exited; restarting/);
    assert.equal(await queryThrough(port, supervisor), 42);
    assert.ok(!isAlive(first));
  });

  test(`the pooler runs with a young generation of ${SEMI_SPACE_MIB} MiB semi-spaces`, async () => {
    assert.equal(await queryThrough(port, supervisor), 42);
    const pooler = supervisor.poolerPids().at(-1)!;
    const args = readFileSync(`/proc/${pooler}/cmdline`, 'utf8').split('\0');
    assert.ok(args.includes(`--max-semi-space-size=${SEMI_SPACE_MIB}`), args.join(' '));
  });

  test('SIGHUP reaches the pooler, which reloads its configuration', async () => {
    supervisor.child.kill('SIGHUP');
    await supervisor.waitFor('the reload', () => supervisor.output.includes('configuration reloaded'));
    assert.equal(supervisor.poolerPids().length, 2, 'a reload must not restart the pooler');
  });

  test('SIGTERM stops the pooler and then the supervisor, with status 0', async () => {
    const pooler = supervisor.poolerPids().at(-1)!;
    supervisor.child.kill('SIGTERM');
    assert.equal(await supervisor.exited, 0);
    assert.ok(!isAlive(pooler), 'the pooler must be gone too');
    assert.match(supervisor.output, /supervisor: pooler stopped/);
    assert.equal(supervisor.poolerPids().length, 2, 'no restart after SIGTERM');
    assert.doesNotMatch(supervisor.output, /the supervisor is gone/, 'a stopping pooler blamed its supervisor');
  });
});

// It restarted such a pooler for ever, with a growing delay: the image never stopped, and its
// log filled with the same error every 30 s.
for (const [problem, extra, authFile] of [
  ['an invalid value', ['default_pool_size = -3'], undefined],
  ['an auth_file it cannot read', [], '/nonexistent/pgtide-users.txt'],
] as const) {
  test(`a configuration the pooler refuses (${problem}) stops the supervisor with status 78, after one start`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-supervisor-'));
    const [port] = (await freePorts(1)) as [number];
    const supervisor = startSupervisor(dir, port, [...extra], authFile);
    try {
      assert.equal(await supervisor.exited, 78, supervisor.output);
      assert.equal(supervisor.poolerPids().length, 1, supervisor.output);
      assert.match(supervisor.output, authFile === undefined ? /default_pool_size/ : /auth_file: cannot read/);
      assert.match(supervisor.output, /not restarting it/);
    } finally {
      if (supervisor.child.exitCode === null) supervisor.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Helper o1: the supervisor had no handler for its log file's failure, and a write it could
// not make (a full volume; a rotation that found its file moved) ended it, and the pooler with it.
describe('a supervisor whose --log-file fails', () => {
  test('goes on serving, its lines on stdout only', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-supervisor-'));
    const [port] = (await freePorts(1)) as [number];
    const supervisor = startSupervisor(dir, port, [], writeAuthFile(t, dir), ['--log-file', '/dev/full']);
    try {
      assert.equal(await queryThrough(port, supervisor), 42);
      await supervisor.waitFor('the failure logged', () =>
        /log file failed; logging to stdout only/.test(supervisor.output),
      );
      assert.equal(await queryThrough(port, supervisor), 42);
      assert.equal(supervisor.child.exitCode, null);
    } finally {
      if (supervisor.child.exitCode === null) supervisor.child.kill('SIGKILL');
      for (const pid of supervisor.poolerPids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a supervisor killed with SIGKILL', () => {
  let dir: string;
  let port: number;
  const supervisors: Watched[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-orphan-'));
    [port] = (await freePorts(1)) as [number];
  });

  after(() => {
    for (const supervisor of supervisors) {
      if (supervisor.child.exitCode === null) supervisor.child.kill('SIGKILL');
      for (const pid of supervisor.poolerPids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('leaves no pooler behind: it drains and exits, and a new supervisor then serves on the same port', async (ctx) => {
    const first = startSupervisor(dir, port);
    supervisors.push(first);
    assert.equal(await queryThrough(port, first), 42);
    const [pooler] = first.poolerPids();
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    // shutdown_timeout is 1 s: the drain ends well within 5 s.
    while (isAlive(pooler!)) {
      assert.ok(
        Date.now() - killedAt < 5_000,
        `the pooler ${pooler} outlived its supervisor by 5 s; output:\n${first.output}`,
      );
      await sleep(50);
    }
    ctx.diagnostic(`pooler gone ${Date.now() - killedAt} ms after its supervisor`);
    assert.match(first.output, /the supervisor is gone; draining and exiting/);

    const second = startSupervisor(dir, port);
    supervisors.push(second);
    assert.equal(await queryThrough(port, second), 42);
    assert.equal(
      second.poolerPids().length,
      1,
      `the new supervisor's pooler had to be restarted; output:\n${second.output}`,
    );
    assert.doesNotMatch(second.output, /EADDRINUSE/);
  });
});

describe('docker/docker-entrypoint.sh', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-entrypoint-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The image's entrypoint with its default config, on free ports, logging to `dir`. */
  async function startEntrypoint(
    instance: string,
    extra: Record<string, string> = {},
    args: string[] = [],
  ): Promise<{ entrypoint: Watched; port: number }> {
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const entrypoint = new Watched(
      spawn(ENTRYPOINT, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: cleanEnv({
          INSTANCE_NAME: instance,
          CONFIG_FILE: join(ROOT, 'docker/pgtide.toml'),
          LOG_DIR: dir,
          PGTIDE_LISTEN_ADDR: '127.0.0.1',
          PGTIDE_LISTEN_PORT: String(port),
          PGTIDE_ADMIN_HTTP_LISTEN: `127.0.0.1:${adminPort}`,
          PGTIDE_AUTH_FILE: writeAuthFile(t, dir),
          PGTIDE_SERVER_TLS_SSLMODE: 'disable',
          PGTIDE_SHUTDOWN_TIMEOUT: '1',
          PGTIDE_BACKENDS: [t.primary, ...t.standbys].map((n) => `${n.host}:${n.port}`).join(','),
          ...extra,
        }),
      }),
    );
    return { entrypoint, port };
  }

  test('runs the image default config with PGTIDE_* overrides, serves queries, logs to LOG_DIR, stops on SIGTERM', async () => {
    const { entrypoint, port } = await startEntrypoint('pool7');
    try {
      assert.equal(await queryThrough(port, entrypoint), 42);
      const logFile = join(dir, 'pgtide-pool7.log');
      await entrypoint.waitFor('the log file', () => readFileSync(logFile, 'utf8').includes('pgtide started'));
      const started = readFileSync(logFile, 'utf8')
        .split('\n')
        .find((line) => line.includes('pgtide started'))!;
      assert.equal(JSON.parse(started).instance, 'pool7');
      assert.ok(entrypoint.output.includes('pgtide started'), 'the log also goes to stdout');
      entrypoint.child.kill('SIGTERM');
      assert.equal(await entrypoint.exited, 0);
      for (const pid of entrypoint.poolerPids()) assert.ok(!isAlive(pid));
    } finally {
      if (entrypoint.child.exitCode === null) entrypoint.child.kill('SIGKILL');
    }
  });

  test("a log_dir naming the supervisor's --log-file is not opened twice: one writer, each line once, the last lines kept", async () => {
    const { entrypoint, port } = await startEntrypoint('pool8', { PGTIDE_LOG_DIR: dir });
    try {
      assert.equal(await queryThrough(port, entrypoint), 42);
      const logFile = join(dir, 'pgtide-pool8.log');
      await entrypoint.waitFor('the log file', () => readFileSync(logFile, 'utf8').includes('pgtide started'));
      entrypoint.child.kill('SIGTERM');
      assert.equal(await entrypoint.exited, 0);
      const lines = readFileSync(logFile, 'utf8').trim().split('\n');
      assert.equal(
        lines.filter((line) => line.includes('"pgtide started"')).length,
        1,
        'a pooler line written twice: two writers',
      );
      assert.ok(lines.some((line) => line.includes('not opening it a second time')));
      assert.match(lines.at(-1)!, /supervisor: pooler stopped/, "the supervisor's last line");
    } finally {
      if (entrypoint.child.exitCode === null) entrypoint.child.kill('SIGKILL');
    }
  });

  test("runs from the seed's files given after start, in place of the image's config file", async () => {
    const seed = (file: string) => join(ROOT, 'test/fixtures/seed', file);
    const stateDir = join(dir, 'state');
    // pgpool.conf's check user is the seed's; the harness's logs in instead.
    const harness = {
      PGTIDE_STATE_DIR: stateDir,
      PGTIDE_SR_CHECK_USER: t.scramUser.user,
      PGTIDE_SR_CHECK_PASSWORD: t.scramUser.password,
    };
    const { entrypoint, port } = await startEntrypoint('pool9', harness, [
      'start',
      '--pgbouncer',
      seed('pgbouncer.ini'),
      '--pgpool',
      seed('pgpool.conf'),
    ]);
    try {
      assert.equal(await queryThrough(port, entrypoint), 42);
      assert.match(entrypoint.output, /default_pool_size lowered/, "the import's warnings are logged");
      entrypoint.child.kill('SIGTERM');
      assert.equal(await entrypoint.exited, 0);
    } finally {
      if (entrypoint.child.exitCode === null) entrypoint.child.kill('SIGKILL');
    }
  });

  test("a config choice of the container's own (--no-config, -c FILE with no CONFIG_FILE) takes the image's config file's place", async () => {
    for (const [instance, env, args] of [
      ['pool10', {}, ['start', '--no-config']],
      ['pool11', { CONFIG_FILE: '' }, ['start', '-c', join(ROOT, 'docker/pgtide.toml')]],
    ] as const) {
      const { entrypoint, port } = await startEntrypoint(instance, env, [...args]);
      try {
        assert.equal(await queryThrough(port, entrypoint), 42, args.join(' '));
        assert.doesNotMatch(entrypoint.output, /exclude each other/);
        entrypoint.child.kill('SIGTERM');
        assert.equal(await entrypoint.exited, 0);
      } finally {
        if (entrypoint.child.exitCode === null) entrypoint.child.kill('SIGKILL');
      }
    }
  });

  test('runs any other command as given', async () => {
    const other = new Watched(
      spawn(ENTRYPOINT, ['echo', 'not pgtide'], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv({}) }),
    );
    assert.equal(await other.exited, 0);
    assert.equal(other.output, 'not pgtide\n');
  });

  test('refuses an INSTANCE_NAME that would put the log file outside LOG_DIR', async () => {
    const bad = new Watched(
      spawn(ENTRYPOINT, [], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: cleanEnv({ INSTANCE_NAME: '../etc', LOG_DIR: dir }),
      }),
    );
    assert.equal(await bad.exited, 64);
    assert.match(bad.output, /INSTANCE_NAME must not/);
  });
});
