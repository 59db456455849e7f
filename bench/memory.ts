// Memory per idle client: N clients logged in and then left idle against the Node.js floor (a
// bare `net` server holding sockets, bench/idle-floor.ts), pgtide, PgBouncer and the seed
// chain (HAProxy → PgBouncer → Pgpool-II), one target after the other on one PostgreSQL, in
// one run; the RSS each target's processes gain per client, and pgtide over the floor.
// `npm run bench:memory`; settings from BENCH_MEMORY_* environment variables (bench/README.md).
import { readdir, rename, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '../test/support/free-ports.js';
import { resolveServerUser, type OsUser } from '../test/support/server-user.js';
import type { Topology } from '../test/support/topology.js';
import { ClientFleet, type ClientReply, machineLine, openFilesLimit, runBenchmark, startPrimary } from './idle.js';
import { AUTH_TYPE, POOL_SIZE, startPgbouncer, startPgtide, type PoolerSetup } from './poolers.js';
import { type Cleanup, firstLine, startService, type Service } from './processes.js';
import { pageSize, readTreeRssPages } from './proc-cpu.js';
import { summarise } from './report.js';
import { startSeedChain } from './seed-chain.js';
import { integerSetting, targetsSetting } from './settings.js';

const TARGETS = ['floor', 'pgtide', 'pgbouncer', 'seed-chain'] as const;
type TargetName = (typeof TARGETS)[number];

interface Settings {
  clients: number;
  /** Each target is measured this many times, the targets taking turns. */
  rounds: number;
  /** Held from before the first reading: what a target allocates once (server connections, code) is not counted per client. */
  warmupClients: number;
  settleSeconds: number;
  clientsPerProcess: number;
  targets: TargetName[];
  heapSnapshotDir: string | undefined;
  /** Node.js options for both Node.js targets (the floor and pgtide), e.g. V8 heap sizes. */
  nodeOptions: string[];
}

interface Target {
  name: TargetName;
  /** Descriptors a target process needs per client: HAProxy holds two (client and server side). */
  descriptorsPerClient: number;
  /** How the clients log in: the floor speaks no protocol. */
  login: 'pg' | 'tcp';
  start(setup: PoolerSetup, maxClientConn: number): Promise<Service[]>;
}

interface Result {
  target: TargetName;
  round: number;
  /** RSS of the target's processes, in bytes, with the warm-up clients and with all of them. */
  before: number;
  after: number;
  clients: number;
  check: ClientReply;
}

/** Descriptors a process needs besides its clients: listeners, server connections, logs, the runtime. */
const DESCRIPTOR_HEADROOM = 200;

async function benchmark(settings: Settings, cleanup: Cleanup): Promise<number> {
  const limit = await openFilesLimit();
  if (settings.clientsPerProcess + DESCRIPTOR_HEADROOM > limit) {
    throw new Error(
      `BENCH_MEMORY_CLIENTS_PER_PROCESS = ${settings.clientsPerProcess} does not fit the open-files limit ${limit}: ` +
        'lower it, or raise the limit (ulimit -n, see docs/tuning.md)',
    );
  }
  const serverUser = await resolveServerUser();
  const loadBefore = loadavg();
  const { topology, dir, authFile } = await startPrimary(cleanup, 'pgtide-bench-memory-');
  const total = settings.clients + settings.warmupClients;
  const results: Result[] = [];
  const skipped: Skipped[] = [];
  const targets = settings.targets.map(targetNamed(serverUser, settings)).filter((target) => {
    const needed = total * target.descriptorsPerClient + DESCRIPTOR_HEADROOM;
    if (needed <= limit) return true;
    skipped.push({ target: target.name, reason: `needs ${needed} open files, over the limit of ${limit}` });
    console.log(`${target.name}: skipped, ${skipped.at(-1)!.reason}`);
    return false;
  });
  // Targets take turns within each round, so drift on the machine spreads over all of them.
  for (let round = 1; round <= settings.rounds; round++) {
    for (const target of targets) {
      const [port] = await freePorts(1);
      console.log(`${target.name}, round ${round}: ${settings.warmupClients} + ${settings.clients} idle clients…`);
      const result = await measure(target, { topology, dir, authFile, port: port! }, settings, round, cleanup);
      console.log(`${target.name}, round ${round}: ${describe(result)}`);
      results.push(result);
    }
  }
  const report = await formatReport(settings, topology, results, skipped, [loadBefore, loadavg()]);
  console.log(`\n${report}`);
  const file = new URL('../../bench/memory-latest.md', import.meta.url).pathname;
  await writeFile(file, report);
  console.log(`written to ${file}`);
  return results.every((r) => r.check.failed === 0 && r.check.lost === 0) ? 0 : 1;
}

function targetNamed(serverUser: OsUser | null, settings: Settings): (name: TargetName) => Target {
  const targets: Record<TargetName, Target> = {
    floor: {
      name: 'floor',
      descriptorsPerClient: 1,
      login: 'tcp',
      start: async (setup) => [
        await startService({
          name: 'idle-floor',
          command: process.execPath,
          args: [...settings.nodeOptions, new URL('idle-floor.js', import.meta.url).pathname, String(setup.port)],
          port: setup.port,
          logFile: join(setup.dir, 'idle-floor.log'),
          stopSignal: 'SIGTERM',
        }),
      ],
    },
    pgtide: {
      name: 'pgtide',
      descriptorsPerClient: 1,
      login: 'pg',
      start: async (setup, maxClientConn) => [
        await startPgtide(setup, {
          name: 'pgtide',
          backends: [{ node: setup.topology.primary, role: 'primary', weight: 1 }],
          cpuProfileDir: undefined,
          maxClientConn,
          nodeArgs: [
            ...settings.nodeOptions,
            // SIGUSR2 makes pgtide write a heap snapshot there (see writeHeapSnapshot).
            ...(settings.heapSnapshotDir
              ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${settings.heapSnapshotDir}`]
              : []),
          ],
        }),
      ],
    },
    pgbouncer: {
      name: 'pgbouncer',
      descriptorsPerClient: 1,
      login: 'pg',
      start: async (setup, maxClientConn) => [
        await startPgbouncer(
          setup,
          {
            name: 'pgbouncer',
            server: setup.topology.primary,
            maxClientConn,
          },
          serverUser,
        ),
      ],
    },
    'seed-chain': {
      name: 'seed-chain',
      descriptorsPerClient: 2,
      login: 'pg',
      start: (setup, maxClientConn) =>
        startSeedChain(
          setup,
          [{ node: setup.topology.primary, role: 'primary', weight: 1 }],
          serverUser,
          maxClientConn,
        ),
    },
  };
  return (name) => targets[name];
}

/** Starts the target, holds the warm-up clients, reads RSS, holds the others, reads it again; stops everything. */
async function measure(
  target: Target,
  setup: PoolerSetup,
  settings: Settings,
  round: number,
  cleanup: Cleanup,
): Promise<Result> {
  const total = settings.clients + settings.warmupClients;
  const services = await target.start(setup, total);
  const stopServices = async () => {
    for (const service of services) await service.stop();
  };
  cleanup.add(`stop ${target.name}`, stopServices);
  const fleet = new ClientFleet(
    new URL('idle-clients.js', import.meta.url).pathname,
    Math.ceil(total / settings.clientsPerProcess),
    {
      ...process.env,
      IDLE_CLIENTS_PORT: String(setup.port),
      IDLE_CLIENTS_LOGIN: target.login,
      PGUSER: setup.topology.scramUser.user,
      PGPASSWORD: setup.topology.scramUser.password,
      PGDATABASE: setup.topology.database,
    },
  );
  cleanup.add(`stop the clients of ${target.name}`, () => fleet.stop());
  try {
    const snapshot = async (label: string) => {
      if (settings.heapSnapshotDir && target.name === 'pgtide')
        await writeHeapSnapshot(services[0]!.pid, settings.heapSnapshotDir, label);
    };
    await fleet.open(settings.warmupClients);
    await sleep(settings.settleSeconds * 1000);
    const before = await rssBytes(services);
    await snapshot(`warm-up-${round}`);
    await fleet.open(settings.clients);
    await sleep(settings.settleSeconds * 1000);
    const after = await rssBytes(services);
    await snapshot(`${total}-clients-${round}`);
    return { target: target.name, round, before, after, clients: settings.clients, check: await fleet.check() };
  } finally {
    await fleet.stop();
    await stopServices();
  }
}

async function rssBytes(services: Service[]): Promise<number> {
  const pages = await Promise.all(services.map((s) => readTreeRssPages(s.pid)));
  return pages.reduce((a, b) => a + b, 0) * (await pageSize());
}

/** SIGUSR2 (see the pgtide target) and the snapshot file once V8 has finished writing it, renamed after `label`. */
async function writeHeapSnapshot(pid: number, dir: string, label: string): Promise<void> {
  const existing = new Set(await readdir(dir));
  process.kill(pid, 'SIGUSR2');
  for (let size = -1; ; await sleep(1000)) {
    const file = (await readdir(dir)).find((f) => f.endsWith('.heapsnapshot') && !existing.has(f));
    if (file === undefined) continue;
    const now = (await stat(join(dir, file))).size;
    // The process writes the file while its event loop is blocked: a size that holds still is the end.
    if (now > 0 && now === size) {
      await rename(join(dir, file), join(dir, `pgtide-${label}.heapsnapshot`));
      console.log(`heap snapshot: ${join(dir, `pgtide-${label}.heapsnapshot`)}`);
      return;
    }
    size = now;
  }
}

const KIB = 1024;
const MIB = 1024 * 1024;

function perClientKib(r: Result): number {
  return (r.after - r.before) / r.clients / KIB;
}

function describe(r: Result): string {
  return (
    `${perClientKib(r).toFixed(2)} KiB per idle client (RSS ${(r.before / MIB).toFixed(1)} → ${(r.after / MIB).toFixed(1)} MiB); ` +
    `${r.check.ok} answered, ${r.check.failed} failed, ${r.check.lost} lost${r.check.error ? ` (${r.check.error})` : ''}`
  );
}

interface Skipped {
  target: TargetName;
  reason: string;
}

async function formatReport(
  settings: Settings,
  t: Topology,
  results: Result[],
  skipped: Skipped[],
  load: number[][],
): Promise<string> {
  const floorOf = (round: number) => results.find((r) => r.target === 'floor' && r.round === round);
  const versions = await Promise.all([
    firstLine('pgbouncer', ['--version']),
    settings.targets.includes('seed-chain') ? firstLine('haproxy', ['-v']) : '',
    settings.targets.includes('seed-chain') ? firstLine('pgpool', ['--version']) : '',
  ]);
  /** Per client over the floor's in the same round; undefined without a floor. */
  const overFloor = (r: Result) => {
    const floor = floorOf(r.round);
    return floor ? perClientKib(r) / perClientKib(floor) : undefined;
  };
  const rows = results.map((r) => {
    const ratio = overFloor(r);
    return (
      `| ${r.target} | ${r.round} | ${r.clients} | ${(r.before / MIB).toFixed(1)} | ${(r.after / MIB).toFixed(1)} | ` +
      `${perClientKib(r).toFixed(2)} | ${ratio === undefined ? '—' : `${ratio.toFixed(2)}×`} | ${r.check.ok} of ${r.clients + settings.warmupClients}` +
      `${r.check.failed + r.check.lost > 0 ? ` (${r.check.failed} failed, ${r.check.lost} lost: ${r.check.error ?? 'closed'})` : ''} |`
    );
  });
  const summary = [
    ...[...new Set(results.map((r) => r.target))].map((target) => {
      const runs = results.filter((r) => r.target === target);
      const ratios = runs.map(overFloor).filter((x): x is number => x !== undefined);
      return `| ${target} | ${summarise(runs.map(perClientKib), '')} | ${ratios.length > 0 ? summarise(ratios) : '—'} |`;
    }),
    ...skipped.map((s) => `| ${s.target} | n/a (${s.reason}) | |`),
  ];
  return [
    `# pgtide memory per idle client, ${new Date().toISOString()}`,
    '',
    machineLine(load),
    `- Node.js ${process.version} (the floor and pgtide); ${versions.filter((v) => v !== '').join('; ')}`,
    `- ${settings.warmupClients} warm-up clients held first, RSS read; then ${settings.clients} more, RSS read again; ` +
      `each reading ${settings.settleSeconds} s after the last login. KiB per idle client = RSS growth / ${settings.clients}. ` +
      'RSS: /proc/<pid>/stat of every process of the target and its children (HAProxy + PgBouncer + every Pgpool-II process for the seed chain)',
    `- Clients: node-postgres, client auth ${AUTH_TYPE}, spread over processes of at most ${settings.clientsPerProcess}; ` +
      "the floor's clients open a TCP connection and send nothing. Poolers: transaction pooling, pool size " +
      `${POOL_SIZE}, no TLS, one PostgreSQL ${t.primary.name} (seed chain: Pgpool-II with num_init_children 25)`,
    ...(settings.nodeOptions.length > 0
      ? [`- The floor and pgtide run with the Node.js options ${settings.nodeOptions.join(' ')}`]
      : []),
    `- Command: ${settings.nodeOptions.length > 0 ? `BENCH_MEMORY_NODE_OPTIONS='${settings.nodeOptions.join(' ')}' ` : ''}` +
      `BENCH_MEMORY_CLIENTS=${settings.clients} BENCH_MEMORY_ROUNDS=${settings.rounds} BENCH_MEMORY_TARGETS=${settings.targets.join(',')} npm run bench:memory`,
    ...(settings.heapSnapshotDir
      ? ['- Heap snapshots were taken (each a full GC in pgtide): do not compare these figures with other runs']
      : []),
    '',
    `| target | KiB per idle client${settings.rounds > 1 ? ' (median of the rounds, range)' : ''} | × Node floor${settings.rounds > 1 ? " (median of the rounds' ratios, range)" : ''} |`,
    '|---|--:|--:|',
    ...summary,
    '',
    '| target | round | idle clients | RSS before (MiB) | RSS after (MiB) | KiB per idle client | × Node floor (same round) | answered at the end |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
    ...rows,
    '',
  ].join('\n');
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  return {
    clients: integerSetting(env, 'BENCH_MEMORY_CLIENTS', 2000, 1),
    rounds: integerSetting(env, 'BENCH_MEMORY_ROUNDS', 3, 1),
    warmupClients: integerSetting(env, 'BENCH_MEMORY_WARMUP_CLIENTS', 100, 1),
    settleSeconds: integerSetting(env, 'BENCH_MEMORY_SETTLE_SECONDS', 10, 0),
    clientsPerProcess: integerSetting(env, 'BENCH_MEMORY_CLIENTS_PER_PROCESS', 10_000, 1),
    targets: targetsSetting(env, 'BENCH_MEMORY_TARGETS', TARGETS),
    heapSnapshotDir: env['BENCH_HEAP_SNAPSHOT_DIR'] || undefined,
    nodeOptions: (env['BENCH_MEMORY_NODE_OPTIONS'] ?? '').split(/\s+/).filter((o) => o !== ''),
  };
}

runBenchmark('bench:memory', (cleanup) => benchmark(readSettings(process.env), cleanup));
