import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { selfSignedCertificate } from '../support/certificate.js';
import { join } from 'node:path';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { psql } from '../support/psql.js';
import tls from 'node:tls';
import { GSSENC_REQUEST, SSL_REQUEST, askEncryption, rawConnect, startupPacket } from '../support/raw-client.js';

const t = currentTopology();

describe('client TLS', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    const probe = await startPgtide(t);
    const dir = probe.dir;
    const { key, cert } = selfSignedCertificate(dir);
    p = await startPgtide(t, { client_tls_sslmode: 'require', client_tls_key_file: key, client_tls_cert_file: cert });
    p.dir = dir;
    await probe.pgtide.stop();
  });
  after(() => p.stop());

  test('psql with sslmode=require gets an encrypted session', async () => {
    const out = await psql(t, { host: p.host, port: p.port, sslmode: 'require' }, '\\conninfo');
    assert.match(out, /SSL connection \(protocol: TLSv1\.[23]/);
  });

  // PostgreSQL 17's direct TLS (libpq's sslnegotiation=direct): the handshake is the first thing
  // the client sends, with no SSLRequest before it, and it must name the ALPN protocol postgresql.
  test('psql on libpq 18 with sslnegotiation=direct gets an encrypted session', async () => {
    const target = { host: p.host, port: p.port, sslmode: 'require', sslNegotiation: 'direct' };
    assert.match(await psql(t, target, '\\conninfo'), /SSL connection \(protocol: TLSv1\.[23]/);
  });

  test('a direct TLS handshake without ALPN postgresql is closed unanswered', { timeout: 10_000 }, async () => {
    const secure = tls.connect({ host: p.host, port: p.port, rejectUnauthorized: false });
    const received: Buffer[] = [];
    secure.on('data', (d: Buffer) => received.push(d));
    secure.on('error', () => {});
    await new Promise<void>((resolve) => secure.once('secureConnect', resolve));
    secure.write(startupPacket({ user: t.scramUser.user, database: t.database }));
    await new Promise<void>((resolve) => secure.once('close', () => resolve()));
    assert.equal(Buffer.concat(received).length, 0);
  });

  test('a direct TLS handshake naming only another ALPN protocol fails', { timeout: 10_000 }, async () => {
    const secure = tls.connect({ host: p.host, port: p.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const err = await new Promise<Error>((resolve) => {
      secure.once('error', resolve);
      secure.once('secureConnect', () => resolve(new Error('handshake completed')));
    });
    secure.destroy();
    assert.match(err.message, /no application protocol|alert number 120/i);
  });

  test('node-postgres over TLS runs queries', async () => {
    const c = new pg.Client(p.pgConfig({ ssl: { rejectUnauthorized: false } }));
    await c.connect();
    assert.equal((await c.query('SELECT 40 + 2 AS v')).rows[0].v, 42);
    await c.end();
  });

  // As PostgreSQL 18 (measured with ssl = on): after its S, neither request is answered again;
  // each is read as an unsupported protocol version, refused over the TLS session.
  for (const [name, request] of [
    ['SSLRequest', SSL_REQUEST],
    ['GSSENCRequest', GSSENC_REQUEST],
  ] as const) {
    test(`${name} inside the TLS session: FATAL 0A000, not a second answer`, async () => {
      const raw = await rawConnect(p.port);
      assert.equal(await askEncryption(raw, SSL_REQUEST), 'S');
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      try {
        assert.equal(await askEncryption(secure, request), 'E FATAL 0A000');
      } finally {
        secure.destroy();
      }
    });
  }

  test('a plaintext client is refused with 28000 when TLS is required', async () => {
    const c = new pg.Client(p.pgConfig({ ssl: false }));
    await assert.rejects(
      c.connect(),
      (err: { code?: string; message: string }) => err.code === '28000' && /SSL required/.test(err.message),
    );
  });
});

describe('SCRAM-SHA-256-PLUS (channel binding tls-server-end-point) towards clients', { timeout: 60_000 }, () => {
  // RSA/SHA-256 binds with SHA-256; ECDSA/SHA-384 with SHA-384 (RFC 5929): libpq and
  // node-postgres each compute the hash of the certificate they received, on their own.
  const certificates: Array<[string, string[]]> = [
    ['an RSA certificate signed with SHA-256', ['-newkey', 'rsa:2048']],
    ['an ECDSA certificate signed with SHA-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384']],
  ];
  for (const [name, keyOptions] of certificates) {
    describe(`with ${name}`, () => {
      let p: RunningPgtide;
      let dir: string;
      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'pgtide-cbind-'));
        const { key, cert } = selfSignedCertificate(dir, keyOptions);
        // prefer: the same pgtide also takes plaintext clients, to show libpq refusing them.
        p = await startPgtide(t, {
          client_tls_sslmode: 'prefer',
          client_tls_key_file: key,
          client_tls_cert_file: cert,
        });
      });
      after(async () => {
        await p?.stop();
        rmSync(dir, { recursive: true, force: true });
      });

      test('psql with channel_binding=require logs in over TLS', async () => {
        assert.equal(
          await psql(t, { host: p.host, port: p.port, sslmode: 'require', channelBinding: 'require' }, 'SELECT 42'),
          '42\n',
        );
      });

      test('psql with channel_binding=require over a plain connection is refused by libpq itself', async () => {
        await assert.rejects(
          psql(t, { host: p.host, port: p.port, sslmode: 'disable', channelBinding: 'require' }, 'SELECT 1'),
          (err: { stderr?: string }) => /channel binding required, but SSL not in use/.test(err.stderr ?? ''),
        );
      });

      test('node-postgres with enableChannelBinding logs in over TLS', async () => {
        const c = new pg.Client(p.pgConfig({ ssl: { rejectUnauthorized: false }, enableChannelBinding: true }));
        await c.connect();
        try {
          assert.equal((await c.query('SELECT 40 + 2 AS v')).rows[0].v, 42);
        } finally {
          await c.end();
        }
      });
    });
  }
});
