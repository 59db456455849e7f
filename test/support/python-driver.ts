// Runs a Python driver script of test/drivers/ against a target and reads its one-line JSON
// report. Debian's interpreter: the python3 first on PATH may not see the python3-* packages.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Topology } from './topology.js';

export const DRIVERS_DIR = fileURLToPath(new URL('../../../test/drivers/', import.meta.url));
const DEBIAN_PYTHON = '/usr/bin/python3';

export interface DriverReport {
  ok: number;
  errors: number;
  firstError: string | null;
  /** The exit code, and what the script wrote to stderr, for assertion messages. */
  code: number | null;
  stderr: string;
}

/** Never rejects on a failing script: a missing report reads as one error. */
export function runPythonDriver(t: Topology, script: string, args: string[], target: { host: string; port: number },
  timeoutMs: number): Promise<DriverReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(DEBIAN_PYTHON, [DRIVERS_DIR + script, ...args], {
      env: {
        ...process.env, PGHOST: target.host, PGPORT: String(target.port), PGUSER: t.scramUser.user,
        PGPASSWORD: t.scramUser.password, PGDATABASE: t.database,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as DriverReport;
        resolve({ ...report, code, stderr });
      } catch {
        resolve({ ok: 0, errors: 1, firstError: `no report (exit ${code}): ${stdout.slice(-500)}`, code, stderr });
      }
    });
  });
}
