// The operator's first steps: the package as npm publishes it, installed globally into a
// prefix of its own, gives a `pgtide` command; `pgtide check` and `pgtide start` without
// --config read ./pgtide.toml.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePorts } from '../support/free-ports.js';
import { writeAuthFile } from '../support/pgtide.js';
import { currentTopology, scramLogin } from '../support/topology.js';
import { waitFor } from '../support/wait.js';
import { watch } from '../support/child-output.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
};

/** pgtide refuses unknown PGTIDE_ variables, and the test runner sets one of its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_')));
}

describe('npm install -g of the packed package', { timeout: 180_000 }, () => {
  const t = currentTopology();
  let base: string;
  let bin: string;
  let work: string;
  let port: number;

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'pgtide-install-'));
    // dist/src is built already: packing without scripts leaves the running tests' dist/ alone
    // (prepack would rebuild it from scratch).
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', base], {
      cwd: ROOT,
      env: cleanEnv(),
      maxBuffer: 16 << 20,
    });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = info!.files.map((f) => f.path);
    assert.ok(paths.includes(manifest.bin['pgtide']!), `the tarball holds the bin ${manifest.bin['pgtide']}`);
    assert.deepEqual(
      paths.filter((p) => /^(test|bench|dev|dist\/(test|bench|dev))\//.test(p)),
      [],
      'no tests, benchmarks or dev scripts',
    );
    await run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        join(base, 'global'),
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(base, info!.filename),
      ],
      { env: cleanEnv(), maxBuffer: 16 << 20 },
    );
    bin = join(base, 'global', 'bin', 'pgtide');
    work = join(base, 'work');
    [port] = (await freePorts(1)) as [number];
    await run('mkdir', [work]);
    writeFileSync(
      join(work, 'pgtide.toml'),
      [
        'listen_addr = "127.0.0.1"',
        `listen_port = ${port}`,
        `auth_file = "${writeAuthFile(t, work)}"`,
        'server_tls_sslmode = "disable"',
        'log_level = "info"',
        '[[backends]]',
        `host = "${t.primary.host}"`,
        `port = ${t.primary.port}`,
        'role = "primary"',
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('prepack builds what the bin runs', () => {
    assert.match(manifest.scripts['prepack']!, /npm run build/);
    assert.ok(manifest.files.includes('dist/src'));
    assert.match(readFileSync(join(ROOT, manifest.bin['pgtide']!), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  test('pgtide --version and pgtide help', async () => {
    assert.equal((await run(bin, ['--version'], { env: cleanEnv() })).stdout.trim(), `pgtide ${manifest.version}`);
    assert.match((await run(bin, ['help'], { env: cleanEnv() })).stdout, /^Usage:\n {2}pgtide start/m);
  });

  test('pgtide check reads ./pgtide.toml without --config', async () => {
    const checked = await run(bin, ['check'], { cwd: work, env: cleanEnv() });
    assert.match(checked.stdout, new RegExp(`^configuration: valid \\(${join(work, 'pgtide.toml')}\\)$`, 'm'));
    assert.match(checked.stdout, /^verdict: ok$/m);
  });

  test('pgtide start reads ./pgtide.toml without --config and serves queries', async () => {
    const child = spawn(bin, ['start'], { cwd: work, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const { output, exited } = watch(child);
    try {
      await waitFor(`pgtide listening on ${port}`, () => output().includes('pgtide started'), 20_000).catch(() =>
        assert.fail(output()),
      );
      assert.ok(output().includes(`"config":"${join(work, 'pgtide.toml')}"`), output());
      const client = new pg.Client(scramLogin(t, { host: '127.0.0.1', port }));
      await client.connect();
      try {
        assert.equal((await client.query('SELECT 41 + 1 AS n')).rows[0].n, 42);
      } finally {
        await client.end();
      }
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  });
});
