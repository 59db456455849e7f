import type { Config } from './types.js';

/**
 * Settings made once, at start, into sockets (listen_*, unix_socket_dir, admin_socket_dir, admin_http_listen,
 * tcp_keepalive, set on the listening sockets), worker processes, TLS contexts, the logger,
 * the timeline file and the cancel keys already handed out (peer_id). A reload keeps their
 * running values, so that SHOW CONFIG never shows a port that nothing listens on; a restart
 * applies them.
 */
const START_ONLY =
  /^(listen_|client_tls_|server_tls_)|^(unix_socket_dir|admin_socket_dir|admin_http_listen|tcp_keepalive|workers|instance_name|peer_id|log_level|log_dir|state_dir)$/;

export function isStartOnly(key: string): boolean {
  return START_ONLY.test(key);
}

/** `next` with the start-only settings of `running`, and the names of those that differed. */
export function keepStartOnly(running: Config, next: Config): { config: Config; kept: string[] } {
  const config = { ...next };
  const kept: string[] = [];
  for (const key of Object.keys(next) as (keyof Config)[]) {
    if (!isStartOnly(key)) continue;
    if (JSON.stringify(running[key]) !== JSON.stringify(next[key])) kept.push(key);
    (config as Record<string, unknown>)[key] = running[key];
  }
  return { config, kept };
}
