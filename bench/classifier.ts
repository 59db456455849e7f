// Micro-benchmark of the statement classifier: CPU µs per statement on the
// lexer path, the tier-2 cache-hit path, a tier-2 miss (what the event loop
// spends before the parser thread is asked) and the parse itself (what the
// parser thread spends), for a short and a 2 KB statement, plus the share of
// pgbench statements that needed the parser.
//   node dist/bench/classifier.js          (WARM_MS, ROUND_MS, ROUNDS tune it)
// Timings are process CPU time (process.cpuUsage), the median of ROUNDS rounds.

import { pathToFileURL } from 'node:url';
import { Classifier, type Classification, type TreeParser } from '../src/sql/index.js';
import { loadParser, parseFacts } from '../src/sql/parse-tree.js';

/** pgbench's built-in scripts with \set lines removed; `:name` marks a variable. */
export const PGBENCH_SCRIPTS: Readonly<Record<string, readonly string[]>> = {
  'tpcb-like': [
    'BEGIN',
    'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid',
    'SELECT abalance FROM pgbench_accounts WHERE aid = :aid',
    'UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid',
    'UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid',
    'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)',
    'END',
  ],
  'simple-update': [
    'BEGIN',
    'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid',
    'SELECT abalance FROM pgbench_accounts WHERE aid = :aid',
    'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)',
    'END',
  ],
  'select-only': ['SELECT abalance FROM pgbench_accounts WHERE aid = :aid'],
  // What pgbench itself sends before a run: the partition probe and the scale check.
  startup: [
    "select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and o.n is not null group by 1, 2 order by 1 asc limit 1",
    'select count(*) from pgbench_branches',
    'vacuum pgbench_branches',
    'truncate pgbench_history',
  ],
};

/** A reporting SELECT of about 2 KB: many sum(CASE ...) columns, joins, a subquery, comments. */
function reportQuery(extraColumn: string): string {
  const cols = Array.from(
    { length: 22 },
    (_, i) => `  sum(CASE WHEN o.status = 'state_${i}' THEN o.amount ELSE 0 END) AS total_${i}`,
  );
  return [
    '/* monthly report */',
    "SELECT r.name AS region, date_trunc('month', o.created_at) AS month,",
    `${cols.join(',\n')},`,
    `  ${extraColumn} AS extra`,
    'FROM orders o',
    'JOIN customers c ON c.id = o.customer_id',
    'JOIN regions r ON r.id = c.region_id -- region of the customer',
    "WHERE o.created_at >= $1 AND o.id IN (SELECT order_id FROM order_flags WHERE flag = 'vip')",
    'GROUP BY 1, 2 ORDER BY 1, 2',
  ].join('\n');
}

const SHORT_READ = 'SELECT * FROM users WHERE id = $1';
const SHORT_CALL = 'SELECT * FROM users WHERE id = app_lookup($1)';
const LONG_READ = reportQuery('count(*)');
const LONG_CALL = reportQuery('app_score(o.id)');

interface Options {
  warmMs: number;
  roundMs: number;
  rounds: number;
}

/** Median CPU µs per call of `fn` over `rounds` rounds of about `roundMs` ms. */
function measure(fn: () => unknown, o: Options): number {
  const perRound: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    let calls = 0;
    const start = process.cpuUsage();
    let used = 0;
    while (used < o.roundMs * 1000) {
      for (let i = 0; i < 50; i++) fn();
      calls += 50;
      const d = process.cpuUsage(start);
      used = d.user + d.system;
    }
    perRound.push(used / calls);
  }
  perRound.sort((a, b) => a - b);
  return perRound[Math.floor(perRound.length / 2)]!;
}

function withVariables(sql: string): string {
  const names: string[] = [];
  return sql.replace(/:(\w+)/g, (_, name: string) => {
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
}

/** Answers at once, in this thread: fills the cache as the parser thread would. */
class InlineParser implements TreeParser {
  classifier: Classifier | undefined;
  parse(key: string, sql: string): boolean {
    this.classifier?.learn(key, parseFacts(sql));
    return true;
  }
}

/** Takes nothing (as a parser thread waiting to be started again): every classify is a miss
 *  that builds the key and the text to send, without the postMessage itself. */
const REFUSING: TreeParser = { parse: () => false };

async function main(): Promise<void> {
  const o: Options = {
    warmMs: Number(process.env['WARM_MS'] ?? 3000),
    roundMs: Number(process.env['ROUND_MS'] ?? 150),
    rounds: Number(process.env['ROUNDS'] ?? 5),
  };
  await loadParser();
  const lexer = new Classifier();
  const inline = new InlineParser();
  const cached = (inline.classifier = new Classifier({ parser: inline }));
  // Apart: the texts it cycles through would evict the one the cache-hit row repeats.
  const inlineOthers = new InlineParser();
  const cachedOthers = (inlineOthers.classifier = new Classifier({ parser: inlineOthers }));
  const missing = new Classifier({ parser: REFUSING });

  const rows: Array<[path: string, statement: string, sql: string, run: () => unknown]> = [];
  for (const [label, read, call] of [
    ['short', SHORT_READ, SHORT_CALL],
    ['2 KB', LONG_READ, LONG_CALL],
  ] as const) {
    const bytes = Buffer.from(read);
    rows.push(['lexer (string)', label, read, () => lexer.classify(read)]);
    rows.push(['lexer (bytes)', label, read, () => lexer.classifyBytes(bytes, 0, bytes.length)]);
    rows.push(['tier-2 cache hit', label, call, () => cached.classify(call)]);
    // More texts than the cache holds by text: each is found by its key (see statement-key.ts).
    const others = Array.from({ length: 12_000 }, (_, i) => call.replace('$1', String(i)));
    let next = 0;
    rows.push(['other constants', label, call, () => cachedOthers.classify(others[next++ % others.length]!)]);
    rows.push(['tier-2 miss', label, call, () => missing.classify(call)]);
    rows.push(['parse (thread)', label, call, () => parseFacts(call)]);
  }

  // WASM code tiers up in the background during its first seconds of use.
  const warmEnd = Date.now() + o.warmMs;
  while (Date.now() < warmEnd) for (const [, , , run] of rows) run();

  console.log(`classifier CPU time per statement (median of ${o.rounds} × ${o.roundMs} ms, node ${process.version})`);
  console.log('path               statement   bytes     µs/stmt  parsed');
  for (const [path, label, sql, run] of rows) {
    const us = measure(run, o);
    const result = run() as Partial<Classification>;
    const parsed = 'route' in result ? String(result.parsed) : 'in thread';
    console.log(
      `${path.padEnd(18)} ${label.padEnd(10)} ${String(Buffer.byteLength(sql)).padStart(6)} ${us.toFixed(2).padStart(11)}  ${parsed}`,
    );
  }

  const pgbench = new Classifier();
  let total = 0,
    needed = 0;
  for (const statements of Object.values(PGBENCH_SCRIPTS)) {
    for (const stmt of statements) {
      total++;
      const c = pgbench.classify(withVariables(stmt));
      if (c.parsed || c.awaitingParser) needed++;
    }
  }
  console.log(`pgbench statements needing the parser: ${needed}/${total} (${((100 * needed) / total).toFixed(1)} %)`);
  console.log(
    `stats: lexer-only ${JSON.stringify(lexer.stats)}, cached ${JSON.stringify(cached.stats)}, missing ${JSON.stringify(missing.stats)}`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
