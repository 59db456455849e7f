// Read/write splitting of named prepared statements, as each driver uses them on its default
// settings: after a statement's first Parse, its transactions start with a Bind, and pgtide
// routes them by what the statement's text did at the Parse. Primary weight 0, two standbys of
// weight 1; transactions are counted per backend by pgtide's pools.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  assertScriptPassed,
  DEBIAN_PYTHON,
  DRIVERS_DIR,
  PGJDBC_JAR,
  runScript,
  type DriverScript,
} from '../support/driver-script.js';

const t = currentTopology();
const run = promisify(execFile);
// Enough transactions that a fair weighted draw lands within 10 % of an even split
// (|s1 - s2| <= 10 % of 1,200 is 3.5 standard deviations).
const READS = 1200;
const MIXED = 60;
const SCRIPT_TIMEOUT_MS = 60_000;
const READ = 'SELECT v FROM prep_read WHERE id = $1';
const STANDBY_REFUSAL = /cannot execute .* in a read-only transaction/;

interface Workloads {
  name: string;
  /** Runs READS autocommit reads through pgtide. */
  read(p: RunningPgtide): Promise<void>;
  /** Runs MIXED rounds of writes, reads of what was written, locking reads and writing functions. */
  mixed(p: RunningPgtide, idBase: number): Promise<void>;
}

function scriptEnv(p: RunningPgtide, idBase = 0): Record<string, string> {
  return {
    PGHOST: p.host,
    PGPORT: String(p.port),
    PGUSER: t.scramUser.user,
    PGPASSWORD: t.scramUser.password,
    PGDATABASE: t.database,
    ROUTING_ID_BASE: String(idBase),
  };
}

/** A driver script of test/drivers/ that takes the workload as its last argument. */
function scripted(driver: Omit<DriverScript, 'args'>, args: string[]): Workloads {
  const go = async (p: RunningPgtide, workload: 'read' | 'mixed', idBase: number, ok: number) => {
    const script = { ...driver, args: [...args, workload] };
    assertScriptPassed(script, await runScript(script, scriptEnv(p, idBase), SCRIPT_TIMEOUT_MS), ok);
  };
  return {
    name: driver.name,
    read: (p) => go(p, 'read', 0, READS),
    mixed: (p, idBase) => go(p, 'mixed', idBase, MIXED),
  };
}

const python = { command: DEBIAN_PYTHON, files: [[DEBIAN_PYTHON, 'python3']] as [string, string][] };

/** pgbench -M prepared with a script of its own: each statement is one autocommit transaction. */
function pgbench(): Workloads {
  const bench = async (p: RunningPgtide, script: string, transactions: number) => {
    const file = join(p.dir, 'bench.sql');
    writeFileSync(file, script);
    const env = { ...process.env, PGPASSWORD: t.scramUser.password };
    const { stdout } = await run(
      'pgbench',
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        '2',
        '-t',
        String(transactions / 2),
        '-f',
        file,
        '-h',
        p.host,
        '-p',
        String(p.port),
        '-U',
        t.scramUser.user,
        t.database,
      ],
      { env },
    );
    assert.match(stdout, /number of failed transactions: 0/);
  };
  return {
    name: 'pgbench -M prepared',
    read: (p) => bench(p, '\\set id random(1, 100)\nSELECT v FROM prep_read WHERE id = :id;\n', READS),
    mixed: (p) =>
      bench(
        p,
        [
          '\\set id random(1, 100)',
          'SELECT v FROM prep_read WHERE id = :id;',
          'UPDATE prep_read SET n = n + 1 WHERE id = :id;',
          'SELECT n FROM prep_read WHERE id = :id FOR UPDATE;',
          "SELECT nextval('prep_seq');",
          'BEGIN;',
          'UPDATE prep_read SET n = n + 1 WHERE id = :id;',
          'SELECT n FROM prep_read WHERE id = :id;',
          'END;',
          '',
        ].join('\n'),
        MIXED,
      ),
  };
}

