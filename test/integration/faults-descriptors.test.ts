// Fault campaign, part 4 (issue 17, item 8): pgtide runs out of file descriptors. Clients whose
// server connection cannot be opened are told so (53300) at once, not 57014 at
// query_wait_timeout; the log says why; pgtide serves again once descriptors are free.
// It breaks no node, so it runs on the shared topology.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { spawnPgtide } from '../support/pgtide-process.js';

const OPEN_FILES = 64;

describe('faults: out of file descriptors', { timeout: 60_000 }, () => {
  test('clients waiting for a server get 53300 at once, the log names the cause, and pgtide recovers', async () => {
    const t = currentTopology();
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-fds-'));
    const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), ['query_wait_timeout = 10', 'default_pool_size = 100', 'log_level = "warn"'], OPEN_FILES);
    const clients: pg.Client[] = [];
    const config = { host: '127.0.0.1', port: p.port, user: t.scramUser.user, password: t.scramUser.password, database: t.database };
    try {
      // Log in as many clients as pgtide can accept (a login needs no server connection once
      // the pool knows the server's settings).
      const first = new pg.Client(config);
      await first.connect();
      await first.query('SELECT 1');
      clients.push(first);
      for (let i = 0; i < OPEN_FILES; i++) {
        const client = new pg.Client(config);
        client.on('error', () => {});
        try {
          await client.connect();
          clients.push(client);
        } catch {
          break;
        }
      }
      // Each now needs a server connection of its own, which takes one more descriptor.
      const started = Date.now();
      const outcomes = await Promise.all(clients.map((c) =>
        c.query('SELECT pg_catalog.pg_sleep(0.5)').then(() => 'ok', (err: { code?: string }) => err.code ?? '')));
      const took = Date.now() - started;
      const counts = outcomes.reduce<Record<string, number>>((m, o) => ((m[o] = (m[o] ?? 0) + 1), m), {});
      console.log(`# ${clients.length} clients logged in; outcomes ${JSON.stringify(counts)} in ${took} ms`);
      assert.ok((counts['53300'] ?? 0) > 0, `no client was told 53300: ${JSON.stringify(counts)}`);
      assert.equal(counts['57014'] ?? 0, 0, `clients waited for query_wait_timeout: ${JSON.stringify(counts)}`);
      assert.ok(took < 5000, `the clients waited ${took} ms`);
      assert.match(p.output(), /no file descriptor left \(EMFILE\)/);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      clients.length = 0;
      const again = new pg.Client(config);
      await again.connect();
      assert.equal((await again.query('SELECT 1 AS one')).rows[0].one, 1);
      await again.end();
      assert.equal(p.child.exitCode, null, 'pgtide exited');
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
