// A soak under load, checked by its results rather than timed: pgbench's TPC-B, select-only,
// connection-per-transaction and a read-your-writes script run together through one pgtide
// (workers, two standbys taking the reads, consistency = read_your_writes), in each protocol
// mode. Every run must end with no failed transaction, every read-your-writes read must see its
// own write, and after each mode the TPC-B balances must add up. Exits 1 when anything did not.
// `npm run bench:soak`; settings from BENCH_* environment variables (see bench/README.md).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAuthFile } from '../test/support/pgtide.js';
import { freePorts } from '../test/support/free-ports.js';
import { sqlOn, startTopology, stopTopology, type Topology } from '../test/support/topology.js';
import { parsePgbenchSummary } from './pgbench-output.js';
import { startPgtide, POOL_SIZE } from './poolers.js';
import { Cleanup, runProgram } from './processes.js';
import { integerSetting } from './settings.js';

const SECONDS = integerSetting(process.env, 'BENCH_SOAK_SECONDS', 20, 1);
const ROUNDS = integerSetting(process.env, 'BENCH_SOAK_ROUNDS', 1, 1);
const WORKERS = integerSetting(process.env, 'BENCH_SOAK_WORKERS', 2, 1);
const TPCB_CLIENTS = integerSetting(process.env, 'BENCH_SOAK_CLIENTS', 30, 1);
const SCALE = 4;
/** pgbench ends this long after -T at the latest; a run still going then counts as hung. */
const GRACE_MS = 60_000;

/** Each read must see the row its session has just written, wherever it runs. */
const READ_YOUR_WRITES_SCRIPT = [
  '\\set id random(1, 2000000000)',
  'INSERT INTO soak_writes (id) VALUES (:id);',
  'SELECT count(*) AS seen FROM soak_writes WHERE id = :id \\gset',
  '\\if :seen = 0',
  "SELECT 'read missed its own write' :: int;",
  '\\endif',
  '',
].join('\n');

interface Run {
  label: string;
  args: string[];
}

function runsFor(mode: string, readYourWritesFile: string): Run[] {
  const seconds = ['-T', String(SECONDS)];
  return [
    { label: 'TPC-B', args: ['-M', mode, '-c', String(TPCB_CLIENTS), '-j', '2', ...seconds] },
    { label: 'select-only', args: ['-S', '-M', mode, '-c', '20', '-j', '1', ...seconds] },
    // -C prepares nothing worth keeping: each connection is new.
    {
      label: 'select-only -C',
      args: ['-S', '-C', '-M', mode === 'prepared' ? 'extended' : mode, '-c', '5', ...seconds],
    },
    { label: 'read your writes', args: ['-f', readYourWritesFile, '-M', mode, '-c', '10', '-j', '1', ...seconds] },
  ];
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await soak(cleanup, abort.signal);
  } finally {
    await cleanup.runAll();
  }
}

async function soak(cleanup: Cleanup, signal: AbortSignal): Promise<number> {
  console.log('starting PostgreSQL (primary + 2 standbys)…');
  const topology = await startTopology({ standbys: 2 });
  cleanup.add('stop PostgreSQL', () => stopTopology(topology));
  const env = { ...process.env, PGPASSWORD: topology.scramUser.password };
  const connection = (port: number) => ['-h', '127.0.0.1', '-p', String(port), '-U', topology.scramUser.user];
  const init = await runProgram(
    'pgbench',
    ['-i', '-q', '-s', String(SCALE), ...connection(topology.primary.port), topology.database],
    { env, signal, timeoutMs: 10 * 60_000 },
  );
  if (init.code !== 0) throw new Error(`pgbench -i failed:\n${init.stderr}`);
  await sqlOn(topology.primary, 'CREATE TABLE soak_writes (id int); GRANT ALL ON soak_writes TO PUBLIC');

  const dir = await mkdtemp(join(tmpdir(), 'pgtide-soak-'));
  cleanup.add('remove the scratch directory', () => rm(dir, { recursive: true, force: true }));
  const readYourWritesFile = join(dir, 'read-your-writes.sql');
  await writeFile(readYourWritesFile, READ_YOUR_WRITES_SCRIPT);
  const [port] = await freePorts(1);
  const pgtide = await startPgtide(
    { topology, dir, authFile: writeAuthFile(topology, dir), port: port! },
    {
      name: 'pgtide',
      backends: [
        { node: topology.primary, role: 'primary', weight: 0 },
        ...topology.standbys.map((node) => ({ node, role: 'standby' as const, weight: 1 })),
      ],
      cpuProfileDir: undefined,
      consistency: 'read_your_writes',
      workers: WORKERS,
    },
  );
  cleanup.add('stop pgtide', () => pgtide.stop());
  console.log(
    `pgtide: ${WORKERS} workers, pool size ${POOL_SIZE}, 2 standbys, read_your_writes; ${SECONDS} s per mode, ${ROUNDS} round(s)\n`,
  );
  console.log('| round | mode | run | transactions | failed | outcome |');
  console.log('|--:|---|---|--:|--:|---|');
  let problems = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of ['simple', 'extended', 'prepared']) {
      const results = await Promise.all(
        runsFor(mode, readYourWritesFile).map(async (run) => {
          const out = await runProgram('pgbench', ['-n', ...run.args, ...connection(port!), topology.database], {
            env,
            signal,
            timeoutMs: SECONDS * 1000 + GRACE_MS,
          });
          return { run, out };
        }),
      );
      for (const { run, out } of results) {
        const summary = /number of transactions actually processed/.test(out.stdout)
          ? parsePgbenchSummary(out.stdout)
          : null;
        const ok = out.code === 0 && summary !== null && summary.failedTransactions === 0;
        if (!ok) problems++;
        const outcome = ok ? 'ok' : firstError(out.stderr) || `exit ${out.code ?? 'killed (hung)'}`;
        console.log(
          `| ${round} | ${mode} | ${run.label} | ${summary?.transactions ?? '—'} | ${summary?.failedTransactions ?? '—'} | ${outcome} |`,
        );
      }
      const balances = await tpcbBalances(topology);
      if (!balances.ok) problems++;
      console.log(
        `| ${round} | ${mode} | TPC-B balances | | | ${balances.ok ? 'add up' : `BROKEN ${balances.text}`} |`,
      );
    }
  }
  console.log(problems === 0 ? '\nsoak passed' : `\nsoak FAILED: ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

/** Every transaction adds its delta to one account, teller and branch and logs it in the history. */
async function tpcbBalances(t: Topology): Promise<{ ok: boolean; text: string }> {
  const [row] = await sqlOn<Record<string, string>>(
    t.primary,
    `SELECT (SELECT sum(abalance) FROM pgbench_accounts) AS accounts,
            (SELECT sum(tbalance) FROM pgbench_tellers) AS tellers,
            (SELECT sum(bbalance) FROM pgbench_branches) AS branches,
            (SELECT coalesce(sum(delta), 0) FROM pgbench_history) AS history`,
  );
  const values = Object.values(row!);
  return { ok: values.every((v) => v === values[0]), text: JSON.stringify(row) };
}

function firstError(stderr: string): string {
  const line = stderr.split('\n').find((l) => /ERROR|FATAL|error:/.test(l));
  return line ? line.replace(/\|/g, '/').slice(0, 200) : '';
}

process.exitCode = await main();
