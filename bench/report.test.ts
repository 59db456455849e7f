import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatNotApplicableNotes,
  formatPreparedRatioTable,
  formatRatiosTable,
  formatRunsTable,
  formatFloorTable,
  formatConsistencyTable,
  formatRuntimeRatiosTable,
  formatSplitRatiosTable,
  formatSplitRunsTable,
  isMeasurement,
  median,
  nodeShares,
  pairedRatio,
  ratio,
  summarise,
  type Measurement,
  type RunRecord,
} from './report.js';

const measurement = (tps: number, poolerCpuUsPerTx?: number): Measurement => ({
  tps,
  latencyMs: 2.5,
  transactions: tps * 10,
  failedTransactions: 0,
  poolerCpuUsPerTx,
  poolerCpuPercent: poolerCpuUsPerTx === undefined ? undefined : 40,
});

const RUNS: RunRecord[] = [
  { workload: 'select-only', round: 1, target: 'direct', result: measurement(10000) },
  { workload: 'select-only', round: 1, target: 'pgtide', result: measurement(8000, 30) },
  { workload: 'select-only', round: 1, target: 'pgbouncer', result: measurement(10000, 20) },
  { workload: 'select-only', round: 1, target: 'node-forward', result: measurement(9000, 25) },
  { workload: 'tpcb', round: 1, target: 'direct', result: measurement(1000) },
  { workload: 'tpcb', round: 1, target: 'pgtide', result: 'pgbench exited with 2: connection | refused\nmore' },
  { workload: 'tpcb', round: 1, target: 'pgbouncer', result: measurement(900, 50) },
];

test('ratio divides to two decimals and says n/a without both figures', () => {
  assert.equal(ratio(8000, 10000), '0.80×');
  assert.equal(ratio(undefined, 10), 'n/a');
  assert.equal(ratio(1, 0), 'n/a');
});

test('the ratios table compares pgtide with PgBouncer (tps, CPU per tx) and with direct', () => {
  const lines = formatRatiosTable(RUNS).split('\n');
  assert.equal(lines[2], '| select-only | 0.80× | 1.50× | 0.80× | 1.00× | 1.25× | 1.20× |');
  assert.equal(lines[3], '| tpcb | n/a | n/a | n/a | 0.90× | n/a | n/a |');
});

test('the runs table shows a dash for CPU of direct runs and a one-line failure reason', () => {
  const lines = formatRunsTable(RUNS).split('\n');
  assert.equal(lines[2], '| select-only | 1 | direct | 10000 | 2.500 | 0 | — | — | — | — |');
  assert.equal(lines[3], '| select-only | 1 | pgtide | 8000 | 2.500 | 0 | 30.0 | 40 | — | — |');
  assert.equal(lines[7], '| tpcb | 1 | pgtide | failed: pgbench exited with 2: connection \\| refused | | | | | | |');
  const measured = { ...measurement(8000, 30), postgresCpuUsPerTx: 81.25, machineCpuUsPerTx: 140 };
  assert.equal(
    formatRunsTable([{ workload: 'select-only', round: 1, target: 'pgtide', result: measured }]).split('\n')[2],
    '| select-only | 1 | pgtide | 8000 | 2.500 | 0 | 30.0 | 40 | 81.3 | 140.0 |',
  );
});

const SPLIT_RUNS: RunRecord[] = [
  {
    workload: 'select-only',
    round: 1,
    target: 'pgtide-standbys',
    result: { ...measurement(9000, 40), nodeShares: nodeShares(['primary', 'standby1'], [10, 100], [10, 300]) },
  },
  {
    workload: 'select-only',
    round: 1,
    target: 'seed-chain',
    result: {
      ...measurement(6000, 160),
      latencyMs: 5,
      cpuByProcess: [
        { name: 'haproxy', usPerTx: 20 },
        { name: 'pgpool', usPerTx: 140 },
      ],
      nodeShares: nodeShares(['primary', 'standby1'], [0, 0], [1, 3]),
    },
  },
];

test("node shares are each node's part of the transaction count deltas, 0 when nothing ran", () => {
  assert.deepEqual(nodeShares(['a', 'b', 'c'], [5, 10, 0], [5, 40, 10]), [
    { node: 'a', share: 0 },
    { node: 'b', share: 0.75 },
    { node: 'c', share: 0.25 },
  ]);
  assert.deepEqual(nodeShares(['a'], [7], [7]), [{ node: 'a', share: 0 }]);
  // A counter that went backwards (stats reset) counts as no transactions, not negative ones.
  assert.deepEqual(nodeShares(['a', 'b'], [9, 0], [1, 4]), [
    { node: 'a', share: 0 },
    { node: 'b', share: 1 },
  ]);
});

