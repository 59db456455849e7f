// The parts of a server connection's login and bookkeeping that need no socket of their own:
// the login exchange against a socket that only records writes, the answer to SSLRequest, the
// settings a server reports, and pgtide's own query. server-hostile.test.ts drives them whole.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import * as encode from '../../src/protocol/encode.js';
import { BackendMessage } from '../../src/protocol/types.js';
import type { ServerAuthMethod, ServerChannelBinding } from '../../src/config/types.js';
import { ServerLoginExchange } from '../../src/pool/server-login-exchange.js';
import { ServerLoginError, describeEndpoint, outOfDescriptors, type ServerLogin } from '../../src/pool/server-login.js';
import { sslAnswer } from '../../src/pool/server-tls.js';
import { UNKNOWN_SETTINGS, settingsAfterReset, trackReportedParameter } from '../../src/pool/server-settings.js';
import { OwnQuery, ServerQueryError, copyForClient, type Rows } from '../../src/pool/own-query.js';

/** A plain socket that keeps what is written to it. */
function recordingSocket(): { socket: net.Socket; written: Buffer[] } {
  const written: Buffer[] = [];
  const socket = { write: (chunk: Buffer) => written.push(chunk) > 0 } as unknown as net.Socket;
  return { socket, written };
}

function login(authMethods: ServerAuthMethod[], channelBinding: ServerChannelBinding = 'prefer'): ServerLogin {
  return {
    endpoint: { host: 'db.example', port: 5433 },
    credentials: { user: 'alice', secret: { kind: 'plain', password: 'pencil' } },
    database: 'db',
    params: {},
    tls: { mode: 'disable' },
    connectTimeoutMs: 1000,
    maxPacketSize: 1 << 20,
    maxPreparedStatements: 10,
    authMethods,
    maxScramIterations: 100_000,
    channelBinding,
  };
}

const ALL: ServerAuthMethod[] = ['scram-sha-256', 'md5', 'password', 'none'];
const { Authentication, ReadyForQuery, ErrorResponse, NoticeResponse, DataRow } = BackendMessage;
/** A message's body, as the scanner hands it over. */
const body = (message: Buffer): Buffer => message.subarray(5);

