// Every byte a server sends is untrusted: a malformed or hostile server must cost one server
// connection (a login error, or a lost server for its client), never the process, a hang or
// unbounded memory. A local net.Server plays the server; no PostgreSQL sends these bytes.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as encode from '../../src/protocol/encode.js';
import { decodeSASLInitialResponse, decodeSASLResponse } from '../../src/protocol/frontend.js';
import { ScramServer } from '../../src/auth/scram-server.js';
import { scramSecretFromPassword } from '../../src/auth/secret.js';
import type { ServerAuthMethod, ServerChannelBinding, ServerTlsMode } from '../../src/config/types.js';
import { ServerQueryError } from '../../src/pool/own-query.js';
import { ServerConnection } from '../../src/pool/server-connection.js';
import type { ServerCredentials, ServerLoginError } from '../../src/pool/server-login.js';
import type { ServerOwner, ServerPeer } from '../../src/pool/server-peer.js';

const MAX_PACKET_SIZE = 1024 * 1024;

/** What the fake server does with the n-th packet pgtide sends it (startup first). */
type Reply = (packet: Buffer, socket: net.Socket) => void;

const send =
  (...messages: Buffer[]): Reply =>
  (_packet, socket) =>
    void socket.write(Buffer.concat(messages));
const sendThenClose =
  (...messages: Buffer[]): Reply =>
  (_packet, socket) =>
    void socket.end(Buffer.concat(messages));

/** A typed message with any body, valid or not. */
function message(type: string, body: Buffer | string): Buffer {
  const bytes = Buffer.from(body as string, 'latin1');
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(4 + bytes.length, 1);
  return Buffer.concat([header, bytes]);
}

/** A header claiming `length`, with nothing after it. */
function header(type: string, length: number): Buffer {
  const bytes = Buffer.alloc(5);
  bytes.write(type, 0, 'latin1');
  bytes.writeInt32BE(length, 1);
  return bytes;
}

function authentication(code: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const codeBytes = Buffer.alloc(4);
  codeBytes.writeInt32BE(code);
  return message('R', Buffer.concat([codeBytes, Buffer.from(data as string, 'latin1')]));
}

const ok = encode.authenticationOk();
const idle = encode.readyForQuery('I');

/** A regression must fail its test, not hang the run. */
const QUICK = { timeout: 5000 };

const servers: net.Server[] = [];
const remotes: net.Socket[] = [];
after(() => {
  for (const socket of remotes) socket.destroy();
  for (const server of servers) server.close();
});

