// hba_file against PostgreSQL itself: the same pg_hba.conf is given to pgtide and to a
// throw-away PostgreSQL server, and psql and node-postgres connect to both from 127.0.0.1,
// ::1, the unix socket and a second address (a network namespace). Every probe must end the
// same way on both: logged in, or refused with the same message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { ConfigError } from '../../src/config/problems.js';
import type { Config } from '../../src/config/types.js';
import { importSeedStack } from '../../src/config/import/to-toml.js';
import { parseConfig } from '../../src/config/load.js';
import { freePorts } from '../support/free-ports.js';
import { createNetns, type Netns } from '../support/netns.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { startReferencePg, type ReferencePg } from '../support/reference-pg.js';
import { currentTopology } from '../support/topology.js';

const t = currentTopology();
const run = promisify(execFile);
const SEED = fileURLToPath(new URL('../../../test/fixtures/seed/', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

interface Target {
  host: string;
  port: number;
}
interface Source {
  name: string;
  /** Where the client connects: pgtide's and PostgreSQL's address (or socket directory). */
  pgtide: Target;
  reference: Target;
  /** Run the client inside the network namespace. */
  netns: boolean;
}
interface Login {
  user: string;
  password: string;
  database: string;
  /** Connect over TLS (sslmode=require); plain otherwise. */
  tls?: boolean;
  /** Present the client certificate made for this CN (see makeCertificates); implies tls. */
  cert?: string;
}

/** Client certificates, by CN, that the test CA signed, and one signed by another CA. */
const certificates = new Map<string, { cert: string; key: string }>();
const ROGUE = 'rogue';

/** A CA (given to both servers) and, for each CN, a certificate and key it signed. */
async function makeCertificates(dir: string, cns: string[]): Promise<string> {
  const ca = join(dir, 'ca.crt');
  const sign = async (cn: string, caName: string, name: string) => {
    const [key, csr, cert] = ['key', 'csr', 'crt'].map((ext) => join(dir, `${name}.${ext}`));
    await run('openssl', [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key!,
      '-out',
      csr!,
      '-subj',
      `/CN=${cn}`,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr!,
      '-CA',
      join(dir, `${caName}.crt`),
      '-CAkey',
      join(dir, `${caName}.key`),
      '-CAcreateserial',
      '-out',
      cert!,
      '-days',
      '1',
    ]);
    chmodSync(key!, 0o600); // libpq refuses a key others can read
    return { cert: cert!, key: key! };
  };
  for (const name of ['ca', 'rogue-ca']) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.crt`),
      '-days',
      '1',
      '-subj',
      `/CN=pgtide test ${name}`,
    ]);
    chmodSync(join(dir, `${name}.crt`), 0o644);
  }
  for (const cn of cns) certificates.set(cn, await sign(cn, 'ca', `client-${cn}`));
  certificates.set(ROGUE, await sign(t.scramUser.user, 'rogue-ca', 'client-rogue'));
  return ca;
}

/** psql's verdict: "ok" or the server's message (libpq prints no SQLSTATE for a failed connection). */
async function viaPsql(target: Target, login: Login, prefix: string[]): Promise<string> {
  const pair = login.cert ? certificates.get(login.cert)! : null;
  const certOptions = pair ? ` sslcert=${pair.cert} sslkey=${pair.key}` : '';
  const conninfo = `host=${target.host} port=${target.port} user=${login.user} dbname=${login.database} sslmode=${login.tls || pair ? 'require' : 'disable'} connect_timeout=5${certOptions}`;
  const argv = [...prefix, 'psql', conninfo, '-X', '-A', '-t', '-c', 'SELECT 1'];
  try {
    await run(argv[0]!, argv.slice(1), { env: { ...process.env, PGPASSWORD: login.password }, timeout: 20_000 });
    return 'ok';
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message);
    return (/FATAL:\s+(.*)/.exec(stderr)?.[1] ?? stderr.replace(/^.*failed: /s, '')).trim();
  }
}

const DRIVER_SCRIPT = `
const pg = require('pg');
const fs = require('fs');
const [host, port, user, password, database, tls, cert, key] = process.argv.slice(1);
const ssl = tls === 'tls' ? { rejectUnauthorized: false, ...(cert ? { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } : {}) } : false;
const c = new pg.Client({ host, port: Number(port), user, password, database, ssl, connectionTimeoutMillis: 5000 });
c.connect().then(() => c.query('SELECT 1')).then(() => 'ok', (e) => e.code + ': ' + e.message)
  .then((r) => { process.stdout.write(r); return c.end().catch(() => {}); });`;

/** node-postgres's verdict: "ok" or "SQLSTATE: message". In the namespace, in a child node. */
async function viaDriver(target: Target, login: Login, prefix: string[]): Promise<string> {
  const pair = login.cert ? certificates.get(login.cert)! : null;
  const tls = login.tls || pair !== null;
  if (prefix.length > 0) {
    const argv = [
      ...prefix,
      process.execPath,
      '-e',
      DRIVER_SCRIPT,
      target.host,
      String(target.port),
      login.user,
      login.password,
      login.database,
      tls ? 'tls' : 'plain',
      ...(pair ? [pair.cert, pair.key] : []),
    ];
    return (await run(argv[0]!, argv.slice(1), { cwd: REPO, timeout: 20_000 })).stdout;
  }
  const { user, password, database } = login;
  const ssl = tls
    ? { rejectUnauthorized: false, ...(pair ? { cert: readFileSync(pair.cert), key: readFileSync(pair.key) } : {}) }
    : false;
  const client = new pg.Client({ ...target, user, password, database, ssl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (err) {
    const e = err as { code?: string; message: string };
    return `${e.code}: ${e.message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

const logins: Login[] = [
  { user: t.scramUser.user, password: t.scramUser.password, database: t.database },
  { user: t.md5User.user, password: t.md5User.password, database: 'challenge' },
  { user: t.scramUser.user, password: 'wrong', database: 'challenge' },
  { user: t.md5User.user, password: 'wrong', database: t.database },
];

/** Each file is written for both servers; `expect` pins a few verdicts so that agreement
 *  cannot come from both failing for some unrelated reason. */
interface Case {
  name: string;
  hba: string[];
  lists?: Record<string, string>;
  /** Instead of the usual four logins. */
  logins?: Login[];
  expect: [source: string, login: number, verdict: RegExp][];
}

const cases: Case[] = [
  {
    name: "the seed's pool_hba.conf, as `pgtide import` references it",
    hba: [], // filled from the import below
    expect: [
      ['127.0.0.1', 0, /^ok$/],
      ['unix', 1, /^ok$/],
      ['::1', 0, /no pg_hba.conf entry for host "::1", user "pgtide_scram", database "pgtide_test", no encryption/],
      ['netns', 0, /no pg_hba.conf entry for host "10\.213\./],
      ['127.0.0.1', 2, /password authentication failed for user "pgtide_scram"/],
    ],
  },
  {
    name: 'every method, chosen per user and address; first line wins',
    hba: [
      'local   all        pgtide_md5                     reject',
      'local   all        all                            trust',
      'host    all        pgtide_scram  127.0.0.1/32     password',
      'host    all        pgtide_md5    127.0.0.1/32     scram-sha-256',
      'host    challenge  all           ::1/128          reject',
      'host    all        all           ::1/128          md5',
      'host    all        all           samenet          trust',
    ],
    expect: [
      ['unix', 1, /pg_hba.conf rejects connection for host "\[local\]", user "pgtide_md5"/],
      ['unix', 2, /^ok$/],
      ['127.0.0.1', 0, /^ok$/],
      ['127.0.0.1', 1, /password authentication failed for user "pgtide_md5"/],
      ['::1', 1, /pg_hba.conf rejects connection for host "::1", user "pgtide_md5", database "challenge"/],
      ['netns', 2, /^ok$/],
    ],
  },
  {
    name: 'lists, quoted names, sameuser, address with a netmask, IPv6 catch-all',
    hba: [
      'host   "challenge"  pgtide_md5,"pgtide_scram"  127.0.0.0 255.0.0.0  scram-sha-256',
      'host   sameuser     all                        all                  trust',
      'host   pgtide_test  all                        0.0.0.0/0            md5',
      'local  replication  all                                             trust',
      'local  all          all                                             password',
      'host   all          all                        ::0/0                reject',
    ],
    expect: [
      ['127.0.0.1', 1, /password authentication failed for user "pgtide_md5"/],
      ['netns', 0, /^ok$/],
      ['netns', 1, /no pg_hba.conf entry for host "10\.213\./],
      ['::1', 0, /pg_hba.conf rejects connection for host "::1"/],
      ['unix', 3, /password authentication failed/],
    ],
  },
  {
    name: 'hostssl, hostgssenc, hostnossl with samehost, hostnogssenc',
    hba: [
      'hostssl       all  all           all           trust',
      'hostgssenc    all  all           all           trust',
      'hostnossl     all  pgtide_scram  samehost      scram-sha-256',
      'hostnogssenc  all  all           10.0.0.0/8    password',
      'host          all  all           127.0.0.1/32  md5',
      'local         all  all                         md5',
    ],
    expect: [
      ['127.0.0.1', 0, /^ok$/],
      ['::1', 2, /password authentication failed for user "pgtide_scram"/],
      ['netns', 0, /^ok$/],
      ['::1', 1, /no pg_hba.conf entry for host "::1", user "pgtide_md5"/],
    ],
  },
  {
    name: 'hostssl and hostnossl with clients on TLS and not',
    hba: [
      'hostssl    challenge  all           ::1/128  reject',
      'hostssl    all        pgtide_scram  all      scram-sha-256',
      'hostnossl  all        pgtide_scram  all      trust',
      'hostssl    all        pgtide_md5    all      md5',
      'local      all        all                    md5',
    ],
    logins: [
      { user: t.scramUser.user, password: 'wrong', database: t.database, tls: true },
      { user: t.scramUser.user, password: 'wrong', database: t.database },
      { user: t.md5User.user, password: t.md5User.password, database: 'challenge', tls: true },
      { user: t.md5User.user, password: t.md5User.password, database: t.database },
      { user: t.scramUser.user, password: t.scramUser.password, database: 'challenge', tls: true },
    ],
    expect: [
      ['127.0.0.1', 0, /^28P01: password authentication failed for user "pgtide_scram"/],
      ['127.0.0.1', 1, /^ok$/],
      ['127.0.0.1', 2, /^ok$/],
      [
        '127.0.0.1',
        3,
        /no pg_hba.conf entry for host "127\.0\.0\.1", user "pgtide_md5", database "pgtide_test", no encryption/,
      ],
      [
        '::1',
        4,
        /pg_hba.conf rejects connection for host "::1", user "pgtide_scram", database "challenge", SSL encryption/,
      ],
    ],
  },
  {
    name: 'cert, and clientcert on password and trust lines',
    hba: [
      'hostssl  all          pgtide_scram  all  cert',
      'hostssl  challenge    pgtide_md5    all  md5 clientcert=verify-full',
      'hostssl  pgtide_test  pgtide_md5    all  md5 clientcert=verify-ca',
      'hostssl  all          all           all  trust clientcert=verify-full',
      'local    all          all                md5',
    ],
    logins: [
      { user: t.scramUser.user, password: 'wrong', database: t.database, cert: t.scramUser.user },
      { user: t.scramUser.user, password: t.scramUser.password, database: t.database, tls: true },
      { user: t.scramUser.user, password: t.scramUser.password, database: t.database, cert: t.md5User.user },
      { user: t.md5User.user, password: t.md5User.password, database: 'challenge', cert: t.md5User.user },
      { user: t.md5User.user, password: t.md5User.password, database: 'challenge', cert: t.scramUser.user },
      { user: t.md5User.user, password: t.md5User.password, database: t.database, cert: t.scramUser.user },
      { user: t.md5User.user, password: t.md5User.password, database: t.database, tls: true },
      { user: 'pgtide_nobody', password: 'x', database: t.database, cert: t.scramUser.user },
    ],
    expect: [
      ['127.0.0.1', 0, /^ok$/],
      ['127.0.0.1', 1, /^28000: connection requires a valid client certificate$/],
      ['127.0.0.1', 2, /^28000: certificate authentication failed for user "pgtide_scram"$/],
      ['::1', 3, /^ok$/],
      ['127.0.0.1', 4, /^28P01: password authentication failed for user "pgtide_md5"$/],
      ['127.0.0.1', 5, /^ok$/],
      ['::1', 6, /^28000: connection requires a valid client certificate$/],
      ['127.0.0.1', 7, /^28000: "trust" authentication failed for user "pgtide_nobody"$/],
    ],
  },
  {
    name: '@file lists next to the file',
    hba: ['host @dbs.list @users.list all md5', 'local all all trust'],
    lists: { 'dbs.list': "challenge  # the seed's database\n", 'users.list': 'pgtide_md5\n"pgtide_scram"\n' },
    expect: [
      ['127.0.0.1', 1, /^ok$/],
      ['127.0.0.1', 0, /no pg_hba.conf entry for host "127\.0\.0\.1", user "pgtide_scram", database "pgtide_test"/],
    ],
  },
  {
    name: 'no line matches',
    hba: ['# only one database', 'host nosuchdb all all trust'],
    expect: [
      [
        'unix',
        0,
        /no pg_hba.conf entry for host "\[local\]", user "pgtide_scram", database "pgtide_test", no encryption/,
      ],
    ],
  },
];

describe('hba_file compared with PostgreSQL', { timeout: 600_000 }, () => {
  let reference: ReferencePg;
  let p: RunningPgtide;
  let netns: Netns | string;
  let dir: string;
  let hbaFile: string;
  let certDir: string;
  let sources: Source[];

  /** A second pgtide in front of the reference server, with its key pair and the suite's client CA. */
  const startOnReference = (overrides: Partial<Config>) =>
    startPgtide(t, {
      backends: [{ name: 'reference', host: '127.0.0.1', port: reference.node.port, weight: 1, role: 'primary' }],
      client_tls_key_file: reference.tls.key,
      client_tls_cert_file: reference.tls.cert,
      client_tls_ca_file: p.config.client_tls_ca_file,
      ...overrides,
    });

  before(async () => {
    netns = await createNetns();
    if (typeof netns === 'string') console.log(`# skipping the second-address probes: ${netns}`);
    dir = mkdtempSync(join(tmpdir(), 'pgtide-hba-'));
    // pgtide reads the seed's own file, where the import points hba_file.
    const imported = parseConfig(
      importSeedStack({ pgpool: join(SEED, 'pgpool.conf'), poolHba: join(SEED, 'pool_hba.conf') }).toml,
      'imported.toml',
    );
    hbaFile = imported.hba_file;
    assert.equal(hbaFile, join(SEED, 'pool_hba.conf'));
    reference = await startReferencePg(t);
    // Both servers ask for client certificates and trust the same CA (cert and clientcert lines).
    certDir = mkdtempSync(join(tmpdir(), 'pgtide-hba-certs-'));
    chmodSync(certDir, 0o755);
    const ca = await makeCertificates(certDir, [t.scramUser.user, t.md5User.user]);
    await reference.useCa(ca);
    const [port] = await freePorts(1);
    p = await startPgtide(t, {
      listen_addr: ['*'],
      listen_port: [port!],
      unix_socket_dir: dir,
      hba_file: hbaFile,
      client_tls_sslmode: 'prefer',
      client_tls_key_file: reference.tls.key,
      client_tls_cert_file: reference.tls.cert,
      client_tls_ca_file: ca,
    });
    const tcp = (host: string): Pick<Source, 'pgtide' | 'reference'> => ({
      pgtide: { host, port: port! },
      reference: { host, port: reference.node.port },
    });
    sources = [
      // pgtide listens on one dual-stack socket: 127.0.0.1 arrives as ::ffff:127.0.0.1.
      { name: '127.0.0.1', ...tcp('127.0.0.1'), netns: false },
      { name: '::1', ...tcp('::1'), netns: false },
      {
        name: 'unix',
        pgtide: { host: dir, port: port! },
        reference: { host: reference.node.socketDir, port: reference.node.port },
        netns: false,
      },
    ];
    if (typeof netns !== 'string') sources.push({ name: 'netns', ...tcp(netns.hostAddress), netns: true });
  });

  after(async () => {
    await p?.stop();
    await reference?.stop();
    if (netns && typeof netns !== 'string') await netns.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  /** Gives both servers the file (pgtide through a reload) and compares every probe. */
  async function compare(c: Case): Promise<void> {
    const seed = c.hba.length === 0;
    const text = seed ? readFileSync(hbaFile, 'utf8') : `${c.hba.join('\n')}\n`;
    const extra: string[] = [];
    for (const [name, content] of Object.entries(c.lists ?? {})) {
      writeFileSync(join(dir, name), content);
      extra.push(join(dir, name));
    }
    await reference.useHba(text, extra);
    const file = seed ? hbaFile : join(dir, 'pg_hba.conf');
    if (!seed) writeFileSync(file, text);
    p.pgtide.reload({ ...p.config, hba_file: file });

    const mismatches: string[] = [];
    const verdicts = new Map<string, string>();
    for (const source of sources) {
      const prefix = source.netns && typeof netns !== 'string' ? netns.exec : [];
      for (const [index, login] of (c.logins ?? logins).entries()) {
        // PostgreSQL answers an SSLRequest on its unix socket with 'N' (pgtide does TLS there).
        if ((login.tls || login.cert) && source.name === 'unix') continue;
        for (const [client, probe] of [
          ['psql', viaPsql],
          ['pg', viaDriver],
        ] as const) {
          const [ours, theirs] = [
            await probe(source.pgtide, login, prefix),
            await probe(source.reference, login, prefix),
          ];
          if (ours !== theirs)
            mismatches.push(
              `${client} from ${source.name} as ${login.user}/${login.database}${login.password === 'wrong' ? ' (wrong password)' : ''}${login.tls ? ' on TLS' : ''}${login.cert ? ` with ${login.cert}'s certificate` : ''}:\n  pgtide:     ${ours}\n  PostgreSQL: ${theirs}`,
            );
          if (client === 'pg') verdicts.set(`${source.name}#${index}`, ours);
        }
      }
    }
    assert.deepEqual(mismatches, [], mismatches.join('\n'));
    console.log(`${c.name}: ${verdicts.size * 2} probes (psql and pg), each answered alike by pgtide and PostgreSQL`);
    for (const [source, login, verdict] of c.expect) {
      const got = verdicts.get(`${source}#${login}`);
      if (got === undefined && source === 'netns') continue; // no namespace here
      assert.match(got ?? 'no such probe', verdict, `${source} as login ${login}`);
    }
  }

  for (const c of cases) test(c.name, () => compare(c));

  test('a refusal is logged with the client address and the deciding line', async () => {
    writeFileSync(join(dir, 'pg_hba.conf'), 'host all all ::1/128 reject\n');
    p.pgtide.reload({ ...p.config, hba_file: join(dir, 'pg_hba.conf') });
    const verdict = await viaDriver({ host: '::1', port: p.port }, logins[0]!, []);
    assert.match(verdict, /^28000: pg_hba.conf rejects connection for host "::1"/);
    const entry = p.logs.findLast((l) => String(l['msg']).startsWith('pg_hba.conf rejects connection for host "::1"'));
    assert.ok(entry, 'no log line for the refusal');
    assert.match(String(entry['client']), /^::1:\d+$/);
    assert.equal(entry['hba_line'], `${join(dir, 'pg_hba.conf')}:1`);
  });

  test('a certificate another CA signed is refused (by PostgreSQL already in the TLS handshake)', async () => {
    const file = join(dir, 'pg_hba.conf');
    const text = 'hostssl all all all cert\nlocal all all trust\n';
    writeFileSync(file, text);
    await reference.useHba(text);
    p.pgtide.reload({ ...p.config, hba_file: file });
    const rogue: Login = { user: t.scramUser.user, password: 'x', database: t.database, cert: ROGUE };
    const own: Login = { ...rogue, cert: t.scramUser.user };
    const target = { host: '127.0.0.1', port: p.port };
    assert.equal(await viaDriver(target, own, []), 'ok');
    assert.equal(await viaDriver(target, rogue, []), '28000: connection requires a valid client certificate');
    assert.equal(await viaPsql(target, rogue, []), 'connection requires a valid client certificate');
    assert.match(await viaPsql({ host: '127.0.0.1', port: reference.node.port }, rogue, []), /certificate|alert|SSL/i);
    const entry = p.logs.findLast((l) => l['msg'] === 'connection requires a valid client certificate');
    assert.equal(entry?.['certificate_cn'], t.scramUser.user);
  });

  test('auth_type = "cert" (PgBouncer\'s) without an hba_file', async () => {
    await reference.useHba('host all all all md5\nlocal all all trust\n');
    const certOnly = await startOnReference({ auth_type: 'cert', client_tls_sslmode: 'prefer' });
    try {
      const target = { host: '127.0.0.1', port: certOnly.port };
      const login: Login = { user: t.scramUser.user, password: 'not needed', database: t.database };
      assert.equal(await viaPsql(target, { ...login, cert: t.scramUser.user }, []), 'ok');
      assert.equal(
        await viaDriver(target, { ...login, cert: t.md5User.user }, []),
        '28000: certificate authentication failed for user "pgtide_scram"',
      );
      assert.equal(
        await viaDriver(target, { ...login, cert: ROGUE }, []),
        '28000: connection requires a valid client certificate',
      );
      assert.equal(await viaDriver(target, login, []), '28000: connection requires a valid client certificate');
    } finally {
      await certOnly.stop();
    }
  });

  test('cert and clientcert lines PostgreSQL refuses, pgtide refuses in the same words', async () => {
    // (An invalid clientcert or clientname value is refused too, but PostgreSQL leaves its
    // pg_hba_file_rules.error empty then: that comparison is in the unit tests.)
    const lines = [
      'host all all all cert',
      'host all all all md5 clientcert=verify-ca',
      'hostssl all all all cert clientcert=verify-ca',
      'hostssl all all all md5 clientname=CN',
      'hostssl all all all cert clientname=CN',
    ];
    for (const line of lines) {
      const theirs = await reference.useHba(`${line}\n`).then(
        () => 'accepted',
        (err: Error) =>
          String((JSON.parse(err.message.slice(err.message.indexOf('['))) as { error: string }[])[0]?.error),
      );
      const file = join(dir, 'pg_hba.conf');
      writeFileSync(file, `${line}\n`);
      const ours = (() => {
        try {
          p.pgtide.reload({ ...p.config, hba_file: file });
          return 'accepted';
        } catch (err) {
          return /pg_hba\.conf:1: (.*) \(in "/.exec((err as Error).message)?.[1] ?? (err as Error).message;
        }
      })();
      assert.equal(ours, theirs, line);
    }
  });

  test('client_tls_sslmode = verify-ca: only certificates its CA signed get past TLS', async () => {
    await reference.useHba('host all all all md5\nlocal all all trust\n');
    const strict = await startOnReference({ client_tls_sslmode: 'verify-ca' });
    try {
      const target = { host: '127.0.0.1', port: strict.port };
      const login: Login = { user: t.scramUser.user, password: t.scramUser.password, database: t.database };
      assert.equal(await viaDriver(target, { ...login, cert: t.md5User.user }, []), 'ok');
      assert.notEqual(await viaDriver(target, { ...login, cert: ROGUE }, []), 'ok');
      assert.notEqual(await viaPsql(target, { ...login, cert: ROGUE }, []), 'ok');
      assert.notEqual(await viaPsql(target, { ...login, tls: true }, []), 'ok');
      assert.ok(
        strict.logs.some((l) => l['msg'] === 'client certificate not signed by client_tls_ca_file; connection closed'),
      );
    } finally {
      await strict.stop();
    }
  });

  test('a broken file on reload keeps the old rules and says which line is wrong', async () => {
    const file = join(dir, 'pg_hba.conf');
    writeFileSync(file, 'local all all trust\n');
    p.pgtide.reload({ ...p.config, hba_file: file });
    writeFileSync(file, 'local all all trust\nhost all all 10.0.0.0/40 md5\nlocal all all peer\n');
    assert.throws(
      () => p.pgtide.reload({ ...p.config, hba_file: file }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /pg_hba\.conf:2: invalid CIDR mask in address "10\.0\.0\.0\/40"/);
        assert.match(err.message, /pg_hba\.conf:3: .*peer authentication cannot be honoured/);
        return true;
      },
    );
    // Still the old rules: the unix socket is trusted, TCP has no entry.
    assert.equal(await viaDriver({ host: dir, port: p.port }, logins[2]!, []), 'ok');
    assert.match(
      await viaDriver({ host: '127.0.0.1', port: p.port }, logins[0]!, []),
      /^28000: no pg_hba.conf entry for host "127\.0\.0\.1"/,
    );
  });
});
