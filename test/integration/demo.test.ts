import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePorts } from '../support/free-ports.js';
import { waitFor } from '../support/wait.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

test('pgtide demo starts a local cluster, serves a query and stops cleanly on Ctrl-C', { timeout: 110_000 }, async () => {
  const [port] = await freePorts(1);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_')));
  const child = spawn(process.execPath, [CLI, 'demo', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await waitFor('the demo to print how to connect', () => out.includes('psql "host=127.0.0.1'), 90_000);
    const password = /PGPASSWORD='([^']+)'/.exec(out)![1];
    const user = /user=(\S+)/.exec(out)![1];
    const database = /dbname=([^"\s]+)/.exec(out)![1];
    const c = new pg.Client({ host: '127.0.0.1', port, user, password, database });
    await c.connect();
    assert.equal((await c.query('SELECT 40 + 2 AS answer')).rows[0].answer, 42);
    await c.end();
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /stopping/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