/** Listens for one pgtide connection and answers its packets with `replies`, in order. */
async function fakeServer(
  replies: Reply[],
  received: Buffer[] = [],
): Promise<{ port: number; socket: Promise<net.Socket> }> {
  let connected!: (socket: net.Socket) => void;
  const socket = new Promise<net.Socket>((resolve) => (connected = resolve));
  const server = net.createServer((peer) => {
    let next = 0;
    remotes.push(peer);
    peer.on('error', () => {});
    peer.on('data', (packet) => {
      received.push(packet);
      replies[next++]?.(packet, peer);
    });
    connected(peer);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, socket };
}

interface Connected {
  server: ServerConnection;
  error: ServerLoginError | null;
  /** The fake server's end of the connection. */
  remote: net.Socket;
  /** Resolves when the pool would be told that the connection closed after login. */
  closed: Promise<void>;
}

interface ConnectOptions {
  tlsMode?: ServerTlsMode;
  connectTimeoutMs?: number;
  /** Every method by default: most tests here are about the protocol, not about this policy. */
  authMethods?: ServerAuthMethod[];
  credentials?: ServerCredentials;
  channelBinding?: ServerChannelBinding;
  /** Fills with every chunk pgtide sent the fake server. */
  received?: Buffer[];
  /** Called when the pool would be told that the connection may be lent again. */
  reusable?: () => void;
}

const ALL_METHODS: ServerAuthMethod[] = ['scram-sha-256', 'md5', 'password', 'none'];

async function connect(replies: Reply[], options: ConnectOptions = {}): Promise<Connected> {
  const { tlsMode = 'disable', connectTimeoutMs = 5000, authMethods = ALL_METHODS } = options;
  const { port, socket } = await fakeServer(replies, options.received);
  let loggedIn!: (error: ServerLoginError | null) => void;
  let closed!: () => void;
  const login = new Promise<ServerLoginError | null>((resolve) => (loggedIn = resolve));
  const owner: ServerOwner = {
    onServerLogin: (_server, error) => loggedIn(error),
    onServerClosed: () => closed(),
    onServerReusable: () => options.reusable?.(),
  };
  const server = new ServerConnection(
    {
      endpoint: { host: '127.0.0.1', port },
      credentials: options.credentials ?? { user: 'alice', secret: { kind: 'plain', password: 'pencil' } },
      database: 'db',
      params: {},
      tls: { mode: tlsMode },
      connectTimeoutMs,
      maxPacketSize: MAX_PACKET_SIZE,
      maxPreparedStatements: 10,
      authMethods,
      maxScramIterations: 100_000,
      channelBinding: options.channelBinding ?? 'prefer',
    },
    owner,
  );
  return { server, error: await login, remote: await socket, closed: new Promise((resolve) => (closed = resolve)) };
}

async function loginError(replies: Reply[], options?: ConnectOptions): Promise<ServerLoginError> {
  const { server, error } = await connect(replies, options);
  assert.ok(error, 'the login must fail');
  assert.ok(server.isClosed);
  return error;
}

/** A SCRAM exchange with an honest server brain; `final` answers pgtide's client-final-message. */
function scramReplies(serverFirst: (honest: string) => string, final: (honest: string) => Buffer[]): Reply[] {
  const brain = new ScramServer(scramSecretFromPassword('pencil'), 'alice');
  let honestFinal = '';
  return [
    send(authentication(10, 'SCRAM-SHA-256\0\0')),
    (packet, socket) => {
      const step = brain.clientFirst(decodeSASLInitialResponse(packet.subarray(5))!.data);
      assert.ok(step.ok);
      socket.write(authentication(11, serverFirst(step.message)));
    },
    (packet, socket) => {
      const step = brain.clientFinal(decodeSASLResponse(packet.subarray(5)));
      honestFinal = step.ok ? step.message : '';
      socket.write(Buffer.concat(final(honestFinal)));
    },
  ];
}

const honestFinal = (final: string): Buffer[] => [authentication(12, final), ok, idle];

describe('a server login that goes by the protocol', () => {
  it('succeeds through notices, settings, BackendKeyData and NegotiateProtocolVersion', QUICK, async () => {
    const { server, error } = await connect([
      send(
        ok,
        encode.noticeResponse('WARNING', '01000', 'hello'),
        encode.parameterStatus('server_version', '17.0'),
        encode.backendKeyData(42, Buffer.alloc(4, 7)),
        encode.negotiateProtocolVersion(0x30000, []),
        idle,
      ),
    ]);
    assert.equal(error, null);
    assert.equal(server.backendPid, 42);
    assert.equal(server.params.get('server_version'), '17.0');
    assert.ok(server.isIdle);
    server.close('test over');
  });

  it('succeeds with SCRAM-SHA-256 when the server proves the password', QUICK, async () => {
    const { server, error } = await connect(scramReplies((first) => first, honestFinal));
    assert.equal(error, null);
    server.close('test over');
  });
});

const badLogins: Array<[string, Reply[], RegExp]> = [
  // Handled before this audit; kept so that they stay handled.
  ['an ErrorResponse without SQLSTATE', [send(message('E', 'SFATAL\0Mgo away\0\0'))], /^go away$/],
  ['an empty ErrorResponse', [send(message('E', ''))], /^server refused the login$/],
  ['a truncated BackendKeyData', [send(ok, message('K', '\0\0'))], /invalid BackendKeyData/],
  ['an authentication request without a code', [send(message('R', '\0\0'))], /invalid authentication request/],
  ['an unsupported authentication method', [send(authentication(7))], /unsupported authentication method 7/],
  ['an md5 request with a short salt', [send(authentication(5, 'ab'))], /md5 salt must be 4 bytes, got 2/],
  [
    'SASL without SCRAM-SHA-256',
    [send(authentication(10, 'OAUTHBEARER\0\0'))],
    /no supported SASL mechanism \(OAUTHBEARER\)/,
  ],
  ['SASLContinue without SASL', [send(authentication(11, 'r=x,s=c2FsdA==,i=1'))], /unexpected SASLContinue/],
  ['SASLFinal without SASL', [send(authentication(12, 'v=AAAA'))], /unexpected SASLFinal/],
  ['a negative message length', [send(header('R', -1))], /invalid message length -1/],
  ['a length beyond max_packet_size', [send(header('E', 0x7fffffff))], /exceeds max_packet_size/],
  [
    'a connection closed mid-message',
    [sendThenClose(ok, header('S', 100), Buffer.from('server_'))],
    /closed the connection during login/,
  ],
  // Fixed by this audit.
  ['ReadyForQuery before AuthenticationOk', [send(idle)], /ReadyForQuery before AuthenticationOk/],
  ['a malformed ReadyForQuery', [send(ok, message('Z', 'X'))], /malformed or non-idle ReadyForQuery/],
  [
    'a login that ends inside a transaction',
    [send(ok, encode.readyForQuery('T'))],
    /malformed or non-idle ReadyForQuery/,
  ],
  [
    'a password request after AuthenticationOk',
    [send(ok, encode.authenticationCleartextPassword())],
    /after AuthenticationOk/,
  ],
  [
    'a DataRow during login',
    [send(ok, encode.dataRow(['x']), idle)],
    /unexpected message 'D' from server during login/,
  ],
  [
    'a ParameterStatus longer than 64 KiB',
    [send(ok, encode.parameterStatus('x', 'y'.repeat(65536)), idle)],
    /ParameterStatus longer than 65536 bytes/,
  ],
  [
    'more than 256 ParameterStatus names',
    [send(ok, ...Array.from({ length: 257 }, (_, i) => encode.parameterStatus(`p${i}`, 'v')), idle)],
    /more than 256 ParameterStatus names/,
  ],
];

describe('a hostile server login fails cleanly', () => {
  for (const [name, replies, error] of badLogins) {
    it(name, QUICK, async () => assert.match((await loginError(replies)).message, error));
  }

  it('keeps the fields of an ErrorResponse without SQLSTATE, with an empty code', QUICK, async () => {
    const error = await loginError([send(message('E', 'SFATAL\0Mgo away\0\0'))]);
    assert.equal(error.fields?.code, '');
    assert.equal(error.transient, false);
  });
});

const badScram: Array<[string, Reply[], RegExp]> = [
  [
    'a huge iteration count',
    scramReplies((first) => first.replace(/i=\d+/, 'i=2000000000'), honestFinal),
    /iteration count must be between 1 and 10000000/,
  ],
  [
    '1,000,000 iterations, above server_scram_max_iterations',
    scramReplies((first) => first.replace(/i=\d+/, 'i=1000000'), honestFinal),
    /asks for 1000000 SCRAM iterations, more than server_scram_max_iterations \(100000\) allows/,
  ],
  [
    'a very long nonce',
    scramReplies((first) => first.replace(/r=([^,]+)/, `r=$1${'x'.repeat(4000)}`), honestFinal),
    /nonce longer than 512 bytes/,
  ],
  ['a non-base64 salt', scramReplies((first) => first.replace(/s=[^,]+/, 's=*'), honestFinal), /salt is not base64/],
  [
    'a wrong server signature',
    scramReplies(
      (first) => first,
      () => honestFinal(`v=${Buffer.alloc(32).toString('base64')}`),
    ),
    /server signature does not match/,
  ],
  [
    'an e= error',
    scramReplies(
      (first) => first,
      () => honestFinal('e=invalid-proof'),
    ),
    /the server reported "invalid-proof"/,
  ],
  // Fixed by this audit: without SASLFinal the server never proves it knows the password.
  [
    'AuthenticationOk instead of SASLFinal',
    scramReplies(
      (first) => first,
      () => [ok, idle],
    ),
    /AuthenticationOk before completing SCRAM/,
  ],
  [
    'a second AuthenticationSASL',
    scramReplies(
      (first) => first,
      () => [authentication(10, 'SCRAM-SHA-256\0\0')],
    ),
    /second AuthenticationSASL/,
  ],
];

describe('a hostile SCRAM server fails the login cleanly', () => {
  for (const [name, replies, error] of badScram) {
    it(name, QUICK, async () => assert.match((await loginError(replies)).message, error));
  }
});

describe('server_auth_methods: a server or a man in the middle cannot downgrade the login', () => {
  /** Logs in with `authMethods` to a server that answers the startup packet with `request`. */
  async function refused(
    request: Buffer,
    authMethods: ServerAuthMethod[],
  ): Promise<{ error: ServerLoginError; sent: Buffer }> {
    const received: Buffer[] = [];
    const { server, error, remote } = await connect([send(request, ok, idle)], { authMethods, received });
    assert.ok(error, 'the login must be refused');
    assert.ok(server.isClosed);
    if (!remote.destroyed) await new Promise((resolve) => remote.once('close', resolve));
    return { error, sent: Buffer.concat(received) };
  }

  const cases: Array<[string, Buffer, ServerAuthMethod[], string]> = [
    [
      'cleartext when only SCRAM is allowed',
      encode.authenticationCleartextPassword(),
      ['scram-sha-256'],
      '"password" authentication',
    ],
    ['md5 when only SCRAM is allowed', authentication(5, 'salt'), ['scram-sha-256'], '"md5" authentication'],
    [
      'cleartext under the default (scram-sha-256, md5)',
      encode.authenticationCleartextPassword(),
      ['scram-sha-256', 'md5'],
      '"password" authentication',
    ],
    [
      'AuthenticationOk unasked while a password is configured',
      ok,
      ['scram-sha-256', 'md5'],
      'no authentication at all \\(AuthenticationOk unasked\\)',
    ],
  ];
  for (const [name, request, methods, asked] of cases) {
    it(`refuses ${name}, without sending the password or a hash`, QUICK, async () => {
      const { error, sent } = await refused(request, methods);
      assert.match(
        error.message,
        new RegExp(`asked for ${asked}, but server_auth_methods allows only ${methods.join(', ')}$`),
      );
      assert.equal(error.fields?.code, '28000');
      assert.match(error.fields?.hint ?? '', /pg_hba\.conf.*server_auth_methods/);
      assert.equal(error.transient, false);
      // Only the startup packet went out: no PasswordMessage ('p'), so no secret and no md5 hash.
      assert.equal(sent.length, sent.readInt32BE(0));
      assert.ok(!sent.includes('pencil'));
    });
  }

  it('sends the cleartext password when the operator allows "password"', QUICK, async () => {
    const received: Buffer[] = [];
    const { server, error } = await connect([send(encode.authenticationCleartextPassword()), send(ok, idle)], {
      authMethods: ['password'],
      received,
    });
    assert.equal(error, null);
    assert.ok(Buffer.concat(received).toString('latin1').includes('pencil\0'));
    server.close('test over');
  });

  it('lets a trusting server in when no password is configured, "none" or not', QUICK, async () => {
    const { server, error } = await connect([send(ok, idle)], {
      authMethods: ['scram-sha-256'],
      credentials: { user: 'alice' },
    });
    assert.equal(error, null);
    server.close('test over');
  });

  it('lets a trusting server in when "none" is allowed', QUICK, async () => {
    const { server, error } = await connect([send(ok, idle)], { authMethods: ['scram-sha-256', 'none'] });
    assert.equal(error, null);
    server.close('test over');
  });

  it('logs in with SCRAM when only SCRAM is allowed', QUICK, async () => {
    const { server, error } = await connect(
      scramReplies((first) => first, honestFinal),
      { authMethods: ['scram-sha-256'] },
    );
    assert.equal(error, null);
    server.close('test over');
  });

  it('refuses SCRAM when only md5 is allowed', QUICK, async () => {
    const error = await loginError(
      scramReplies((first) => first, honestFinal),
      { authMethods: ['md5'] },
    );
    assert.match(error.message, /asked for "scram-sha-256" authentication, but server_auth_methods allows only md5$/);
  });
});

describe('server_channel_binding = "require": no login without SCRAM-SHA-256-PLUS, refused before anything secret is sent', () => {
  const cases: Array<[string, Reply[], RegExp, ServerCredentials?]> = [
    ['md5 asked', [send(encode.authenticationMD5Password(Buffer.from('salt')))], /offers "md5" authentication/],
    ['cleartext asked', [send(encode.authenticationCleartextPassword())], /offers "password" authentication/],
    [
      'SCRAM offered on a connection without TLS',
      [send(authentication(10, 'SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0'))],
      /SCRAM without channel binding: the connection is not TLS/,
    ],
    ['a trusting server, a password configured', [send(ok, idle)], /offers no authentication at all/],
    [
      'a trusting server, no password configured',
      [send(ok, idle)],
      /offers no authentication at all/,
      { user: 'alice' },
    ],
  ];
  for (const [name, replies, message, credentials] of cases) {
    it(name, QUICK, async () => {
      const received: Buffer[] = [];
      const error = await loginError(replies, {
        channelBinding: 'require',
        received,
        ...(credentials ? { credentials } : {}),
      });
      assert.match(error.message, message);
      assert.equal(error.fields?.code, '28000');
      // The startup message only: no password, hash or SCRAM message left pgtide.
      assert.equal(Buffer.concat(received).length, encode.startupMessage({ user: 'alice', database: 'db' }).length);
    });
  }

  it('"prefer" without TLS logs in with plain SCRAM and a GS2 header that says so ("n")', QUICK, async () => {
    const received: Buffer[] = [];
    const { server, error } = await connect(
      scramReplies((first) => first, honestFinal),
      { received },
    );
    assert.equal(error, null);
    assert.match(Buffer.concat(received).toString('latin1'), /SCRAM-SHA-256\0[\s\S]{4}n,,n=,r=/);
    server.close('test over');
  });
});

describe('a hostile answer to SSLRequest fails the login cleanly', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['bytes after the S', Buffer.from('SQ\0\0\0\x0bselect'), /unexpected data after SSLRequest/],
    [
      'a long error instead of S or N',
      encode.errorResponse('FATAL', '08P01', 'x'.repeat(100_000)),
      /unexpected data after SSLRequest/,
    ],
    ['a byte that is neither S nor N', Buffer.from('E'), /invalid answer to SSLRequest/],
    ['N when TLS is required', Buffer.from('N'), /does not support TLS/],
  ];
  for (const [name, answer, error] of cases) {
    it(name, QUICK, async () =>
      assert.match((await loginError([send(answer)], { tlsMode: 'require' })).message, error),
    );
  }
});

