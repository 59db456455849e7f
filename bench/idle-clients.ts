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
import { answerParent } from './idle.js';

/** Logins in flight per process: enough to keep the target busy, few enough not to time out. */
const OPEN_CONCURRENCY = 16;

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

answerParent(
  {
    open: async () => void held.push(await open()),
    check: async (i) => void (await held[i]!()),
    count: () => held.length,
    lost: () => lost,
  },
  OPEN_CONCURRENCY,
);