/** node-postgres named queries: a Parse on a connection's first use of the name, then Binds. */
const nodePostgres: Workloads = {
  name: 'pg (named queries)',
  async read(p) {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    try {
      for (let i = 0; i < READS; i++) {
        const id = 1 + (i % 100);
        const { rows } = await c.query({ name: 'read', text: READ, values: [id] });
        assert.equal(rows[0].v, `v${id}`);
      }
    } finally {
      await c.end();
    }
  },
  async mixed(p, idBase) {
    const c = new pg.Client(p.pgConfig());
    await c.connect();
    const q = (name: string, text: string, values: unknown[]) => c.query({ name, text, values }).then((r) => r.rows[0]);
    try {
      for (let i = 0; i < MIXED; i++) {
        const id = idBase + i;
        await q('insert', 'INSERT INTO prep_mixed (id, v) VALUES ($1, $2)', [id, `r${id}`]);
        assert.equal((await q('back', 'SELECT v FROM prep_mixed WHERE id = $1', [id]))?.v, `r${id}`, 'read back');
        assert.equal(
          (await q('update', 'UPDATE prep_mixed SET v = v || $2 WHERE id = $1 RETURNING v', [id, '+'])).v,
          `r${id}+`,
        );
        assert.equal((await q('locking', 'SELECT v FROM prep_mixed WHERE id = $1 FOR UPDATE', [id])).v, `r${id}+`);
        await q('nextval', "SELECT nextval('prep_seq') > $1 AS up", [0]);
        await c.query('BEGIN');
        await q('update', 'UPDATE prep_mixed SET v = v || $2 WHERE id = $1 RETURNING v', [id, '!']);
        assert.equal((await q('back', 'SELECT v FROM prep_mixed WHERE id = $1', [id])).v, `r${id}+!`);
        await c.query('COMMIT');
      }
    } finally {
      await c.end();
    }
  },
};

/** postgres.js prepares every query as a named statement by default. */
const postgresJs: Workloads = {
  name: 'postgres.js',
  async read(p) {
    const sql = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    try {
      for (let i = 0; i < READS; i++) {
        const id = 1 + (i % 100);
        const rows = await sql`SELECT v FROM prep_read WHERE id = ${id}`;
        assert.equal(rows[0]!.v, `v${id}`);
      }
    } finally {
      await sql.end();
    }
  },
  async mixed(p, idBase) {
    const sql = postgres({ ...p.pgConfig(), username: t.scramUser.user, max: 1 } as postgres.Options<{}>);
    try {
      for (let i = 0; i < MIXED; i++) {
        const id = idBase + i;
        await sql`INSERT INTO prep_mixed (id, v) VALUES (${id}, ${`r${id}`})`;
        assert.equal((await sql`SELECT v FROM prep_mixed WHERE id = ${id}`)[0]?.v, `r${id}`, 'read back');
        assert.equal((await sql`UPDATE prep_mixed SET v = v || ${'+'} WHERE id = ${id} RETURNING v`)[0]!.v, `r${id}+`);
        assert.equal((await sql`SELECT v FROM prep_mixed WHERE id = ${id} FOR UPDATE`)[0]!.v, `r${id}+`);
        await sql`SELECT nextval('prep_seq') > ${0} AS up`;
        await sql.begin(async (tx) => {
          await tx`UPDATE prep_mixed SET v = v || ${'!'} WHERE id = ${id}`;
          assert.equal((await tx`SELECT v FROM prep_mixed WHERE id = ${id}`)[0]!.v, `r${id}+!`);
        });
      }
    } finally {
      await sql.end();
    }
  },
};

const drivers: Workloads[] = [
  nodePostgres,
  postgresJs,
  scripted({ name: 'asyncpg', ...python, packages: 'python3-asyncpg' }, [
    DRIVERS_DIR + 'routing-workload.py',
    'asyncpg',
  ]),
  scripted({ name: 'psycopg', ...python, packages: 'python3-psycopg' }, [
    DRIVERS_DIR + 'routing-workload.py',
    'psycopg',
  ]),
  scripted(
    {
      name: 'pgJDBC',
      command: 'java',
      packages: 'openjdk-17-jre-headless libpostgresql-jdbc-java',
      files: [[PGJDBC_JAR, 'libpostgresql-jdbc-java']],
    },
    ['-cp', PGJDBC_JAR, DRIVERS_DIR + 'Jdbc.java'],
  ),
  pgbench(),
];

