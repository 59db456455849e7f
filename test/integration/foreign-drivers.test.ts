// Drivers written in other languages, from Debian's packages, through pgtide in transaction
// pooling: 20 concurrent clients over 2 server connections, every query a parameterized
// prepared statement. Each script runs direct to the primary first, which proves the script
// itself right, so a failure through pgtide is pgtide's. The scripts live in test/drivers/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  assertScriptPassed,
  DEBIAN_PYTHON,
  DRIVERS_DIR as DRIVERS,
  PGJDBC_JAR,
  runScript,
  scramUserEnv,
  type DriverScript as Driver,
} from '../support/driver-script.js';

const t = currentTopology();
const POOL_SIZE = 2;
// Each script runs CLIENTS = 20 connections x ITERATIONS = 50, and counts each iteration once.
const EXPECTED_OK = 20 * 50;
// The scripts report by themselves after 25 s; this kill is for a script that cannot. The whole
// file must finish within the runner's --test-timeout (120 s, see test/run.ts).
const SCRIPT_TIMEOUT_MS = 35_000;

const drivers: (Driver & { expected?: number; env?: Record<string, string> })[] = [
  {
    name: 'asyncpg',
    command: DEBIAN_PYTHON,
    args: [DRIVERS + 'asyncpg-clients.py'],
    packages: 'python3-asyncpg',
    files: [[DEBIAN_PYTHON, 'python3']],
  },
  {
    // Its own pool: a reset query each time a connection goes back, a statement cache that
    // outlives the resets, and a table change that makes the cached statements stale.
    name: 'asyncpg pool',
    command: DEBIAN_PYTHON,
    args: [DRIVERS + 'asyncpg-pool.py'],
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
  {
    // executeBatch through a statement cache of two: the Close of an evicted statement rides
    // in the middle of the next request, and one batch fails in its middle.
    name: 'pgJDBC batches',
    command: 'java',
    args: ['-cp', PGJDBC_JAR, DRIVERS + 'Jdbc.java', 'batch'],
    packages: 'openjdk-17-jre-headless libpostgresql-jdbc-java',
    files: [[PGJDBC_JAR, 'libpostgresql-jdbc-java']],
    expected: 20 * 10,
  },
  {
    // lastInsertId() reads lastval()/currval() where the INSERT ran; statements freed by an
    // SQL DEALLOCATE, also after a ROLLBACK.
    name: 'PHP PDO',
    command: 'php',
    args: [DRIVERS + 'pdo-clients.php'],
    packages: 'php-cli php-pgsql',
    files: [['/usr/bin/php', 'php-cli']],
    // One client: lastInsertId() reads its own id only where its INSERT ran last, which many
    // clients on 2 server connections would rarely see (docs/transaction-pooling.md).
    env: { PDO_CLIENTS: '1' },
    expected: 50,
  },
];

interface Target {
  host: string;
  port: number;
}

/** Runs the script as the SCRAM test user and asserts a clean exit with every iteration correct. */
async function assertDriverPasses(
  driver: Driver & { expected?: number; env?: Record<string, string> },
  target: Target,
): Promise<void> {
  const run = await runScript(driver, { ...scramUserEnv(t, target), ...driver.env }, SCRIPT_TIMEOUT_MS);
  assertScriptPassed(driver, run, driver.expected ?? EXPECTED_OK);
}

describe(`foreign drivers with prepared statements, transaction pooling over ${POOL_SIZE} server connections`, {
  timeout: 115_000,
}, () => {
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
