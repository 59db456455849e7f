import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Listen on every (address, port) pair and the optional unix socket. Many ports on one process
 * replace the seed's HAProxy: each port gives clients a fresh range of ephemeral ports.
 */
export async function listen(config: Config, onConnection: (socket: net.Socket) => void): Promise<net.Server[]> {
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
    if (config.unix_socket_dir) {
      const socketPath = path.join(config.unix_socket_dir, `.s.PGSQL.${config.listen_port[0]}`);
      // A socket file left by a crashed process would make listen() fail with EADDRINUSE.
      fs.rmSync(socketPath, { force: true });
      servers.push(await open({ path: socketPath, backlog: config.listen_backlog }, false, onConnection));
      fs.chmodSync(socketPath, 0o777);
    }
  } catch (err) {
    closeAll(servers);
    throw err;
  }
  return servers;
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
    const server = net.createServer({ noDelay: true, keepAlive }, onConnection);
    server.once('error', reject);
    server.listen(options, () => {
      server.removeListener('error', reject);
      resolve(server);
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
