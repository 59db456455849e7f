// The seed's read/write-splitting chain, the setup pgtide replaces: HAProxy (TCP) → PgBouncer
// (transaction pooling) → Pgpool-II (streaming replication, load balancing over the standbys).
// Each runs as its own process with files in the benchmark's scratch directory, never as a
// system service, so that the whole chain's CPU can be read from /proc.
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts } from '../test/support/free-ports.js';
import type { OsUser } from '../test/support/server-user.js';
import { AUTH_TYPE, startPgbouncer, type PoolerSetup, type WeightedBackend } from './poolers.js';
import { startService, type Service } from './processes.js';

/** Above PgBouncer's POOL_SIZE server connections, as in the seed (25 children for 20). */
const PGPOOL_CHILDREN = 25;
/** Long enough that no pgbench connection is cut mid-run. */
const HAPROXY_IDLE_TIMEOUT = '1h';
const HAPROXY_MAX_CONN = 2000;

/**
 * Starts the chain back to front and returns its processes, client-facing HAProxy first; the
 * caller stops them. Under root PgBouncer and Pgpool-II run as `serverUser`. `maxClientConn`:
 * the clients HAProxy and PgBouncer each accept; undefined: each its own default.
 */
export async function startSeedChain(
  setup: PoolerSetup,
  backends: WeightedBackend[],
  serverUser: OsUser | null,
  maxClientConn?: number,
): Promise<Service[]> {
  const [pgpoolPort, pcpPort, pgbouncerPort] = await freePorts(3);
  const started: Service[] = [];
  try {
    started.push(await startPgpool(setup, backends, { port: pgpoolPort!, pcpPort: pcpPort! }, serverUser));
    started.push(
      await startPgbouncer(
        { ...setup, port: pgbouncerPort! },
        { name: 'chain-pgbouncer', server: { host: '127.0.0.1', port: pgpoolPort! }, maxClientConn },
        serverUser,
      ),
    );
    started.push(await startHaproxy(setup, pgbouncerPort!, maxClientConn ?? HAPROXY_MAX_CONN));
  } catch (err) {
    for (const service of started.reverse()) await service.stop();
    throw err;
  }
  return started.reverse();
}

async function startPgpool(
  setup: PoolerSetup,
  backends: WeightedBackend[],
  ports: { port: number; pcpPort: number },
  serverUser: OsUser | null,
): Promise<Service> {
  const { topology: t, dir } = setup;
  const files = {
    conf: join(dir, 'pgpool.conf'),
    hba: join(dir, 'pool_hba.conf'),
    passwd: join(dir, 'pool_passwd'),
    pcp: join(dir, 'pcp.conf'),
  };
  await writeFile(
    files.conf,
    [
      `backend_clustering_mode = 'streaming_replication'`,
      `listen_addresses = '127.0.0.1'`,
      `port = ${ports.port}`,
      `unix_socket_directories = '${dir}'`,
      // PCP is not used; it still needs a port for its unix socket name.
      `pcp_listen_addresses = ''`,
      `pcp_port = ${ports.pcpPort}`,
      `pcp_socket_dir = '${dir}'`,
      `wd_ipc_socket_dir = '${dir}'`,
      `pid_file_name = '${join(dir, 'pgpool.pid')}'`,
      `logdir = '${dir}'`,
      `log_destination = 'stderr'`,
      `logging_collector = off`,
      `log_connections = off`,
      `log_statement = off`,
      `log_per_node_statement = off`,
      ...backends.flatMap(({ node, weight }, i) => [
        `backend_hostname${i} = '${node.host}'`,
        `backend_port${i} = ${node.port}`,
        `backend_weight${i} = ${weight}`,
        `backend_flag${i} = 'DISALLOW_TO_FAILOVER'`,
      ]),
      `enable_pool_hba = on`,
      `pool_passwd = '${files.passwd}'`,
      `num_init_children = ${PGPOOL_CHILDREN}`,
      `max_pool = 1`,
      `connection_cache = on`,
      `reset_query_list = 'ABORT; DISCARD ALL'`,
      `load_balance_mode = on`,
      // Lag checks off; the superuser still serves the primary lookup at start-up.
      `sr_check_period = 0`,
      `sr_check_user = '${t.superuser.user}'`,
      `sr_check_password = '${t.superuser.password}'`,
      `health_check_period = 0`,
      `failover_on_backend_error = off`,
      `memory_cache_enabled = off`,
      `use_watchdog = off`,
      '',
    ].join('\n'),
  );
  await writeFile(files.hba, [`local all all trust`, `host all all 127.0.0.1/32 ${AUTH_TYPE}`, ''].join('\n'));
  // Plain text: Pgpool-II answers PgBouncer's SCRAM and logs in to every backend with it.
  await writeFile(files.passwd, `${t.scramUser.user}:${t.scramUser.password}\n`, { mode: 0o600 });
  await writeFile(files.pcp, '');
  if (serverUser) {
    for (const path of [dir, ...Object.values(files)]) await chown(path, serverUser.uid, serverUser.gid);
  }
  return startService({
    name: 'pgpool',
    command: 'pgpool',
    args: ['-n', '-f', files.conf, '-a', files.hba, '-F', files.pcp],
    port: ports.port,
    logFile: join(dir, 'pgpool.log'),
    // SIGINT is Pgpool-II's fast shutdown: it ends the children without waiting for clients.
    stopSignal: 'SIGINT',
    ...(serverUser ? { uid: serverUser.uid, gid: serverUser.gid } : {}),
  });
}

async function startHaproxy(setup: PoolerSetup, pgbouncerPort: number, maxConn: number): Promise<Service> {
  const configFile = join(setup.dir, 'haproxy.cfg');
  await writeFile(
    configFile,
    [
      'global',
      // Two descriptors per connection: stay well inside the usual file descriptor limit.
      `    maxconn ${maxConn}`,
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      `    timeout client ${HAPROXY_IDLE_TIMEOUT}`,
      `    timeout server ${HAPROXY_IDLE_TIMEOUT}`,
      'listen pgbouncer',
      `    bind 127.0.0.1:${setup.port}`,
      `    server pgbouncer 127.0.0.1:${pgbouncerPort}`,
      '',
    ].join('\n'),
  );
  return startService({
    name: 'haproxy',
    command: 'haproxy',
    // -db: stay in the foreground, one process (its threads are counted with it).
    args: ['-db', '-f', configFile],
    port: setup.port,
    logFile: join(setup.dir, 'haproxy.log'),
    // SIGTERM is HAProxy's hard stop.
    stopSignal: 'SIGTERM',
  });
}
