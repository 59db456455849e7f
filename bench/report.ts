// The benchmark's markdown report: one row per (workload, round, target) run, then the ratios the
// project tracks (pgtide against PgBouncer and against connecting directly; pgtide spreading
// reads over the standbys against the seed's HAProxy → PgBouncer → Pgpool-II chain).

export type TargetName =
  | 'direct'
  | 'pgtide'
  | 'pgbouncer'
  | 'node-forward'
  /** The Node.js floor per connection (bench/node-connect-floor.ts), in the `connect` workload only. */
  | 'connect-floor'
  /** The Node.js floor of a transaction pooler (the same script, PostgreSQL upstream), in `select-simple` only. */
  | 'pool-floor'
  | 'pgtide-standbys'
  | 'pgtide-eventual'
  | 'seed-chain'
  /** pgtide run by another Node.js binary (BENCH_PGTIDE_NODES), e.g. `pgtide@node20`, or
   *  with several worker processes (BENCH_PGTIDE_WORKERS), e.g. `pgtide@workers=2`. */
  | `pgtide@${string}`;

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
  /** CPU time of every PostgreSQL process of the topology (all backends) per transaction. */
  postgresCpuUsPerTx?: number | undefined;
  /** The whole machine's busy CPU time (every process, the kernel's own work) per transaction:
   *  on a machine the run saturates, tps is bounded by the cores over this. */
  machineCpuUsPerTx?: number | undefined;
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
  /** Targets take turns once per round; ratios pair the runs of one round. */
  round: number;
  /** A string says why the run produced no figures. */
  result: Measurement | NotApplicable | string;
}

export function isMeasurement(result: RunRecord['result']): result is Measurement {
  return typeof result !== 'string' && !('notApplicable' in result);
}