/** A server connection logged in to a fake server, and that server's socket. */
async function loggedIn(connectTimeoutMs?: number): Promise<Connected> {
  const connected = await connect([send(ok, idle)], { connectTimeoutMs });
  assert.equal(connected.error, null);
  return connected;
}

describe('a hostile answer to an internal query closes the connection', () => {
  const cases: Array<[string, () => Buffer[], RegExp]> = [
    ['a malformed ReadyForQuery', () => [message('Z', 'X')], /malformed ReadyForQuery/],
    ['a malformed DataRow', () => [message('D', '\0\x01\0\0\0\x09ab'), idle], /malformed DataRow/],
    [
      'an endless result',
      () => Array.from({ length: 70 }, () => encode.dataRow(['x'.repeat(65536)])),
      /internal query exceeds 4194304 bytes/,
    ],
  ];
  for (const [name, answer, error] of cases) {
    it(name, QUICK, async () => {
      const { server, remote, closed } = await loggedIn();
      const rows = server.query('SELECT 1');
      remote.write(Buffer.concat(answer()));
      await assert.rejects(rows, error);
      await closed;
      assert.ok(server.isClosed);
    });
  }

  it('no answer at all: the query fails after the connect timeout and the connection closes', QUICK, async () => {
    const { server, closed } = await loggedIn(300);
    const started = Date.now();
    await assert.rejects(server.query('SELECT 1'), /did not answer pgtide's query within 300 ms/);
    assert.ok(Date.now() - started < 2000);
    await closed;
    assert.ok(server.isClosed);
  });

  it(
    'a query with parameters (auth_query) reads rows through ParseComplete, BindComplete, RowDescription',
    QUICK,
    async () => {
      const { server, remote } = await loggedIn();
      const request = new Promise<Buffer>((resolve) => remote.once('data', resolve));
      const rows = server.queryWithParams('SELECT $1, $2', ['alice', 'md5']);
      remote.write(
        Buffer.concat([
          encode.parseComplete(),
          message('2', ''),
          encode.rowDescription([
            { name: 'u', typeOid: 25 },
            { name: 'p', typeOid: 25 },
          ]),
          encode.dataRow(['alice', null]),
          encode.commandComplete('SELECT 1'),
          idle,
        ]),
      );
      assert.deepEqual(await rows, [['alice', null]]);
      assert.ok(server.isIdle);
      assert.equal(String.fromCharCode((await request)[0]!), 'P', 'Parse first');
      // A server error in the middle (after Parse) ends it the same way, and the connection stays.
      const failing = server.queryWithParams('SELECT $1', ['x']);
      remote.write(Buffer.concat([encode.parseComplete(), message('E', 'SERROR\0C42P01\0Mno such table\0\0'), idle]));
      await assert.rejects(failing, { message: 'no such table', code: '42P01' });
      assert.ok(server.isIdle);
      server.close('test over');
    },
  );

  it(
    'an ErrorResponse without SQLSTATE rejects the query with an empty code and keeps the connection',
    QUICK,
    async () => {
      const { server, remote } = await loggedIn();
      const rows = server.query('SELECT 1');
      remote.write(Buffer.concat([message('E', 'SERROR\0Mnope\0\0'), idle]));
      await assert.rejects(rows, (err) => err instanceof ServerQueryError && err.message === 'nope' && err.code === '');
      assert.ok(server.isIdle);
      server.close('test over');
    },
  );

  it(
    "pgtide's own query: an ErrorResponse is a ServerQueryError with every field; a lost connection is not",
    QUICK,
    async () => {
      const { server, remote, closed } = await loggedIn();
      const failed = server.query('SELECT 1/0');
      remote.write(
        Buffer.concat([
          encode.errorResponse('ERROR', '22012', 'division by zero', undefined, 'try another divisor'),
          idle,
        ]),
      );
      const err = await failed.then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServerQueryError);
      assert.equal(err.name, 'ServerQueryError');
      assert.equal(err.code, '22012');
      assert.equal(err.fields.hint, 'try another divisor');
      assert.ok(server.isIdle);
      const lost = server.query('SELECT 1');
      remote.destroy();
      const lostErr = await lost.then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(lostErr instanceof Error && !(lostErr instanceof ServerQueryError), String(lostErr));
      await closed;
    },
  );
});

