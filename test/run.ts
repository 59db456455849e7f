// The test entry point (`npm test`): starts one PostgreSQL topology for the whole run, runs
// node's test runner on the compiled tests, and always stops the servers afterwards.
//   node dist/test/run.js                      every *.test.js under dist/test/{unit,integration} and dist/bench
//   node dist/test/run.js <file|dir> ...       only those
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTopology, stopTopology, topologyFile, type Topology } from './support/topology.js';

/** The whole suite takes about 4 minutes; CI allows 90. */
const RUN_LIMIT_MS = 25 * 60_000;

const here = dirname(fileURLToPath(import.meta.url));
// The benchmark's report and measurement helpers are pure units: they run with the rest.
const DEFAULT_TEST_DIRS = [join(here, 'unit'), join(here, 'integration'), join(here, '..', 'bench')];

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const files = await testFiles(requested.length > 0 ? requested : DEFAULT_TEST_DIRS);
  if (files.length === 0) {
    console.error('run: no *.test.js files found (did `npm run build` run?)');
    return 1;
  }

  // Signals are handled from the start: a Ctrl-C during startup must stop the servers too.
  // The child shares our process group, so a terminal's Ctrl-C reaches it directly; a signal
  // sent to us alone is forwarded. Either way the servers are stopped before we exit.
  let interrupted: NodeJS.Signals | undefined;
  let topology: Topology | undefined;
  let child: ChildProcess | undefined;
  let stopping: Promise<void> | undefined;
  const stopOnce = (t: Topology): Promise<void> => (stopping ??= stopTopology(t));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      interrupted = signal;
      child?.kill(signal);
      if (topology) void stopOnce(topology).finally(() => process.exit(exitCodeFor(signal)));
    });
  }

  const started = Date.now();
  topology = await startTopology();
  if (interrupted) {
    await stopOnce(topology);
    return exitCodeFor(interrupted);
  }
  try {
    console.error(`run: ${describe(topology)} (${Date.now() - started} ms)`);
    child = spawn(
      process.execPath,
      [
        '--test',
        '--test-timeout=120000',
        // One file at a time: every file shares the topology, and some stop or restart nodes.
        '--test-concurrency=1',
        // TAP, as Node 20 printed by default outside a terminal: CI counts its '# pass' lines.
        '--test-reporter=tap',
        // No --test-force-exit: on Node 20 it sometimes ends a file before all of its tests
        // have run (and reports no failure). A leaked handle is caught by the watchdog below.
        ...files,
      ],
      { stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, PGTIDE_TEST_TOPOLOGY: topologyFile(topology) } },
    );
    const failures = new FailureLog();
    child.stdout!.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      failures.scan(chunk);
    });
    // A file that leaks a handle (socket, timer) would keep the run alive forever.
    const watchdog = setTimeout(() => {
      console.error(
        `run: the tests did not finish within ${RUN_LIMIT_MS / 60_000} minutes (a leaked handle?); stopping them`,
      );
      child?.kill('SIGKILL');
    }, RUN_LIMIT_MS);
    try {
      const code = await new Promise<number>((resolveExit, reject) => {
        child!.once('error', reject);
        child!.once('close', (exitCode, signal) => resolveExit(exitCode ?? (signal ? 1 : 0)));
      });
      // CI keeps only the end of a long output: the failures are repeated there.
      failures.report();
      return code;
    } finally {
      clearTimeout(watchdog);
    }
  } finally {
    await stopOnce(topology);
  }
}

/** The failed tests in the TAP stream, each with the lines of its report (its error). */
class FailureLog {
  private partial = '';
  private readonly failed: string[][] = [];
  private open: string[] | null = null;

  scan(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      if (/^\s*not ok \d+/.test(line)) this.failed.push((this.open = [line]));
      else if (this.open !== null) {
        // A report ends with its YAML block's "..."; 40 lines are enough to tell what failed.
        if (this.open.length < 40) this.open.push(line);
        if (/^\s*\.\.\.$/.test(line)) this.open = null;
      }
    }
  }

  report(): void {
    if (this.failed.length === 0) return;
    console.log(`\n# run: ${this.failed.length} failing test or suite report(s), repeated from above:`);
    // As TAP comments: a reader counting test points counts each failure once.
    for (const report of this.failed) console.log(report.map((line) => `# ${line}`).join('\n'));
  }
}

/** Expands directories into the *.test.js files below them: Node 20 expands no globs. */
async function testFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths.map((p) => resolve(p))) {
    if (!existsSync(path)) {
      if (DEFAULT_TEST_DIRS.includes(path)) continue; // an empty suite folder is not an error
      throw new Error(`run: no such test file or directory: ${path}`);
    }
    if (!(await stat(path)).isDirectory()) {
      files.push(path);
      continue;
    }
    const entries = await readdir(path, { recursive: true });
    files.push(
      ...entries
        .filter((e) => e.endsWith('.test.js'))
        .sort()
        .map((e) => join(path, e)),
    );
  }
  return files;
}

function exitCodeFor(signal: NodeJS.Signals): number {
  return 128 + (signal === 'SIGINT' ? 2 : 15);
}

function describe(t: Topology): string {
  const nodes = [t.primary, ...t.standbys].map((n) => `${n.name}=${n.host}:${n.port}`).join(' ');
  return `PostgreSQL ${nodes}, dir ${t.baseDir}${t.runAs ? `, servers run as ${t.runAs}` : ''}`;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
