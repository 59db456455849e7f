// Prometheus metrics of one Pgtide instance. Values are read from live state when scraped
// (collect()), so the hot path only ever adds to plain counter fields. With `workers = N`,
// worker 0's /metrics sums each series over the workers (src/admin/http.ts); a series that a
// sum would misstate names its `aggregator`.
import { Counter, Gauge, Registry } from 'prom-client';
import type { Pgtide } from '../server.js';
import type { PoolCounters } from '../pool/pool.js';
import type { ClassifierStats } from '../sql/index.js';
import { backendStatuses, clientState, poolGroups } from './snapshot.js';

const POOL_LABELS = ['database', 'user', 'backend'] as const;
type PoolLabels = Record<(typeof POOL_LABELS)[number], string>;

function poolLabels(pool: PoolCounters): PoolLabels {
  return { database: pool.key.database, user: pool.key.user, backend: pool.key.backend };
}

/** A counter whose value is a running total kept elsewhere, one series per pool; the pools
 *  pool_idle_timeout dropped add up under user="" per (database, backend), so sums never fall. */
function poolCounter(
  registry: Registry,
  pgtide: Pgtide,
  name: string,
  help: string,
  of: (pool: PoolCounters) => number,
): void {
  new Counter({
    name,
    help,
    labelNames: POOL_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of pgtide.context.pools.counted()) this.inc(poolLabels(pool), of(pool));
    },
  });
}