/** A client session stand-in that records what the server connection tells it. */
function recordingPeer(): ServerPeer & {
  data: Buffer[];
  idle: number[];
  async: Buffer[];
  told: boolean[];
  lost: Promise<string>;
  /** cork, data (with the first message's type), uncork and lost, in order. */
  events: string[];
} {
  let lost!: (reason: string) => void;
  const peer = {
    data: [] as Buffer[],
    idle: [] as number[],
    async: [] as Buffer[],
    told: [] as boolean[],
    events: [] as string[],
    lost: new Promise<string>((resolve) => (lost = resolve)),
    clientPid: CLIENT_PID,
    keepsServer: false,
    onServerData: (chunk: Buffer) => {
      peer.data.push(Buffer.from(chunk));
      peer.events.push(`data ${String.fromCharCode(chunk[0]!)}`);
      return false;
    },
    onServerIdle: (status: number) => void peer.idle.push(status),
    onServerLost: (reason: string, toldByServer: boolean) => {
      peer.told.push(toldByServer);
      peer.events.push('lost');
      lost(reason);
    },
    onServerDrain: () => {},
    onServerError: () => {},
    onServerCopyIn: () => 0,
    onServerCopyOver: () => {},
    corkClient: () => void peer.events.push('cork'),
    uncorkClient: () => void peer.events.push('uncork'),
    onServerAnswer: () => {},
    onServerAsync: (m: Buffer) => void peer.async.push(m),
  };
  return peer;
}

