// What drivers see while logging in through pgtide, compared with PostgreSQL itself: the
// ParameterStatus forms they compare, a client that ends before its login is done, and
// replication connections, which pgtide does not proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, scramLogin } from '../support/topology.js';
import { formatScramSecret, scramSecretFromPassword } from '../../src/auth/secret.js';
import { listedRole, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  GSSENC_REQUEST,
  SSL_REQUEST,
  askEncryption,
  rawConnect,
  rawExchange,
  sendCancelRequest,
  startupPacket,
} from '../support/raw-client.js';
import { query, terminate } from '../../src/protocol/encode.js';
import { WireClient, errorCodes } from '../support/pipeline.js';
import { psql } from '../support/psql.js';
import type { Config, PoolMode } from '../../src/config/types.js';

const t = currentTopology();
const direct = (o: pg.ClientConfig = {}): pg.ClientConfig => ({ ...scramLogin(t, t.primary), ...o });

/** The ParameterStatus values a client hears at login, up to its first ReadyForQuery. */
async function loginParams(
  host: string,
  port: number,
  params: Record<string, string> = {},
): Promise<Map<string, string>> {
  const c = await WireClient.connect({ ...scramLogin(t, { host, port }), params });
  const told = new Map(c.parameters);
  await c.close();
  return told;
}

/** node-postgres's quick-disconnect case: connect() and end() in the same tick. Resolves with
 *  every error the client surfaced (as an 'error' event or a rejected connect). */
async function quickDisconnect(config: pg.ClientConfig): Promise<string[]> {
  const c = new pg.Client(config);
  const errors: string[] = [];
  c.on('error', (err) => errors.push(`error event: ${err.message}`));
  // Directly, connect() never settles: PostgreSQL closes without a word, which pg does not report.
  void c.connect().catch((err: Error) => errors.push(`connect: ${err.message}`));
  await c.end();
  // Anything pgtide sends after the close would surface now.
  await new Promise((r) => setTimeout(r, 200));
  return errors;
}

for (const mode of ['transaction', 'session'] as PoolMode[]) {
  describe(`logging in (${mode} mode)`, { timeout: 60_000 }, () => {
    let p: RunningPgtide;
    before(async () => {
      p = await startPgtide(t, { pool_mode: mode });
    });
    after(async () => {
      await p.stop();
    });

    test('client_encoding is reported by its canonical name from the first login that asks for a spelling', async () => {
      // A first, plain login: pgtide now knows this pool's settings and logs later clients in without a server.
      await loginParams(p.host, p.port);
      for (const [asked, canonical] of [
        ['utf8', 'UTF8'],
        ['utf-8', 'UTF8'],
        ['euc-jp', 'EUC_JP'],
        ['Unicode', 'UTF8'],
        ['iso-8859-1', 'LATIN1'],
      ] as const) {
        const params = { client_encoding: asked };
        assert.equal(
          (await loginParams(t.primary.host, t.primary.port, params)).get('client_encoding'),
          canonical,
          `${asked}, directly`,
        );
        assert.equal(
          (await loginParams(p.host, p.port, params)).get('client_encoding'),
          canonical,
          `${asked}, through pgtide`,
        );
      }
    });

    // Found by lib/pq's suite: in a pool that had logged clients in, an unknown name was
    // refused only at the client's first statement, which lib/pq reads as a broken connection.
    test('a startup setting the server does not know, or a value it rejects, refuses the login (42704, 22023), as PostgreSQL does', async () => {
      await loginParams(p.host, p.port);
      // Names the server knows, new to the pool, log in; later clients giving them do without a server.
      for (let i = 0; i < 2; i++) {
        const c = new pg.Client(p.pgConfig({ options: '-c work_mem=200kB -c DateStyle=ISO' }));
        await c.connect();
        assert.equal((await c.query('SHOW work_mem')).rows[0].work_mem, '200kB');
        await c.end();
      }
      // Known names with values the server rejects, too.
      for (const [options, code] of [
        ['-c no_such_setting=1', '42704'],
        ['-c work_mem=abc', '22023'],
        ['-c DateStyle=nonsense', '22023'],
        // Malformed options, refused by pgtide before any server (08P01 before a helper compared).
        ['-c work_mem', '42601'],
        ['--work_mem', '42601'],
        ['-c =1', '42704'],
      ] as const) {
        // A refused login's server is closed: each tries its settings on an idle one.
        const warm = new pg.Client(p.pgConfig());
        await warm.connect();
        await warm.query('SELECT 1');
        await warm.end();
        for (const [config, where] of [
          [direct({ options }), 'directly'],
          [p.pgConfig({ options }), 'through pgtide'],
        ] as const) {
          const c = new pg.Client(config);
          c.on('error', () => {});
          await assert.rejects(c.connect(), (err: { code?: string }) => err.code === code, `${options}, ${where}`);
        }
      }
    });

    test('a client that ends while connecting is closed quietly, as PostgreSQL does', async () => {
      assert.deepEqual(await quickDisconnect(direct()), [], 'directly');
      for (let i = 0; i < 5; i++)
        assert.deepEqual(await quickDisconnect(p.pgConfig()), [], `through pgtide, round ${i}`);
      // Terminate right after the startup packet, before the password: no error either.
      const startup = startupPacket({ user: t.scramUser.user, database: t.database });
      const out = await rawExchange(p.port, [Buffer.concat([startup, terminate()])], 1000);
      assert.equal(
        out.error,
        null,
        `pgtide answered a Terminate during authentication with ${JSON.stringify(out.error)}`,
      );
      assert.ok(out.closed);
      // And pgtide still serves everyone.
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
      await c.end();
    });

    test('a replication connection is refused with a clear error, not served as a normal session', async () => {
      for (const replication of ['database', 'true']) {
        const c = new pg.Client(p.pgConfig({ replication } as pg.ClientConfig));
        const err = await c.connect().then(
          () => null,
          (e: Error & { code?: string }) => e,
        );
        if (!err) await c.end();
        assert.ok(err, `replication=${replication} was accepted`);
        assert.equal(err.code, '0A000', err.message);
        assert.match(err.message, /does not proxy replication connections/);
        assert.match(String((err as { hint?: string }).hint), /primary directly/);
      }
      // The refusal's log line names the user who asked.
      const refusals = p.logs.filter((l) => l.code === '0A000' && /replication/.test(String(l.message)));
      assert.ok(refusals.length >= 2);
      for (const line of refusals) assert.equal(line.user, p.pgConfig().user);
      // replication=false is an ordinary session.
      const c = new pg.Client(p.pgConfig({ replication: 'false' } as pg.ClientConfig));
      await c.connect();
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
      await c.end();
    });
  });
}