test("the splitting runs table shows the chain's CPU per process and the share per node", () => {
  const lines = formatSplitRunsTable(SPLIT_RUNS).split('\n');
  assert.equal(
    lines[2],
    '| select-only | 1 | pgtide-standbys | 9000 | 2.500 | 0 | 40.0 | 40 | — | primary 0.0 %, standby1 100.0 % |',
  );
  assert.equal(
    lines[3],
    '| select-only | 1 | seed-chain | 6000 | 5.000 | 0 | 160.0 | 40 | haproxy 20.0 + pgpool 140.0 | primary 25.0 %, standby1 75.0 % |',
  );
});

test('the splitting ratios compare pgtide with the seed chain (tps, latency, CPU per tx) and with PgBouncer on the primary (tps)', () => {
  const lines = formatSplitRatiosTable(SPLIT_RUNS).split('\n');
  assert.equal(lines[2], '| select-only | 1.50× | 0.50× | 0.25× | n/a |');
  const withPgbouncer = formatSplitRatiosTable([
    ...SPLIT_RUNS,
    { workload: 'select-only', round: 1, target: 'pgbouncer', result: measurement(3000, 30) },
  ]);
  assert.equal(withPgbouncer.split('\n')[2], '| select-only | 1.50× | 0.50× | 0.25× | 3.00× |');
});

test('the consistency table compares read_your_writes (pgtide-standbys) with eventual, per workload it ran', () => {
  const runs: RunRecord[] = [
    { workload: 'read-only', round: 1, target: 'pgtide-standbys', result: measurement(9000, 40) },
    { workload: 'read-only', round: 1, target: 'pgtide-eventual', result: measurement(9000, 40) },
    { workload: 'write-then-read', round: 1, target: 'pgtide-standbys', result: measurement(800, 120) },
    { workload: 'write-then-read', round: 1, target: 'pgtide-eventual', result: measurement(1000, 100) },
    { workload: 'other', round: 1, target: 'pgtide-standbys', result: measurement(1) },
  ];
  const lines = formatConsistencyTable(runs).split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[2], '| read-only | 1.00× | 1.00× | 1.00× |');
  assert.equal(lines[3], '| write-then-read | 0.80× | 1.00× | 1.20× |');
});

test('the connection floor table pairs pgtide and PgBouncer with the floor, only in the workloads the floor ran', () => {
  const runs: RunRecord[] = [
    { workload: 'select-only', round: 1, target: 'pgtide', result: measurement(9000, 40) },
    { workload: 'select-only', round: 1, target: 'pgbouncer', result: measurement(9000, 20) },
    { workload: 'connect', round: 1, target: 'pgtide', result: measurement(1000, 300) },
    { workload: 'connect', round: 1, target: 'pgbouncer', result: measurement(1500, 150) },
    { workload: 'connect', round: 1, target: 'connect-floor', result: measurement(2000, 200) },
    { workload: 'connect', round: 2, target: 'pgtide', result: measurement(1000, 330) },
    { workload: 'connect', round: 2, target: 'pgbouncer', result: measurement(1500, 150) },
    { workload: 'connect', round: 2, target: 'connect-floor', result: measurement(2000, 220) },
  ];
  const lines = formatFloorTable(runs, 'connect-floor', 'connection floor').split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[0]?.startsWith('| workload | pgtide/connection floor CPU per tx |'), true);
  assert.equal(lines[2], '| connect | 1.50× (1.50–1.50) | 1.40× (1.33–1.47) | 2.10× (2.00–2.20) |');
  assert.equal(formatFloorTable(runs, 'pool-floor', 'pooling floor'), '');
  assert.equal(
    formatFloorTable(
      runs.filter((r) => r.target !== 'connect-floor'),
      'connect-floor',
      'connection floor',
    ),
    '',
  );
});

const NO_PREPARED = 'PgBouncer 1.18.0: no prepared statements in transaction mode';
const PREPARED_RUNS: RunRecord[] = [
  { workload: 'extended', round: 1, target: 'direct', result: measurement(5000) },
  { workload: 'extended', round: 1, target: 'pgtide', result: measurement(8000, 50) },
  { workload: 'extended', round: 1, target: 'pgbouncer', result: measurement(10000, 30) },
  { workload: 'prepared', round: 1, target: 'direct', result: measurement(6000) },
  { workload: 'prepared', round: 1, target: 'pgtide', result: measurement(7600, 45) },
  {
    workload: 'prepared',
    round: 1,
    target: 'pgbouncer',
    result: {
      notApplicable: NO_PREPARED,
      observed: 'pgbench exited with 2: prepared statement "P_0" does not exist\nRun was aborted',
    },
  },
];

