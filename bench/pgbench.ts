// The project's benchmark: pgbench through pgtide, directly against PostgreSQL, and through
// PgBouncer, in one run on one topology, with the poolers' CPU time per transaction; then
// select-only reads through pgtide spread over two standbys against the seed's chain
// (HAProxy → PgBouncer → Pgpool-II) doing the same, with where the reads went.
// `npm run bench`; settings from BENCH_* environment variables (see bench/README.md).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeAuthFile } from '../test/support/pgtide.js';
import { freePorts } from '../test/support/free-ports.js';
import { resolveServerUser, runAsServerUser } from '../test/support/server-user.js';
import { sqlOn, startTopology, stopTopology, type PgNode, type Topology } from '../test/support/topology.js';
import { parsePgbenchSummary } from './pgbench-output.js';
import {
  AUTH_TYPE,
  POOL_SIZE,
  startConnectFloor,
  startPoolFloor,
  startNodeForward,
  startPgbouncer,
  startPgtide,
  type WeightedBackend,
} from './poolers.js';
import { Cleanup, firstLine, runProgram, type Service } from './processes.js';
import { integerSetting } from './settings.js';
import { turnOrder } from './turns.js';
import { clockTicksPerSecond, readMachineBusyTicks, readTreeCpuTicks, readTreeStats } from './proc-cpu.js';
import {
  formatNotApplicableNotes,
  formatPreparedRatioTable,
  formatRatiosTable,
  formatRuntimeRatiosTable,
  formatFloorTable,
  formatConsistencyTable,
  formatRunsTable,
  formatSplitRatiosTable,
  formatSplitRunsTable,
  isMeasurement,
  nodeShares,
  type Measurement,
  type RunRecord,
  type TargetName,
} from './report.js';
import { startSeedChain } from './seed-chain.js';

interface Settings {
  seconds: number;
  /** Each target runs each workload this many times, in turns; ratios are paired per round. */
  rounds: number;
  warmupSeconds: number;
  clients: number;
  threads: number;
  scale: number;
  standbys: number;
  workloads: Workload[];
  /** Run the read/write-splitting comparison (pgtide over the standbys vs the seed chain). */
  readSplit: boolean;
  /** Also measure the Node.js floors: a bare byte forwarder in front of PgBouncer, and (in the
   *  `connect` workload) a bare login and query answerer per connection. */
  nodeFloor: boolean;
  cpuProfileDir: string | undefined;
  /** Other Node.js binaries that also run pgtide, each as a target `pgtide@<label>`. */
  otherNodes: { label: string; path: string }[];
  /** Other pgtide builds (`dist` directories), each as a target `pgtide@<label>`. */
  otherBuilds: { label: string; path: string }[];
  /** Worker counts that also run pgtide, each as a target `pgtide@workers=<n>`. */
  workers: number[];
  /** `taskset` CPU list for PostgreSQL and pgbench (the poolers stay unpinned); undefined: no pinning. */
  pinCpus: string | undefined;
  /** What the poolers' user list holds for the test user: its password, or PostgreSQL's SCRAM secret. */
  userSecrets: 'plain' | 'scram';
  /** The iteration count of the test user's stored SCRAM secret (userSecrets = scram). */
  scramIterations: number;
  /** How the pooling floor's sockets move bytes: as pgtide's do, or through the streams' events. */
  poolFloorSockets: 'direct' | 'streams';
}

interface Workload {
  key: string;
  name: string;
  args: string[];
  /** A pgbench script of its own (written to the scratch directory, run with -f). */
  script?: string;
  /** Uses named prepared statements across transactions, which a pooler must carry between servers. */
  namedPreparedStatements?: true;
}

const WORKLOADS: Workload[] = [
  { key: 'select-simple', name: 'select-only, simple', args: ['-S', '-M', 'simple'] },
  { key: 'select-extended', name: 'select-only, extended', args: ['-S', '-M', 'extended'] },
  {
    key: 'select-prepared',
    name: 'select-only, prepared',
    args: ['-S', '-M', 'prepared'],
    namedPreparedStatements: true,
  },
  { key: 'tpcb', name: 'TPC-B-like', args: [] },
  { key: 'connect', name: 'select-only, connect per tx (-C)', args: ['-S', '-C'] },
];

/**
 * A session that writes a row and then reads it back, each statement its own transaction: what
 * read_your_writes costs (the read waits for a standby to replay the write, or goes to the primary).
 */
const WRITE_THEN_READ: Workload = {
  key: 'write-then-read',
  name: 'write then read, prepared',
  args: ['-M', 'prepared'],
  script: [
    '\\set aid random(1, 100000 * :scale)',
    'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;',
    'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
    '',
  ].join('\n'),
  namedPreparedStatements: true,
};

/** A read of one account, through a function of each volatility (see BENCH_FUNCTIONS). */
function functionRead(key: string, name: string, fn: string): Workload {
  return {
    key,
    name,
    args: ['-M', 'extended'],
    script: ['\\set aid random(1, 100000 * :scale)', `SELECT ${fn}(:aid);`, ''].join('\n'),
  };
}

