// A throw-away PostgreSQL server whose pg_hba.conf a test may rewrite at will: the reference
// that pgtide's hba engine is compared with. It has the topology's test users (same names,
// same passwords, same storage: SCRAM and md5) and databases, and listens on every address.
import { chown, copyFile, mkdir, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { selfSignedCertificate } from './certificate.js';
import { basename, join } from 'node:path';
import pg from 'pg';
import { freePorts } from './free-ports.js';
import { resolveServerUser, runAsServerUser, type ServerContext } from './server-user.js';
import { startNode, stopNode, type PgNode, type Topology } from './topology.js';

export interface ReferencePg {
  node: PgNode;
  /** The server's TLS key and certificate (pgtide may present the same). */
  tls: { key: string; cert: string };
  /** Replaces pg_hba.conf (and copies `extraFiles` next to it, for @file lists), reloads, and
   *  returns once new connections see it; throws if PostgreSQL reports an error in the file. */
  useHba(text: string, extraFiles?: string[]): Promise<void>;
  /** Sets ssl_ca_file (the server then asks clients for certificates) and reloads. */
  useCa(file: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startReferencePg(t: Topology): Promise<ReferencePg> {
  const serverUser = await resolveServerUser();
  const ctx: ServerContext = { binDir: t.binDir, runAs: t.runAs };
  const baseDir = await mkdtemp(join(tmpdir(), 'pgtide-hba-reference-'));
  const [port] = await freePorts(1);
  const node: PgNode = {
    name: 'hba-reference',
    host: '127.0.0.1',
    port: port!,
    dataDir: join(baseDir, 'data'),
    socketDir: join(baseDir, 'socket'),
    logFile: join(baseDir, 'postgres.log'),
  };
  await mkdir(node.socketDir);
  if (serverUser) for (const path of [baseDir, node.socketDir]) await chown(path, serverUser.uid, serverUser.gid);
  // TLS on, with a throw-away certificate, so hostssl and hostnossl lines can be compared.
  const { key, cert } = selfSignedCertificate(baseDir);
  if (serverUser) for (const path of [key, cert]) await chown(path, serverUser.uid, serverUser.gid);
  await runAsServerUser(
    ctx,
    'initdb',
    [
      '-D',
      node.dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ],
    baseDir,
  );
  await appendFile(
    join(node.dataDir, 'postgresql.conf'),
    [
      '',
      "listen_addresses = '*'",
      `port = ${node.port}`,
      `unix_socket_directories = '${node.socketDir}'`,
      'fsync = off',
      'max_connections = 40',
      'ssl = on',
      `ssl_cert_file = '${cert}'`,
      `ssl_key_file = '${key}'`,
      '',
    ].join('\n'),
  );
  await startNode(ctx, node);

  // Held open across reloads: whatever the file under test says, the superuser keeps control.
  const admin = new pg.Client({ host: node.socketDir, port: node.port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
  await admin.query("SET password_encryption = 'scram-sha-256'");
  await admin.query(`CREATE ROLE ${t.scramUser.user} LOGIN PASSWORD ${literal(t.scramUser.password)}`);
  await admin.query("SET password_encryption = 'md5'");
  await admin.query(`CREATE ROLE ${t.md5User.user} LOGIN PASSWORD ${literal(t.md5User.password)}`);
  for (const db of [t.database, ...t.extraDatabases]) await admin.query(`CREATE DATABASE ${db}`);

  /** Reloads; returns once this backend (and so every new connection) has the new settings. */
  const reload = async () => {
    const before = (await admin.query('SELECT pg_catalog.pg_conf_load_time()::text AS t')).rows[0].t;
    await admin.query('SELECT pg_catalog.pg_reload_conf()');
    // The postmaster reloads before it signals the backends: once this backend has
    // reloaded, new connections get the new rules.
    for (let i = 0; i < 200; i++) {
      const now = (await admin.query('SELECT pg_catalog.pg_conf_load_time()::text AS t')).rows[0].t;
      if (now !== before) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('PostgreSQL did not reload its configuration');
  };

  return {
    node,
    tls: { key, cert },
    async useCa(file) {
      await admin.query(`ALTER SYSTEM SET ssl_ca_file = ${literal(file)}`);
      await reload();
    },
    async useHba(text, extraFiles = []) {
      for (const file of extraFiles) {
        const target = join(node.dataDir, basename(file));
        await copyFile(file, target);
        if (serverUser) await chown(target, serverUser.uid, serverUser.gid);
      }
      await writeFile(join(node.dataDir, 'pg_hba.conf'), text);
      // "cannot match" (hostssl without SSL, hostgssenc without GSSAPI) is only a warning: the line is loaded.
      const { rows: errors } = await admin.query(
        "SELECT line_number, error FROM pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL AND error NOT LIKE '%cannot match because%'",
      );
      if (errors.length > 0)
        throw new Error(`PostgreSQL refuses the pg_hba.conf under test: ${JSON.stringify(errors)}`);
      await reload();
    },
    async stop() {
      await admin.end().catch(() => {});
      await stopNode(ctx, node, 'immediate').catch(() => {});
      await rm(baseDir, { recursive: true, force: true });
    },
  };
}
