// The application_name of pgtide's own server connections, so that DBAs can tell them apart
// in pg_stat_activity: server_application_name, followed by what a connection is for when it
// serves no client (health checks, auth_query). PostgreSQL truncates it to 63 bytes.
import type { Config } from './types.js';

/** Startup parameters of a server connection for `purpose` ('' for a pooled one). */
export function serverApplicationName(config: Config, purpose: string): Record<string, string> {
  const name = config.server_application_name;
  if (name === '' && purpose === '') return {};
  return { application_name: purpose === '' ? name : `${name || 'pgtide'} ${purpose}` };
}
