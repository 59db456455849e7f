// The benchmark's markdown report: one row per (workload, target) run, then the ratios the
// project tracks (pgtide against PgBouncer and against connecting directly; pgtide spreading
// reads over the standbys against the seed's HAProxy → PgBouncer → Pgpool-II chain).

export type TargetName = 'direct' | 'pgtide' | 'pgbouncer' | 'node-forward' | 'pgtide-standbys' | 'seed-chain';

export interface Measurement {
  tps: number;
  latencyMs: number;
  transactions: number;
  failedTransactions: number;
  /** The pooler's CPU time per transaction; undefined for `direct` (no pooler). */
  poolerCpuUsPerTx: number | undefined;
  /** The pooler's CPU time over the run's wall time, 100 = one core busy. */
  poolerCpuPercent: number | undefined;
  /** Per process when the pooler is a chain of several. */
  cpuByProcess?: { name: string; usPerTx: number }[];
  /** Share of the run's transactions each PostgreSQL node committed, when measured. */
  nodeShares?: NodeShare[];
}

export interface NodeShare {
  node: string;
  /** 0–1. */
  share: number;
}

/** A workload the target cannot serve (a missing feature, not a fault), and what pgbench saw. */
export interface NotApplicable {
  notApplicable: string;
  observed: string;
}

export interface RunRecord {
  workload: string;
  target: TargetName;
  /** A string says why the run produced no figures. */
  result: Measurement | NotApplicable | string;
}

export function isMeasurement(result: RunRecord['result']): result is Measurement {
  return typeof result !== 'string' && !('notApplicable' in result);
}

