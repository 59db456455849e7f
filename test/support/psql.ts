// Runs Debian's psql against pgtide: a real client with its own protocol habits.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Topology } from './topology.js';

export interface PsqlTarget {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  sslmode?: string;
  /** libpq's channel_binding (disable / prefer / require); libpq's default when unset. */
  channelBinding?: string;
  /** libpq 18's max_protocol_version (3.0, 3.2, latest) and sslnegotiation (postgres, direct):
   *  psql then loads the embedded PostgreSQL's libpq 18 in place of Debian's, which has neither. */
  maxProtocolVersion?: string;
  sslNegotiation?: string;
}

/**
 * Run one psql command (-c) and return its unaligned, tuples-only output. Asynchronous: pgtide
 * runs in the test process, and a synchronous child would freeze it.
 */
export async function psql(t: Topology, target: PsqlTarget, command: string): Promise<string> {
  const conninfo = [
    `host=${target.host}`,
    `port=${target.port}`,
    `user=${target.user ?? t.scramUser.user}`,
    `dbname=${target.database ?? t.database}`,
    `sslmode=${target.sslmode ?? 'disable'}`,
    ...(target.channelBinding ? [`channel_binding=${target.channelBinding}`] : []),
    ...(target.maxProtocolVersion ? [`max_protocol_version=${target.maxProtocolVersion}`] : []),
    ...(target.sslNegotiation ? [`sslnegotiation=${target.sslNegotiation}`] : []),
  ].join(' ');
  const libpq18 =
    target.maxProtocolVersion || target.sslNegotiation ? { LD_LIBRARY_PATH: join(t.binDir, '..', 'lib') } : {};
  const { stdout } = await promisify(execFile)(
    'psql',
    [conninfo, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', command],
    {
      env: { ...process.env, ...libpq18, PGPASSWORD: target.password ?? t.scramUser.password, PGCONNECT_TIMEOUT: '5' },
      encoding: 'utf8',
      timeout: 20_000,
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  return stdout;
}