export function formatRunsTable(runs: RunRecord[]): string {
  const rows = runs.map((r) => {
    if (!isMeasurement(r.result))
      return `| ${r.workload} | ${r.round} | ${r.target} | ${noFigures(r.result)} | | | | | | |`;
    const m = r.result;
    return `| ${r.workload} | ${r.round} | ${r.target} | ${fixed(m.tps, 0)} | ${fixed(m.latencyMs, 3)} | ${m.failedTransactions} | ${fixed(m.poolerCpuUsPerTx, 1)} | ${fixed(m.poolerCpuPercent, 0)} | ${fixed(m.postgresCpuUsPerTx, 1)} | ${fixed(m.machineCpuUsPerTx, 1)} |`;
  });
  return [
    '| workload | round | target | tps | mean latency (ms) | failed tx | pooler CPU (µs/tx) | pooler CPU (% of a core) | PostgreSQL CPU (µs/tx) | machine CPU (µs/tx) |',
    '|---|--:|---|--:|--:|--:|--:|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

export function formatRatiosTable(runs: RunRecord[]): string {
  const workloads = [...new Set(runs.map((r) => r.workload))];
  const rows = workloads.map((workload) => {
    const tps = (a: TargetName, b: TargetName) => pairedRatio(runs, workload, a, b, TPS);
    const cpu = (a: TargetName, b: TargetName) => pairedRatio(runs, workload, a, b, CPU);
    return `| ${workload} | ${tps('pgtide', 'pgbouncer')} | ${cpu('pgtide', 'pgbouncer')} | ${tps('pgtide', 'direct')} | ${tps('pgbouncer', 'direct')} | ${cpu('node-forward', 'pgbouncer')} | ${cpu('pgtide', 'node-forward')} |`;
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
    if (!isMeasurement(r.result))
      return `| ${r.workload} | ${r.round} | ${r.target} | ${noFigures(r.result)} | | | | | | |`;
    const m = r.result;
    const parts = (m.cpuByProcess ?? []).map((p) => `${p.name} ${p.usPerTx.toFixed(1)}`).join(' + ');
    const shares = (m.nodeShares ?? []).map((n) => `${n.node} ${(n.share * 100).toFixed(1)} %`).join(', ');
    return `| ${r.workload} | ${r.round} | ${r.target} | ${fixed(m.tps, 0)} | ${fixed(m.latencyMs, 3)} | ${m.failedTransactions} | ${fixed(m.poolerCpuUsPerTx, 1)} | ${fixed(m.poolerCpuPercent, 0)} | ${parts || '—'} | ${shares || '—'} |`;
  });
  return [
    '| workload | round | target | tps | mean latency (ms) | failed tx | proxy CPU (µs/tx, all processes) | proxy CPU (% of a core) | per process (µs/tx) | transactions per node |',
    '|---|--:|---|--:|--:|--:|--:|--:|---|---|',
    ...rows,
  ].join('\n');
}

export function formatSplitRatiosTable(runs: RunRecord[]): string {
  const workloads = [...new Set(runs.map((r) => r.workload))];
  const rows = workloads.map((workload) => {
    const of = (figure: Figure, b: TargetName = 'seed-chain') =>
      pairedRatio(runs, workload, 'pgtide-standbys', b, figure);
    return `| ${workload} | ${of(TPS)} | ${of(LATENCY)} | ${of(CPU)} | ${of(TPS, 'pgbouncer')} |`;
  });
  return [
    '| workload | pgtide/seed chain tps | pgtide/seed chain mean latency | pgtide/seed chain CPU per tx | pgtide over the standbys/PgBouncer on the primary tps |',
    '|---|--:|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/**
 * A floor (`connect-floor`, what Node.js costs per connection; `pool-floor`, what it costs to
 * forward a pooled transaction) against pgtide and PgBouncer, per workload the floor ran in:
 * Node.js doing that much with nothing of a pooler's own. Empty without such runs.
 */
export function formatFloorTable(runs: RunRecord[], floor: 'connect-floor' | 'pool-floor', label: string): string {
  const workloads = [...new Set(runs.filter((r) => r.target === floor).map((r) => r.workload))];
  if (workloads.length === 0) return '';
  const rows = workloads.map((workload) => {
    const cpu = (a: TargetName, b: TargetName) => pairedRatio(runs, workload, a, b, CPU);
    return `| ${workload} | ${cpu('pgtide', floor)} | ${cpu(floor, 'pgbouncer')} | ${cpu('pgtide', 'pgbouncer')} |`;
  });
  return [
    `| workload | pgtide/${label} CPU per tx | ${label}/PgBouncer CPU per tx | pgtide/PgBouncer CPU per tx |`,
    '|---|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/**
 * What read_your_writes (pgtide's default) costs against eventual, per workload: the same
 * pgtide over the standbys, in turns, in one run.
 */
export function formatConsistencyTable(runs: RunRecord[]): string {
  const workloads = [...new Set(runs.filter((r) => r.target === 'pgtide-eventual').map((r) => r.workload))];
  const rows = workloads.map((workload) => {
    const of = (figure: Figure) => pairedRatio(runs, workload, 'pgtide-standbys', 'pgtide-eventual', figure);
    return `| ${workload} | ${of(TPS)} | ${of(LATENCY)} | ${of(CPU)} |`;
  });
  return [
    '| workload | read_your_writes/eventual tps | read_your_writes/eventual mean latency | read_your_writes/eventual CPU per tx |',
    '|---|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/**
 * pgtide run by other Node.js binaries against pgtide on the bench's own Node.js, per workload:
 * above 1× tps or below 1× CPU per transaction, the other line is faster. Empty without such runs.
 */
export function formatRuntimeRatiosTable(runs: RunRecord[]): string {
  const others = [...new Set(runs.map((r) => r.target).filter((t) => t.startsWith('pgtide@')))];
  if (others.length === 0) return '';
  const workloads = [...new Set(runs.map((r) => r.workload))];
  const rows = workloads.flatMap((workload) =>
    others.map(
      (other) =>
        `| ${workload} | ${other} | ${pairedRatio(runs, workload, other, 'pgtide', TPS)} | ${pairedRatio(runs, workload, other, 'pgtide', CPU)} |`,
    ),
  );
  return ["| workload | target | tps / pgtide's | CPU per tx / pgtide's |", '|---|---|--:|--:|', ...rows].join('\n');
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
export function formatPreparedRatioTable(
  runs: RunRecord[],
  preparedWorkload: string,
  extendedWorkload: string,
): string {
  const targets = [...new Set(runs.filter((r) => r.workload === preparedWorkload).map((r) => r.target))];
  const rows = targets.map((target) => {
    const prepared = runs.filter((r) => r.workload === preparedWorkload && r.target === target);
    const measured = prepared.map((r) => r.result).filter(isMeasurement);
    // Every run of the target is either measured or not: with none measured, the first says why.
    const preparedTps =
      measured.length > 0
        ? fixed(median(measured.map((m) => m.tps)), 0)
        : noFigures(prepared[0]!.result as NotApplicable | string);
    const extendedTps = median(
      runs
        .filter((r) => r.workload === extendedWorkload && r.target === target)
        .map((r) => r.result)
        .filter(isMeasurement)
        .map((m) => m.tps),
    );
    const ratios = roundRatios(runs, (round) => [
      measurementOf(runs, preparedWorkload, target, round)?.tps,
      measurementOf(runs, extendedWorkload, target, round)?.tps,
    ]);
    return `| ${target} | ${preparedTps} | ${fixed(extendedTps, 0)} | ${summarise(ratios)} |`;
  });
  return ['| target | -M prepared tps | -M extended tps | prepared/extended tps |', '|---|--:|--:|--:|', ...rows].join(
    '\n',
  );
}

/** Each node's share of the transactions committed or rolled back between two counts. */
export function nodeShares(nodes: string[], before: number[], after: number[]): NodeShare[] {
  const deltas = nodes.map((_, i) => Math.max(0, (after[i] ?? 0) - (before[i] ?? 0)));
  const total = deltas.reduce((a, b) => a + b, 0);
  return nodes.map((node, i) => ({ node, share: total === 0 ? 0 : deltas[i]! / total }));
}

/** "a/b" to two decimals with a ×; "n/a" when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): string {
  const r = divide(a, b);
  return r === undefined ? 'n/a' : times(r);
}

type Figure = (m: Measurement) => number | undefined;
const TPS: Figure = (m) => m.tps;
const CPU: Figure = (m) => m.poolerCpuUsPerTx;
const LATENCY: Figure = (m) => m.latencyMs;

/**
 * `figure` of target a over that of target b, one ratio per round in which both have figures
 * (so that drift on the machine between rounds cancels out), summarised by `summarise`.
 */
export function pairedRatio(runs: RunRecord[], workload: string, a: TargetName, b: TargetName, figure: Figure): string {
  return summarise(
    roundRatios(runs, (round) => {
      const [ma, mb] = [measurementOf(runs, workload, a, round), measurementOf(runs, workload, b, round)];
      return [ma && figure(ma), mb && figure(mb)];
    }),
  );
}

function roundRatios(runs: RunRecord[], pair: (round: number) => [number | undefined, number | undefined]): number[] {
  const rounds = [...new Set(runs.map((r) => r.round))];
  return rounds.map((round) => divide(...pair(round))).filter((r): r is number => r !== undefined);
}

/** One ratio as is; several as their median and, in brackets, their range; none as n/a.
 *  `unit` follows the figure (other measures than ratios pass their own, or ''). */
export function summarise(ratios: number[], unit = '×'): string {
  if (ratios.length === 0) return 'n/a';
  if (ratios.length === 1) return `${ratios[0]!.toFixed(2)}${unit}`;
  return `${median(ratios)!.toFixed(2)}${unit} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function divide(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

function times(r: number): string {
  return `${r.toFixed(2)}×`;
}

function measurementOf(
  runs: RunRecord[],
  workload: string,
  target: TargetName,
  round: number,
): Measurement | undefined {
  const run = runs.find((r) => r.workload === workload && r.target === target && r.round === round);
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
