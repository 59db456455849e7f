import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRatiosTable, formatRunsTable, ratio, type Measurement, type RunRecord } from './report.js';

const measurement = (tps: number, poolerCpuUsPerTx?: number): Measurement => ({
  tps,
  latencyMs: 2.5,
  transactions: tps * 10,
  failedTransactions: 0,
  poolerCpuUsPerTx,
  poolerCpuPercent: poolerCpuUsPerTx === undefined ? undefined : 40,
});

const RUNS: RunRecord[] = [
  { workload: 'select-only', target: 'direct', result: measurement(10000) },
  { workload: 'select-only', target: 'pgtide', result: measurement(8000, 30) },
  { workload: 'select-only', target: 'pgbouncer', result: measurement(10000, 20) },
  { workload: 'tpcb', target: 'direct', result: measurement(1000) },
  { workload: 'tpcb', target: 'pgtide', result: 'pgbench exited with 2: connection | refused\nmore' },
  { workload: 'tpcb', target: 'pgbouncer', result: measurement(900, 50) },
];

test('ratio divides to two decimals and says n/a without both figures', () => {
  assert.equal(ratio(8000, 10000), '0.80×');
  assert.equal(ratio(undefined, 10), 'n/a');
  assert.equal(ratio(1, 0), 'n/a');
});

test('the ratios table compares pgtide with PgBouncer (tps, CPU per tx) and with direct', () => {
  const lines = formatRatiosTable(RUNS).split('\n');
  assert.equal(lines[2], '| select-only | 0.80× | 1.50× | 0.80× | 1.00× |');
  assert.equal(lines[3], '| tpcb | n/a | n/a | n/a | 0.90× |');
});

test('the runs table shows a dash for CPU of direct runs and a one-line failure reason', () => {
  const lines = formatRunsTable(RUNS).split('\n');
  assert.equal(lines[2], '| select-only | direct | 10000 | 2.500 | 0 | — | — |');
  assert.equal(lines[3], '| select-only | pgtide | 8000 | 2.500 | 0 | 30.0 | 40 |');
  assert.equal(lines[6], '| tpcb | pgtide | failed: pgbench exited with 2: connection \\| refused | | | | |');
});
