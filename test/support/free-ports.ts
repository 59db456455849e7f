import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Lowest port tried; below are the well-known services a test should not shadow. */
const LOWEST = 15_000;
/** Ports this process has handed out, never handed out twice. */
const handedOut = new Set<number>();

/**
 * `count` distinct TCP ports on 127.0.0.1 that are free now, chosen at random below the
 * kernel's ephemeral range: a port from that range (what `listen(0)` gives) can be taken by any
 * outgoing connection, pgtide's or PostgreSQL's, between the test choosing it and the server
 * binding it (EADDRINUSE).
 */
export async function freePorts(count: number): Promise<number[]> {
  const highest = ephemeralLow() - 1;
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > 1000) throw new Error(`no ${count} free ports between ${LOWEST} and ${highest}`);
      const port = randomInt(LOWEST, highest + 1);
      if (handedOut.has(port)) continue;
      const server = createServer();
      if (!(await listenOn(server, port))) continue;
      servers.push(server);
      handedOut.add(port);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function listenOn(server: Server, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
}

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
