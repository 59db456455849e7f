// The image's files checked against the code they package: paths, ports, user, config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import { readEnv } from '../../src/config/env.js';
import { IMAGE_HEALTH_LISTEN, IMAGE_STATE_DIR } from '../../src/config/import/state-dir.js';
import { ADMIN_SOCKET_DIR_PREFIX } from '../../src/config/defaults.js';

// Compiled to dist/test/unit/: the repository is three levels up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions per build stage: continuation lines joined, comments dropped. */
function dockerfileStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim());
  for (const line of logical) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+)\s+(.*)$/.exec(line);
    assert.ok(match, `unparsable Dockerfile line: ${line}`);
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'FROM') stages.push([]);
    assert.ok(stages.length > 0, 'an instruction before the first FROM');
    stages.at(-1)!.push(instruction);
  }
  return stages;
}

const stages = dockerfileStages(read('Dockerfile'));
const runtime = stages.at(-1)!;
const all = (keyword: string, stage = runtime) => stage.filter((i) => i.keyword === keyword).map((i) => i.args);
const last = (keyword: string) => all(keyword).at(-1);
const execForm = (keyword: string): string[] => JSON.parse(last(keyword) ?? 'null');
const defaultConfig = () => parseConfig(read('docker/pgtide.toml'), 'docker/pgtide.toml');

test('the Dockerfile is at the root (the seed builds with `docker build .`) and linked from docker/', () => {
  assert.ok(lstatSync(join(ROOT, 'docker/Dockerfile')).isSymbolicLink());
  assert.equal(readlinkSync(join(ROOT, 'docker/Dockerfile')), '../Dockerfile');
});

test('two stages on the Node.js line package.json requires; the builder compiles, then drops dev dependencies', () => {
  assert.equal(stages.length, 2);
  const manifest = JSON.parse(read('package.json'));
  const major = /^>=(\d+)/.exec(manifest.engines.node)?.[1];
  assert.ok(major !== undefined && Number(major) >= 24, `engines.node ${manifest.engines.node}`);
  assert.deepEqual(
    stages.map((s) => s[0]!.args.split(' ')[0]),
    [`node:${major}-bookworm-slim`, `node:${major}-bookworm-slim`],
  );
  const builderRuns = all('RUN', stages[0]).join(' && ');
  for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) assert.ok(builderRuns.includes(step), step);
  // The build starts from an empty dist/ and compiles src/ alone, with the tsconfig the image copies.
  assert.match(manifest.scripts.build, /^npm run clean --silent && tsc -p tsconfig\.json$/);
  assert.match(manifest.scripts.clean, /rmSync\('dist'/);
  assert.ok(all('COPY', stages[0]).includes('tsconfig.json ./'));
});

test('tini is PID 1 and runs the entrypoint script, which runs the compiled CLI', () => {
  const entrypoint = execForm('ENTRYPOINT');
  assert.deepEqual(entrypoint.slice(0, 2), ['/usr/bin/tini', '--']);
  assert.ok(all('RUN').some((run) => /apt-get install [^&]*\btini\b/.test(run)));
  // The script is copied to /app/docker/ from docker/ and finds the app one level up.
  assert.equal(entrypoint[2], '/app/docker/docker-entrypoint.sh');
  assert.ok(all('COPY').includes('docker/docker-entrypoint.sh ./docker/docker-entrypoint.sh'));
  assert.ok(all('WORKDIR').includes('/app'));
  assert.ok(statSync(join(ROOT, 'docker/docker-entrypoint.sh')).mode & 0o111, 'the entrypoint must be executable');
  assert.match(read('docker/docker-entrypoint.sh'), /exec node "\$app_dir\/dist\/src\/cli\.js"/);
  assert.ok(all('COPY').includes('--from=builder /src/dist/src ./dist/src'));
  assert.ok(existsSync(join(ROOT, 'dist/src/cli.js')), 'the build emits dist/src/cli.js');
  assert.equal(JSON.parse(read('package.json')).bin.pgtide, 'dist/src/cli.js');
  assert.deepEqual(execForm('CMD'), ['start']);
});

test('EXPOSE covers the seed ports 5427-5432 and every port of the default config', () => {
  const exposed = new Set<number>();
  for (const spec of all('EXPOSE').join(' ').split(' ')) {
    const [from, to = from] = spec
      .replace(/\/tcp$/, '')
      .split('-')
      .map(Number);
    for (let port = from!; port <= to!; port++) exposed.add(port);
  }
  for (let port = 5427; port <= 5432; port++) assert.ok(exposed.has(port), `port ${port}`);
  for (const port of defaultConfig().listen_port) assert.ok(exposed.has(port), `listen_port ${port}`);
  assert.deepEqual(defaultConfig().listen_addr, ['0.0.0.0'], 'a container must listen beyond its loopback');
});

