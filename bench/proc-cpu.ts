// CPU time a process has used, from /proc/<pid>/stat (Linux only), in clock ticks.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * utime + stime (fields 14 and 15 of proc(5)) from the text of /proc/<pid>/stat. The fields
 * are counted after the last ')': the command name before it may itself hold spaces and ')'.
 * They cover every thread of the process, so Node's GC and libuv threads are included.
 */
export function cpuTicksFromStat(stat: string): number {
  const end = stat.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  // After ')' come field 3 (state) onwards: utime is field 14, at index 11 here.
  const fields = stat.slice(end + 1).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new Error(`no utime/stime in /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  }
  return utime + stime;
}

export async function readCpuTicks(pid: number): Promise<number> {
  return cpuTicksFromStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** Clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat's CPU times. */
export async function clockTicksPerSecond(): Promise<number> {
  const { stdout } = await execFileAsync('getconf', ['CLK_TCK']);
  const hz = Number(stdout.trim());
  if (!Number.isInteger(hz) || hz <= 0) throw new Error(`getconf CLK_TCK printed "${stdout.trim()}"`);
  return hz;
}
