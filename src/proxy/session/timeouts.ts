// The limits the janitor checks once a second for each client: login, wait for a server (and a
// route afresh when the backend waited on can no longer serve), statement, idle transaction,
// idle client; and the guard against bytes to run again that were never sent.
import { SQLSTATE } from '../../protocol/encode.js';
import { TransactionStatus } from '../../protocol/types.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import type { ClientSession } from '../client-session.js';
import { rerouteWaiting, waitsOnStaleBackend, type RouteSession } from './route.js';
import { State, Wait } from './state.js';
import { fromTicks, toTicks } from './clock.js';

/** How long a statement cancelled by query_timeout may take to end before its server is closed. */
const QUERY_CANCEL_GRACE_MS = 5000;
/** A statement to run again is sent as soon as its server is idle: waiting this long is a bug. */
const STUCK_RESEND_MS = 5000;

/** What of the session these functions use. */
export type TimeoutSession = Pick<
  ClientSession,
  | 'answered'
  | 'cancelAgain'
  | 'connectedAt'
  | 'ctx'
  | 'fatal'
  | 'lastActive'
  | 'pool'
  | 'relocateLogin'
  | 'remote'
  | 'resend'
  | 'retryRoute'
  | 'scanner'
  | 'server'
  | 'state'
  | 'timeoutCancelTicks'
  | 'timeoutCancelSent'
  | 'wait'
  | 'waitingSince'
> &
  RouteSession;

export function checkTimeouts(s: TimeoutSession, now: number): void {
  const cfg = s.ctx.config;
  // Bytes waiting to run again while their server sits idle: a path that forgot them (as the
  // pinned client's stale-plan retry once did) must cost an error, never a client waiting for ever.
  if (
    s.resend?.bytes &&
    s.state === State.Linked &&
    s.server!.syncs.pending === 0 &&
    now - s.lastActive > STUCK_RESEND_MS
  ) {
    s.ctx.log.error({ client: s.remote, why: s.resend.why }, 'statement to run again was never sent');
    return s.fatal(
      SQLSTATE.INTERNAL_ERROR,
      'internal error in pgtide: a statement to run again was lost; the connection is closed',
      undefined,
      'Reconnect and retry.',
    );
  }
  switch (s.state) {
    case State.Login:
      // The login waits for its pool's first server (to learn the settings to report): as
      // PgBouncer, that wait is bounded by query_wait_timeout too, and says why. It moves to
      // another backend when its own left service.
      if (s.waitingSince > 0) {
        if (waitedTooLong(s, now)) return;
        s.relocateLogin();
        if (s.state !== State.Login) return;
      }
      return loginTimedOut(s, now);
    case State.Startup:
    case State.Tls:
    case State.Lookup:
    case State.Auth:
      return loginTimedOut(s, now);
    case State.Waiting:
      // Re-routed now, the client would get a second server, and the one holding its session
      // would be linked over it when the query ends.
      if (s.wait === Wait.OwnQuery) return;
      if (!s.pool) s.retryRoute();
      else if (waitsOnStaleBackend(s)) rerouteWaiting(s);
      if (s.state === State.Waiting) waitedTooLong(s, now);
      return;
    case State.Ready:
      if (cfg.client_idle_timeout > 0 && now - s.lastActive > cfg.client_idle_timeout * 1000) {
        s.fatal(
          SQLSTATE.IDLE_SESSION_TIMEOUT,
          `client_idle_timeout: connection idle for more than ${cfg.client_idle_timeout} s`,
        );
      }
      return;
    case State.Linked: {
      const server = s.server!;
      if (s.cancelAgain) resendCancel(s, server);
      if (server.syncs.pending > 0) {
        if (cfg.query_timeout > 0 && now - s.lastActive > cfg.query_timeout * 1000) queryTimedOut(s, server, now);
      } else if (server.txStatus !== TransactionStatus.Idle) {
        if (cfg.idle_transaction_timeout > 0 && now - s.lastActive > cfg.idle_transaction_timeout * 1000) {
          s.fatal(
            SQLSTATE.IDLE_IN_TRANSACTION_TIMEOUT,
            `idle_transaction_timeout: transaction idle for more than ${cfg.idle_transaction_timeout} s`,
          );
        }
      } else if (cfg.client_idle_timeout > 0 && now - s.lastActive > cfg.client_idle_timeout * 1000) {
        s.fatal(
          SQLSTATE.IDLE_SESSION_TIMEOUT,
          `client_idle_timeout: connection idle for more than ${cfg.client_idle_timeout} s`,
        );
      }
      return;
    }
  }
}

/** client_login_timeout bounds the whole login. */
function loginTimedOut(s: TimeoutSession, now: number): void {
  const limit = s.ctx.config.client_login_timeout;
  if (limit > 0 && now - s.connectedAt > limit * 1000) {
    s.fatal(SQLSTATE.PROTOCOL_VIOLATION, `client_login_timeout: login not completed within ${limit} s`);
  }
}

/** query_wait_timeout: the client is closed when it waited for a server that long; returns whether it was. */
function waitedTooLong(s: TimeoutSession, now: number): boolean {
  const limit = s.ctx.config.query_wait_timeout;
  if (limit <= 0 || now - s.waitingSince <= limit * 1000) return false;
  s.fatal(
    SQLSTATE.QUERY_CANCELED,
    `query_wait_timeout: no server connection became free within ${limit} s`,
    undefined,
    'The pool is exhausted or the server is unreachable; raise pool_size or check the server.',
  );
  return true;
}

/**
 * A cancel may reach the server right behind the query's bytes: sent with them when the query
 * waited for a server (flushQueued), or just after them when the server came free as the cancel
 * arrived. PostgreSQL ignores a cancel while it still reads a command, so the query could run to
 * its end. Until the link's first answer, the cancel goes again at each tick once the last one
 * has ended: a frozen server, which answers neither, gets one at a time, not one per tick.
 */
function resendCancel(s: TimeoutSession, server: LinkedServer): void {
  // A query whose text is still arriving (a long one, queued in part while it waited) owes no
  // ReadyForQuery yet: it runs, and must still be cancelled, once its end reaches the server.
  if (s.answered || (server.syncs.pending === 0 && s.scanner.atBoundary)) s.cancelAgain = false;
  else if (server.cancelsInFlight === 0) s.ctx.sendCancel(server);
}

/** query_timeout: cancel the statement; a server that has not ended it QUERY_CANCEL_GRACE_MS
 *  later (frozen, or its cancel lost) is closed, so the client's wait ends. */
function queryTimedOut(s: TimeoutSession, server: LinkedServer, now: number): void {
  if (!s.timeoutCancelSent) {
    s.timeoutCancelSent = true;
    s.timeoutCancelTicks = toTicks(now);
    s.ctx.sendCancel(server);
  } else if (now - fromTicks(s.timeoutCancelTicks) > QUERY_CANCEL_GRACE_MS) {
    const why = `query_timeout: the server did not end the statement within ${QUERY_CANCEL_GRACE_MS / 1000} s of its cancel`;
    s.fatal(
      SQLSTATE.QUERY_CANCELED,
      why,
      undefined,
      'The server may be overloaded or hung; its connection was closed.',
    );
    server.close(why);
  }
}
