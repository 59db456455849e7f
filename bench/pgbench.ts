// The project's benchmark: pgbench through pgtide, directly against PostgreSQL, and through
// PgBouncer, in one run on one topology, with the poolers' CPU time per transaction.
// `npm run bench`; settings from BENCH_* environment variables (see bench/README.md).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeAuthFile } from '../test/support/pgtide.js';
import { freePorts } from '../test/support/free-ports.js';
import { resolveServerUser, runAsServerUser } from '../test/support/server-user.js';
import { startTopology, stopTopology, type Topology } from '../test/support/topology.js';
import { parsePgbenchSummary } from './pgbench-output.js';
import { AUTH_TYPE, POOL_SIZE, startPgbouncer, startPgtide } from './poolers.js';
import { Cleanup, runProgram, type Service } from './processes.js';
import { clockTicksPerSecond, readCpuTicks } from './proc-cpu.js';
import { formatRatiosTable, formatRunsTable, type Measurement, type RunRecord, type TargetName } from './report.js';

const execFileAsync = promisify(execFile);

interface Settings {
  seconds: number;
  warmupSeconds: number;
  clients: number;
  threads: number;
  scale: number;
  standbys: number;
  workloads: Workload[];
  cpuProfileDir: string | undefined;
}

interface Workload {
  key: string;
  name: string;
  args: string[];
}

const WORKLOADS: Workload[] = [
  { key: 'select-simple', name: 'select-only, simple', args: ['-S', '-M', 'simple'] },
  { key: 'select-extended', name: 'select-only, extended', args: ['-S', '-M', 'extended'] },
  { key: 'tpcb', name: 'TPC-B-like', args: [] },
  { key: 'connect', name: 'select-only, connect per tx (-C)', args: ['-S', '-C'] },
];

interface Target {
  name: TargetName;
  port: number;
  /** The pooler process whose CPU is measured; undefined when connecting directly. */
  pooler: Service | undefined;
}

/** A pgbench run never legitimately outlasts its duration by this much. */
const PGBENCH_GRACE_MS = 120_000;

async function main(): Promise<number> {
  const settings = readSettings(process.env);
  const cleanup = new Cleanup();
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts === 1) {
      console.error('\ninterrupted: stopping after the current step (again to stop now)');
      abort.abort();
    } else {
      void cleanup.runAll().then(() => process.exit(130));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await benchmark(settings, cleanup, abort.signal);
  } catch (err) {
    if (abort.signal.aborted) return 130;
    throw err;
  } finally {
    await cleanup.runAll();
  }
}

async function benchmark(settings: Settings, cleanup: Cleanup, signal: AbortSignal): Promise<number> {
  const hz = await clockTicksPerSecond();
  const serverUser = await resolveServerUser();
  console.log(`starting PostgreSQL (primary + ${settings.standbys} standbys)…`);
  const topology = await startTopology({ standbys: settings.standbys });
  cleanup.add('stop PostgreSQL', () => stopTopology(topology));
  signal.throwIfAborted();

  const env = { ...process.env, PGPASSWORD: topology.scramUser.password };
  console.log(`pgbench -i -s ${settings.scale}…`);
  await runChecked('pgbench', [
    '-i', '-q', '-s', String(settings.scale), ...connectionArgs(topology, topology.primary.port), topology.database,
  ], env, signal, 30 * 60_000);

  const dir = await mkdtemp(join(tmpdir(), 'pgtide-bench-'));
  cleanup.add('remove the scratch directory', () => rm(dir, { recursive: true, force: true }));
  const authFile = writeAuthFile(topology, dir);
  const [pgtidePort, pgbouncerPort] = await freePorts(2);
  const pgtide = await startPgtide(
    { topology, dir, authFile, port: pgtidePort! },
    { standbys: topology.standbys, cpuProfileDir: settings.cpuProfileDir },
  );
  cleanup.add('stop pgtide', () => pgtide.stop());
  const pgbouncer = await startPgbouncer({ topology, dir, authFile, port: pgbouncerPort! }, serverUser);
  cleanup.add('stop PgBouncer', () => pgbouncer.stop());

  const targets: Target[] = [
    { name: 'direct', port: topology.primary.port, pooler: undefined },
    { name: 'pgtide', port: pgtidePort!, pooler: pgtide },
    { name: 'pgbouncer', port: pgbouncerPort!, pooler: pgbouncer },
  ];
  const run = (target: Target, workload: Workload, seconds: number) =>
    measure(target, workload, { seconds, settings, topology, env, hz, signal });

  if (settings.warmupSeconds > 0) {
    for (const target of targets) {
      console.log(`warm-up: ${target.name}, ${settings.warmupSeconds} s`);
      await run(target, WORKLOADS[0]!, settings.warmupSeconds);
    }
  }
  const runs: RunRecord[] = [];
  // Targets take turns within each workload, so drift on the machine spreads over all three.
  for (const workload of settings.workloads) {
    for (const target of targets) {
      const result = await run(target, workload, settings.seconds);
      runs.push({ workload: workload.name, target: target.name, result });
      console.log(`${workload.name} / ${target.name}: ${describeResult(result)}`);
    }
  }

  const report = await formatReport(settings, topology, runs);
  console.log(`\n${report}`);
  const file = new URL('../../bench/results-latest.md', import.meta.url).pathname;
  await writeFile(file, report);
  console.log(`written to ${file}`);
  return runs.every((r) => typeof r.result !== 'string') ? 0 : 1;
}