describe('ServerLoginExchange', () => {
  it('answers a cleartext request with the password and ends at an idle ReadyForQuery after AuthenticationOk', () => {
    const exchange = new ServerLoginExchange(login(ALL));
    const { socket, written } = recordingSocket();
    assert.equal(exchange.onMessage(Authentication, body(encode.authenticationCleartextPassword()), socket), false);
    assert.deepEqual(written, [encode.passwordMessage('pencil')]);
    assert.equal(exchange.onMessage(Authentication, body(encode.authenticationOk()), socket), false);
    assert.equal(
      exchange.onMessage(NoticeResponse, body(encode.noticeResponse('NOTICE', '00000', 'hi')), socket),
      false,
    );
    assert.equal(exchange.onMessage(ReadyForQuery, body(encode.readyForQuery('I')), socket), true);
  });

  it('answers md5 with the salted hash, never the password', () => {
    const exchange = new ServerLoginExchange(login(['md5']));
    const { socket, written } = recordingSocket();
    exchange.onMessage(Authentication, body(encode.authenticationMD5Password(Buffer.from([1, 2, 3, 4]))), socket);
    assert.equal(written.length, 1);
    assert.match(written[0]!.subarray(5).toString('latin1'), /^md5[0-9a-f]{32}\0$/);
  });

  it('refuses a method server_auth_methods leaves out before sending anything, with 28000', () => {
    const exchange = new ServerLoginExchange(login(['scram-sha-256']));
    const { socket, written } = recordingSocket();
    assert.throws(
      () => exchange.onMessage(Authentication, body(encode.authenticationCleartextPassword()), socket),
      (err) =>
        err instanceof ServerLoginError &&
        err.fields?.code === '28000' &&
        /allows only scram-sha-256/.test(err.message),
    );
    assert.deepEqual(written, []);
  });

  it('refuses an AuthenticationOk nobody asked a password for when a password is configured and "none" is not allowed', () => {
    const exchange = new ServerLoginExchange(login(['md5']));
    assert.throws(
      () => exchange.onMessage(Authentication, body(encode.authenticationOk()), recordingSocket().socket),
      /no authentication at all/,
    );
  });

  it('with channel binding required, refuses SCRAM on a connection that is not TLS', () => {
    const exchange = new ServerLoginExchange(login(ALL, 'require'));
    const sasl = body(encode.authenticationSASL(['SCRAM-SHA-256']));
    assert.throws(
      () => exchange.onMessage(Authentication, sasl, recordingSocket().socket),
      /the connection is not TLS/,
    );
  });

  it('starts SCRAM with a client-first message and refuses a second AuthenticationSASL', () => {
    const exchange = new ServerLoginExchange(login(ALL));
    const { socket, written } = recordingSocket();
    const sasl = body(encode.authenticationSASL(['SCRAM-SHA-256']));
    exchange.onMessage(Authentication, sasl, socket);
    assert.match(written[0]!.toString('latin1'), /SCRAM-SHA-256\0.*n,,n=,r=/);
    assert.throws(() => exchange.onMessage(Authentication, sasl, socket), /unexpected second AuthenticationSASL/);
  });

  it('ends no login before AuthenticationOk, nor in a transaction', () => {
    const socket = recordingSocket().socket;
    const early = new ServerLoginExchange(login(ALL));
    assert.throws(
      () => early.onMessage(ReadyForQuery, body(encode.readyForQuery('I')), socket),
      /before AuthenticationOk/,
    );
    const inTransaction = new ServerLoginExchange(login(ALL));
    inTransaction.onMessage(Authentication, body(encode.authenticationCleartextPassword()), socket);
    inTransaction.onMessage(Authentication, body(encode.authenticationOk()), socket);
    assert.throws(() => inTransaction.onMessage(ReadyForQuery, body(encode.readyForQuery('T')), socket), /non-idle/);
  });

  it("turns the server's ErrorResponse into a login error, transient where the server goes down, starts up or is full", () => {
    const socket = recordingSocket().socket;
    const refusal = (code: string): ServerLoginError => {
      try {
        new ServerLoginExchange(login(ALL)).onMessage(
          ErrorResponse,
          body(encode.errorResponse('FATAL', code, 'no')),
          socket,
        );
      } catch (err) {
        return err as ServerLoginError;
      }
      assert.fail('the ErrorResponse must end the login');
    };
    assert.equal(refusal('57P03').transient, true);
    assert.equal(refusal('53300').transient, true);
    // A login a shutdown (fast: 57P01) or a crash restart (57P02) ends: the server comes back.
    assert.equal(refusal('57P01').transient, true);
    assert.equal(refusal('57P02').transient, true);
    assert.equal(refusal('28P01').transient, false);
    assert.equal(refusal('28000').transient, false);
    assert.equal(refusal('3D000').transient, false);
    assert.equal(refusal('57P04').transient, false);
    assert.equal(refusal('28P01').fields?.code, '28P01');
  });

  it('refuses any other message during login', () => {
    const exchange = new ServerLoginExchange(login(ALL));
    assert.throws(
      () => exchange.onMessage(DataRow, body(encode.dataRow(['x'])), recordingSocket().socket),
      /unexpected message 'D'/,
    );
  });
});

describe('the login settings', () => {
  it('names a server host:port, and tells a pgtide out of file descriptors with 53300 and a hint', () => {
    assert.equal(describeEndpoint({ host: 'db.example', port: 5433 }), 'db.example:5433');
    const err = outOfDescriptors('db.example:5433', 'EMFILE');
    assert.equal(err.fields?.code, '53300');
    assert.match(err.fields?.hint ?? '', /ulimit -n/);
    assert.equal(err.transient, false);
  });
});

describe('the answer to SSLRequest', () => {
  it("'S' starts TLS in every mode that asked; 'N' goes on in plain text only under prefer", () => {
    assert.equal(sslAnswer(Buffer.from('S'), 'require', 'h:1'), 'tls');
    assert.equal(sslAnswer(Buffer.from('N'), 'prefer', 'h:1'), 'plain');
    const refused = sslAnswer(Buffer.from('N'), 'verify-full', 'h:1');
    assert.ok(
      refused instanceof ServerLoginError &&
        /does not support TLS \(server_tls_sslmode=verify-full\)/.test(refused.message),
    );
  });

  it('any other byte, or bytes after the answer (a man in the middle), fail the login', () => {
    assert.ok(sslAnswer(Buffer.from('X'), 'prefer', 'h:1') instanceof ServerLoginError);
    assert.ok(sslAnswer(Buffer.from('SZ'), 'require', 'h:1') instanceof ServerLoginError);
  });
});