export function formatRunsTable(runs: RunRecord[]): string {
  const rows = runs.map((r) => {
    if (!isMeasurement(r.result)) return `| ${r.workload} | ${r.target} | ${noFigures(r.result)} | | | | |`;
    const m = r.result;
    return `| ${r.workload} | ${r.target} | ${fixed(m.tps, 0)} | ${fixed(m.latencyMs, 3)} | ${m.failedTransactions} | ${fixed(m.poolerCpuUsPerTx, 1)} | ${fixed(m.poolerCpuPercent, 0)} |`;
  });
  return [
    '| workload | target | tps | mean latency (ms) | failed tx | pooler CPU (µs/tx) | pooler CPU (% of a core) |',
    '|---|---|--:|--:|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

export function formatRatiosTable(runs: RunRecord[]): string {
  const workloads = [...new Set(runs.map((r) => r.workload))];
  const rows = workloads.map((workload) => {
    const of = (target: TargetName) => measurementOf(runs, workload, target);
    const [pgtide, pgbouncer, direct, floor] = [of('pgtide'), of('pgbouncer'), of('direct'), of('node-forward')];
    const cpu = (m: Measurement | undefined) => m?.poolerCpuUsPerTx;
    return `| ${workload} | ${ratio(pgtide?.tps, pgbouncer?.tps)} | ${ratio(cpu(pgtide), cpu(pgbouncer))} | ${ratio(pgtide?.tps, direct?.tps)} | ${ratio(pgbouncer?.tps, direct?.tps)} | ${ratio(cpu(floor), cpu(pgbouncer))} | ${ratio(cpu(pgtide), cpu(floor))} |`;
  });
  return [
    '| workload | pgtide/PgBouncer tps | pgtide/PgBouncer CPU per tx | pgtide/direct tps | PgBouncer/direct tps | Node floor/PgBouncer CPU per tx | pgtide/Node floor CPU per tx |',
    '|---|--:|--:|--:|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/** The read/write-splitting runs: CPU of the whole chain, its parts, and where reads went. */
export function formatSplitRunsTable(runs: RunRecord[]): string {
  const rows = runs.map((r) => {
    if (!isMeasurement(r.result)) return `| ${r.workload} | ${r.target} | ${noFigures(r.result)} | | | | | | |`;
    const m = r.result;
    const parts = (m.cpuByProcess ?? []).map((p) => `${p.name} ${p.usPerTx.toFixed(1)}`).join(' + ');
    const shares = (m.nodeShares ?? []).map((n) => `${n.node} ${(n.share * 100).toFixed(1)} %`).join(', ');
    return `| ${r.workload} | ${r.target} | ${fixed(m.tps, 0)} | ${fixed(m.latencyMs, 3)} | ${m.failedTransactions} | ${fixed(m.poolerCpuUsPerTx, 1)} | ${fixed(m.poolerCpuPercent, 0)} | ${parts || '—'} | ${shares || '—'} |`;
  });
  return [
    '| workload | target | tps | mean latency (ms) | failed tx | proxy CPU (µs/tx, all processes) | proxy CPU (% of a core) | per process (µs/tx) | transactions per node |',
    '|---|---|--:|--:|--:|--:|--:|---|---|',
    ...rows,
  ].join('\n');
}

export function formatSplitRatiosTable(runs: RunRecord[]): string {
  const workloads = [...new Set(runs.map((r) => r.workload))];
  const rows = workloads.map((workload) => {
    const pgtide = measurementOf(runs, workload, 'pgtide-standbys');
    const chain = measurementOf(runs, workload, 'seed-chain');
    return `| ${workload} | ${ratio(pgtide?.tps, chain?.tps)} | ${ratio(pgtide?.latencyMs, chain?.latencyMs)} | ${ratio(pgtide?.poolerCpuUsPerTx, chain?.poolerCpuUsPerTx)} |`;
  });
  return [
    '| workload | pgtide/seed chain tps | pgtide/seed chain mean latency | pgtide/seed chain CPU per tx |',
    '|---|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/** What each target found when a workload could not apply to it, one line each. */
export function formatNotApplicableNotes(runs: RunRecord[]): string {
  const lines: string[] = [];
  for (const { workload, target, result } of runs) {
    if (typeof result !== 'string' && 'notApplicable' in result) {
      lines.push(`- ${workload} / ${target}: n/a; pgbench: ${result.observed.replaceAll('\n', ' / ')}`);
    }
  }
  return lines.join('\n');
}

/**
 * Each target's tps with named prepared statements over its tps with unnamed ones (`-M
 * prepared` / `-M extended`): the gain that survives pooling, from the same run.
 */
export function formatPreparedRatioTable(runs: RunRecord[], preparedWorkload: string, extendedWorkload: string): string {
  const rows = runs.filter((r) => r.workload === preparedWorkload).map(({ target, result: prepared }) => {
    const extended = measurementOf(runs, extendedWorkload, target);
    const preparedTps = isMeasurement(prepared) ? fixed(prepared.tps, 0) : noFigures(prepared);
    const preparedOverExtended = ratio(isMeasurement(prepared) ? prepared.tps : undefined, extended?.tps);
    return `| ${target} | ${preparedTps} | ${fixed(extended?.tps, 0)} | ${preparedOverExtended} |`;
  });
  return [
    '| target | -M prepared tps | -M extended tps | prepared/extended tps |',
    '|---|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/** Each node's share of the transactions committed or rolled back between two counts. */
export function nodeShares(nodes: string[], before: number[], after: number[]): NodeShare[] {
  const deltas = nodes.map((_, i) => Math.max(0, (after[i] ?? 0) - (before[i] ?? 0)));
  const total = deltas.reduce((a, b) => a + b, 0);
  return nodes.map((node, i) => ({ node, share: total === 0 ? 0 : deltas[i]! / total }));
}

/** "a/b" to two decimals with a ×; "n/a" when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return 'n/a';
  return `${(a / b).toFixed(2)}×`;
}

function measurementOf(runs: RunRecord[], workload: string, target: TargetName): Measurement | undefined {
  const run = runs.find((r) => r.workload === workload && r.target === target);
  return run && isMeasurement(run.result) ? run.result : undefined;
}

function noFigures(result: NotApplicable | string): string {
  return typeof result === 'string' ? `failed: ${oneLine(result)}` : `n/a (${oneLine(result.notApplicable)})`;
}

function fixed(n: number | undefined, digits: number): string {
  return n === undefined ? '—' : n.toFixed(digits);
}

/** A failure message fit for one table cell. */
function oneLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? s;
  return line.replaceAll('|', '\\|').slice(0, 120);
}
