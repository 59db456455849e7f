// hba_file as operators meet it: `pgtide check` names every line pgtide cannot honour, and a
// running `pgtide start` rereads the file on SIGHUP, keeping its rules when the new file is broken.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { spawnPgtide, type PgtideProcess } from '../support/pgtide-process.js';
import { writeAuthFile } from '../support/pgtide.js';
import { currentTopology, scramLogin } from '../support/topology.js';

const t = currentTopology();
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGTIDE_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
    );
  });
}

async function verdict(port: number): Promise<string> {
  const client = new pg.Client(scramLogin(t, { host: '127.0.0.1', port }));
  try {
    await client.connect();
    return 'ok';
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

describe('hba_file from the command line', () => {
  let dir: string;
  let hbaFile: string;
  let authFile: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgtide-hba-cli-'));
    hbaFile = join(dir, 'pg_hba.conf');
    authFile = writeAuthFile(t, dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('pgtide check exits 1 and names each line it cannot honour', async () => {
    writeFileSync(
      hbaFile,
      'local all all md5\nhost all /^adm 10.0.0.0/8 md5\nhostssl all all all cert clientname=DN\nhost all all app.example.com md5\n',
    );
    const config = join(dir, 'check.toml');
    writeFileSync(
      config,
      `auth_file = "${authFile}"\nhba_file = "${hbaFile}"\n[[backends]]\nhost = "127.0.0.1"\nport = ${t.primary.port}\n`,
    );
    const result = await runCli(['check', '--config', config]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /hba_file/);
    assert.match(result.stderr, /pg_hba\.conf:2: regular expression "\/\^adm" is not supported by pgtide/);
    assert.match(
      result.stderr,
      /pg_hba\.conf:3: clientname=DN: pgtide matches the user name with the certificate's CN only/,
    );
    assert.match(result.stderr, /pg_hba\.conf:4: host name "app\.example\.com"/);
  });

  test('pgtide check exits 1 on cert lines without client_tls_ca_file (as PostgreSQL without ssl_ca_file) and on +group without auth_user', async () => {
    writeFileSync(hbaFile, 'local all all md5\nhostssl all all all cert\nhost all +admins all md5\n');
    const config = join(dir, 'check-cert.toml');
    writeFileSync(
      config,
      `auth_file = "${authFile}"\nhba_file = "${hbaFile}"\n[[backends]]\nhost = "127.0.0.1"\nport = ${t.primary.port}\n`,
    );
    const result = await runCli(['check', '--config', config]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      /hba_file: .*pg_hba\.conf: client certificates can only be checked if a root certificate store is available: set client_tls_ca_file/,
    );
    assert.match(
      result.stderr,
      /hba_file: .*pg_hba\.conf: \+group and samerole need the user's role memberships, which pgtide looks up on the server as auth_user: set auth_user/,
    );
  });

  test('pgtide check counts the rules and warns about hostssl lines without client TLS', async () => {
    writeFileSync(hbaFile, 'local all all md5\nhostssl all all all scram-sha-256\n');
    const config = join(dir, 'check-ok.toml');
    writeFileSync(
      config,
      `auth_file = "${authFile}"\nhba_file = "${hbaFile}"\nserver_tls_sslmode = "disable"\n[[backends]]\nhost = "127.0.0.1"\nport = ${t.primary.port}\n`,
    );
    const result = await runCli(['check', '--config', config]);
    assert.match(result.stdout, /^hba_file: 2 rules, every line honoured/m, result.stderr);
    assert.match(
      result.stdout,
      /^warning: .*pg_hba\.conf:2: hostssl record cannot match because client_tls_sslmode is "disable"/m,
    );
  });

  describe('a running pgtide', () => {
    let p: PgtideProcess;
    before(async () => {
      writeFileSync(hbaFile, 'host all all 127.0.0.1/32 scram-sha-256\n');
      p = await spawnPgtide(t, dir, authFile, [`hba_file = "${hbaFile}"`]);
    });
    after(() => p.stop());

    test('rereads hba_file on SIGHUP', async () => {
      assert.equal(await verdict(p.port), 'ok');
      writeFileSync(hbaFile, 'host all all 127.0.0.1/32 reject\n');
      p.child.kill('SIGHUP');
      await waitFor(async () =>
        (await verdict(p.port)).startsWith('28000: pg_hba.conf rejects connection for host "127.0.0.1"'),
      );
    });

    test('keeps the running rules when the new file is broken, and logs why', async () => {
      writeFileSync(hbaFile, 'host all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/33 trust\n');
      p.child.kill('SIGHUP');
      await waitFor(async () => /reload failed; keeping the running configuration/.test(p.output()));
      assert.match(p.output(), /pg_hba\.conf:2: invalid CIDR mask in address/);
      assert.match(await verdict(p.port), /^28000: pg_hba.conf rejects connection/);
    });
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