test('a run that does not apply is neither a measurement nor a failure in the tables', () => {
  assert.equal(isMeasurement(PREPARED_RUNS[5]!.result), false);
  assert.equal(isMeasurement(PREPARED_RUNS[4]!.result), true);
  const lines = formatRunsTable(PREPARED_RUNS).split('\n');
  assert.equal(lines[7], `| prepared | 1 | pgbouncer | n/a (${NO_PREPARED}) | | | | | | |`);
  assert.equal(formatRatiosTable(PREPARED_RUNS).split('\n')[3], '| prepared | n/a | n/a | 1.27× | n/a | n/a | n/a |');
});

test('the notes quote what pgbench said for each run that did not apply, on one line', () => {
  assert.equal(
    formatNotApplicableNotes(PREPARED_RUNS),
    '- prepared / pgbouncer: n/a; pgbench: pgbench exited with 2: prepared statement "P_0" does not exist / Run was aborted',
  );
  assert.equal(formatNotApplicableNotes(RUNS), '');
});

test("the prepared/extended table divides each target's prepared tps by its extended tps", () => {
  const lines = formatPreparedRatioTable(PREPARED_RUNS, 'prepared', 'extended').split('\n');
  assert.deepEqual(lines.slice(2), [
    '| direct | 6000 | 5000 | 1.20× |',
    '| pgtide | 7600 | 8000 | 0.95× |',
    `| pgbouncer | n/a (${NO_PREPARED}) | 10000 | n/a |`,
  ]);
});

// Three rounds in which the machine got slower and slower: each round's ratio is the same.
const ROUNDS: RunRecord[] = [1, 2, 3].flatMap((round) => {
  const slow = round * 2;
  return [
    { workload: 'select-only', round, target: 'pgtide' as const, result: measurement(8000 / slow, 30 * slow) },
    { workload: 'select-only', round, target: 'pgbouncer' as const, result: measurement(10000 / slow, 20 * slow) },
  ];
});

test('ratios pair the runs of one round, so drift between rounds cancels out', () => {
  assert.equal(
    pairedRatio(ROUNDS, 'select-only', 'pgtide', 'pgbouncer', (m) => m.tps),
    '0.80× (0.80–0.80)',
  );
  assert.equal(
    formatRatiosTable(ROUNDS).split('\n')[2],
    '| select-only | 0.80× (0.80–0.80) | 1.50× (1.50–1.50) | n/a | n/a | n/a | n/a |',
  );
});

test('a round missing either side gives no ratio; the others still count', () => {
  const missing: RunRecord[] = [
    ...ROUNDS.slice(0, 4),
    { ...ROUNDS[4]!, result: 'pgbench exited with 1: boom' },
    ROUNDS[5]!,
  ];
  assert.equal(
    pairedRatio(missing, 'select-only', 'pgtide', 'pgbouncer', (m) => m.tps),
    '0.80× (0.80–0.80)',
  );
  assert.equal(
    pairedRatio(missing.slice(0, 1), 'select-only', 'pgtide', 'pgbouncer', (m) => m.tps),
    'n/a',
  );
});

test('several ratios are summarised as their median and range, one as itself', () => {
  assert.equal(summarise([1.7, 1.5, 2.1]), '1.70× (1.50–2.10)');
  assert.equal(summarise([1.25]), '1.25×');
  assert.equal(summarise([]), 'n/a');
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});

test('the prepared/extended table uses the median tps of the rounds and pairs ratios by round', () => {
  const runs: RunRecord[] = [
    { workload: 'extended', round: 1, target: 'pgtide', result: measurement(8000, 50) },
    { workload: 'extended', round: 2, target: 'pgtide', result: measurement(4000, 50) },
    { workload: 'prepared', round: 1, target: 'pgtide', result: measurement(8800, 45) },
    { workload: 'prepared', round: 2, target: 'pgtide', result: measurement(4800, 45) },
  ];
  assert.equal(
    formatPreparedRatioTable(runs, 'prepared', 'extended').split('\n')[2],
    '| pgtide | 6800 | 6000 | 1.15× (1.10–1.20) |',
  );
});

test("the runtime table compares pgtide on other Node.js binaries with pgtide on the bench's own", () => {
  assert.equal(formatRuntimeRatiosTable(RUNS), '', 'nothing without pgtide@ runs');
  const runs: RunRecord[] = [
    ...RUNS,
    { workload: 'select-only', round: 1, target: 'pgtide@node20', result: measurement(6000, 36) },
    { workload: 'tpcb', round: 1, target: 'pgtide@node20', result: measurement(800, 60) },
  ];
  const lines = formatRuntimeRatiosTable(runs).split('\n');
  assert.equal(lines[2], '| select-only | pgtide@node20 | 0.75× | 1.20× |');
  assert.equal(lines[3], '| tpcb | pgtide@node20 | n/a | n/a |', 'pgtide failed that run: no ratio');
});
