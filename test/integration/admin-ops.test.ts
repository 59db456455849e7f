import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { currentTopology, sqlOn } from '../support/topology.js';
import { writeAuthFile } from '../support/pgtide.js';
import { connectTo, spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';
import { freePorts } from '../support/free-ports.js';
import { psql } from '../support/psql.js';
import { waitFor } from '../support/wait.js';

const t = currentTopology();
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operating pgtide under pgbench', { timeout: 110_000 }, () => {
  let dir: string;
  let p: PgtideProcess;
  let metricsPort: number;
  const env = { ...process.env, PGPASSWORD: t.scramUser.password };

  /** pgbench select-only through pgtide; resolves with its output. */
  function pgbench(seconds: number): Promise<string> {
    return run(
      'pgbench',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(p.port),
        '-U',
        t.scramUser.user,
        '-S',
        '-c',
        '4',
        '-T',
        String(seconds),
        '-n',
        t.database,
      ],
      { env, timeout: (seconds + 20) * 1000 },
    ).then((r) => r.stdout + r.stderr);
  }
  const consoleCmd = (sql: string) => psql(t, { host: '127.0.0.1', port: p.port, database: 'pgtide' }, sql);
  const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

  before(async () => {
    await sqlOn(t.primary, `DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history`);
    await run('pgbench', [
      '-i',
      '-s',
      '1',
      '-q',
      '-h',
      t.primary.socketDir,
      '-p',
      String(t.primary.port),
      '-U',
      t.superuser.user,
      t.database,
    ]);
    await sqlOn(t.primary, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${t.scramUser.user}`);
    dir = mkdtempSync(join(tmpdir(), 'pgtide-ops-'));
    [metricsPort] = (await freePorts(1)) as [number];
    p = await spawnPgtide(t, dir, writeAuthFile(t, dir), [
      `admin_users = ["${t.scramUser.user}"]`,
      `admin_http_listen = "127.0.0.1:${metricsPort}"`,
      'default_pool_size = 5',
    ]);
  });
  after(async () => {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/metrics scraped during a pgbench run shows the counters moving', async () => {
    const bench = pgbench(4);
    await sleep(1000);
    const first = await scrape();
    await sleep(1500);
    const second = await scrape();
    const out = await bench;
    assert.match(out, /number of failed transactions: 0/);
    const total = (text: string) =>
      [...text.matchAll(/^pgtide_server_assignments_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)].reduce(
        (a, m) => a + Number(m[1]),
        0,
      );
    assert.ok(total(second) > total(first), 'server assignments did not grow during pgbench');
    for (const line of second.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(
        line,
        /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (NaN|\+Inf|-Inf)$/,
        `bad metrics line: ${line}`,
      );
    }
  });

  test('PAUSE and RESUME hold and release a running pgbench without errors', async () => {
    const bench = pgbench(6);
    await sleep(1500);
    await consoleCmd('PAUSE');
    await sleep(1500);
    const waiting = (await consoleCmd('SHOW POOLS')).trim();
    await consoleCmd('RESUME');
    const out = await bench;
    assert.match(out, /number of failed transactions: 0/);
    assert.ok(waiting.length > 0);
  });

  test('RELOAD after editing a pool size changes it without dropping a connected client', async () => {
    const c = await connectTo(t, p);
    await c.query('SELECT 1');
    const file = join(dir, 'pgtide.toml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('default_pool_size = 5', 'default_pool_size = 7'));
    await consoleCmd('RELOAD');
    const config = await consoleCmd('SHOW CONFIG');
    assert.match(config, /default_pool_size\|7\|/);
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
    await c.end();
  });

  test('a RELOAD of a broken file is refused to the console and logged, as a SIGHUP reload is', async () => {
    const file = join(dir, 'pgtide.toml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('default_pool_size = 7', 'default_pool_size = "seven"'));
    try {
      await assert.rejects(consoleCmd('RELOAD'), (err: { stderr?: string }) =>
        /RELOAD failed, the running configuration is kept/.test(err.stderr ?? ''),
      );
      await waitFor('the log line', () => /reload failed; keeping the running configuration/.test(p.output()));
      assert.match(await consoleCmd('SHOW CONFIG'), /default_pool_size\|7\|/);
    } finally {
      writeFileSync(file, good);
    }
  });
});
