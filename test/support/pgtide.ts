// Runs a pgtide instance inside the test process, in front of the harness topology.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { defaultConfig } from '../../src/config/defaults.js';
import type { BackendConfig, Config } from '../../src/config/types.js';
import { md5PasswordHash } from '../../src/auth/secret.js';
import { createLogger } from '../../src/log.js';
import { Pgtide } from '../../src/server.js';
import type { WireLogin } from './pipeline.js';
import { scramLogin, sqlOn, type Topology } from './topology.js';

export interface RunningPgtide {
  pgtide: Pgtide;
  host: string;
  port: number;
  config: Config;
  dir: string;
  /** Log lines pgtide wrote, as parsed JSON objects. */
  logs: Record<string, unknown>[];
  /** Connection settings for `pg` through pgtide as the SCRAM test user. */
  pgConfig(overrides?: pg.ClientConfig): pg.ClientConfig;
  /** The same login for a WireClient (pipeline.ts). */
  wireLogin(): WireLogin;
  stop(): Promise<void>;
}

/** What pgtide logged of its backends (the cluster monitor's changes of health and rotation)
 *  from `since` (ms since the epoch) on, a line each: why a routing assertion failed. */
export function backendEvents(p: Pick<RunningPgtide, 'logs'>, since: number): string {
  const lines = p.logs
    .filter((l) => typeof l['backend'] === 'string' && Number(l['time']) >= since)
    .map((l) => {
      const lag = 'lagBytes' in l ? ` (lag ${String(l['lagBytes'])} bytes, ${String(l['lagMs'])} ms)` : '';
      return `+${Number(l['time']) - since} ms ${String(l['backend'])}: ${String(l['msg'])}${lag}`;
    });
  return lines.length === 0 ? 'no backend events logged' : lines.join('\n');
}

/** The auth_file the tests use: the SCRAM user with a plain password, the md5 user with its hash. */
/** A role made on the primary, storing `secret` (its password by default), and an auth_file in a
 *  directory of its own that lists it alone; `drop` removes both (after any pgtide using them). */
export async function listedRole(
  t: Topology,
  role: { user: string; password: string },
  secret = role.password,
): Promise<{ authFile: string; drop(): Promise<void> }> {
  await sqlOn(t.primary, `DROP ROLE IF EXISTS ${role.user}`);
  await sqlOn(t.primary, `CREATE ROLE ${role.user} LOGIN PASSWORD '${secret}'`);
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-role-'));
  const authFile = join(dir, 'users.txt');
  writeFileSync(authFile, `"${role.user}" "${role.password}"\n`);
  return {
    authFile,
    async drop() {
      rmSync(dir, { recursive: true, force: true });
      await sqlOn(t.primary, `DROP ROLE IF EXISTS ${role.user}`);
    },
  };
}

export function writeAuthFile(t: Topology, dir: string): string {
  const file = join(dir, 'users.txt');
  writeFileSync(
    file,
    [
      `"${t.scramUser.user}" "${t.scramUser.password}"`,
      `"${t.md5User.user}" "${md5PasswordHash(t.md5User.user, t.md5User.password)}"`,
      `"${t.superuser.user}" "${t.superuser.password}"`,
      '',
    ].join('\n'),
  );
  return file;
}

/** The whole topology as backends: the primary first, then the standbys, with these read weights. */
export function clusterBackends(t: Topology, weights: number[]): BackendConfig[] {
  return [t.primary, ...t.standbys].map((node, i) => ({
    name: node.name,
    host: node.host,
    port: node.port,
    weight: weights[i] ?? 1,
    role: i === 0 ? ('primary' as const) : ('standby' as const),
  }));
}

export async function startPgtide(t: Topology, overrides: Partial<Config> = {}): Promise<RunningPgtide> {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-test-'));
  const config: Config = {
    ...defaultConfig(),
    listen_addr: ['127.0.0.1'],
    listen_port: [0],
    auth_file: writeAuthFile(t, dir),
    server_tls_sslmode: 'disable',
    log_connections: false,
    log_disconnections: false,
    // Tests listen on port 0: every instance's admin socket would be .s.PGSQL.0. Those about it set it.
    admin_socket_dir: '',
    backends: [{ name: 'primary', host: t.primary.host, port: t.primary.port, weight: 1, role: 'primary' }],
    ...overrides,
  };
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const pgtide = new Pgtide(config, { logger: createLogger('test', 'info', { destination: sink }) });
  await pgtide.start();
  const { host, port } = pgtide.addresses()[0]!;
  const login = scramLogin(t, { host, port });
  return {
    pgtide,
    host,
    port,
    config,
    dir,
    logs,
    pgConfig: (o = {}) => ({ ...login, ...o }),
    wireLogin: () => ({ ...login }),
    async stop() {
      await pgtide.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