const CLIENT_PID = 5_000_123,
  SERVER_PID = 4242;

function notification(pid: number, channel: string, payload: string): Buffer {
  const pidBytes = Buffer.alloc(4);
  pidBytes.writeInt32BE(pid);
  return message('A', Buffer.concat([pidBytes, Buffer.from(`${channel}\0${payload}\0`)]));
}

/** Logged in with BackendKeyData naming SERVER_PID. */
async function withPid(): Promise<Connected> {
  const connected = await connect([send(ok, encode.backendKeyData(SERVER_PID, Buffer.alloc(4, 1)), idle)]);
  assert.equal(connected.error, null);
  return connected;
}

describe('what a server sends on its own while pgtide runs its own query for a client reaches that client', () => {
  it(
    "notifications and notices, in order, a notification from this backend under the client's pid",
    QUICK,
    async () => {
      const { server, remote } = await withPid();
      const peer = recordingPeer();
      const rows = server.query('SELECT probe', peer);
      const notice = encode.noticeResponse('NOTICE', '00000', 'hello');
      remote.write(
        Buffer.concat([
          notification(77, 'ch', 'one'),
          encode.dataRow(['t']),
          notice,
          notification(SERVER_PID, 'ch', 'two'),
          encode.commandComplete('SELECT 1'),
          idle,
          notification(78, 'ch', 'after'),
        ]),
      );
      assert.deepEqual(await rows, [['t']]);
      // The notification behind the ReadyForQuery, in the same read, arrives as the query's promise settles.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(peer.async, [
        notification(77, 'ch', 'one'),
        notice,
        notification(CLIENT_PID, 'ch', 'two'),
        notification(78, 'ch', 'after'),
      ]);
      assert.ok(server.isIdle, 'the server stays usable');
      server.close('test over');
    },
  );

  it("a settings query's ParameterStatus is pgtide's to report; any other query's is the client's", QUICK, async () => {
    const { server, remote } = await withPid();
    const peer = recordingPeer();
    const set = server.query('SELECT set_config(...)', peer, true);
    remote.write(
      Buffer.concat([encode.parameterStatus('DateStyle', 'German, DMY'), encode.commandComplete('SELECT 1'), idle]),
    );
    await set;
    const probe = server.query('SELECT probe', peer);
    remote.write(
      Buffer.concat([encode.parameterStatus('in_hot_standby', 'off'), encode.commandComplete('SELECT 1'), idle]),
    );
    await probe;
    assert.deepEqual(peer.async, [encode.parameterStatus('in_hot_standby', 'off')]);
    assert.equal(server.params.get('DateStyle'), 'German, DMY');
    server.close('test over');
  });

  it('a FATAL during the query reaches the client once, and the server is known to have told it', QUICK, async () => {
    const { server, remote, closed } = await withPid();
    const peer = recordingPeer();
    const rows = server.query('SELECT probe', peer);
    const fatal = encode.errorResponse('FATAL', '57P01', 'terminating connection due to administrator command');
    remote.end(fatal);
    await assert.rejects(rows);
    await closed;
    assert.deepEqual(peer.async, [fatal]);
    assert.ok(server.toldClientOfEnd);
  });

  it('with nobody to tell (a health check), a notification to an idle server still closes it', QUICK, async () => {
    const { server, remote, closed } = await withPid();
    await Promise.all([
      server.query('SELECT 1'),
      remote.write(Buffer.concat([encode.commandComplete('SELECT 1'), idle])),
    ]);
    remote.write(notification(77, 'ch', 'stray'));
    await closed;
    assert.match(server.closeReason, /unexpected message 'A' from an idle server/);
  });
});

