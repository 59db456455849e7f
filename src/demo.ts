// `pgtide demo`: a local primary + standby from the embedded PostgreSQL binaries and pgtide in
// front, for a first look. The local cluster code is the integration-test harness's; it moves
// under src/cluster once pgtide manages local clusters itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from './config/defaults.js';
import type { Config } from './config/types.js';
import { Pgtide } from './server.js';
import { startTopology, stopTopology } from '../test/support/topology.js';
import { writeAuthFile } from '../test/support/pgtide.js';

export async function runDemo(port: number): Promise<() => Promise<void>> {
  console.log('starting a local PostgreSQL primary and standby (embedded binaries)...');
  const t = await startTopology({ standbys: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-demo-'));
  const config: Config = {
    ...defaultConfig(),
    listen_addr: ['127.0.0.1'],
    listen_port: [port],
    auth_file: writeAuthFile(t, dir),
    server_tls_sslmode: 'disable',
    log_connections: false,
    log_disconnections: false,
    log_level: 'warn',
    backends: [
      { name: 'primary', host: t.primary.host, port: t.primary.port, weight: 0, role: 'primary' },
      ...t.standbys.map((s) => ({ name: s.name, host: s.host, port: s.port, weight: 1, role: 'standby' as const })),
    ],
  };
  const pgtide = new Pgtide(config);
  await pgtide.start();
  console.log(`
pgtide is listening on 127.0.0.1:${port} in front of
  primary  ${t.primary.host}:${t.primary.port}
${t.standbys.map((s) => `  ${s.name} ${s.host}:${s.port}`).join('\n')}

Connect:
  PGPASSWORD='${t.scramUser.password}' psql "host=127.0.0.1 port=${port} user=${t.scramUser.user} dbname=${t.database}"

Press Ctrl-C to stop everything.`);
  return async () => {
    await pgtide.stop();
    await stopTopology(t);
    rmSync(dir, { recursive: true, force: true });
  };
}
