import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { psql } from '../support/psql.js';

const t = currentTopology();

describe('client TLS', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    const probe = await startPgtide(t);
    const dir = probe.dir;
    const key = join(dir, 'server.key'), cert = join(dir, 'server.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    p = await startPgtide(t, { client_tls_sslmode: 'require', client_tls_key_file: key, client_tls_cert_file: cert });
    p.dir = dir;
    await probe.pgtide.stop();
  });
  after(() => p.stop());

  test('psql with sslmode=require gets an encrypted session', async () => {
    const out = await psql(t, { host: p.host, port: p.port, sslmode: 'require' }, '\\conninfo');
    assert.match(out, /SSL connection \(protocol: TLSv1\.[23]/);
  });

  test('node-postgres over TLS runs queries', async () => {
    const c = new pg.Client(p.pgConfig({ ssl: { rejectUnauthorized: false } }));
    await c.connect();
    assert.equal((await c.query('SELECT 40 + 2 AS v')).rows[0].v, 42);
    await c.end();
  });

  test('a plaintext client is refused with 28000 when TLS is required', async () => {
    const c = new pg.Client(p.pgConfig({ ssl: false }));
    await assert.rejects(c.connect(), (err: { code?: string; message: string }) => err.code === '28000' && /SSL required/.test(err.message));
  });
});