describe('on a linked server', () => {
  it("a notification from the client's own backend carries the client's pid; others keep theirs", QUICK, async () => {
    const { server, remote } = await withPid();
    const peer = recordingPeer();
    server.link(peer, false);
    remote.write(Buffer.concat([notification(SERVER_PID, 'ch', 'self'), notification(77, 'ch', 'other')]));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      Buffer.concat(peer.data),
      Buffer.concat([notification(CLIENT_PID, 'ch', 'self'), notification(77, 'ch', 'other')]),
    );
    server.close('test over');
  });

  it("a server's FATAL is the client's one error: the peer learns the server told it", QUICK, async () => {
    const { server, remote } = await withPid();
    const peer = recordingPeer();
    server.link(peer, false);
    server.syncs.sent(1, false);
    remote.end(encode.errorResponse('FATAL', '57P01', 'terminating connection due to administrator command'));
    await peer.lost;
    assert.deepEqual(peer.told, [true]);
  });

  for (const keepsServer of [false, true]) {
    it(
      `a FATAL right after the answer that ends the client's transaction, in its read: ${keepsServer ? "the client's (it keeps its server)" : "cut off, the connection's (a restart as the answer went out)"}`,
      QUICK,
      async () => {
        const { server, remote } = await withPid();
        const peer = { ...recordingPeer(), keepsServer };
        server.link(peer, false);
        server.syncs.sent(1, false);
        const answer = Buffer.concat([encode.commandComplete('INSERT 0 1'), encode.readyForQuery('I')]);
        const fatal = encode.errorResponse('FATAL', '57P01', 'terminating connection due to administrator command');
        remote.write(Buffer.concat([answer, fatal]));
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(Buffer.concat(peer.data), keepsServer ? Buffer.concat([answer, fatal]) : answer);
        assert.deepEqual(peer.idle, [0x49]);
        assert.equal(server.toldClientOfEnd, keepsServer);
        assert.ok(server.sessionEnded);
        server.close('test over');
      },
    );
  }

  /** A linked server that read an ERROR, `owed` sync points sent before it, `waitMs` ago. */
  async function linkedAfterError(owed: number, waitMs = 50) {
    const { server, remote } = await withPid();
    const peer = recordingPeer();
    server.link(peer, false);
    server.syncs.sent(owed, owed === 0);
    remote.write(encode.errorResponse('ERROR', '42601', 'syntax error'));
    await new Promise((r) => setTimeout(r, waitMs));
    return { server, remote, peer };
  }

  it('an ERROR is no end of the session; lost before its ReadyForQuery, the client hears it first', QUICK, async () => {
    const { remote, peer } = await linkedAfterError(1);
    remote.destroy();
    await peer.lost;
    assert.deepEqual(peer.told, [false]);
    assert.deepEqual(peer.events, ['data E', 'lost']);
  });

  it('an ERROR read alone waits for its ReadyForQuery: both go to the client in one corked write', QUICK, async () => {
    const { server, remote, peer } = await linkedAfterError(1);
    assert.deepEqual(peer.events, []);
    remote.write(encode.readyForQuery('I'));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(peer.events, ['cork', 'data E', 'data Z', 'uncork']);
    assert.deepEqual(peer.idle, [0x49]);
    server.close('test over');
  });

  it('a client that leaves while its ERROR is held hears nothing more, however its server goes', QUICK, async () => {
    const { server, peer } = await linkedAfterError(1);
    server.orphan('pinned client left', null, () => {});
    assert.equal(server.isClosed, true);
    assert.deepEqual(peer.events, []);
  });

  it('an ERROR whose ReadyForQuery does not come goes on its own', QUICK, async () => {
    const { server, peer } = await linkedAfterError(1, 300);
    assert.deepEqual(peer.events, ['data E']);
    server.close('test over');
  });

  it('an ERROR with no sync point owed (a batch without its Sync yet) goes at once', QUICK, async () => {
    const { server, peer } = await linkedAfterError(0);
    assert.deepEqual(peer.events, ['data E']);
    server.close('test over');
  });
});

