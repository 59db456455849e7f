// CPU time a process, or a process and all its descendants, has used, in clock ticks, and the
// memory they hold resident, from /proc/<pid>/stat (Linux only).
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime: the process's own CPU, all its threads (Node's GC and libuv included). */
  ownTicks: number;
  /** cutime + cstime: CPU of its children that have exited and been waited for. */
  reapedChildrenTicks: number;
  /** Resident set size, in pages. */
  rssPages: number;
}

/**
 * The fields of proc(5) this benchmark needs, from the text of /proc/<pid>/stat. They are
 * counted after the last ')': the command name before it may itself hold spaces and ')'.
 */
export function parseProcStat(stat: string): ProcStat {
  const end = stat.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  // After ')' come field 3 (state) onwards: ppid is field 4 (index 1), utime field 14 (index 11),
  // rss field 24 (index 21).
  const fields = stat
    .slice(end + 1)
    .trim()
    .split(/\s+/);
  const field = (i: number): number => {
    const value = Number(fields[i]);
    if (!Number.isInteger(value))
      throw new Error(`no pid/ppid/utime/stime/cutime/cstime/rss in /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
    return value;
  };
  const ppid = field(1);
  const pid = Number(stat.slice(0, stat.indexOf(' ')));
  if (!Number.isInteger(pid))
    throw new Error(`no pid/ppid/utime/stime/cutime/cstime/rss in /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  return {
    pid,
    ppid,
    ownTicks: field(11) + field(12),
    reapedChildrenTicks: field(13) + field(14),
    rssPages: field(21),
  };
}

/**
 * CPU of `root` and every live descendant, plus what their exited children used: a forking
 * server (Pgpool-II) keeps its work in children, and a child that exits during a run moves
 * its time into its parent's cutime/cstime, so the sum stays comparable before and after.
 */
export function treeTicks(stats: ProcStat[], root: number): number {
  return processTree(stats, root).reduce((total, s) => total + s.ownTicks + s.reapedChildrenTicks, 0);
}

/** `root` and every live descendant. */
export function processTree(stats: ProcStat[], root: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const siblings = children.get(s.ppid);
    if (siblings) siblings.push(s);
    else children.set(s.ppid, [s]);
  }
  const rootStat = stats.find((s) => s.pid === root);
  if (!rootStat) throw new Error(`process ${root} is not running`);
  const tree: ProcStat[] = [];
  const pending = [rootStat];
  const seen = new Set<number>();
  for (let s = pending.pop(); s; s = pending.pop()) {
    // A pid reused while we read /proc could otherwise form a cycle.
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    tree.push(s);
    pending.push(...(children.get(s.pid) ?? []));
  }
  return tree;
}

/** treeTicks over the processes running now. */
export async function readTreeCpuTicks(root: number): Promise<number> {
  return treeTicks(await readAllStats(), root);
}

/** Pages resident in `root` and its live descendants now (pages a forked child shares count once per process). */
export async function readTreeRssPages(root: number): Promise<number> {
  return processTree(await readAllStats(), root).reduce((total, s) => total + s.rssPages, 0);
}

async function readAllStats(): Promise<ProcStat[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const stats = await Promise.all(
    // A process may exit between readdir and readFile: skip it (its time is in its parent's).
    pids.map((pid) => readFile(`/proc/${pid}/stat`, 'utf8').then(parseProcStat, () => undefined)),
  );
  return stats.filter((s): s is ProcStat => s !== undefined);
}

/** Bytes per page (`getconf PAGESIZE`), the unit of /proc/<pid>/stat's rss. */
export async function pageSize(): Promise<number> {
  return getconfInteger('PAGESIZE');
}

/** Clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat's CPU times. */
export async function clockTicksPerSecond(): Promise<number> {
  return getconfInteger('CLK_TCK');
}

async function getconfInteger(name: string): Promise<number> {
  const { stdout } = await execFileAsync('getconf', [name]);
  const n = Number(stdout.trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`getconf ${name} printed "${stdout.trim()}"`);
  return n;
}

/** `root` and its live descendants now, each with its own figures. */
export async function readTreeStats(root: number): Promise<ProcStat[]> {
  return processTree(await readAllStats(), root);
}

/**
 * The machine's busy CPU time, in clock ticks summed over all CPUs, from the first line of
 * /proc/stat: every field but idle and iowait (user, nice, system, irq, softirq, steal; guest
 * time is already inside user and nice, so it is not added again).
 */
export function parseMachineBusyTicks(procStat: string): number {
  const line = procStat.slice(0, procStat.indexOf('\n'));
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu' || fields.length < 9) throw new Error(`not the cpu line of /proc/stat: ${line.slice(0, 80)}`);
  const [user, nice, system, , , irq, softirq, steal] = fields.slice(1, 9).map((f) => {
    const n = Number(f);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a tick count in /proc/stat: ${line.slice(0, 80)}`);
    return n;
  });
  return user! + nice! + system! + irq! + softirq! + steal!;
}

export async function readMachineBusyTicks(): Promise<number> {
  return parseMachineBusyTicks(await readFile('/proc/stat', 'utf8'));
}