/** The functions the function workloads call, made after pgbench -i. A function is volatile
 *  unless declared otherwise: most applications' functions are. */
const BENCH_FUNCTIONS = `
CREATE OR REPLACE FUNCTION bench_balance_stable(a int) RETURNS int LANGUAGE sql STABLE
  AS 'SELECT abalance FROM pgbench_accounts WHERE aid = a';
CREATE OR REPLACE FUNCTION bench_balance_volatile(a int) RETURNS int LANGUAGE sql
  AS 'SELECT abalance FROM pgbench_accounts WHERE aid = a';`;

/** Not in the default set: a pooler-bound workload, the smallest query there is (run with
 *  BENCH_PIN_CPUS); reads through user functions; PostgREST's read transaction (its
 *  request's settings, local to the transaction, then the read); a schema-per-tenant
 *  application's request (its tenant's search_path, then the read, each on its own). */
const EXTRA_WORKLOADS: Workload[] = [
  { key: 'select-1', name: 'SELECT 1, simple', args: ['-M', 'simple'], script: 'SELECT 1;\n' },
  functionRead('function-stable', 'read through a STABLE function, extended', 'bench_balance_stable'),
  functionRead('function-volatile', 'read through a volatile function, extended', 'bench_balance_volatile'),
  {
    key: 'postgrest-get',
    name: "PostgREST's read transaction, extended",
    args: ['-M', 'extended'],
    script: [
      '\\set aid random(1, 100000 * :scale)',
      'BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;',
      "SELECT set_config('search_path', 'public', true), set_config('request.jwt.claims', :aid::text, true);",
      'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
      'COMMIT;',
      '',
    ].join('\n'),
  },
  {
    key: 'tenant-set',
    name: "a tenant's SET search_path, then a read, simple",
    args: ['-M', 'simple'],
    script: [
      '\\set aid random(1, 100000 * :scale)',
      '\\set tenant random(1, 10)',
      'SET search_path TO tenant_:tenant, public;',
      'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
      '',
    ].join('\n'),
  },
];

/** The read/write-splitting comparison runs these, on SPLIT_STANDBYS standbys. */
const SPLIT_WORKLOAD_KEYS = ['select-simple', 'select-extended', 'select-prepared'];
const SPLIT_STANDBYS = 2;

interface Target {
  name: TargetName;
  port: number;
  /** The proxy's processes (each with its children) whose CPU is measured; none when direct. */
  processes: Service[];
  /** Nodes whose committed transactions are counted to show where the work went. */
  countedNodes: PgNode[];
  /**
   * Set when the target may lack named prepared statements in transaction pooling: such a
   * workload that fails on it is reported as not applicable, for this reason, not as a fault.
   */
  noNamedPreparedStatements?: string;
  /** The one workload (its key) the target runs in; undefined: every workload. */
  only?: string;
}

/** pgbench -c unless BENCH_CLIENTS says otherwise. */
const DEFAULT_CLIENTS = 50;
/** A pgbench run never legitimately outlasts its duration by this much. */
const PGBENCH_GRACE_MS = 120_000;
/** PostgreSQL's scram_iterations default: what a client's PBKDF2 runs at each SCRAM login. */
const DEFAULT_SCRAM_ITERATIONS = 4096;
/**
 * A PostgreSQL backend reports its transaction counts at most once a second (PGSTAT_MIN_INTERVAL),
 * so the counts are read this long after pgbench ends.
 */
