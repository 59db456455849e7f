// pgbouncer_exporter reads pgtide's console as it reads PgBouncer's: the queries it sends, the
// columns it maps by name, read as numbers where it makes gauges and counters of them. A column
// it maps that is missing silently drops that metric; one that does not parse fails the scrape.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { PGBOUNCER_COLUMNS } from '../unit/pgbouncer-columns.js';

const t = currentTopology();

/** The exporter's mapping (its collector): the columns it makes labels of, and those it makes metrics of. */
const MAPPED: Record<string, { labels: string[]; metrics: string[] }> = {
  DATABASES: {
    labels: ['name', 'host', 'port', 'database', 'force_user', 'pool_mode'],
    metrics: ['pool_size', 'reserve_pool', 'max_connections', 'current_connections', 'paused', 'disabled'],
  },
  STATS_TOTALS: {
    labels: ['database'],
    metrics: [
      'query_count',
      'query_time',
      'bytes_received',
      'bytes_sent',
      'wait_time',
      'xact_count',
      'xact_time',
      'client_parse_count',
      'server_parse_count',
      'bind_count',
    ],
  },
  POOLS: {
    labels: ['database', 'user'],
    // Every count of clients and servers, and maxwait (not maxwait_us).
    metrics: PGBOUNCER_COLUMNS['POOLS']!.filter((c) => /^(cl|sv)_/.test(c) || c === 'maxwait'),
  },
};
const LISTS = ['databases', 'users', 'pools', 'free_clients', 'used_clients', 'login_clients', 'free_servers'];
const CONFIG = ['max_client_conn', 'max_user_connections'];

/** As the exporter converts a value: a number, or NULL (NaN); anything else fails. */
function asNumber(value: unknown, what: string): number {
  if (value === null) return Number.NaN;
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value));
  assert.ok(Number.isFinite(n) && String(value).trim() === String(value), `${what}: ${JSON.stringify(value)}`);
  return n;
}

describe("pgbouncer_exporter's scrape", { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  let app: pg.Client;
  let exporter: pg.Client;

  before(async () => {
    p = await startPgtide(t, { stats_users: [t.superuser.user], max_client_conn: 321 });
    app = new pg.Client(p.pgConfig());
    await app.connect();
    await app.query('SELECT 1');
    // The exporter logs in as a stats user and sends simple queries, as lib/pq does without parameters.
    exporter = new pg.Client(
      p.pgConfig({ user: t.superuser.user, password: t.superuser.password, database: 'pgbouncer' }),
    );
    await exporter.connect();
  });
  after(async () => {
    await Promise.all([app.end(), exporter.end()]);
    await p.stop();
  });

  test('SHOW VERSION is one column named version; SHOW LISTS two, its items numbers', async () => {
    await exporter.query('SHOW STATS');
    const version = await exporter.query('SHOW VERSION;');
    assert.deepEqual(
      version.fields.map((f) => f.name),
      ['version'],
    );
    const lists = await exporter.query('SHOW LISTS;');
    assert.equal(lists.fields.length, 2);
    const items = new Map(lists.rows.map((r) => [r.list, asNumber(r.items, `SHOW LISTS ${r.list}`)]));
    for (const list of LISTS) assert.ok(items.has(list), `SHOW LISTS has no ${list}`);
    assert.equal(items.get('used_clients'), 2, 'the application and the exporter');
  });

  test('SHOW CONFIG has 3 or 4 columns; the limits it reads are numbers', async () => {
    const config = await exporter.query('SHOW CONFIG;');
    assert.ok([3, 4].includes(config.fields.length));
    const values = new Map(config.rows.map((r) => [r.key, r.value]));
    for (const key of CONFIG) asNumber(values.get(key), `SHOW CONFIG ${key}`);
    assert.equal(values.get('max_client_conn'), '321');
  });

  for (const [item, { labels, metrics }] of Object.entries(MAPPED)) {
    test(`SHOW ${item}: every column it maps is there, each metric a number, each label set once`, async () => {
      const result = await exporter.query(`SHOW ${item};`);
      const names = result.fields.map((f) => f.name);
      for (const column of [...labels, ...metrics]) assert.ok(names.includes(column), `SHOW ${item} has no ${column}`);
      const seen = new Set<string>();
      for (const row of result.rows) {
        const key = labels.map((l) => String(row[l] ?? '')).join('|');
        assert.ok(!seen.has(key), `SHOW ${item}: two rows labelled ${key}`);
        seen.add(key);
        for (const column of metrics) asNumber(row[column], `SHOW ${item} ${key} ${column}`);
      }
      assert.ok(
        result.rows.some((r) => Object.values(r).includes(t.database)),
        `SHOW ${item} shows the application's database`,
      );
    });
  }
});
