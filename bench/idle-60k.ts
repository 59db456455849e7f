// Many idle, logged-in clients through one pooler instance: 60,000 by default, through pgtide
// with `workers = 4` on several listen ports, then as many as PgBouncer (one process) can hold
// under the open-files limit, then through as many PgBouncers as pgtide has workers sharing one
// port (so_reuseport), reached at several loopback addresses. Reports the RSS of every process of the pooler, KiB per client,
// the time to log them all in, and how many answered `SELECT 1` at the end.
// Run: npm run build && npm run build:test && node dist/bench/idle-60k.js (bench/README.md).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '../test/support/free-ports.js';
import { resolveServerUser } from '../test/support/server-user.js';
import { ClientFleet, type ClientReply, machineLine, openFilesLimit, runBenchmark, startPrimary } from './idle.js';
import { AUTH_TYPE, POOL_SIZE, startPgbouncer, startPgtide, type PoolerSetup } from './poolers.js';
import { type Cleanup, firstLine, type Service } from './processes.js';
import { pageSize, readTreeStats } from './proc-cpu.js';
import { integerSetting, targetsSetting } from './settings.js';

const TARGETS = ['pgtide', 'pgbouncer', 'pgbouncer-reuseport'] as const;
type TargetName = (typeof TARGETS)[number];

interface Settings {
  clients: number;
  warmupClients: number;
  workers: number;
  ports: number;
  clientProcesses: number;
  concurrency: number;
  settleSeconds: number;
  targets: TargetName[];
}

/** Descriptors a process needs besides its clients: listeners, server connections, logs, the runtime. */
const DESCRIPTOR_HEADROOM = 300;

interface ProcessFigures {
  pid: number;
  rssBytes: number;
  /** Proportional set size: pages shared between processes (the Node.js binary's code) counted once in all. */
  pssBytes: number;
  /** Open descriptors: with idle clients, about one per client. */
  fds: number;
}

interface Result {
  target: TargetName;
  /** What the target was asked to hold (the warm-up clients included), and why fewer than asked. */
  clients: number;
  /** Logged in and checked before the first reading: not counted per client. */
  warmupClients: number;
  capped: string | undefined;
  /** Destinations the clients were spread over: (address, port) pairs. */
  destinations: number;
  before: ProcessFigures[];
  after: ProcessFigures[];
  loginSeconds: number;
  checkSeconds: number;
  check: ClientReply;
}

async function benchmark(settings: Settings, cleanup: Cleanup): Promise<number> {
  const limit = await openFilesLimit();
  const perProcess = Math.ceil(settings.clients / settings.clientProcesses);
  if (perProcess + DESCRIPTOR_HEADROOM > limit) {
    throw new Error(
      `${perProcess} clients per client process do not fit the open-files limit ${limit}: raise BENCH_IDLE_CLIENT_PROCESSES`,
    );
  }
  const serverUser = await resolveServerUser();
  const loadBefore = loadavg();
  const { topology, dir, authFile } = await startPrimary(cleanup, 'pgtide-bench-idle-');
  const results: Result[] = [];
  for (const target of settings.targets) {
    const ports = await freePorts(target === 'pgtide' ? settings.ports : 1);
    const setup: PoolerSetup = { topology, dir, authFile, port: ports[0]! };
    let clients = settings.clients;
    let capped: string | undefined;
    let services: Service[];
    let hosts = ['127.0.0.1'];
    const stopAll = async () => {
      for (const service of services) await service.stop();
    };
    if (target === 'pgtide') {
      // Each worker admits its share of max_client_conn, and no more than its open-files limit
      // leaves room for: give every worker nearly the whole limit, the kernel's hash decides.
      services = [
        await startPgtide(setup, {
          name: 'pgtide',
          backends: [{ node: topology.primary, role: 'primary', weight: 1 }],
          cpuProfileDir: undefined,
          maxClientConn: settings.workers * (limit - DESCRIPTOR_HEADROOM),
          workers: settings.workers,
          extraPorts: ports.slice(1),
        }),
      ];
      cleanup.add('stop pgtide', stopAll);
      await waitForWorkers(services[0]!.pid, settings.workers);
    } else if (target === 'pgbouncer') {
      // One process: every client is a descriptor of it.
      if (clients + DESCRIPTOR_HEADROOM > limit) {
        capped = `${clients} clients need ${clients + DESCRIPTOR_HEADROOM} open files in its one process, over the limit of ${limit}`;
        clients = limit - DESCRIPTOR_HEADROOM;
      }
      services = [
        await startPgbouncer(
          setup,
          { name: 'pgbouncer', server: topology.primary, maxClientConn: clients },
          serverUser,
        ),
      ];
      cleanup.add('stop pgbouncer', stopAll);
    } else {
      // PgBouncer's own way to more processes: one port shared with so_reuseport, each process
      // with its own pools (the pool size split as pgtide splits it) and its own client limit.
      // It listens on one port only, so the clients reach it at several loopback addresses.
      services = [];
      cleanup.add('stop the PgBouncers', stopAll);
      for (let i = 0; i < settings.workers; i++) {
        services.push(
          await startPgbouncer(
            setup,
            {
              name: `pgbouncer-${i}`,
              server: topology.primary,
              maxClientConn: limit - DESCRIPTOR_HEADROOM,
              listenAddr: '*',
              soReuseport: true,
              poolSize: Math.floor(POOL_SIZE / settings.workers) + (i < POOL_SIZE % settings.workers ? 1 : 0),
            },
            serverUser,
          ),
        );
      }
      // startService saw the port open as soon as the first one listened.
      await sleep(3000);
      hosts = Array.from({ length: settings.ports }, (_, i) => `127.0.0.${i + 1}`);
    }
    console.log(
      `${target}: ${clients} idle clients over ${hosts.length * ports.length} address(es) and port(s)${capped ? ` (capped: ${capped})` : ''}…`,
    );
    try {
      const result = await measure(target, services, hosts, ports, clients, settings, setup);
      results.push({ ...result, capped });
      console.log(`${target}: ${describe(results.at(-1)!)}`);
    } finally {
      await stopAll();
    }
  }
  const report = await formatReport(settings, results, limit, [loadBefore, loadavg()]);
  console.log(`\n${report}`);
  // .tmp/ is ignored by git (a report in bench/ would need a .gitignore entry of its own).
  const file = new URL('../../.tmp/idle-60k-latest.md', import.meta.url).pathname;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, report);
  console.log(`written to ${file}`);
  return results.every((r) => r.check.ok === r.clients && r.check.lost === 0) ? 0 : 1;
}

