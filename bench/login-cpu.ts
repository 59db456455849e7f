// pgtide's own CPU per SCRAM login, without sockets or PostgreSQL: a ClientSession on the unit
// tests' fake socket and context (test/unit/session-harness.ts) takes a startup packet,
// SASLInitialResponse and SASLResponse, answers with its login answer, then gets Terminate.
// Several builds (the `dist` of other checkouts) run in one process, in alternating batches,
// so that a busy machine slows them alike; a `pgbench -C` run cannot resolve a change of a few
// microseconds per connection (bench/RESULTS.md). The client's side (ScramClient, the
// messages' encoding) is measured alone and subtracted.
// Usage: node dist/bench/login-cpu.js [label=/path/to/dist ...]   (LOGIN_CPU_ROUNDS, default 21)
import type { ScramCredentials } from '../src/auth/scram-client.js';
import { integerSetting } from './settings.js';

type Harness = typeof import('../test/unit/session-harness.js');
type Session = typeof import('../src/proxy/client-session.js');
type Scram = typeof import('../src/auth/scram.js');
type Client = typeof import('../src/auth/scram-client.js');
type Encode = typeof import('../src/protocol/encode.js');

const LOGINS_PER_BATCH = 4000;
const ROUNDS = integerSetting(process.env, 'LOGIN_CPU_ROUNDS', 21, 1);
const PASSWORD = 'secret';
const CLIENT_NONCE = 'abcdefghijklmnopqrstuvwx';
/** What PostgreSQL 18 reports at login, as a pool learns it. */
const REPORTED = new Map([
  ['application_name', ''],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['default_transaction_read_only', 'off'],
  ['in_hot_standby', 'off'],
  ['integer_datetimes', 'on'],
  ['IntervalStyle', 'postgres'],
  ['is_superuser', 'off'],
  ['scram_iterations', '4096'],
  ['search_path', '"$user", public'],
  ['server_encoding', 'UTF8'],
  ['server_version', '18.0'],
  ['session_authorization', 'bench'],
  ['standard_conforming_strings', 'on'],
  ['TimeZone', 'UTC'],
]);
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

interface Target {
  label: string;
  login(): void;
}

/** The client's side, from this build for every target: the same work whatever build answers. */
const own = new URL('..', import.meta.url).pathname;
const scram = (await import(`${own}src/auth/scram.js`)) as Scram;
const { ScramClient } = (await import(`${own}src/auth/scram-client.js`)) as Client;
const encode = (await import(`${own}src/protocol/encode.js`)) as Encode;
const salt = Buffer.alloc(16, 3);
const salted = scram.saltedPassword(PASSWORD, salt, 16);
const clientKey = scram.clientKeyOf(salted);
const credentials: ScramCredentials = {
  clientKey,
  storedKey: scram.sha256(clientKey),
  serverKey: scram.serverKeyOf(salted),
  salt,
  iterations: 16,
};
const stored = `SCRAM-SHA-256$16:${salt.toString('base64')}$${credentials.storedKey.toString('base64')}:${credentials.serverKey.toString('base64')}`;
const startup = encode.startupMessage({ user: 'bench', database: 'bench', application_name: 'pgbench' });

async function target(label: string, dist: string): Promise<Target> {
  const harness = (await import(`${dist}/test/unit/session-harness.js`)) as Harness;
  const { ClientSession } = (await import(`${dist}/src/proxy/client-session.js`)) as Session;
  const h = await harness.harness({ auth_type: 'scram-sha-256' });
  (h.ctx.pools as unknown as { serverParams: () => Map<string, string> }).serverParams = () => REPORTED;
  h.ctx.users.set('bench', stored);
  /** Keeps only the last write: the fake's copy of every write is no cost of pgtide's. */
  class LastWrite extends harness.FakeClientSocket {
    last: Buffer = Buffer.alloc(0);
    override write(data: Buffer): boolean {
      this.last = data;
      return true;
    }
  }
  return {
    label,
    login() {
      const socket = new LastWrite();
      new ClientSession(socket as never, h.ctx, '127.0.0.1:5432');
      socket.send(startup);
      const client = new ScramClient(credentials, CLIENT_NONCE);
      socket.send(encode.saslInitialResponse('SCRAM-SHA-256', client.clientFirst()));
      const serverFirst = socket.last.toString('latin1', 9, socket.last.readUInt32BE(1) + 1);
      socket.send(encode.saslResponse(client.serverFirst(serverFirst)));
      if (socket.last[socket.last.length - 6] !== 0x5a)
        throw new Error(`${label}: the login did not end with ReadyForQuery`);
      socket.send(TERMINATE);
    },
  };
}

/** The client's calls of a login alone, against a canned server-first-message. */
const clientAlone: Target = {
  label: 'client alone',
  login() {
    const client = new ScramClient(credentials, CLIENT_NONCE);
    encode.saslInitialResponse('SCRAM-SHA-256', client.clientFirst());
    encode.saslResponse(
      client.serverFirst(`r=${CLIENT_NONCE}ABCDEFGHIJKLMNOPQRSTUVWX,s=${salt.toString('base64')},i=16`),
    );
  },
};

/** CPU time (user + system) per login over one batch, in µs. */
function batch(t: Target): number {
  const start = process.cpuUsage();
  for (let i = 0; i < LOGINS_PER_BATCH; i++) t.login();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / LOGINS_PER_BATCH;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const targets = [await target('this build', own.replace(/\/$/, ''))];
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf('=');
  if (at <= 0) throw new Error(`expected label=/path/to/dist, got "${arg}"`);
  targets.push(await target(arg.slice(0, at), arg.slice(at + 1)));
}
const all = [...targets, clientAlone];
for (const t of all) for (let i = 0; i < 3; i++) batch(t);
const perRound = all.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? all.keys() : [...all.keys()].reverse();
  for (const i of order) perRound[i]!.push(batch(all[i]!));
}
const client = perRound[all.length - 1]!;
const server = targets.map((_, i) => perRound[i]!.map((us, r) => us - client[r]!));
console.log(`${ROUNDS} rounds of ${LOGINS_PER_BATCH} SCRAM logins per target, CPU time per login`);
console.log('| target | pgtide side (µs), median | over this build, median of rounds (range) |');
console.log('|---|--:|--:|');
targets.forEach((t, i) => {
  const ratios = server[i]!.map((us, r) => us / server[0]![r]!);
  const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  console.log(`| ${t.label} | ${median(server[i]!).toFixed(1)} | ${median(ratios).toFixed(2)}× (${range}) |`);
});
console.log(`| (client side alone) | ${median(client).toFixed(1)} | |`);
