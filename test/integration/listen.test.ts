import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide } from '../support/pgtide.js';

const t = currentTopology();

/** Whether this host can listen on IPv6 loopback at all (some containers have no IPv6). */
function hasIpv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '::1', port: 0 }, () => s.close(() => resolve(true)));
  });
}

describe('listen_addr = "*"', { timeout: 30_000 }, () => {
  test('accepts clients over IPv4 and, where the host has it, IPv6', async () => {
    const p = await startPgtide(t, { listen_addr: ['*'] });
    try {
      const hosts = ['127.0.0.1', ...(await hasIpv6() ? ['::1'] : [])];
      for (const host of hosts) {
        const c = new pg.Client(p.pgConfig({ host }));
        await c.connect();
        assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, host);
        await c.end();
      }
    } finally {
      await p.stop();
    }
  });
});
