// Runs PostgreSQL's programs (initdb, pg_ctl, postgres, and cp for cold copies of a data
// directory) as the right OS user. PostgreSQL refuses to run as root, so under root every
// program runs as the `postgres` user through runuser; otherwise it runs as we are.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const ROOT_SERVER_USER = 'postgres';

/** Where the programs live and whom they run as; a Topology satisfies it. */
export interface ServerContext {
  binDir: string;
  runAs: string | null;
}

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Runs `file` (a program name in binDir, or an absolute path) with `args` as the server
 * user. `cwd` must be readable by that user: under runuser a root-only cwd (e.g. /root) makes
 * initdb and pg_ctl fail.
 */
export async function runAsServerUser(ctx: ServerContext, file: string, args: string[], cwd: string): Promise<string> {
  const program = file.startsWith('/') ? file : `${ctx.binDir}/${file}`;
  const [command, argv] = ctx.runAs ? ['runuser', ['-u', ctx.runAs, '--', program, ...args]] : [program, args];
  try {
    const { stdout } = await execFileAsync(command, argv, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim();
    throw new Error(`${[command, ...argv].join(' ')} failed: ${output || e.message}`);
  }
}

/** The OS user the servers must run as: null (ourselves) unless we are root. */
export async function resolveServerUser(): Promise<OsUser | null> {
  if (process.getuid?.() !== 0) return null;
  const name = ROOT_SERVER_USER;
  if (!(await userExists(name))) {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/bin/sh', name]);
  }
  const uid = Number((await execFileAsync('id', ['-u', name])).stdout.trim());
  const gid = Number((await execFileAsync('id', ['-g', name])).stdout.trim());
  return { name, uid, gid };
}

async function userExists(name: string): Promise<boolean> {
  try {
    await execFileAsync('id', ['-u', name]);
    return true;
  } catch {
    return false;
  }
}