interface MeasureContext {
  seconds: number;
  settings: Settings;
  topology: Topology;
  env: NodeJS.ProcessEnv;
  hz: number;
  signal: AbortSignal;
}

/** One pgbench run; a failure is returned as its reason so that the other runs still happen. */
async function measure(target: Target, workload: Workload, ctx: MeasureContext): Promise<Measurement | string> {
  const { settings, topology } = ctx;
  const pid = target.pooler?.pid;
  const ticksBefore = pid === undefined ? 0 : await readCpuTicks(pid);
  const started = performance.now();
  const out = await runProgram('pgbench', [
    ...connectionArgs(topology, target.port),
    '-c', String(settings.clients), '-j', String(settings.threads), '-T', String(ctx.seconds),
    ...workload.args,
    topology.database,
  ], { env: ctx.env, signal: ctx.signal, timeoutMs: ctx.seconds * 1000 + PGBENCH_GRACE_MS });
  const wallSeconds = (performance.now() - started) / 1000;
  const ticksAfter = pid === undefined ? 0 : await readCpuTicks(pid);
  if (out.code !== 0) {
    return `pgbench exited with ${out.code ?? 'a signal'}: ${out.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  }
  const summary = parsePgbenchSummary(out.stdout);
  const cpuSeconds = (ticksAfter - ticksBefore) / ctx.hz;
  const pooled = pid !== undefined;
  return {
    ...summary,
    poolerCpuUsPerTx: pooled && summary.transactions > 0 ? (cpuSeconds * 1e6) / summary.transactions : undefined,
    poolerCpuPercent: pooled ? (cpuSeconds / wallSeconds) * 100 : undefined,
  };
}

function connectionArgs(t: Topology, port: number): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-U', t.scramUser.user];
}

async function runChecked(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<void> {
  const out = await runProgram(command, args, { env, signal, timeoutMs });
  if (out.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${out.code}):\n${out.stderr}`);
}

function describeResult(result: Measurement | string): string {
  if (typeof result === 'string') return `FAILED: ${result}`;
  const cpu = result.poolerCpuUsPerTx === undefined ? '' : `, pooler ${result.poolerCpuUsPerTx.toFixed(1)} µs CPU/tx`;
  return `${result.tps.toFixed(0)} tps, ${result.latencyMs.toFixed(3)} ms mean latency${cpu}`;
}

async function formatReport(settings: Settings, t: Topology, runs: RunRecord[]): Promise<string> {
  const [postgres, pgbench, pgbouncer] = await Promise.all([
    runAsServerUser(t, 'postgres', ['--version'], '/'),
    firstLine('pgbench', ['--version']),
    firstLine('pgbouncer', ['--version']),
  ]);
  const workloadKeys = settings.workloads.map((w) => w.key).join(',');
  return [
    `# pgtide benchmark, ${new Date().toISOString()}`,
    '',
    `- Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown model'}), ${process.platform}`,
    `- Node.js ${process.version}; ${postgres.trim()}; ${pgbench}; ${pgbouncer}`,
    `- pgbench -c ${settings.clients} -j ${settings.threads} -T ${settings.seconds}, scale ${settings.scale}, ` +
      `${settings.warmupSeconds} s warm-up per target (not reported); targets take turns per workload`,
    `- Both poolers: transaction pooling, pool size ${POOL_SIZE}, client auth ${AUTH_TYPE}, no TLS; ` +
      `pgtide with ${settings.standbys} standbys, PgBouncer on the primary only`,
    `- Command: BENCH_SECONDS=${settings.seconds} BENCH_WORKLOADS=${workloadKeys} npm run bench`,
    '',
    '## Runs',
    '',
    formatRunsTable(runs),
    '',
    '## Ratios',
    '',
    formatRatiosTable(runs),
    '',
  ].join('\n');
}

async function firstLine(command: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(command, args);
  return stdout.split('\n')[0]!.trim();
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const keys = (env['BENCH_WORKLOADS'] ?? WORKLOADS.map((w) => w.key).join(',')).split(',').map((k) => k.trim());
  const workloads = keys.map((key) => {
    const workload = WORKLOADS.find((w) => w.key === key);
    if (!workload) throw new Error(`BENCH_WORKLOADS: unknown workload "${key}"; known: ${WORKLOADS.map((w) => w.key).join(', ')}`);
    return workload;
  });
  return {
    seconds: integerSetting(env, 'BENCH_SECONDS', 15, 1),
    warmupSeconds: integerSetting(env, 'BENCH_WARMUP_SECONDS', 3, 0),
    clients: integerSetting(env, 'BENCH_CLIENTS', 50, 1),
    threads: integerSetting(env, 'BENCH_THREADS', 2, 1),
    scale: integerSetting(env, 'BENCH_SCALE', 10, 1),
    standbys: integerSetting(env, 'BENCH_STANDBYS', 0, 0),
    workloads,
    cpuProfileDir: env['BENCH_CPU_PROFILE_DIR'] || undefined,
  };
}

function integerSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
