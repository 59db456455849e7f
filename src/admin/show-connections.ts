// SHOW CLIENTS and SHOW SERVERS, with PgBouncer's columns.
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type net from 'node:net';
import type { Pgtide } from '../server.js';
import { clientState, closeNeeded, serverState } from './snapshot.js';
import { timestamp, type Cell, type Table } from './table.js';
import { ADMIN_DATABASES } from './show-settings.js';
import { shownAddress } from '../socket-address.js';

export const CONNECTION_COLUMNS = [
  'type',
  'user',
  'database',
  'replication',
  'state',
  'addr',
  'port#',
  'local_addr',
  'local_port#',
  'connect_time',
  'request_time',
  'wait#',
  'wait_us#',
  'close_needed#',
  'ptr',
  'link',
  'remote_pid#',
  'tls',
  'application_name',
  'prepared_statements#',
  'id#8',
];

function tlsText(socket: net.Socket): string {
  if (!(socket instanceof tls.TLSSocket)) return '';
  const cipher = socket.getCipher();
  return `${socket.getProtocol() ?? ''}/${cipher?.name ?? ''}`;
}

/**
 * A server connection's id, unique in the instance: each worker numbers its own from 1, so with
 * `workers = N` the worker's number goes above them (SHOW SERVERS lists every worker's).
 */
function serverId(pgtide: Pgtide, server: { id: number }): number {
  return pgtide.workerId * 2 ** 32 + server.id;
}

/** PgBouncer's replication column; pgtide proxies no replication connection. */
const NO_REPLICATION = 'none';
/** PgBouncer's link of a connection that has none. */
const NO_LINK = '';

/** Clients are identified by the pid of their cancel key (0 while logging in), which KILL_CLIENT takes. */
export function showClients(pgtide: Pgtide, now = Date.now()): Table {
  const rows = [...pgtide.context.clients].map((c): Cell[] => {
    const state = clientState(c);
    // As PgBouncer: a waiting client's wait for a server, an active one's query's time so far.
    const waitMs =
      state === 'waiting' ? now - c.waitingSince : c.queryStart !== 0 ? performance.now() - c.queryStart : 0;
    const s = c.socket;
    return [
      'C',
      c.user,
      c.database,
      NO_REPLICATION,
      // As PgBouncer: a client without a server between transactions is idle, not active; a
      // console client is active, as the one running this SHOW is.
      state === 'active' && !c.server && !ADMIN_DATABASES.includes(c.database) ? 'idle' : state,
      shownAddress(s.remoteAddress),
      s.remotePort ?? 0,
      shownAddress(s.localAddress),
      s.localPort ?? 0,
      timestamp(c.connectedAt),
      timestamp(c.lastActive),
      Math.floor(waitMs / 1000),
      Math.floor((waitMs % 1000) * 1000),
      0,
      `c${c.cancelPid}`,
      c.server ? `s${serverId(pgtide, c.server)}` : NO_LINK,
      0,
      tlsText(s),
      c.applicationName,
      c.preparedStatements,
      c.cancelPid,
    ];
  });
  return { columns: CONNECTION_COLUMNS, rows };
}

export function showServers(pgtide: Pgtide): Table {
  const clientOf = new Map<unknown, number>();
  for (const c of pgtide.context.clients) if (c.server) clientOf.set(c.server, c.cancelPid);
  const rows: Cell[][] = [];
  for (const pool of pgtide.context.pools.all()) {
    for (const server of pool.servers) {
      const s = server.socket;
      const client = clientOf.get(server);
      rows.push([
        'S',
        pool.key.user,
        pool.key.database,
        NO_REPLICATION,
        serverState(server),
        server.login.endpoint.host,
        server.login.endpoint.port,
        s.localAddress ?? null,
        s.localPort ?? 0,
        timestamp(server.createdAt),
        timestamp(server.lastUsedAt),
        0,
        0,
        closeNeeded(pool, server) ? 1 : 0,
        `s${serverId(pgtide, server)}`,
        client !== undefined ? `c${client}` : NO_LINK,
        server.backendPid,
        tlsText(s),
        server.login.params['application_name'] ?? '',
        server.prepared.size,
        serverId(pgtide, server),
      ]);
    }
  }
  return { columns: CONNECTION_COLUMNS, rows };
}
