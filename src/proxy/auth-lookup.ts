// auth_user + auth_query (PgBouncer's): the password of a user absent from auth_file is looked
// up on the server at each of its logins, as PgBouncer does, so a changed or expired password
// counts at once. The answer is kept only for the pool's own logins as that user (see
// PoolManager.rememberLookedUp); the client's login never reuses an earlier answer. hba_file's
// +group and samerole lines look up the user's role memberships the same way.
import { readAuthQueryRows, type AuthQueryAnswer } from '../auth/auth-query.js';
import type { ServerConnection } from '../pool/server-connection.js';
import type { ServerLoginError } from '../pool/server-login.js';
import type { ServerPool, PoolWaiter } from '../pool/pool.js';
import type { ProxyContext } from './context.js';

const IDLE = 0x49; // ReadyForQuery 'I'

/**
 * Every role the user is or is a member of, directly or through other roles, as PostgreSQL's
 * pg_hba.conf reads +group (is_member_of_role_nosuper: a superuser is no member of everything).
 * No row when the user does not exist.
 */
const ROLES_QUERY =
  'WITH RECURSIVE member_of(oid) AS (' +
  'SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1 ' +
  'UNION SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN member_of ON m.member = member_of.oid) ' +
  'SELECT r.rolname FROM member_of JOIN pg_catalog.pg_roles r ON r.oid = member_of.oid';

/** Whether a login as `user` to `database` needs a lookup. */
export function needsLookup(ctx: ProxyContext, user: string): boolean {
  return ctx.config.auth_user !== '' && !ctx.users.has(user);
}

/** Runs auth_query for `user`. Never rejects: a failure is an answer. */
export async function lookUpPassword(ctx: ProxyContext, database: string, user: string): Promise<AuthQueryAnswer> {
  const ran = await runLookup(ctx, database, ctx.config.auth_query, user);
  // No lookup where no server database stands behind the name: the client fails as an unknown user would.
  if (ran === 'unserved') return { kind: 'unknown' };
  if (typeof ran === 'string') return { kind: 'failed', reason: `auth_query ${ran}` };
  const answer = readAuthQueryRows(user, ran);
  if (answer.kind === 'found') ctx.pools.rememberLookedUp(user, answer.stored);
  else if (answer.kind === 'unknown') ctx.pools.rememberLookedUp(user, null);
  return answer;
}

/** The roles `user` is or belongs to (none for a user the server does not know), or why not. */
export async function lookUpRoles(
  ctx: ProxyContext,
  database: string,
  user: string,
): Promise<ReadonlySet<string> | string> {
  const ran = await runLookup(ctx, database, ROLES_QUERY, user);
  if (ran === 'unserved') return new Set();
  if (typeof ran === 'string') return `role membership lookup ${ran}`;
  return new Set(ran.flatMap((row) => (typeof row[0] === 'string' ? [row[0]] : [])));
}

/**
 * Runs `sql` with the user name as $1 on a connection of the auth database (auth_dbname, else
 * the client's), on the primary when one is known: its rows, 'unserved' when pgtide serves no
 * such database, or why it failed.
 */
async function runLookup(
  ctx: ProxyContext,
  database: string,
  sql: string,
  user: string,
): Promise<(string | null)[][] | 'unserved' | string> {
  const cfg = ctx.config;
  const authDatabase = cfg.auth_dbname || database;
  if (!ctx.pools.knowsDatabase(authDatabase) || ctx.admin.isConsole(authDatabase)) {
    return cfg.auth_dbname === ''
      ? 'unserved'
      : `cannot run: auth_dbname "${cfg.auth_dbname}" is not a database pgtide serves`;
  }
  const backend =
    ctx.router.writeBackend() ??
    ctx.router.readBackend({ database: authDatabase, user: cfg.auth_user, applicationName: '' }) ??
    cfg.backends[0]!;
  const pool = ctx.pools.lookupPool(authDatabase, backend);
  const server = await checkOut(pool, waitLimitMs(cfg.query_wait_timeout, cfg.client_login_timeout));
  if (typeof server === 'string') return `cannot run: ${server}`;
  try {
    // The connection's own answer timer (server_connect_timeout) ends a query that hangs.
    return await server.queryWithParams(sql, [user]);
  } catch (err) {
    return `failed on server ${server.describe()}: ${(err as Error).message}`;
  } finally {
    giveBack(pool, server);
  }
}

/** The smaller of the waits the operator set (0 = none), in ms; null when both are off. */
function waitLimitMs(...seconds: number[]): number | null {
  const set = seconds.filter((s) => s > 0);
  return set.length > 0 ? Math.min(...set) * 1000 : null;
}

/** A server of the pool, or why none came in time. */
function checkOut(pool: ServerPool, limitMs: number | null): Promise<ServerConnection | string> {
  return new Promise((resolve) => {
    const waiter: PoolWaiter = {
      waitingSince: Date.now(),
      onServerAssigned(server) {
        if (timer) clearTimeout(timer);
        resolve(server);
      },
      onPoolError(err: ServerLoginError) {
        if (timer) clearTimeout(timer);
        resolve(`auth_user "${pool.key.user}" cannot log in: ${err.message}`);
      },
    };
    const timer =
      limitMs === null
        ? null
        : setTimeout(() => {
            pool.cancelWait(waiter);
            resolve(`no server connection for auth_user "${pool.key.user}" became free within ${limitMs / 1000} s`);
          }, limitMs);
    pool.acquire(waiter);
  });
}

/** Back to the pool only when idle outside a transaction (auth_query may be any statement). */
function giveBack(pool: ServerPool, server: ServerConnection): void {
  if (server.isClosed) return;
  if (server.isIdle && server.txStatus === IDLE) pool.release(server);
  else server.close('auth_query left the connection in a transaction');
}
