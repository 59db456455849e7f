// The admin socket: the console for the OS user that runs pgtide, without a password.
// PgBouncer's operator reached its console as `pgbouncer` over the unix socket, with peer
// authentication (the kernel's SO_PEERCRED), which Node.js cannot read without a native addon.
// Here the kernel decides at connect() instead: the socket lives in a directory that only
// pgtide's user may enter, and is itself owner-only, so whoever connects is that user or root,
// who could stop or debug the process anyway.
import fs from 'node:fs';
import type net from 'node:net';
import { socketPath } from '../config/socket-path.js';
import type { Config } from '../config/types.js';
import { openUnixSocket } from './listener.js';

/** PostgreSQL touches its socket files as often: /tmp cleaners (systemd-tmpfiles, tmpreaper)
 *  remove files whose times are days old, and a connection does not change a socket's times. */
const TOUCH_INTERVAL_MS = 58 * 60 * 1000;

/** Listens on the admin socket, or returns null when admin_socket_dir is off. */
export async function listenAdminSocket(
  config: Pick<Config, 'admin_socket_dir' | 'listen_port' | 'listen_backlog'>,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server | null> {
  const dir = config.admin_socket_dir;
  if (dir === '') return null;
  ownerOnlyDirectory(dir);
  const file = socketPath(dir, config);
  const server = await openUnixSocket(file, 0o600, config, onConnection);
  const touch = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now, () => {});
  }, TOUCH_INTERVAL_MS);
  touch.unref();
  server.once('close', () => clearInterval(touch));
  return server;
}

/**
 * Makes `dir` (mode 0700) when it is missing; throws when it is not a directory this process's
 * user owns and alone may enter.
 */
export function ownerOnlyDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw startError(dir, `cannot be made: ${errorText(err)}`);
  }
  const problem = directoryProblem(dir);
  if (problem !== null) throw startError(dir, problem);
}

/**
 * Why an existing `dir` may not hold the admin socket, or null. A directory another user owns
 * could be emptied and refilled with a socket of theirs, which the operator's psql would then
 * talk to; one that others may enter leaves the socket's own mode as its only guard.
 */
export function directoryProblem(dir: string): string | null {
  // lstat: a symbolic link is its owner's to point elsewhere later.
  const stat = fs.lstatSync(dir);
  if (stat.isSymbolicLink()) return 'is a symbolic link; name the directory itself';
  if (!stat.isDirectory()) return 'is not a directory';
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid)
    return `belongs to uid ${stat.uid}, not to uid ${uid} that runs pgtide; remove it, or choose another directory`;
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0)
    return `has mode ${mode.toString(8).padStart(4, '0')}: group or others may use it; chmod 700 ${dir}, or choose another directory`;
  return null;
}

function startError(dir: string, problem: string): Error {
  return new Error(`admin_socket_dir ${dir} ${problem}`);
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOENT' ? 'its parent does not exist' : e.message;
}