describe('the settings a server reports', () => {
  it('keeps each ParameterStatus and bounds their length and number', () => {
    const params = new Map<string, string>();
    assert.equal(trackReportedParameter(params, body(encode.parameterStatus('TimeZone', 'UTC'))), null);
    assert.equal(params.get('TimeZone'), 'UTC');
    assert.match(
      trackReportedParameter(params, body(encode.parameterStatus('x', 'y'.repeat(70_000)))) ?? '',
      /longer than/,
    );
    for (let i = params.size; i < 256; i++) params.set(`p${i}`, '');
    assert.match(trackReportedParameter(params, body(encode.parameterStatus('one_more', 'v'))) ?? '', /more than 256/);
    assert.equal(
      trackReportedParameter(params, body(encode.parameterStatus('TimeZone', 'CET'))),
      null,
      'a known name changes',
    );
  });

  it('only DISCARD ALL leaves a connection with no settings; any other reset leaves them unknown', () => {
    assert.equal(settingsAfterReset(' DISCARD ALL; ').size, 0);
    assert.notEqual(settingsAfterReset('DISCARD ALL'), UNKNOWN_SETTINGS);
    assert.equal(settingsAfterReset('RESET ALL'), UNKNOWN_SETTINGS);
  });
});

describe("pgtide's own query", () => {
  function run(changesSettings = false): { query: OwnQuery; result: Promise<Rows> } {
    let query!: OwnQuery;
    const result = new Promise<Rows>((resolve, reject) => (query = new OwnQuery(resolve, reject, changesSettings)));
    return { query, result };
  }

  it('resolves with its rows', async () => {
    const { query, result } = run();
    assert.equal(query.addRow(body(encode.dataRow(['1', null]))), null);
    query.settle();
    assert.deepEqual(await result, [['1', null]]);
  });

  it('rejects with a ServerQueryError carrying the first error, and with a plain Error when the connection is gone', async () => {
    const refused = run();
    refused.query.addError(body(encode.errorResponse('ERROR', '42P01', 'first')));
    refused.query.addError(body(encode.errorResponse('ERROR', '25P02', 'second')));
    refused.query.settle();
    await assert.rejects(
      refused.result,
      (err) => err instanceof ServerQueryError && err.code === '42P01' && err.message === 'first',
    );
    const lost = run();
    lost.query.abandon('gone');
    await assert.rejects(
      lost.result,
      (err) => !(err instanceof ServerQueryError) && /closed: gone/.test((err as Error).message),
    );
  });

  it('says what is wrong with a malformed DataRow or a result past 4 MiB', () => {
    const { query } = run();
    assert.equal(query.addRow(Buffer.from([0])), 'malformed DataRow');
    const big = body(encode.dataRow(['x'.repeat(1024 * 1024 - 6)]));
    for (let i = 0; i < 4; i++) assert.equal(query.addRow(big), null);
    assert.match(query.addRow(big) ?? '', /exceeds 4194304 bytes/);
  });

  it("copies a message for the client, a notification with the sending client's pid when known", () => {
    const notification = Buffer.alloc(4 + 4);
    notification.writeInt32BE(77, 0);
    const copy = copyForClient(BackendMessage.NotificationResponse, notification, 5);
    assert.equal(copy[0], BackendMessage.NotificationResponse);
    assert.equal(copy.readInt32BE(1), 4 + notification.length);
    assert.equal(copy.readInt32BE(5), 5);
    assert.equal(notification.readInt32BE(0), 77, 'the server bytes stay as they were');
    assert.equal(
      copyForClient(BackendMessage.NotificationResponse, notification, 0).readInt32BE(5),
      77,
      'a sender not known keeps its backend pid',
    );
    const notice = Buffer.from('S\0\0', 'latin1');
    assert.deepEqual(copyForClient(BackendMessage.NoticeResponse, notice, 5).subarray(5), notice, 'only notifications');
  });
});