/** The primary has started its workers, and they have had time to bind the ports. */
async function waitForWorkers(pid: number, workers: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await readTreeStats(pid)).length < workers + 1) {
    if (Date.now() > deadline) throw new Error(`pgtide did not start ${workers} workers within 30 s`);
    await sleep(200);
  }
  // A worker binds its ports a moment after it is forked; clients before that would all go to
  // the first workers.
  await sleep(3000);
}

async function measure(
  target: TargetName,
  services: Service[],
  hosts: string[],
  ports: number[],
  clients: number,
  settings: Settings,
  setup: PoolerSetup,
): Promise<Omit<Result, 'capped'>> {
  const processes = Math.max(1, Math.ceil(clients / Math.ceil(settings.clients / settings.clientProcesses)));
  const fleet = new ClientFleet(new URL('raw-idle-clients.js', import.meta.url).pathname, processes, {
    ...process.env,
    RAW_CLIENTS_HOSTS: hosts.join(','),
    RAW_CLIENTS_PORTS: ports.join(','),
    RAW_CLIENTS_CONCURRENCY: String(settings.concurrency),
    PGUSER: setup.topology.scramUser.user,
    PGPASSWORD: setup.topology.scramUser.password,
    PGDATABASE: setup.topology.database,
  });
  try {
    await fleet.open(settings.warmupClients);
    // The warm-up clients' queries open the server connections, so the second reading counts clients only.
    await fleet.check();
    await sleep(settings.settleSeconds * 1000);
    const before = await figures(services);
    const started = performance.now();
    await fleet.open(clients - settings.warmupClients);
    const loginSeconds = (performance.now() - started) / 1000;
    await sleep(settings.settleSeconds * 1000);
    const after = await figures(services);
    const checkStarted = performance.now();
    const check = await fleet.check();
    const checkSeconds = (performance.now() - checkStarted) / 1000;
    return {
      target,
      clients,
      warmupClients: settings.warmupClients,
      destinations: hosts.length * ports.length,
      before,
      after,
      loginSeconds,
      checkSeconds,
      check,
    };
  } finally {
    await fleet.stop();
  }
}

/** Every process of the services and their children. */
async function figures(services: Service[]): Promise<ProcessFigures[]> {
  const page = await pageSize();
  const stats = (await Promise.all(services.map((s) => readTreeStats(s.pid)))).flat();
  return Promise.all(
    stats.map(async (s) => ({
      pid: s.pid,
      rssBytes: s.rssPages * page,
      pssBytes: await pssBytes(s.pid),
      fds: (await readdir(`/proc/${s.pid}/fd`).catch(() => [])).length,
    })),
  );
}

/** The Pss line of /proc/<pid>/smaps_rollup (kB); 0 when it cannot be read. */
async function pssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  return kb * 1024;
}

const KIB = 1024;
const MIB = 1024 * 1024;
const total = (f: ProcessFigures[]) => f.reduce((sum, p) => sum + p.rssBytes, 0);
const totalPss = (f: ProcessFigures[]) => f.reduce((sum, p) => sum + p.pssBytes, 0);

function perClientKib(r: Result): number {
  return (total(r.after) - total(r.before)) / (r.clients - r.warmupClients) / KIB;
}

function describe(r: Result): string {
  return (
    `RSS ${(total(r.before) / MIB).toFixed(1)} → ${(total(r.after) / MIB).toFixed(1)} MiB, ${perClientKib(r).toFixed(2)} KiB per client; ` +
    `logins ${r.loginSeconds.toFixed(1)} s; ${r.check.ok} of ${r.clients} answered in ${r.checkSeconds.toFixed(1)} s, ` +
    `${r.check.failed} failed, ${r.check.lost} lost${r.check.error ? ` (${r.check.error})` : ''}`
  );
}

