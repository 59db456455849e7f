// Reads the figures a benchmark needs from pgbench's end-of-run summary (PostgreSQL 15+).

export interface PgbenchSummary {
  /** Transactions pgbench counted as processed (the divisor for CPU per transaction). */
  transactions: number;
  failedTransactions: number;
  /** Mean latency in milliseconds, as pgbench reports it. */
  latencyMs: number;
  tps: number;
}

/** Parses pgbench's stdout; throws, quoting the output, when a figure is missing. */
export function parsePgbenchSummary(output: string): PgbenchSummary {
  const read = (what: string, pattern: RegExp): number => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`pgbench output has no ${what}:\n${output.trim()}`);
    return Number(match[1]);
  };
  return {
    transactions: read('transaction count', /^number of transactions actually processed: (\d+)/m),
    // Older pgbench versions print no failure line; they cannot report failures at all.
    failedTransactions: /^number of failed transactions: (\d+)/m.test(output)
      ? read('failure count', /^number of failed transactions: (\d+)/m)
      : 0,
    latencyMs: read('mean latency', /^latency average = ([\d.]+) ms/m),
    tps: read('tps', /^tps = ([\d.]+)/m),
  };
}
