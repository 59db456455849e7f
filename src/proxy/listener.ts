import net from 'node:net';
import fs from 'node:fs';
import type { Config } from '../config/types.js';
import { socketPath } from '../config/socket-path.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Listen on every (address, port) pair and the optional unix socket. Many ports on one process
 * replace the seed's HAProxy: each port gives clients a fresh range of ephemeral ports.
 */
export async function listen(
  config: Config,
  onConnection: (socket: net.Socket) => void,
  onNoUnixSocket: (reason: string) => void,
): Promise<net.Server[]> {
  const servers: net.Server[] = [];
  try {
    for (const port of config.listen_port) {
      for (const host of config.listen_addr) {
        // With workers, each worker binds the same ports and the kernel spreads new clients
        // among them (SO_REUSEPORT, Linux; Node.js ≥ 22.12).
        const options = { host, port, backlog: config.listen_backlog, reusePort: config.workers > 1 };
        servers.push(
          host === '*'
            ? await openEverywhere(options, config.tcp_keepalive, onConnection)
            : await open(options, config.tcp_keepalive, onConnection),
        );
      }
    }
    // A directory that does not exist (a pgbouncer.ini's /var/run/postgresql in a container):
    // PgBouncer then serves TCP alone, with a warning, and so does pgtide, where it has TCP.
    if (config.unix_socket_dir && servers.length > 0 && !fs.existsSync(config.unix_socket_dir))
      onNoUnixSocket(`unix_socket_dir ${config.unix_socket_dir} does not exist`);
    else if (config.unix_socket_dir) {
      // Every local user may connect, as to PostgreSQL's socket: the password decides.
      servers.push(await openUnixSocket(socketPath(config.unix_socket_dir, config), 0o777, config, onConnection));
    }
  } catch (err) {
    closeAll(servers);
    throw err;
  }
  return servers;
}

/**
 * Listen on the unix socket `file`, made with permissions `mode` by the bind itself (through
 * the umask): a chmod after it would leave a moment in which the socket has other permissions.
 */
export async function openUnixSocket(
  file: string,
  mode: number,
  config: Pick<Config, 'listen_backlog'>,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server> {
  // A socket file left by a crashed process would make listen() fail with EADDRINUSE, so it
  // goes; one that a live process still answers on is that process's, and stays.
  await refuseLiveSocket(file);
  fs.rmSync(file, { force: true });
  // listen() binds before it returns (this is no cluster worker), so the umask covers the bind
  // and nothing else of this process.
  const umask = process.umask(0o777 & ~mode);
  try {
    return open({ path: file, backlog: config.listen_backlog }, false, onConnection);
  } finally {
    process.umask(umask);
  }
}

/** `*`: every IPv4 and IPv6 address, through one dual-stack socket; IPv4 alone where the host has no IPv6. */
async function openEverywhere(
  options: net.ListenOptions,
  keepAlive: boolean,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server> {
  try {
    return await open({ ...options, host: '::', ipv6Only: false }, keepAlive, onConnection);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    return open({ ...options, host: '0.0.0.0' }, keepAlive, onConnection);
  }
}

function open(
  options: net.ListenOptions,
  keepAlive: boolean,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a client's FIN does not end our side; the session ends it once the client
    // has its answers (session/client-end.ts), as PostgreSQL answers what came before the FIN.
    const server = net.createServer({ noDelay: true, keepAlive, allowHalfOpen: true }, onConnection);
    server.once('error', reject);
    server.listen(options, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

/** How long a socket file may take to accept a connection before it counts as in use. */
const LIVE_SOCKET_PROBE_MS = 1000;

/** Throws EADDRINUSE when a process accepts connections on the unix socket at `file`
 *  (or leaves one waiting): a second pgtide on the same directory and port must not take it over. */
function refuseLiveSocket(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.connect({ path: file });
    const inUse = () => {
      probe.destroy();
      const err: NodeJS.ErrnoException = new Error(`another process listens on the unix socket ${file}`);
      err.code = 'EADDRINUSE';
      reject(err);
    };
    const timer = setTimeout(inUse, LIVE_SOCKET_PROBE_MS);
    probe.once('connect', () => {
      clearTimeout(timer);
      inUse();
    });
    // No file, a file nobody listens on (ECONNREFUSED) or one we may not use: nothing to protect.
    probe.once('error', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function boundAddresses(servers: net.Server[]): ListenAddress[] {
  const out: ListenAddress[] = [];
  for (const s of servers) {
    const a = s.address();
    if (a && typeof a === 'object') out.push({ host: a.address, port: a.port });
  }
  return out;
}

/** Stop accepting. Connections already accepted are the sessions' business, not awaited here. */
export function closeAll(servers: net.Server[]): void {
  for (const s of servers) s.close();
}