describe('a hostile server during a client transaction: the client loses its server, pgtide lives', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    [
      'a malformed ReadyForQuery',
      Buffer.concat([encode.commandComplete('SELECT 1'), message('Z', '?')]),
      /malformed ReadyForQuery/,
    ],
    ['a negative message length', header('D', -5), /invalid message length -5/],
    ['a length beyond max_packet_size', header('D', MAX_PACKET_SIZE), /exceeds max_packet_size/],
    [
      'more than 256 ParameterStatus names',
      Buffer.concat(Array.from({ length: 257 }, (_, i) => encode.parameterStatus(`p${i}`, 'v'))),
      /more than 256 ParameterStatus names/,
    ],
    // Forwarded, it would let a compromised server ask the client for its password.
    [
      'an authentication request after login',
      Buffer.concat([encode.commandComplete('SELECT 1'), message('R', '\0\0\0\x03')]),
      /'R' after login/,
    ],
    ['a cancel key after login', message('K', '\0\0\0\x01\0\0\0\x02'), /'K' after login/],
    ['a protocol version answer after login', message('v', '\0\0\0\x00\0\0\0\0'), /'v' after login/],
    // Its head read alone: forwarded, the client would read pgtide's error as the rest of it.
    [
      'a ParameterStatus longer than 64 KiB, its head alone in the chunk',
      Buffer.concat([encode.parameterStatus('client_encoding', 'SQL_ASCII'), header('S', 100_004), Buffer.from('xx')]),
      /ParameterStatus longer than 65536 bytes/,
    ],
  ];
  for (const [name, bytes, error] of cases) {
    for (const tracking of [false, true]) {
      it(`${name}${tracking ? ' (tracking link)' : ''}`, QUICK, async () => {
        const { server, remote } = await loggedIn();
        const peer = recordingPeer();
        server.link(peer, tracking);
        server.syncs.sent(1, false);
        remote.write(bytes);
        assert.match(await peer.lost, error);
        assert.deepEqual(peer.data, [], 'nothing from a chunk with a bad message reaches the client');
        assert.deepEqual(peer.idle, []);
        assert.ok(server.isClosed);
      });
    }
  }

  it('a server that closes mid-message', QUICK, async () => {
    const { server, remote } = await loggedIn();
    const peer = recordingPeer();
    server.link(peer, false);
    server.syncs.sent(1, false);
    remote.end(header('D', 100));
    assert.match(await peer.lost, /server closed the connection/);
    assert.ok(server.isClosed);
  });

  it('an unexpected message to an idle connection closes it', QUICK, async () => {
    const { server, remote, closed } = await loggedIn();
    remote.write(encode.dataRow(['x']));
    await closed;
    assert.match(server.closeReason, /unexpected message 'D' from an idle server/);
  });
});