const STATS_FLUSH_MS = 1_500;

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
  const standbys = Math.max(settings.standbys, settings.readSplit ? SPLIT_STANDBYS : 0);
  console.log(`starting PostgreSQL (primary + ${standbys} standbys)…`);
  const topology = await startTopology({ standbys });
  cleanup.add('stop PostgreSQL', () => stopTopology(topology));
  signal.throwIfAborted();
  if (settings.pinCpus !== undefined) await pinPostgres(topology, settings.pinCpus);

  const env = { ...process.env, PGPASSWORD: topology.scramUser.password };
  console.log(`pgbench -i -s ${settings.scale}…`);
  await runChecked(
    'pgbench',
    ['-i', '-q', '-s', String(settings.scale), ...connectionArgs(topology, topology.primary.port), topology.database],
    env,
    signal,
    30 * 60_000,
  );
  await sqlOn(topology.primary, BENCH_FUNCTIONS);

  const dir = await mkdtemp(join(tmpdir(), 'pgtide-bench-'));
  cleanup.add('remove the scratch directory', () => rm(dir, { recursive: true, force: true }));
  const authFile =
    settings.userSecrets === 'plain'
      ? writeAuthFile(topology, dir)
      : await writeScramAuthFile(topology, dir, settings.scramIterations);
  const [pgtidePort, pgbouncerPort, forwardPort] = await freePorts(3);
  const pgtideBackends: WeightedBackend[] = [
    { node: topology.primary, role: 'primary', weight: 1 },
    ...topology.standbys.slice(0, settings.standbys).map((node) => ({ node, role: 'standby' as const, weight: 1 })),
  ];
  const pgtide = await startPgtide(
    { topology, dir, authFile, port: pgtidePort! },
    {
      name: 'pgtide',
      backends: pgtideBackends,
      cpuProfileDir: settings.cpuProfileDir,
    },
  );
  cleanup.add('stop pgtide', () => pgtide.stop());
  // PgBouncer carries protocol-level prepared statements only from 1.21 (max_prepared_statements).
  const pgbouncerNoPrepared = `${await firstLine('pgbouncer', ['--version'])}: no prepared statements in transaction mode`;
  const pgbouncer = await startPgbouncer(
    { topology, dir, authFile, port: pgbouncerPort! },
    { name: 'pgbouncer', server: topology.primary },
    serverUser,
  );
  cleanup.add('stop PgBouncer', () => pgbouncer.stop());
  const floor: Target[] = [];
  if (settings.nodeFloor) {
    const forward = await startNodeForward(
      { topology, dir, authFile, port: forwardPort! },
      { host: '127.0.0.1', port: pgbouncerPort! },
    );
    cleanup.add('stop the Node.js forwarder', () => forward.stop());
    floor.push({
      name: 'node-forward',
      port: forwardPort!,
      processes: [forward],
      countedNodes: [],
      noNamedPreparedStatements: pgbouncerNoPrepared,
    });
    // The iterations of the secret the poolers use: PostgreSQL's with a SCRAM user list, else
    // the one each derives from the password (4096, pgtide's and PgBouncer's).
    const iterations = settings.userSecrets === 'scram' ? settings.scramIterations : DEFAULT_SCRAM_ITERATIONS;
    if (settings.workloads.some((w) => w.key === 'connect')) {
      const [floorPort, answerPort] = await freePorts(2);
      const [connectFloor, answer] = await startConnectFloor(
        { topology, dir, authFile, port: floorPort! },
        answerPort!,
        topology.scramUser.password,
        iterations,
      );
      cleanup.add('stop the connection floor', async () => {
        await connectFloor.stop();
        await answer.stop();
      });
      floor.push({
        name: 'connect-floor',
        port: floorPort!,
        processes: [connectFloor],
        countedNodes: [],
        only: 'connect',
      });
    }
    if (settings.workloads.some((w) => w.key === 'select-simple')) {
      const [poolFloorPort] = await freePorts(1);
      const { user, password } = topology.scramUser;
      const poolFloor = await startPoolFloor(
        { topology, dir, authFile, port: poolFloorPort! },
        topology.primary.port,
        { user, password, database: topology.database },
        iterations,
        settings.poolFloorSockets,
      );
      cleanup.add('stop the pooling floor', () => poolFloor.stop());
      floor.push({
        name: 'pool-floor',
        port: poolFloorPort!,
        processes: [poolFloor],
        countedNodes: [],
        only: 'select-simple',
      });
    }
  }

  const otherRuntimes: Target[] = [];
  // The same pgtide on another Node.js binary, or another pgtide build on the bench's.
  const variants = [
    ...settings.otherNodes.map(({ label, path }) => ({ label, node: path, dist: undefined })),
    ...settings.otherBuilds.map(({ label, path }) => ({ label, node: undefined, dist: path })),
  ];
  for (const { label, node, dist } of variants) {
    const [port] = await freePorts(1);
    const name = `pgtide@${label}` as const;
    const other = await startPgtide(
      { topology, dir, authFile, port: port! },
      {
        name,
        backends: pgtideBackends,
        cpuProfileDir: undefined,
        node,
        dist,
      },
    );
    cleanup.add(`stop ${name}`, () => other.stop());
    otherRuntimes.push({ name, port: port!, processes: [other], countedNodes: [] });
  }
  for (const workers of settings.workers) {
    const [port] = await freePorts(1);
    const name = `pgtide@workers=${workers}` as const;
    // The same pool size in total: the workers split it (docs/configuration.md, workers).
    const other = await startPgtide(
      { topology, dir, authFile, port: port! },
      { name, backends: pgtideBackends, cpuProfileDir: undefined, workers },
    );
    cleanup.add(`stop ${name}`, () => other.stop());
    otherRuntimes.push({ name, port: port!, processes: [other], countedNodes: [] });
  }

  const postmasters = await Promise.all([topology.primary, ...topology.standbys].map(postmasterPid));
  const runAll = (targets: Target[], workloads: Workload[]) =>
    runInTurns(targets, workloads, { settings, topology, env, hz, signal, dir, postmasters });
  const pgbouncerTarget: Target = {
    name: 'pgbouncer',
    port: pgbouncerPort!,
    processes: [pgbouncer],
    countedNodes: [],
    noNamedPreparedStatements: pgbouncerNoPrepared,
  };
  const runs = await runAll(
    [
      { name: 'direct', port: topology.primary.port, processes: [], countedNodes: [] },
      { name: 'pgtide', port: pgtidePort!, processes: [pgtide], countedNodes: [] },
      ...otherRuntimes,
      pgbouncerTarget,
      ...floor,
    ],
    settings.workloads,
  );
  const splitRuns = settings.readSplit
    ? await runAll(
        await startSplitTargets(topology, dir, authFile, serverUser, cleanup, pgbouncerTarget),
        splitWorkloads(),
      )
    : [];

  const report = await formatReport(settings, topology, runs, splitRuns);
  console.log(`\n${report}`);
  const file = new URL('../../bench/results-latest.md', import.meta.url).pathname;
  await writeFile(file, report);
  console.log(`written to ${file}`);
  return [...runs, ...splitRuns].every((r) => typeof r.result !== 'string') ? 0 : 1;
}

