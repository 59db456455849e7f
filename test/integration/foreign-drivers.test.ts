// Drivers written in other languages, from Debian's packages, through pgtide in transaction
// pooling: 20 concurrent clients over 2 server connections, every query a parameterized
// prepared statement. Each script runs direct to the primary first, which proves the script
// itself right, so a failure through pgtide is pgtide's. The scripts live in test/drivers/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';

const t = currentTopology();
const DRIVERS = fileURLToPath(new URL('../../../test/drivers/', import.meta.url));
// Debian's interpreter: the python3 first on PATH may be another one that cannot see
// the python3-* packages.
const DEBIAN_PYTHON = '/usr/bin/python3';
const PGJDBC_JAR = '/usr/share/java/postgresql.jar';
const POOL_SIZE = 2;
// Each script runs CLIENTS = 20 connections x ITERATIONS = 50, and counts each iteration once.
const EXPECTED_OK = 20 * 50;
// The scripts report by themselves after 25 s; this kill is for a script that cannot. The whole
// file must finish within the runner's --test-timeout (120 s, see test/run.ts).
const SCRIPT_TIMEOUT_MS = 35_000;

interface Driver {
  name: string;
  command: string;
  args: string[];
  /** The Debian packages the script needs; .ci/run installs them. */
  packages: string;
  /** Files that must exist before running, each with the package that ships it. */
  files: [path: string, pkg: string][];
}

const drivers: Driver[] = [
  {
    name: 'asyncpg',
    command: DEBIAN_PYTHON,
    args: [DRIVERS + 'asyncpg-clients.py'],
    packages: 'python3-asyncpg',
    files: [[DEBIAN_PYTHON, 'python3']],
  },
  {
    name: 'psycopg',
    command: DEBIAN_PYTHON,
    args: [DRIVERS + 'psycopg-clients.py'],
    packages: 'python3-psycopg',
    files: [[DEBIAN_PYTHON, 'python3']],
  },
  {
    name: 'pgJDBC',
    command: 'java',
    // A single-file source program: the launcher compiles it in memory with the jdk.compiler
    // module, which Debian's JRE ships too.
    args: ['-cp', PGJDBC_JAR, DRIVERS + 'Jdbc.java'],
    packages: 'openjdk-17-jre-headless libpostgresql-jdbc-java',
    files: [[PGJDBC_JAR, 'libpostgresql-jdbc-java']],
  },
];

interface Target {
  host: string;
  port: number;
}

interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a driver script against a target as the SCRAM test user; never rejects on a bad exit. */
function runScript(driver: Driver, target: Target): Promise<ScriptRun> {
  for (const [path, pkg] of driver.files) {
    if (!existsSync(path)) throw new Error(`${driver.name}: ${path} is missing: apt-get install ${pkg}`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(driver.command, driver.args, {
      env: {
        ...process.env,
        PGHOST: target.host,
        PGPORT: String(target.port),
        PGUSER: t.scramUser.user,
        PGPASSWORD: t.scramUser.password,
        PGDATABASE: t.database,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: SCRIPT_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT'
        ? new Error(`${driver.name}: ${driver.command} not found: apt-get install ${driver.packages}`)
        : err);
    });
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs the script and asserts a clean exit with every iteration correct. */
async function assertDriverPasses(driver: Driver, target: Target): Promise<void> {
  const run = await runScript(driver, target);
  const context = `${driver.name} exited ${run.code ?? run.signal} (needs Debian packages: ${driver.packages})\n`
    + `stdout: ${run.stdout}\nstderr: ${run.stderr}`;
  const lastLine = run.stdout.trim().split('\n').at(-1) ?? '';
  let summary: { ok?: unknown; errors?: unknown; firstError?: unknown };
  try {
    summary = JSON.parse(lastLine);
  } catch {
    assert.fail(`no JSON summary line: ${context}`);
  }
  assert.deepEqual({ ok: summary.ok, errors: summary.errors, firstError: summary.firstError },
    { ok: EXPECTED_OK, errors: 0, firstError: null }, context);
  assert.equal(run.code, 0, context);
}

describe(`foreign drivers with prepared statements, transaction pooling over ${POOL_SIZE} server connections`, { timeout: 115_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: POOL_SIZE });
  });
  after(() => p.stop());

  /** The most server connections pgtide's pools held at once while `work` ran. */
  async function maxServersDuring(work: () => Promise<void>): Promise<number> {
    let max = 0;
    const sample = (): void => {
      let servers = 0;
      for (const pool of p.pgtide.context.pools.all()) servers += pool.servers.size;
      max = Math.max(max, servers);
    };
    const sampler = setInterval(sample, 5);
    try {
      await work();
    } finally {
      clearInterval(sampler);
    }
    sample();
    return max;
  }

  for (const driver of drivers) {
    test(`${driver.name} direct to the primary`, () => assertDriverPasses(driver, t.primary));

    test(`${driver.name} through pgtide in transaction pooling`, async () => {
      const max = await maxServersDuring(() => assertDriverPasses(driver, p));
      assert.ok(max >= 1 && max <= POOL_SIZE, `pgtide held ${max} server connections`);
    });
  }
});