/** The answers to encryption requests sent one after another on one connection, then the
 *  first byte of the answer to a startup packet if the connection is still open. */
async function encryptionDialogue(port: number, requests: ('ssl' | 'gss')[]): Promise<string[]> {
  const socket = await rawConnect(port);
  try {
    const answers: string[] = [];
    for (const request of requests) {
      const answer = await askEncryption(socket, request === 'ssl' ? SSL_REQUEST : GSSENC_REQUEST);
      answers.push(answer);
      if (answer.length !== 1) return answers;
    }
    const first = new Promise<string>((resolve) =>
      socket.once('data', (d: Buffer) => resolve(String.fromCharCode(d[0]!))),
    );
    socket.write(startupPacket({ user: t.scramUser.user, database: t.database }));
    answers.push(`startup: ${await first}`);
    return answers;
  } finally {
    socket.destroy();
  }
}

// PostgreSQL answers an SSLRequest once and a GSSENCRequest once (postmaster's
// ProcessStartupPacket); another is read as protocol version 1234.5679 or 1234.5680 and refused
// (0A000, "unsupported frontend protocol"). libpq's gssencmode=prefer sends a GSSENCRequest, then
// an SSLRequest after its N: that must go on working.
describe('encryption requests answered as PostgreSQL answers them (no client TLS)', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t);
  });
  after(() => p.stop());

  test('a direct TLS handshake (libpq 18 sslnegotiation=direct) is closed unanswered, as PostgreSQL without ssl closes it', async () => {
    const refusal = async (port: number): Promise<string> => {
      const target = { host: '127.0.0.1', port, sslmode: 'require', sslNegotiation: 'direct' };
      const err = await psql(t, target, 'SELECT 1').then(
        () => null,
        (e: { stderr?: string }) => e,
      );
      assert.ok(err, `port ${port} took a direct TLS connection without TLS`);
      return (err.stderr ?? '').replace(`port ${port}`, 'port N');
    };
    assert.equal(await refusal(p.port), await refusal(t.primary.port));
  });

  const sequences: { requests: ('ssl' | 'gss')[]; expected: string[] }[] = [
    { requests: ['ssl', 'ssl'], expected: ['N', 'E FATAL 0A000'] },
    { requests: ['gss', 'gss'], expected: ['N', 'E FATAL 0A000'] },
    { requests: ['ssl', 'gss', 'ssl'], expected: ['N', 'N', 'E FATAL 0A000'] },
    { requests: ['gss', 'ssl', 'gss'], expected: ['N', 'N', 'E FATAL 0A000'] },
    { requests: ['gss', 'ssl'], expected: ['N', 'N', 'startup: R'] },
    { requests: ['ssl', 'gss'], expected: ['N', 'N', 'startup: R'] },
  ];
  for (const { requests, expected } of sequences) {
    test(`${requests.join(', ')}: ${expected.join(', ')}`, async () => {
      assert.deepEqual(await encryptionDialogue(t.primary.port, requests), expected, 'directly');
      assert.deepEqual(await encryptionDialogue(p.port, requests), expected, 'through pgtide');
    });
  }
});