describe('a FATAL read together with the ReadyForQuery before it: the connection is never lent again', () => {
  const fatal = encode.errorResponse('FATAL', '57P01', 'terminating connection due to administrator command');

  it(
    "after pgtide's own query with no client to tell, the query settles and the connection is closed",
    QUICK,
    async () => {
      const { server, remote, closed } = await withPid();
      const begun = server.query('BEGIN');
      remote.write(Buffer.concat([encode.commandComplete('BEGIN'), encode.readyForQuery('T'), fatal]));
      await begun;
      await closed;
      assert.ok(server.isClosed);
    },
  );

  it(
    'after the transaction of a client that keeps its server, the client hears the FATAL and the connection is marked ended',
    QUICK,
    async () => {
      const { server, remote } = await withPid();
      // One that does not keep it does not hear it (see "on a linked server").
      const peer = { ...recordingPeer(), keepsServer: true };
      server.link(peer, false);
      server.syncs.sent(1, false);
      remote.write(Buffer.concat([encode.commandComplete('SELECT 1'), idle, fatal]));
      while (!Buffer.concat(peer.data).includes(fatal)) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(peer.idle.length, 1);
      assert.ok(server.sessionEnded, 'ServerPool.release closes it instead of lending it');
      assert.ok(Buffer.concat(peer.data).includes(fatal));
      server.close('test over');
    },
  );

  it('a reset query that fails after the client left closes the connection instead of lending it', QUICK, async () => {
    // A cancel of the client that left (pgconn cancels, then closes) reached the DISCARD ALL:
    // lent so, the next client found the temporary tables of the last one (42P07).
    const received: Buffer[] = [];
    let reused = false;
    const { server, closed } = await connect(
      [
        send(ok, encode.backendKeyData(SERVER_PID, Buffer.alloc(4, 1)), idle),
        send(idle),
        send(encode.errorResponse('ERROR', '57014', 'canceling statement due to user request'), idle),
      ],
      { received, reusable: () => (reused = true) },
    );
    server.link(recordingPeer(), false);
    server.orphan(null, 'DISCARD ALL', () => {});
    await closed;
    assert.match(server.closeReason, /reset query failed/);
    assert.ok(Buffer.concat(received).includes('DISCARD ALL'));
    assert.equal(reused, false);
  });

  it('the reset query after the client left waits for the cancels in flight', QUICK, async () => {
    const received: Buffer[] = [];
    let reused = false;
    const { server } = await connect(
      [
        send(ok, encode.backendKeyData(SERVER_PID, Buffer.alloc(4, 1)), idle),
        // The client's query, cancelled, and the Sync of the drain.
        send(encode.errorResponse('ERROR', '57014', 'canceling statement due to user request'), idle, idle),
        send(encode.commandComplete('DISCARD ALL'), idle),
      ],
      { received, reusable: () => (reused = true) },
    );
    server.link(recordingPeer(), false);
    server.syncs.sent(1, false);
    server.orphan(null, 'DISCARD ALL', (s) => void s.cancelsInFlight++);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!Buffer.concat(received).includes('DISCARD ALL'), 'no reset while a cancel may still reach it');
    server.cancelDone(true, Date.now());
    while (!reused) await new Promise((r) => setTimeout(r, 5));
    assert.ok(Buffer.concat(received).includes('DISCARD ALL'));
    assert.ok(server.isIdle);
    server.close('test over');
  });

  // Found by pgJDBC's 1 ms query timeouts on a client pinned by a temporary table: the cancel
  // still on its way cancelled pgtide's probe after the transaction, and the client kept its
  // server for good.
  it("pgtide's own query for a client waits for the client's cancels in flight", QUICK, async () => {
    const received: Buffer[] = [];
    const { server } = await connect(
      [
        send(ok, encode.backendKeyData(SERVER_PID, Buffer.alloc(4, 1)), idle),
        send(encode.dataRow(['f']), encode.commandComplete('SELECT 1'), idle),
      ],
      { received },
    );
    server.cancelsInFlight++;
    const rows = server.query('SELECT probe', recordingPeer());
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!Buffer.concat(received).includes('SELECT probe'), 'no query while a cancel may still reach the server');
    server.cancelDone(true, Date.now());
    assert.deepEqual(await rows, [['f']]);
    assert.ok(server.isIdle);
    server.close('test over');
  });

  it('when it ends the drain after the client left, the connection closes instead of going back', QUICK, async () => {
    const { server, remote, closed } = await withPid();
    server.link(recordingPeer(), false);
    server.orphan(null, null, () => {});
    remote.write(Buffer.concat([idle, fatal]));
    await closed;
    assert.match(server.closeReason, /ended its session/);
  });
});
