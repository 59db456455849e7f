// Fault campaign, part 4 (issue 17, item 8): pgtide near or out of file descriptors. Under a
// small open-files limit pgtide admits fewer clients, each refused one told 53300, so that the
// clients it admits still find descriptors for their server connections. Run out anyway (the
// limit lowered under a running pooler) and clients whose server connection cannot be opened
// are told 53300 at once, not 57014 at query_wait_timeout; the log says why; pgtide recovers.
// It breaks no node, so it runs on the shared topology.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { spawnPgtide } from '../support/pgtide-process.js';

type Outcome = string;
const TRIES = 280;

function tally(outcomes: Outcome[]): Record<string, number> {
  return outcomes.reduce<Record<string, number>>((m, o) => ((m[o] = (m[o] ?? 0) + 1), m), {});
}

/** 'ok', a SQLSTATE, or what the driver said when the connection ended without one. */
function outcomeOf(err: { code?: string; message?: string }): Outcome {
  return err.code !== undefined && /^[0-9A-Z]{5}$/.test(err.code)
    ? err.code
    : `no SQLSTATE: ${err.code ?? err.message}`;
}

describe('faults: file descriptors', { timeout: 90_000 }, () => {
  test('under a small open-files limit, clients beyond what servers leave room for get 53300, and every admitted client is served', async () => {
    const t = currentTopology();
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-fds-'));
    const openFiles = 200;
    const p = await spawnPgtide(
      t,
      dir,
      writeAuthFile(t, dir),
      ['query_wait_timeout = 10', 'default_pool_size = 10', 'log_level = "warn"'],
      openFiles,
    );
    const config = scramLogin(t, { host: '127.0.0.1', port: p.port });
    const clients: pg.Client[] = [];
    try {
      // More clients than the limit can hold with their servers, arriving in waves of 40.
      const login = async (): Promise<Outcome> => {
        const client = new pg.Client(config);
        client.on('error', () => {});
        try {
          await client.connect();
          clients.push(client);
          return 'ok';
        } catch (err) {
          const e = err as { code?: string; message?: string };
          return e.code === '53300' && /open-files limit \(200\)/.test(e.message ?? '')
            ? 'refused, naming the limit'
            : outcomeOf(e);
        }
      };
      const logins: Outcome[] = [];
      for (let wave = 0; wave < TRIES / 40; wave++)
        logins.push(...(await Promise.all(Array.from({ length: 40 }, login))));
      const logged = tally(logins);
      const outcomes = await Promise.all(
        clients.map((c) =>
          c.query('SELECT pg_catalog.pg_sleep(0.3)').then(
            () => 'ok',
            (err: { code?: string; message?: string }) => outcomeOf(err),
          ),
        ),
      );
      const served = tally(outcomes);
      const fds = readdirSync(`/proc/${p.child.pid}/fd`).length;
      console.log(
        `# logins ${JSON.stringify(logged)}; queries ${JSON.stringify(served)}; pgtide holds ${fds} descriptors`,
      );
      assert.equal(
        (logged['ok'] ?? 0) + (logged['refused, naming the limit'] ?? 0),
        TRIES,
        `logins: ${JSON.stringify(logged)}`,
      );
      assert.ok((logged['refused, naming the limit'] ?? 0) > 0, `no login was refused: ${JSON.stringify(logged)}`);
      assert.ok((logged['ok'] ?? 0) >= 50, `too few clients admitted: ${JSON.stringify(logged)}`);
      assert.deepEqual(served, { ok: clients.length });
      assert.doesNotMatch(p.output(), /EMFILE/);
      assert.match(p.output(), /the open-files limit \(ulimit -n\) is below/);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('out of descriptors: clients waiting for a server get 53300 at once, the log names the cause, and pgtide recovers', async () => {
    const t = currentTopology();
    const dir = mkdtempSync(join(tmpdir(), 'pgtide-fds-'));
    const p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
      'query_wait_timeout = 10',
      'default_pool_size = 100',
      'log_level = "warn"',
    ]);
    const pid = p.child.pid!;
    const clients: pg.Client[] = [];
    const config = scramLogin(t, { host: '127.0.0.1', port: p.port });
    try {
      // Logged in (a login needs no server connection once the pool knows the server's settings),
      // then the limit drops to just above what pgtide holds: the servers they need cannot open.
      const first = new pg.Client(config);
      await first.connect();
      await first.query('SELECT 1');
      clients.push(first);
      for (let i = 0; i < 30; i++) {
        const client = new pg.Client(config);
        client.on('error', () => {});
        await client.connect();
        clients.push(client);
      }
      const held = readdirSync(`/proc/${pid}/fd`).length;
      execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${held + 4}:`]);
      const started = Date.now();
      const outcomes = await Promise.all(
        clients.map((c) =>
          c.query('SELECT pg_catalog.pg_sleep(0.5)').then(
            () => 'ok',
            (err: { code?: string; message?: string }) => outcomeOf(err),
          ),
        ),
      );
      const took = Date.now() - started;
      const counts = tally(outcomes);
      console.log(
        `# ${clients.length} clients, limit lowered to ${held + 4}; outcomes ${JSON.stringify(counts)} in ${took} ms`,
      );
      assert.ok((counts['53300'] ?? 0) > 0, `no client was told 53300: ${JSON.stringify(counts)}`);
      assert.equal((counts['ok'] ?? 0) + (counts['53300'] ?? 0), clients.length, `outcomes: ${JSON.stringify(counts)}`);
      assert.ok(took < 5000, `the clients waited ${took} ms`);
      assert.match(p.output(), /no file descriptor left \(EMFILE\)/);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      clients.length = 0;
      execFileSync('prlimit', [`--pid=${pid}`, '--nofile=4096:']);
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
