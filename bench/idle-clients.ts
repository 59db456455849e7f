// One client process of the memory benchmark (bench/memory.ts): it opens connections when its
// parent asks and holds them idle, so that the target's memory can be read with them open.
// The benchmark spreads its clients over several of these processes, each having the same
// open-files limit as the pooler. Started with fork(); it answers its parent over IPC:
//   { open: n }    opens n more connections, n at most OPEN_CONCURRENCY at a time;
//   { check: true } asks every connection to prove it still works;
// and exits (closing every connection) when its parent disconnects.
// Environment: IDLE_CLIENTS_HOST, IDLE_CLIENTS_PORT, IDLE_CLIENTS_LOGIN (`pg`: log in with
// node-postgres as PGUSER / PGPASSWORD / PGDATABASE, and check with SELECT 1; `tcp`: a bare
// TCP connection for a target that speaks no protocol, checked for being still open).
import net from 'node:net';
import pg from 'pg';

/** Logins in flight per process: enough to keep the target busy, few enough not to time out. */
const OPEN_CONCURRENCY = 16;

export type ClientCommand = { open: number } | { check: true };
export interface ClientReply {
  /** Connections that succeeded (opened, or answered the check). */
  ok: number;
  failed: number;
  /** Connections closed by the other side since the process started. */
  lost: number;
  /** The first failure's message. */
  error?: string;
}

/** Proves that a held connection still works. */
type Check = () => Promise<unknown>;

const host = process.env['IDLE_CLIENTS_HOST'] ?? '127.0.0.1';
const port = Number(process.env['IDLE_CLIENTS_PORT']);
const open = process.env['IDLE_CLIENTS_LOGIN'] === 'tcp' ? openTcp : openPg;
const held: Check[] = [];
let lost = 0;

function openTcp(): Promise<Check> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      socket.once('close', () => lost++);
      resolve(async () => {
        if (socket.destroyed) throw new Error('connection closed');
      });
    });
  });
}

async function openPg(): Promise<Check> {
  const client = new pg.Client({ host, port });
  client.on('error', () => {});
  await client.connect();
  client.once('end', () => lost++);
  return () => client.query('SELECT 1');
}

/** Runs `work` `count` times, OPEN_CONCURRENCY at a time, and counts the outcomes. */
async function each(count: number, work: (i: number) => Promise<void>): Promise<ClientReply> {
  const reply: ClientReply = { ok: 0, failed: 0, lost: 0 };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        await work(i);
        reply.ok++;
      } catch (err) {
        reply.failed++;
        reply.error ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
  reply.lost = lost;
  return reply;
}

process.on('message', (command: ClientCommand) => {
  const done =
    'open' in command
      ? each(command.open, async () => void held.push(await open()))
      : each(held.length, async (i) => void (await held[i]!()));
  void done.then((reply) => process.send!(reply));
});
process.on('disconnect', () => process.exit(0));