/**
 * pgtide reading from the standbys only (primary weight 0, its default read_your_writes), the
 * same with consistency = eventual (what read_your_writes costs), the seed chain with the same
 * weights in Pgpool-II, and PgBouncer on the primary only; POOL_SIZE connections per pool.
 */
async function startSplitTargets(
  topology: Topology,
  dir: string,
  authFile: string,
  serverUser: Awaited<ReturnType<typeof resolveServerUser>>,
  cleanup: Cleanup,
  pgbouncer: Target,
): Promise<Target[]> {
  const backends: WeightedBackend[] = [
    { node: topology.primary, role: 'primary', weight: 0 },
    ...topology.standbys.slice(0, SPLIT_STANDBYS).map((node) => ({ node, role: 'standby' as const, weight: 1 })),
  ];
  const countedNodes = backends.map((b) => b.node);
  const [pgtidePort, eventualPort, chainPort] = await freePorts(3);
  const pgtide = await startPgtide(
    { topology, dir, authFile, port: pgtidePort! },
    { name: 'pgtide-standbys', backends, cpuProfileDir: undefined },
  );
  cleanup.add('stop pgtide (standbys)', () => pgtide.stop());
  const eventual = await startPgtide(
    { topology, dir, authFile, port: eventualPort! },
    { name: 'pgtide-eventual', backends, cpuProfileDir: undefined, consistency: 'eventual' },
  );
  cleanup.add('stop pgtide (standbys, eventual)', () => eventual.stop());
  // The chain's PgBouncer (1.18) cannot carry named prepared statements either.
  const chainNoPrepared = pgbouncer.noNamedPreparedStatements;
  const chain = await startSeedChain({ topology, dir, authFile, port: chainPort! }, backends, serverUser);
  cleanup.add('stop the seed chain', async () => {
    for (const service of chain) await service.stop();
  });
  return [
    { name: 'pgtide-standbys', port: pgtidePort!, processes: [pgtide], countedNodes },
    { name: 'pgtide-eventual', port: eventualPort!, processes: [eventual], countedNodes },
    {
      name: 'seed-chain',
      port: chainPort!,
      processes: chain,
      countedNodes,
      ...(chainNoPrepared ? { noNamedPreparedStatements: chainNoPrepared } : {}),
    },
    { ...pgbouncer, countedNodes },
  ];
}

function splitWorkloads(): Workload[] {
  return [...SPLIT_WORKLOAD_KEYS.map((key) => WORKLOADS.find((w) => w.key === key)!), WRITE_THEN_READ];
}

/** Warms every target up, then runs each workload with the targets taking turns. */
async function runInTurns(
  targets: Target[],
  workloads: Workload[],
  ctx: Omit<MeasureContext, 'seconds'>,
): Promise<RunRecord[]> {
  const { settings } = ctx;
  // Every workload of the run is warmed up, not only the first: a JIT compiles the code each
  // one reaches (a -C run's login path), and a first round that pays for it is not steady state.
  if (settings.warmupSeconds > 0) {
    for (const target of targets) {
      for (const workload of workloads.filter((w) => runsWorkload(target, w))) {
        console.log(`warm-up: ${target.name}, ${workload.name}, ${settings.warmupSeconds} s`);
        await measure(target, workload, { ...ctx, seconds: settings.warmupSeconds });
      }
    }
  }
  const runs: RunRecord[] = [];
  // Targets take turns within each round of a workload, so drift on the machine spreads over
  // all of them, and a ratio from one round compares runs made minutes apart at most. The
  // order changes from round to round (turns.ts): no target always runs in one place or after one other.
  for (const workload of workloads) {
    // The order is drawn over the targets this workload runs, so that its balance holds for them.
    const running = targets.filter((t) => runsWorkload(t, workload));
    for (let round = 1; round <= settings.rounds; round++) {
      for (const target of turnOrder(running, round)) {
        const measured = await measure(target, workload, { ...ctx, seconds: settings.seconds });
        const result =
          workload.namedPreparedStatements && target.noNamedPreparedStatements !== undefined && !succeeded(measured)
            ? { notApplicable: target.noNamedPreparedStatements, observed: describeFailure(measured) }
            : measured;
        runs.push({ workload: workload.name, target: target.name, round, result });
        console.log(`${workload.name} / round ${round} / ${target.name}: ${describeResult(result)}`);
      }
    }
  }
  return runs;
}

