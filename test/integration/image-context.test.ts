// The Docker image, built without a Docker engine: the build context is laid out exactly as
// .dockerignore lets it through, the builder stage's steps run on it (npm ci, npm run build,
// npm prune --omit=dev), and the runtime stage's files alone start pgtide through the image's
// entrypoint. A src/ that imports tests, bench or a development dependency fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePorts } from '../support/free-ports.js';
import { writeAuthFile } from '../support/pgtide.js';
import { currentTopology, scramLogin } from '../support/topology.js';
import { waitFor } from '../support/wait.js';
import { watch } from '../support/child-output.js';
import { psql } from '../support/psql.js';

const run = promisify(execFile);
// Compiled to dist/test/integration/: the repository is three levels up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The paths .dockerignore lets through: it must start by excluding everything. */
function contextPaths(): string[] {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '*', '.dockerignore starts with * so that the context holds only what it names');
  return lines.slice(1).map((line) => {
    assert.match(line, /^![\w.-]+(\/[\w.-]+)*$/, `an exception naming a path: ${line}`);
    return line.slice(1);
  });
}

/** What the Docker engine's child processes would see: no PGTIDE_ settings of the test runner. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_'))), ...extra };
}

test('the image builds from its context alone and runs --version, check and start', { timeout: 300_000 }, async (t) => {
  const t0 = currentTopology();
  const base = mkdtempSync(join(tmpdir(), 'pgtide-image-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const builder = join(base, 'src');
  mkdirSync(builder);
  for (const path of contextPaths())
    if (existsSync(join(ROOT, path))) cpSync(join(ROOT, path), join(builder, path), { recursive: true });
  assert.equal(existsSync(join(builder, 'test')), false);

  // The builder stage, step by step as the Dockerfile runs them.
  const npm = (...args: string[]) => run('npm', args, { cwd: builder, env: cleanEnv(), maxBuffer: 16 << 20 });
  await npm('ci', '--no-audit', '--no-fund');
  await npm('run', 'build').catch((error: { stdout?: string; stderr?: string }) => {
    assert.fail(`npm run build failed in the image's context:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  });
  await npm('prune', '--omit=dev', '--no-audit', '--no-fund');
  assert.equal(existsSync(join(builder, 'node_modules', 'pg')), false, 'dev dependencies are pruned');

  // The runtime stage: only what the Dockerfile copies from the builder and the context.
  const app = join(base, 'app');
  cpSync(join(builder, 'package.json'), join(app, 'package.json'));
  cpSync(join(builder, 'node_modules'), join(app, 'node_modules'), { recursive: true });
  cpSync(join(builder, 'dist', 'src'), join(app, 'dist', 'src'), { recursive: true });
  cpSync(join(builder, 'docker', 'docker-entrypoint.sh'), join(app, 'docker', 'docker-entrypoint.sh'));
  const cli = join(app, 'dist', 'src', 'cli.js');

  const version = await run(process.execPath, [cli, '--version'], { env: cleanEnv() });
  assert.equal(version.stdout.trim(), `pgtide ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}`);

  const [port] = await freePorts(1);
  const etc = join(base, 'etc');
  mkdirSync(etc);
  const config = join(etc, 'pgtide.toml');
  writeFileSync(
    config,
    [
      'listen_addr = "127.0.0.1"',
      `listen_port = ${port}`,
      `auth_file = "${writeAuthFile(t0, etc)}"`,
      'server_tls_sslmode = "disable"',
      'default_pool_size = 5',
      '[[backends]]',
      `host = "${t0.primary.host}"`,
      `port = ${t0.primary.port}`,
      'role = "primary"',
      '',
    ].join('\n'),
  );
  const check = await run(process.execPath, [cli, 'check', '--config', config], { env: cleanEnv() });
  assert.match(check.stdout, /max_connections/);
  // The image's docs/docker.md command: psql on the default admin socket of the user running pgtide.
  const adminDir = `/tmp/pgtide-${process.getuid!()}`;
  assert.match(check.stdout, new RegExp(`^admin console: psql -h ${adminDir} -p ${port} -U pgbouncer pgbouncer `, 'm'));

  const logDir = join(base, 'log');
  mkdirSync(logDir);
  const child = spawn(join(app, 'docker', 'docker-entrypoint.sh'), [], {
    env: cleanEnv({ INSTANCE_NAME: 'ci', CONFIG_FILE: config, LOG_DIR: logDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { output, exited } = watch(child);
  try {
    const c = await waitFor(
      'the image to accept a client',
      async () => {
        if (child.exitCode !== null) assert.fail(`pgtide exited: ${output()}`);
        const client = new pg.Client(scramLogin(t0, { host: '127.0.0.1', port: port! }));
        return client.connect().then(
          () => client,
          () => undefined,
        );
      },
      30_000,
    );
    assert.equal((await c.query('SELECT 6 * 7 AS answer')).rows[0].answer, 42);
    await c.end();
    const pools = await psql(
      t0,
      { host: adminDir, port: port!, user: 'pgbouncer', database: 'pgbouncer' },
      'SHOW POOLS',
    );
    assert.match(pools, /^pgbouncer\|pgbouncer\|1\|/m);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output());
    assert.ok(existsSync(join(logDir, 'pgtide-ci.log')), 'the log file is written to LOG_DIR');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
