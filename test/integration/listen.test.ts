import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import { startPgtide, writeAuthFile } from '../support/pgtide.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/defaults.js';
import { createLogger } from '../../src/log.js';
import { Pgtide } from '../../src/server.js';
import { freePorts } from '../support/free-ports.js';
import { waitFor } from '../support/wait.js';

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
      const hosts = ['127.0.0.1', ...((await hasIpv6()) ? ['::1'] : [])];
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

describe('start order', { timeout: 30_000 }, () => {
  test('the listen port is bound before pgtide connects to backends; early clients are served once roles are known', async () => {
    // A standby host that accepts TCP and never answers: the monitor's first round waits for it
    // (health_check_timeout), the way a slow network does.
    const silent = net.createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const [port] = await freePorts(1);
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-start-order-'));
    const pgtide = new Pgtide(
      {
        ...defaultConfig(),
        listen_addr: ['127.0.0.1'],
        listen_port: [port!],
        auth_file: writeAuthFile(t, dir),
        server_tls_sslmode: 'disable',
        sr_check_user: t.scramUser.user,
        health_check_timeout: 3,
        backends: [
          { name: 'primary', host: t.primary.host, port: t.primary.port, weight: 0, role: 'primary' },
          { name: 'silent', host: '127.0.0.1', port: silentPort, weight: 1, role: 'standby' },
        ],
      },
      { logger: createLogger('test', 'silent') },
    );
    let started = false;
    const starting = pgtide.start().then(() => (started = true));
    try {
      const client = new pg.Client(scramLogin(t, { host: '127.0.0.1', port: port! }));
      await waitFor(
        'the listen port to accept',
        () =>
          new Promise<boolean>((resolve) => {
            const probe = net.connect({ host: '127.0.0.1', port: port! }, () => (probe.destroy(), resolve(true)));
            probe.once('error', () => resolve(false));
          }),
        2000,
      );
      assert.equal(started, false, 'the port must be bound while the first health checks still run');
      await client.connect();
      assert.equal(started, true, 'a client is served once roles are known');
      assert.equal((await client.query('SELECT pg_catalog.inet_server_port() AS port')).rows[0].port, t.primary.port);
      await client.end();
    } finally {
      await starting.catch(() => {});
      await pgtide.stop();
      silent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