/** A floor made for one workload (`only`) runs that one alone. */
function runsWorkload(target: Target, workload: Workload): boolean {
  return target.only === undefined || target.only === workload.key;
}

interface MeasureContext {
  seconds: number;
  /** The scratch directory, for workload scripts. */
  dir: string;
  settings: Settings;
  topology: Topology;
  env: NodeJS.ProcessEnv;
  hz: number;
  signal: AbortSignal;
  /** Every PostgreSQL server's postmaster: their trees' CPU is the servers' share of a run. */
  postmasters: number[];
}

/** One pgbench run; a failure is returned as its reason so that the other runs still happen. */
async function measure(target: Target, workload: Workload, ctx: MeasureContext): Promise<Measurement | string> {
  const { settings, topology } = ctx;
  const ticksBefore = await Promise.all(target.processes.map((p) => readTreeCpuTicks(p.pid)));
  const postgresBefore = await postgresTicks(ctx.postmasters);
  const machineBefore = await readMachineBusyTicks();
  const countsBefore = await transactionCounts(target.countedNodes, topology.database);
  const script = workload.script === undefined ? [] : ['-f', join(ctx.dir, `${workload.key}.sql`)];
  if (workload.script !== undefined) await writeFile(script[1]!, workload.script);
  const started = performance.now();
  const pin = settings.pinCpus === undefined ? [] : ['-c', settings.pinCpus, 'pgbench'];
  const out = await runProgram(
    pin.length > 0 ? 'taskset' : 'pgbench',
    [
      ...pin,
      ...connectionArgs(topology, target.port),
      '-c',
      String(settings.clients),
      '-j',
      String(settings.threads),
      '-T',
      String(ctx.seconds),
      ...workload.args,
      ...script,
      topology.database,
    ],
    { env: ctx.env, signal: ctx.signal, timeoutMs: ctx.seconds * 1000 + PGBENCH_GRACE_MS },
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const ticksAfter = await Promise.all(target.processes.map((p) => readTreeCpuTicks(p.pid)));
  const postgresAfter = await postgresTicks(ctx.postmasters);
  const machineAfter = await readMachineBusyTicks();
  if (out.code !== 0) {
    return `pgbench exited with ${out.code ?? 'a signal'}: ${out.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  }
  const summary = parsePgbenchSummary(out.stdout);
  const perTx = (ticks: number) =>
    summary.transactions > 0 ? ((ticks / ctx.hz) * 1e6) / summary.transactions : undefined;
  const ticks = target.processes.map((_, i) => ticksAfter[i]! - ticksBefore[i]!);
  const totalTicks = ticks.reduce((a, b) => a + b, 0);
  const proxied = target.processes.length > 0;
  const measurement: Measurement = {
    ...summary,
    poolerCpuUsPerTx: proxied ? perTx(totalTicks) : undefined,
    poolerCpuPercent: proxied ? (totalTicks / ctx.hz / wallSeconds) * 100 : undefined,
    postgresCpuUsPerTx: perTx(postgresAfter - postgresBefore),
    machineCpuUsPerTx: perTx(machineAfter - machineBefore),
  };
  if (target.processes.length > 1) {
    measurement.cpuByProcess = target.processes.map((p, i) => ({ name: p.name, usPerTx: perTx(ticks[i]!) ?? 0 }));
  }
  if (target.countedNodes.length > 0) {
    await sleep(STATS_FLUSH_MS);
    const countsAfter = await transactionCounts(target.countedNodes, topology.database);
    measurement.nodeShares = nodeShares(
      target.countedNodes.map((n) => n.name),
      countsBefore,
      countsAfter,
    );
  }
  return measurement;
}

/** CPU ticks of every PostgreSQL server so far: each postmaster and its backends (those that
 *  exited are in the postmaster's reaped-children time). */
async function postgresTicks(postmasters: number[]): Promise<number> {
  const ticks = await Promise.all(postmasters.map((pid) => readTreeCpuTicks(pid)));
  return ticks.reduce((a, b) => a + b, 0);
}

/** The postmaster's pid, the first line of postmaster.pid in its data directory. */
async function postmasterPid(node: PgNode): Promise<number> {
  const pid = Number((await readFile(join(node.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${node.dataDir}/postmaster.pid`);
  return pid;
}

/** Transactions committed or rolled back in `database` on each node, from pg_stat_database. */
async function transactionCounts(nodes: PgNode[], database: string): Promise<number[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const [row] = await sqlOn<{ n: string }>(
        node,
        'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
        [database],
        'postgres',
      );
      return Number(row?.n ?? 0);
    }),
  );
}

function connectionArgs(t: Topology, port: number): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-U', t.scramUser.user];
}

/**
 * Pins every process of every PostgreSQL node (and so the backends they fork later) to `cpus`,
 * leaving the other CPUs to the pooler under test.
 */
