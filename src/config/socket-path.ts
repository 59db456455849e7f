// Where pgtide's unix sockets are, named as PostgreSQL names its own, so that libpq finds
// them from a directory and a port (psql -h DIR -p PORT).
import path from 'node:path';
import type { Config } from './types.js';

/** sun_path holds 108 bytes on Linux, the last one the NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** The socket file in `dir` for the first listen port. */
export function socketPath(dir: string, config: Pick<Config, 'listen_port'>): string {
  return path.join(dir, `.s.PGSQL.${config.listen_port[0]}`);
}

/** How an operator reaches the console on the admin socket, or null when it is off. */
export function adminConsoleCommand(config: Pick<Config, 'admin_socket_dir' | 'listen_port'>): string | null {
  if (config.admin_socket_dir === '') return null;
  return `psql -h ${config.admin_socket_dir} -p ${config.listen_port[0]} -U pgbouncer pgbouncer`;
}