test('logs go to the volume /var/log/pooling, which the non-root user owns', () => {
  assert.deepEqual(all('VOLUME'), ['/var/log/pooling']);
  const user = last('USER');
  assert.ok(user !== undefined && !['root', '0'].includes(user.split(':')[0]!), `USER ${user}`);
  assert.equal(user, 'pgtide');
  assert.ok(
    all('RUN').some((run) => run.includes(`useradd`) && run.includes(`chown ${user}:${user} /var/log/pooling`)),
  );
  assert.ok(all('ENV').some((env) => env.includes('LOG_DIR=/var/log/pooling')));
});

test('the default config keeps its timeline memory in a directory the non-root user owns', () => {
  assert.equal(defaultConfig().state_dir, '/var/lib/pgtide');
  // pgtide import sets the same directory when it finds it (an import run inside the image).
  assert.equal(defaultConfig().state_dir, IMAGE_STATE_DIR);
  assert.ok(
    all('RUN').some(
      (run) => /mkdir -p [^&]*\/var\/lib\/pgtide/.test(run) && /chown pgtide:pgtide [^&]*\/var\/lib\/pgtide/.test(run),
    ),
  );
});

test("the image has psql, and docs/docker.md's console command names the admin socket of its user", () => {
  assert.ok(all('RUN').some((run) => /apt-get install [^&]*\bpostgresql-client\b/.test(run)));
  const uid = /useradd [^&]*--uid (\d+)[^&]* pgtide\b/.exec(all('RUN').join(' && '))?.[1];
  assert.ok(uid !== undefined, 'useradd gives pgtide a fixed uid');
  const config = defaultConfig();
  // The image's config leaves admin_socket_dir at its default, which pgtide's uid names.
  assert.equal(config.admin_socket_dir, `${ADMIN_SOCKET_DIR_PREFIX}${process.getuid!()}`);
  const command = `docker exec pool1 psql -h ${ADMIN_SOCKET_DIR_PREFIX}${uid} -p ${config.listen_port[0]} -U pgbouncer pgbouncer`;
  assert.ok(read('docs/docker.md').includes(command), command);
});

test('the default config parses, and the healthcheck asks its admin HTTP endpoint', () => {
  const config = defaultConfig();
  assert.ok(config.backends.length >= 1);
  assert.ok(all('COPY').includes('docker/pgtide.toml docker/userlist.txt /etc/pgtide/'));
  assert.ok(all('ENV').some((env) => env.includes('CONFIG_FILE=/etc/pgtide/pgtide.toml')));
  assert.equal(config.auth_file, '/etc/pgtide/userlist.txt');
  const healthcheckUrl = /HEALTHCHECK_URL=(\S+)/.exec(all('ENV').join(' '))?.[1];
  assert.equal(healthcheckUrl, `http://${config.admin_http_listen}/healthz`);
  // A config imported in the image from the seed's files serves it at the same address.
  assert.equal(config.admin_http_listen, IMAGE_HEALTH_LISTEN);
  assert.match(last('HEALTHCHECK') ?? '', /CMD node -e .*fetch\(process\.env\.HEALTHCHECK_URL\)/);
});

test('every file the Dockerfile copies from the context exists and is not in .dockerignore', () => {
  const ignore = read('.dockerignore')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '*', 'the context starts empty');
  const allowed = ignore.slice(1).map((l) => l.replace(/^!/, ''));
  const sources = stages
    .flatMap((s) => all('COPY', s))
    .filter((c) => !c.startsWith('--from'))
    .flatMap((c) => c.split(' ').slice(0, -1));
  assert.ok(sources.length >= 5);
  for (const source of sources) {
    assert.ok(existsSync(join(ROOT, source)), source);
    assert.ok(
      allowed.some((a) => source === a || source.startsWith(`${a}/`)),
      `${source} is excluded by .dockerignore`,
    );
  }
});

test('the PGTIDE_ variables of compose.yml are settings pgtide accepts', () => {
  const variables = Object.fromEntries(
    [...read('docker/compose.yml').matchAll(/^\s+(PGTIDE_[A-Z_]+|INSTANCE_NAME): (.+)$/gm)].map((m) => [m[1]!, m[2]!]),
  );
  assert.ok(variables['PGTIDE_BACKENDS']);
  const { values, issues } = readEnv(variables);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    values.backends?.map((b) => b.host),
    ['primary', 'standby1', 'standby2'],
  );
});