// PostgreSQL 18 speaks protocol 3.0 to 3.2 and takes any of them as asked; a newer one, or a
// `_pq_.` option it does not know, gets NegotiateProtocolVersion carrying the whole version word
// it will speak (libpq 18 with max_protocol_version=latest refuses any other answer).
describe('protocol versions answered as PostgreSQL 18 answers them', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  before(async () => {
    p = await startPgtide(t);
  });
  after(() => p.stop());

  /** The NegotiateProtocolVersion a login got (hex of its body), or 'none'. */
  async function negotiation(port: number, minor: number, params: Record<string, string>): Promise<string> {
    const c = await WireClient.connect({ ...scramLogin(t, { host: '127.0.0.1', port }), minor, params });
    await c.close();
    return c.negotiated ? c.negotiated.body.toString('hex') : 'none';
  }

  for (const minor of [0, 1, 2, 3, 9]) {
    for (const params of [{}, { '_pq_.pgtide_unknown': 'on' }] as Record<string, string>[]) {
      const label = `3.${minor}${Object.keys(params).length > 0 ? ' with an unknown _pq_ option' : ''}`;
      test(label, async () => {
        const directly = await negotiation(t.primary.port, minor, params);
        assert.equal(await negotiation(p.port, minor, params), directly);
      });
    }
  }

  test('psql on libpq 18 asking for the latest protocol logs in', async () => {
    for (const port of [t.primary.port, p.port]) {
      assert.equal(await psql(t, { host: '127.0.0.1', port, maxProtocolVersion: 'latest' }, 'SELECT 42'), '42\n');
    }
  });

  test('a 3.2 client cancels its query with the key it was given', async () => {
    const c = await WireClient.connect({ ...p.wireLogin(), minor: 2 });
    try {
      const key = c.keyData!.body;
      const secret = key.subarray(4);
      assert.ok(secret.length >= 4 && secret.length <= 256, `a 3.2 key is 4 to 256 bytes, got ${secret.length}`);
      c.send(query('SELECT pg_sleep(30)'));
      await new Promise((r) => setTimeout(r, 300));
      await sendCancelRequest(p.host, p.port, key.readUInt32BE(0), secret);
      const answer = await c.untilReady(1, 10_000);
      assert.deepEqual(errorCodes(answer), ['57014']);
    } finally {
      await c.close();
    }
  });
});

/** A role whose stored SCRAM secret asks logins for 1,000,000 iterations (~190 ms of HMACs each). */
describe('a server asking for more SCRAM iterations than server_scram_max_iterations', () => {
  const role = { user: 'pgtide_scram_heavy', password: 'heavy-pw' };
  let made: Awaited<ReturnType<typeof listedRole>>;

  before(async () => {
    const secret = formatScramSecret(scramSecretFromPassword(role.password, undefined, 1_000_000));
    made = await listedRole(t, role, secret);
  });
  after(() => made.drop());

  const login = async (overrides: Partial<Config>) => {
    const p = await startPgtide(t, { auth_file: made.authFile, ...overrides });
    const c = new pg.Client({
      host: p.host,
      port: p.port,
      user: role.user,
      password: role.password,
      database: t.database,
    });
    try {
      await c.connect();
      return (await c.query('SELECT current_user AS u')).rows[0].u as string;
    } finally {
      await c.end().catch(() => {});
      await p.stop();
    }
  };

  test('is refused at login with an error that names the setting, without running the iterations', async () => {
    await assert.rejects(
      login({}),
      /asks for 1000000 SCRAM iterations, more than server_scram_max_iterations \(100000\) allows/,
    );
  });

  test('logs in once server_scram_max_iterations allows the count', async () => {
    assert.equal(await login({ server_scram_max_iterations: 1_000_000 }), role.user);
  });
});

describe('user names longer than 63 bytes', () => {
  const role = { user: `pgtide_long_${'n'.repeat(51)}`, password: 'long-pw' };
  let made: Awaited<ReturnType<typeof listedRole>>;
  let p: RunningPgtide;

  before(async () => {
    made = await listedRole(t, role);
    p = await startPgtide(t, { auth_file: made.authFile });
  });
  after(async () => {
    await p.stop();
    await made.drop();
  });

  test('are cut to 63 bytes and log in as the role PostgreSQL finds under the cut name', async () => {
    assert.equal(role.user.length, 63);
    const longer = `${role.user}_and_more`;
    for (const at of [t.primary, p]) {
      const c = new pg.Client({
        host: at.host,
        port: at.port,
        user: longer,
        password: role.password,
        database: t.database,
      });
      await c.connect();
      try {
        assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, role.user);
      } finally {
        await c.end();
      }
    }
  });
});
