// `npm start` runs the development demo: a local cluster with pgtide in front. It must serve
// queries, show the admin console and /metrics it advertises, and leave nothing behind on
// Ctrl-C or when its terminal closes (SIGHUP): no PostgreSQL process, no password folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePorts } from '../support/free-ports.js';
import { waitFor } from '../support/wait.js';
import { watch } from '../support/child-output.js';

const DEMO = fileURLToPath(new URL('../../dev/demo.js', import.meta.url));

function processesMentioning(text: string): Promise<string> {
  return new Promise((resolve) => {
    const ps = spawn('pgrep', ['-f', text]);
    let out = '';
    ps.stdout.on('data', (d) => (out += d));
    ps.once('exit', () => resolve(out.trim()));
  });
}

for (const signal of ['SIGINT', 'SIGHUP'] as const) {
  test(`the demo serves queries, the console and /metrics, and cleans up on ${signal}`, {
    timeout: 110_000,
  }, async () => {
    const [port, httpPort] = await freePorts(2);
    // A temporary directory of its own: what the demo leaves behind is whatever remains in it.
    const tmp = await mkdtemp(join(tmpdir(), 'pgtide-demo-test-'));
    await chmod(tmp, 0o755); // PostgreSQL runs as the postgres user when we are root
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_'))),
      TMPDIR: tmp,
    };
    const child = spawn(process.execPath, [DEMO, '--port', String(port), '--http-port', String(httpPort)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { output, exited } = watch(child);
    try {
      await waitFor(
        'the demo to print how to connect',
        () => output().includes('Press Ctrl-C') || child.exitCode !== null,
        90_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; it printed: ${output().slice(-3000)}`);
      });
      assert.ok(
        output().includes('Press Ctrl-C'),
        `the demo exited with ${child.exitCode} before serving: ${output().slice(-3000)}`,
      );
      const password = /PGPASSWORD='([^']+)'/.exec(output())![1];
      const user = /user=(\S+)/.exec(output())![1];
      const database = /dbname=([^"\s]+)/.exec(output())![1];
      const c = new pg.Client({ host: '127.0.0.1', port, user, password, database });
      await c.connect();
      assert.equal((await c.query('SELECT 40 + 2 AS answer')).rows[0].answer, 42);
      await c.end();
      assert.match(output(), /dbname=pgbouncer/);
      const admin = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'pgbouncer' });
      await admin.connect();
      const backends = await admin.query({ text: 'SHOW BACKENDS', queryMode: 'simple' } as pg.QueryConfig);
      assert.equal(backends.rows.length, 2);
      await admin.end();
      assert.match(output(), new RegExp(`curl http://127.0.0.1:${httpPort}/metrics`));
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      assert.match(metrics, /^pgtide_/m);

      const made = await readdir(tmp);
      assert.equal(made.length, 2, `a cluster folder and a password folder: ${made.join(', ')}`);
      child.kill(signal);
      assert.equal(await exited, 0);
      assert.match(output(), /stopping/);
      for (const name of made) {
        assert.equal(existsSync(join(tmp, name)), false, `${name} is removed`);
        assert.equal(await processesMentioning(name), '', `no process is left running from ${name}`);
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(tmp, { recursive: true, force: true });
    }
  });
}