async function pinPostgres(topology: Topology, cpus: string): Promise<void> {
  for (const node of [topology.primary, ...topology.standbys]) {
    const postmaster = Number((await readFile(join(node.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    for (const p of await readTreeStats(postmaster)) {
      await runChecked(
        'taskset',
        ['-a', '-p', '-c', cpus, String(p.pid)],
        process.env,
        AbortSignal.timeout(10_000),
        10_000,
      );
    }
  }
  console.log(`PostgreSQL and pgbench pinned to CPUs ${cpus} (taskset); the poolers are not`);
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

/** pgbench finished and every transaction succeeded. */
function succeeded(result: Measurement | string): boolean {
  return typeof result !== 'string' && result.failedTransactions === 0;
}

function describeFailure(result: Measurement | string): string {
  return typeof result === 'string'
    ? result
    : `${result.failedTransactions} of ${result.transactions} transactions failed`;
}

function describeResult(result: RunRecord['result']): string {
  if (typeof result === 'string') return `FAILED: ${result}`;
  if (!isMeasurement(result)) return `n/a (${result.notApplicable}); ${result.observed}`;
  const cpu = result.poolerCpuUsPerTx === undefined ? '' : `, pooler ${result.poolerCpuUsPerTx.toFixed(1)} µs CPU/tx`;
  const nodes = (result.nodeShares ?? []).map((n) => `${n.node} ${(n.share * 100).toFixed(1)} %`).join(', ');
  return `${result.tps.toFixed(0)} tps, ${result.latencyMs.toFixed(3)} ms mean latency${cpu}${nodes ? `; ${nodes}` : ''}`;
}

async function formatReport(
  settings: Settings,
  t: Topology,
  runs: RunRecord[],
  splitRuns: RunRecord[],
): Promise<string> {
  const [postgres, pgbench, pgbouncer, haproxy, pgpool] = await Promise.all([
    runAsServerUser(t, 'postgres', ['--version'], '/'),
    firstLine('pgbench', ['--version']),
    firstLine('pgbouncer', ['--version']),
    settings.readSplit ? firstLine('haproxy', ['-v']) : '',
    settings.readSplit ? firstLine('pgpool', ['--version']) : '',
  ]);
  const otherVersions = await Promise.all(
    settings.otherNodes.map(
      async ({ label, path }) =>
        `pgtide@${label}: the same pgtide run by ${path}, Node.js ${await firstLine(path, ['--version'])}`,
    ),
  );
  otherVersions.push(
    ...settings.otherBuilds.map(
      ({ label, path }) => `pgtide@${label}: the pgtide build in ${path}, on the bench's Node.js`,
    ),
  );
  const workloadKeys = settings.workloads.map((w) => w.key).join(',');
  const split = settings.readSplit
    ? [
        '',
        `## Read/write splitting: pgtide over ${SPLIT_STANDBYS} standbys vs the seed chain`,
        '',
        `- ${haproxy}; ${pgpool}`,
        `- pgtide-standbys: backends primary (weight 0) + ${SPLIT_STANDBYS} standbys (weight 1), transaction pooling, ` +
          `pool size ${POOL_SIZE} per backend, consistency read_your_writes (the default); pgtide-eventual: the same ` +
          'with consistency = eventual; pgbouncer: the PgBouncer above, on the primary only',
        `- Seed chain: HAProxy (TCP) → PgBouncer (transaction pooling, pool size ${POOL_SIZE}) → Pgpool-II ` +
          '(streaming replication, load_balance_mode on, same weights, num_init_children 25, max_pool 1); ' +
          'client auth scram-sha-256 at PgBouncer and Pgpool-II',
        '- Proxy CPU: utime + stime of every process of the proxy and its children (Pgpool-II forks), ' +
          'over the run, divided by the transactions; transactions per node: pg_stat_database ' +
          `xact_commit + xact_rollback deltas of ${t.database} on each node`,
        '',
        formatSplitRunsTable(splitRuns),
        ...optionalSection(formatNotApplicableNotes(splitRuns)),
        '',
        formatSplitRatiosTable(splitRuns),
        '',
        '### What read_your_writes costs (pgtide-standbys / pgtide-eventual)',
        '',
        formatConsistencyTable(splitRuns),
      ]
    : [];
  return [
    `# pgtide benchmark, ${new Date().toISOString()}`,
    '',
    `- Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown model'}), ${process.platform}`,
    `- Node.js ${process.version}; ${postgres.trim()}; ${pgbench}; ${pgbouncer}`,
    ...otherVersions.map((line) => `- ${line}`),
    ...settings.workers.map(
      (n) =>
        `- pgtide@workers=${n}: the same pgtide with workers = ${n} (pool size ${POOL_SIZE} split among them); its CPU counts the primary and every worker`,
    ),
    `- pgbench -c ${settings.clients} -j ${settings.threads} -T ${settings.seconds}, scale ${settings.scale}, ` +
      `${settings.warmupSeconds} s warm-up per target and workload (not reported); ${settings.rounds} round(s) per workload, ` +
      'the targets taking turns in each, in an order that changes from round to round; a ratio is the median of the per-round ratios, their range in brackets',
    `- Both poolers: transaction pooling, pool size ${POOL_SIZE}, client auth ${AUTH_TYPE}, no TLS; ` +
      `pgtide with ${settings.standbys} standbys, PgBouncer on the primary only` +
      (settings.scramIterations === DEFAULT_SCRAM_ITERATIONS
        ? ''
        : `; the test user's SCRAM secret stored with ${settings.scramIterations} iterations (pgbench's PBKDF2 per login)`),
    ...(settings.nodeFloor
      ? [
          '- node-forward: the Node.js floor, a bare byte forwarder (bench/node-forward.ts) in front of PgBouncer; ' +
            "its CPU is the forwarder's alone",
          ...(runs.some((r) => r.target === 'connect-floor')
            ? [
                '- connect-floor (`connect` only): the Node.js floor per connection (bench/node-connect-floor.ts), ' +
                  "a bare SCRAM login and query answerer with a pooled upstream that answers every query; its CPU is its own process's alone",
              ]
            : []),
          ...(runs.some((r) => r.target === 'pool-floor')
            ? [
                '- pool-floor (`select-simple` only): the Node.js floor of a transaction pooler, the same script with ' +
                  `${POOL_SIZE} connections to the primary, each transaction forwarded on a free one, ` +
                  (settings.poolFloorSockets === 'direct'
                    ? "its sockets read and written as pgtide's are (shared reads, direct writes)"
                    : "its sockets read through 'data' events and written with write()") +
                  "; its CPU is its own process's alone",
              ]
            : []),
        ]
      : []),
    `- Command: BENCH_SECONDS=${settings.seconds} BENCH_ROUNDS=${settings.rounds} BENCH_WORKLOADS=${workloadKeys}${workersSetting(settings)}` +
      `${settings.clients === DEFAULT_CLIENTS && settings.pinCpus === undefined ? '' : ` BENCH_CLIENTS=${settings.clients}`}` +
      `${settings.pinCpus === undefined ? '' : ` BENCH_PIN_CPUS=${settings.pinCpus}`}` +
      `${POOL_SIZE === 20 ? '' : ` BENCH_POOL_SIZE=${POOL_SIZE}`}` +
      `${settings.userSecrets === 'plain' ? '' : ` BENCH_USER_SECRETS=${settings.userSecrets}`}` +
      `${settings.scramIterations === DEFAULT_SCRAM_ITERATIONS ? '' : ` BENCH_SCRAM_ITERATIONS=${settings.scramIterations}`} npm run bench`,
    ...(settings.pinCpus === undefined
      ? []
      : [`- PostgreSQL and pgbench pinned to CPUs ${settings.pinCpus} (taskset); the poolers are not pinned`]),
    '',
    '## Runs',
    '',
    formatRunsTable(runs),
    ...optionalSection(formatNotApplicableNotes(runs)),
    '',
    '## Ratios',
    '',
    formatRatiosTable(runs),
    ...optionalSection(formatFloorTable(runs, 'connect-floor', 'connection floor')),
    ...optionalSection(formatFloorTable(runs, 'pool-floor', 'pooling floor')),
    ...optionalSection(formatRuntimeRatiosTable(runs)),
    ...optionalSection(preparedRatio(runs)),
    ...split,
    '',
  ].join('\n');
}

/** pgtide -M prepared / -M extended (and the other targets'), when both workloads ran. */
function preparedRatio(runs: RunRecord[]): string {
  const [prepared, extended] = ['select-prepared', 'select-extended'].map(
    (key) => WORKLOADS.find((w) => w.key === key)!.name,
  );
  const ran = (workload: string) => runs.some((r) => r.workload === workload);
  return ran(prepared!) && ran(extended!) ? formatPreparedRatioTable(runs, prepared!, extended!) : '';
}

/** A blank line and `text`, or nothing when `text` is empty. */
function optionalSection(text: string): string[] {
  return text === '' ? [] : ['', text];
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const keys = (env['BENCH_WORKLOADS'] ?? WORKLOADS.map((w) => w.key).join(',')).split(',').map((k) => k.trim());
  const workloads = keys.map((key) => {
    const workload = [...WORKLOADS, ...EXTRA_WORKLOADS].find((w) => w.key === key);
    if (!workload) {
      throw new Error(
        `BENCH_WORKLOADS: unknown workload "${key}"; known: ${[...WORKLOADS, ...EXTRA_WORKLOADS].map((w) => w.key).join(', ')}`,
      );
    }
    return workload;
  });
  const userSecrets = userSecretsSetting(env['BENCH_USER_SECRETS'] ?? 'plain');
  const scramIterations = integerSetting(env, 'BENCH_SCRAM_ITERATIONS', DEFAULT_SCRAM_ITERATIONS, 1);
  if (scramIterations !== DEFAULT_SCRAM_ITERATIONS && userSecrets !== 'scram')
    throw new Error(
      'BENCH_SCRAM_ITERATIONS: only with BENCH_USER_SECRETS=scram (a plain password is derived by each pooler)',
    );
  return {
    seconds: integerSetting(env, 'BENCH_SECONDS', 15, 1),
    rounds: integerSetting(env, 'BENCH_ROUNDS', 3, 1),
    warmupSeconds: integerSetting(env, 'BENCH_WARMUP_SECONDS', 3, 0),
    clients: integerSetting(env, 'BENCH_CLIENTS', DEFAULT_CLIENTS, 1),
    threads: integerSetting(env, 'BENCH_THREADS', 2, 1),
    scale: integerSetting(env, 'BENCH_SCALE', 10, 1),
    standbys: integerSetting(env, 'BENCH_STANDBYS', 0, 0),
    workloads,
    readSplit: integerSetting(env, 'BENCH_READ_SPLIT', 1, 0) > 0,
    nodeFloor: integerSetting(env, 'BENCH_NODE_FLOOR', 1, 0) > 0,
    cpuProfileDir: env['BENCH_CPU_PROFILE_DIR'] || undefined,
    otherNodes: labelledPaths(env, 'BENCH_PGTIDE_NODES', 'label=/path/to/node'),
    otherBuilds: labelledPaths(env, 'BENCH_PGTIDE_BUILDS', 'label=/path/to/dist'),
    workers: workerCounts(env['BENCH_PGTIDE_WORKERS'] ?? ''),
    pinCpus: pinSetting(env['BENCH_PIN_CPUS'] ?? ''),
    userSecrets,
    scramIterations,
    poolFloorSockets: poolFloorSocketsSetting(env['BENCH_POOL_FLOOR_SOCKETS'] ?? 'direct'),
  };
}

function poolFloorSocketsSetting(raw: string): 'direct' | 'streams' {
  if (raw !== 'direct' && raw !== 'streams')
    throw new Error(`BENCH_POOL_FLOOR_SOCKETS: expected direct or streams, got "${raw}"`);
  return raw;
}

function userSecretsSetting(raw: string): 'plain' | 'scram' {
  if (raw !== 'plain' && raw !== 'scram') throw new Error(`BENCH_USER_SECRETS: expected plain or scram, got "${raw}"`);
  return raw;
}

/**
 * The user list with the test user's secret as PostgreSQL stores it (the other users as in the tests): no pooler can derive
 * anything at login, and both log in to the server with the ClientKey of the client's proof.
 */
async function writeScramAuthFile(topology: Topology, dir: string, iterations: number): Promise<string> {
  const { user, password } = topology.scramUser;
  if (iterations !== DEFAULT_SCRAM_ITERATIONS) {
    // One simple-protocol string: the SET holds for the ALTER ROLE that stores the new secret.
    await sqlOn(
      topology.primary,
      `SET scram_iterations = ${iterations}; ALTER ROLE "${user}" PASSWORD '${password.replaceAll("'", "''")}'`,
    );
  }
  const [row] = await sqlOn<{ rolpassword: string }>(
    topology.primary,
    'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
    [user],
  );
  if (!row?.rolpassword.startsWith('SCRAM-SHA-256$'))
    throw new Error(`BENCH_USER_SECRETS=scram: ${user} has no SCRAM secret on the primary`);
  const file = writeAuthFile(topology, dir);
  const lines = (await readFile(file, 'utf8')).replace(`"${user}" "${password}"`, `"${user}" "${row.rolpassword}"`);
  await writeFile(file, lines);
  return file;
}

/** BENCH_PIN_CPUS="1" or "0,1": a taskset CPU list; empty: no pinning. */
function pinSetting(raw: string): string | undefined {
  if (raw === '') return undefined;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(raw))
    throw new Error(`BENCH_PIN_CPUS: expected a CPU list such as 1 or 0,2-3, got "${raw}"`);
  return raw;
}

/** BENCH_PGTIDE_NODES="node20=/usr/bin/node,node26=/opt/node26/bin/node" (Node.js binaries), or
 *  BENCH_PGTIDE_BUILDS="before=/tmp/before/dist" (pgtide builds): label=path pairs. */
function labelledPaths(env: NodeJS.ProcessEnv, variable: string, expected: string): { label: string; path: string }[] {
  const raw = env[variable] ?? '';
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const match = /^([\w.-]+)=(\S+)$/.exec(item);
      if (!match) throw new Error(`${variable}: expected ${expected}, got "${item}"`);
      return { label: match[1]!, path: match[2]! };
    });
}

function workersSetting(settings: Settings): string {
  return settings.workers.length === 0 ? '' : ` BENCH_PGTIDE_WORKERS=${settings.workers.join(',')}`;
}

/** BENCH_PGTIDE_WORKERS="2,4": worker counts besides pgtide's one process. */
function workerCounts(raw: string): number[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      if (!/^\d{1,3}$/.test(item) || Number(item) < 2)
        throw new Error(`BENCH_PGTIDE_WORKERS: expected worker counts of 2 or more, got "${item}"`);
      return Number(item);
    });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
