import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePgbenchSummary } from './pgbench-output.js';

// pgbench 15's summary of a connect-per-transaction run, as printed on stdout.
const PGBENCH_15_OUTPUT = `pgbench (15.18 (Debian 15.18-0+deb12u1), server 18.4)
transaction type: <builtin: select only>
scaling factor: 10
query mode: simple
number of clients: 50
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 61234
number of failed transactions: 7 (0.011%)
latency average = 12.250 ms
average connection time = 3.100 ms
tps = 4081.933 (including reconnection times)
`;

test('reads transactions, failures, mean latency and tps from pgbench 15', () => {
  assert.deepEqual(parsePgbenchSummary(PGBENCH_15_OUTPUT), {
    transactions: 61234,
    failedTransactions: 7,
    latencyMs: 12.25,
    tps: 4081.933,
  });
});

test('counts no failures when pgbench prints no failure line (before version 15)', () => {
  const output = PGBENCH_15_OUTPUT.replace(/^number of failed.*\n/m, '');
  assert.equal(parsePgbenchSummary(output).failedTransactions, 0);
});

test('names the missing figure and quotes the output when the summary is incomplete', () => {
  const output = PGBENCH_15_OUTPUT.replace(/^tps = .*\n/m, '');
  assert.throws(() => parsePgbenchSummary(output), /pgbench output has no tps:\npgbench \(15\.18/);
});

test('does not take the initial connection time for the mean latency', () => {
  const output = 'initial connection time = 99.000 ms\n' + PGBENCH_15_OUTPUT;
  assert.equal(parsePgbenchSummary(output).latencyMs, 12.25);
});
