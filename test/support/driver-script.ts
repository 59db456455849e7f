// Runs a driver script written in another language (test/drivers/) as a child process and
// reads the one JSON line it prints last.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Topology } from './topology.js';

export const DRIVERS_DIR = fileURLToPath(new URL('../../../test/drivers/', import.meta.url));
// Debian's interpreter: the python3 first on PATH may be another one that cannot see
// the python3-* packages.
export const DEBIAN_PYTHON = '/usr/bin/python3';
export const PGJDBC_JAR = '/usr/share/java/postgresql.jar';

export interface DriverScript {
  name: string;
  command: string;
  args: string[];
  /** The Debian packages the script needs; .ci/run installs them. */
  packages: string;
  /** Files that must exist before running, each with the package that ships it. */
  files: [path: string, pkg: string][];
}

export interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The PG* variables that point a script at `target` as the SCRAM test user. */
export function scramUserEnv(t: Topology, target: { host: string; port: number }): Record<string, string> {
  return {
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: t.scramUser.user,
    PGPASSWORD: t.scramUser.password,
    PGDATABASE: t.database,
  };
}

/** Runs a script with `env` added to ours; never rejects on a bad exit. */
export function runScript(driver: DriverScript, env: Record<string, string>, timeoutMs: number): Promise<ScriptRun> {
  for (const [path, pkg] of driver.files) {
    if (!existsSync(path)) throw new Error(`${driver.name}: ${path} is missing: apt-get install ${pkg}`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(driver.command, driver.args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(`${driver.name}: ${driver.command} not found: apt-get install ${driver.packages}`)
          : err,
      );
    });
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Asserts a clean exit whose summary line reports `expectedOk` successes and no error. */
export function assertScriptPassed(driver: DriverScript, run: ScriptRun, expectedOk: number): void {
  const context =
    `${driver.name} exited ${run.code ?? run.signal} (needs Debian packages: ${driver.packages})\n` +
    `stdout: ${run.stdout}\nstderr: ${run.stderr}`;
  const lastLine = run.stdout.trim().split('\n').at(-1) ?? '';
  let summary: { ok?: unknown; errors?: unknown; firstError?: unknown };
  try {
    summary = JSON.parse(lastLine);
  } catch {
    assert.fail(`no JSON summary line: ${context}`);
  }
  assert.deepEqual(
    { ok: summary.ok, errors: summary.errors, firstError: summary.firstError },
    { ok: expectedOk, errors: 0, firstError: null },
    context,
  );
  assert.equal(run.code, 0, context);
}