/** Transactions (server check-outs) per backend so far. */
function transactionsByBackend(p: RunningPgtide): Map<string, number> {
  const out = new Map<string, number>();
  for (const pool of p.pgtide.context.pools.all())
    out.set(pool.key.backend, (out.get(pool.key.backend) ?? 0) + pool.lentTotal);
  return out;
}

/** What the standbys' server logs gained while `work` ran. */
async function standbyLogsDuring(work: () => Promise<void>): Promise<string> {
  const sizes = t.standbys.map((s) => statSync(s.logFile).size);
  await work();
  return t.standbys.map((s, i) => readFileSync(s.logFile).subarray(sizes[i]).toString('utf8')).join('');
}

async function waitForStandbys(sql: string): Promise<void> {
  for (const node of t.standbys) {
    const deadline = Date.now() + 10_000;
    while ((await sqlOn(node, sql).catch(() => [])).length === 0) {
      if (Date.now() > deadline) assert.fail(`${node.name} did not replay: ${sql}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('prepared statements are routed by their text, for every driver (primary weight 0)', {
  timeout: 300_000,
}, () => {
  let p: RunningPgtide;
  const shares: string[] = [];
  before(async () => {
    await sqlOn(
      t.primary,
      `
      DROP TABLE IF EXISTS prep_read, prep_mixed; DROP SEQUENCE IF EXISTS prep_seq;
      CREATE TABLE prep_read (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);
      INSERT INTO prep_read SELECT g, 'v' || g FROM pg_catalog.generate_series(1, 100) g;
      CREATE TABLE prep_mixed (id int PRIMARY KEY, v text); CREATE SEQUENCE prep_seq;
      GRANT ALL ON prep_read, prep_mixed, prep_seq TO ${t.scramUser.user};`,
    );
    await waitForStandbys('SELECT 1 FROM prep_read WHERE id = 100');
    p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), default_pool_size: 4 });
  });
  after(async () => {
    console.log(`standby shares of read-only transactions:\n  ${shares.join('\n  ')}`);
    await p.stop();
  });

  drivers.forEach((driver, index) => {
    test(`${driver.name}: a read-only workload runs >= 95 % of its transactions on the standbys, split by weight within 10 %`, async () => {
      const before = transactionsByBackend(p);
      await driver.read(p);
      const after = transactionsByBackend(p);
      const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      const primary = delta(t.primary.name),
        s1 = delta(t.standbys[0]!.name),
        s2 = delta(t.standbys[1]!.name);
      const total = primary + s1 + s2;
      shares.push(
        `${driver.name}: ${total} transactions, primary ${primary}, standby1 ${s1}, standby2 ${s2} (${(((s1 + s2) / total) * 100).toFixed(1)} % on standbys)`,
      );
      assert.ok(total >= READS, `only ${total} transactions counted`);
      assert.ok(s1 + s2 >= 0.95 * total, `${s1 + s2} of ${total} transactions on standbys (primary ${primary})`);
      assert.ok(Math.abs(s1 - s2) <= 0.1 * (s1 + s2), `standby split ${s1}/${s2} is not within 10 %`);
    });

    test(`${driver.name}: a mixed workload never sends a write to a standby`, async () => {
      const retriesBefore = p.logs.filter((l) => String(l.msg).startsWith('statement run again on the primary')).length;
      const standbyLog = await standbyLogsDuring(() => driver.mixed(p, 100_000 * (index + 1)));
      assert.doesNotMatch(standbyLog, STANDBY_REFUSAL, 'a standby refused a write');
      const retries =
        p.logs.filter((l) => String(l.msg).startsWith('statement run again on the primary')).length - retriesBefore;
      assert.equal(retries, 0, 'pgtide had to move a refused write to the primary');
    });
  });
});