export function createMetrics(pgtide: Pgtide): Registry {
  const registry = new Registry();
  const ctx = pgtide.context;

  const classifier: Record<string, (stats: ClassifierStats) => number> = {
    lexed: (stats) => stats.lexed,
    cache_hit: (stats) => stats.cacheHits,
    parse_asked: (stats) => stats.queued,
    parse_answered: (stats) => stats.parsed,
    parse_dropped: (stats) => stats.dropped,
  };
  new Counter({
    name: 'pgtide_classifier_events_total',
    help:
      'Statements routed by the lexer alone (lexed) or by cached parser facts (cache_hit); statements sent to ' +
      'the SQL parser thread (parse_asked), answered by it (parse_answered), or not sent, its queue full or ' +
      'the thread down (parse_dropped).',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      const stats = ctx.classifier.stats;
      for (const [event, of] of Object.entries(classifier)) this.inc({ event }, of(stats));
    },
  });
  new Gauge({
    name: 'pgtide_clients',
    help: 'Client connections by state (login, active, waiting for a server).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = { login: 0, active: 0, waiting: 0 };
      for (const client of ctx.clients) counts[clientState(client)]++;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'pgtide_clients_waiting',
    help: 'Clients waiting for a server connection, per database and user.',
    labelNames: ['database', 'user'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of poolGroups(pgtide))
        this.set({ database: g.database, user: g.user }, g.clients.filter((c) => c.isWaiting).length);
    },
  });
  new Gauge({
    name: 'pgtide_pool_servers',
    help: 'Server connections per pool by state (active = lent to a client, idle, login = opening).',
    labelNames: [...POOL_LABELS, 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of ctx.pools.all()) {
        const l = poolLabels(pool);
        this.set({ ...l, state: 'active' }, pool.activeCount);
        this.set({ ...l, state: 'idle' }, pool.idleCount);
        this.set({ ...l, state: 'login' }, pool.connectingCount);
      }
    },
  });
  new Gauge({
    name: 'pgtide_pool_max_wait_seconds',
    help: 'How long the oldest client queued on the pool has waited.',
    labelNames: POOL_LABELS,
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.reset();
      const now = Date.now();
      for (const pool of ctx.pools.all()) this.set(poolLabels(pool), pool.maxWaitMs(now) / 1000);
    },
  });
  poolCounter(
    registry,
    pgtide,
    'pgtide_server_assignments_total',
    'Server connections lent to clients: the routing of transactions by backend.',
    (p) => p.lentTotal,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_waits_total',
    'Times a client had to queue for a server connection.',
    (p) => p.waitedTotal,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_wait_seconds_total',
    'Time clients spent queued for a server connection.',
    (p) => p.waitTimeTotalMs / 1000,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_transactions_total',
    'Transactions completed (ReadyForQuery idle), autocommit statements included.',
    (p) => p.stats.xacts,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_queries_total',
    'Queries answered, as PgBouncer counts: client requests up to the ReadyForQuery that answers them all.',
    (p) => p.stats.queries,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_transaction_seconds_total',
    "Time from transactions' first bytes reaching a server to their idle ReadyForQuery.",
    (p) => p.stats.xactTimeUs / 1e6,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_query_seconds_total',
    "Time from queries' first bytes reaching a server to their answer (waits for a server excluded).",
    (p) => p.stats.queryTimeUs / 1e6,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_received_bytes_total',
    'Bytes received from clients.',
    (p) => p.stats.bytesReceived,
  );
  poolCounter(registry, pgtide, 'pgtide_sent_bytes_total', 'Bytes sent to clients.', (p) => p.stats.bytesSent);
  poolCounter(
    registry,
    pgtide,
    'pgtide_pins_total',
    'Times a client kept its server connection past a transaction.',
    (p) => p.stats.pins,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_client_parses_total',
    'Named statements prepared by clients (transaction and statement pooling).',
    (p) => p.stats.clientParses,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_server_parses_total',
    'Named statements pgtide prepared on server connections; far below client parses when sharing works.',
    (p) => p.stats.serverParses,
  );
  poolCounter(
    registry,
    pgtide,
    'pgtide_binds_total',
    'Executions of named statements (Bind) by clients.',
    (p) => p.stats.binds,
  );

  new Gauge({
    name: 'pgtide_backend_info',
    help: 'Each PostgreSQL server with its current role; always 1.',
    // Every worker monitors the backends itself: the view of the worker that serves /metrics.
    labelNames: ['backend', 'host', 'port', 'role'],
    registers: [registry],
    aggregator: 'first',
    collect() {
      this.reset();
      for (const b of backendStatuses(pgtide))
        this.set({ backend: b.config.name, host: b.config.host, port: String(b.config.port), role: b.role }, 1);
    },
  });
  const perBackend = (
    name: string,
    help: string,
    of: (b: ReturnType<typeof backendStatuses>[number]) => number | null,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['backend'],
      registers: [registry],
      aggregator: 'first',
      collect() {
        this.reset();
        for (const b of backendStatuses(pgtide)) {
          const v = of(b);
          if (v !== null) this.set({ backend: b.config.name }, v);
        }
      },
    });
  perBackend('pgtide_backend_healthy', '1 when the last health checks succeeded.', (b) => (b.healthy ? 1 : 0));
  perBackend('pgtide_backend_readable', '1 when the backend is in the read rotation.', (b) => (b.readable ? 1 : 0));
  perBackend('pgtide_backend_primary', '1 for the backend that takes writes.', (b) => (b.role === 'primary' ? 1 : 0));
  perBackend('pgtide_backend_lag_bytes', 'WAL bytes a standby is behind the primary.', (b) => b.lagBytes);
  perBackend('pgtide_backend_lag_seconds', 'Replay delay of a standby.', (b) =>
    b.lagMs === null ? null : b.lagMs / 1000,
  );

  new Counter({
    name: 'pgtide_errors_total',
    help: "ErrorResponses sent to clients (the server's and pgtide's own), by SQLSTATE.",
    labelNames: ['sqlstate'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [sqlstate, n] of ctx.pools.errorsByCode) this.inc({ sqlstate }, n);
    },
  });
  new Counter({
    name: 'pgtide_peer_cancels_total',
    help: 'Cancel requests forwarded to the peer that issued their key, by outcome: confirmed (the peer closed the connection), failed, dropped (too many open towards that peer).',
    labelNames: ['peer', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [peer, counts] of ctx.peerCancels.counts) {
        for (const outcome of ['confirmed', 'failed', 'dropped'] as const)
          this.inc({ peer: String(peer), outcome }, counts[outcome]);
      }
    },
  });
  // Named as Prometheus' own process collectors name them, so that dashboards find them; with
  // workers = N, the sum over the worker processes (the supervising primary is not counted).
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory of the pooler processes, in bytes.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: "Bytes used on the JavaScript heaps of the pooler processes (V8's used heap size).",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: 'pgtide_paused',
    help: '1 while every database is paused (PAUSE without a name).',
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set(pgtide.isPaused('') ? 1 : 0);
    },
  });
  return registry;
}