async function formatReport(settings: Settings, results: Result[], limit: number, load: number[][]): Promise<string> {
  const pgbouncer = settings.targets.includes('pgbouncer') ? await firstLine('pgbouncer', ['--version']) : '';
  const rows = results.map((r) => {
    const logins = r.clients - settings.warmupClients;
    return (
      `| ${r.target} | ${r.after.length} | ${r.destinations} | ${r.clients} | ${(total(r.before) / MIB).toFixed(1)} | ${(total(r.after) / MIB).toFixed(1)} | ` +
      `${(totalPss(r.after) / MIB).toFixed(1)} | ` +
      `${perClientKib(r).toFixed(2)} | ${r.loginSeconds.toFixed(1)} (${Math.round(logins / r.loginSeconds)}/s) | ` +
      `${r.check.ok} of ${r.clients} in ${r.checkSeconds.toFixed(1)} s${r.check.failed + r.check.lost > 0 ? ` (${r.check.failed} failed, ${r.check.lost} lost: ${r.check.error ?? 'closed'})` : ''} |`
    );
  });
  const perProcess = results.map(
    (r) =>
      `- ${r.target}: ` +
      r.after
        .map(
          (p) =>
            `pid ${p.pid} RSS ${(p.rssBytes / MIB).toFixed(1)} MiB, PSS ${(p.pssBytes / MIB).toFixed(1)} MiB, ${p.fds} fds`,
        )
        .join('; ') +
      (r.capped ? `. Capped: ${r.capped}` : ''),
  );
  return [
    `# Many idle clients through one pooler instance, ${new Date().toISOString()}`,
    '',
    machineLine(load, `open-files limit ${limit} per process`),
    `- Node.js ${process.version} (pgtide and the clients)${pgbouncer ? `; ${pgbouncer}` : ''}`,
    `- pgtide: workers = ${settings.workers}, ${settings.ports} listen ports; pgbouncer: one process, one port; pgbouncer-reuseport: ` +
      `${settings.workers} PgBouncers sharing one port (so_reuseport), reached at 127.0.0.1-${settings.ports}, the pool size split among them. All: transaction pooling, ` +
      `pool size ${POOL_SIZE} (pgtide: split among the workers), client auth ${AUTH_TYPE}, no TLS, one PostgreSQL primary`,
    `- Clients: a raw protocol client (bench/raw-idle-clients.ts: startup, SCRAM-SHA-256, then idle), ${settings.clientProcesses} client ` +
      `processes at most, ${settings.concurrency} logins in flight per process; connection i of a process goes to port i mod ports. ` +
      `${settings.warmupClients} warm-up clients log in and run SELECT 1 first (opening the server connections); RSS is read ` +
      `${settings.settleSeconds} s after that and ${settings.settleSeconds} s after the others have logged in. ` +
      'KiB per client = RSS growth / the others. RSS: /proc/<pid>/stat of the pooler and all its children (primary + workers). ' +
      'Login time: the others, from the first connect to the last ReadyForQuery. At the end every client runs SELECT 1 (all at once, ' +
      `${settings.concurrency} in flight per client process) and must get its row and ReadyForQuery`,
    `- Command: BENCH_IDLE_CLIENTS=${settings.clients} BENCH_IDLE_WORKERS=${settings.workers} BENCH_IDLE_PORTS=${settings.ports} ` +
      `BENCH_IDLE_TARGETS=${settings.targets.join(',')} node dist/bench/idle-60k.js`,
    '',
    '| target | processes | destinations (address, port) | clients | RSS before (MiB) | RSS with all clients (MiB) | PSS with all clients (MiB) | KiB per client (RSS) | login time, s (logins/s) | answered SELECT 1 |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows,
    '',
    'Per process, with all clients (the primary holds no clients; a worker holds about one descriptor per client):',
    '',
    ...perProcess,
    '',
  ].join('\n');
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const settings: Settings = {
    clients: integerSetting(env, 'BENCH_IDLE_CLIENTS', 60_000, 2),
    warmupClients: integerSetting(env, 'BENCH_IDLE_WARMUP_CLIENTS', 100, 1),
    workers: integerSetting(env, 'BENCH_IDLE_WORKERS', 4, 1),
    ports: integerSetting(env, 'BENCH_IDLE_PORTS', 4, 1),
    clientProcesses: integerSetting(env, 'BENCH_IDLE_CLIENT_PROCESSES', 4, 1),
    concurrency: integerSetting(env, 'BENCH_IDLE_CONCURRENCY', 32, 1),
    settleSeconds: integerSetting(env, 'BENCH_IDLE_SETTLE_SECONDS', 10, 0),
    targets: targetsSetting(env, 'BENCH_IDLE_TARGETS', TARGETS),
  };
  if (settings.warmupClients >= settings.clients)
    throw new Error('BENCH_IDLE_WARMUP_CLIENTS must be below BENCH_IDLE_CLIENTS');
  return settings;
}

runBenchmark('bench:idle-60k', (cleanup) => benchmark(readSettings(process.env), cleanup));
