import type { SecureContext } from 'node:tls';
import type { AssemblyBudget } from '../protocol/scanner.js';
import type { Config } from '../config/types.js';
import type { Secret } from '../auth/secret.js';
import type { NameSalts } from '../auth/scram-server.js';
import type { HbaRules } from '../auth/hba.js';
import type { Logger } from '../log.js';
import type { PoolManager } from '../pool/pool-manager.js';
import type { Classifier } from '../sql/classifier.js';
import type { Router } from './router.js';
import type { FunctionCatalog } from './function-catalog.js';
import type { ReplayTracker } from './read-your-writes.js';
import type { LinkedServer } from '../pool/linked-server.js';
import type { CancelKeys } from './cancel-keys.js';
import type { PeerCancels } from './peer-cancel.js';
import type { RelayedSignal } from './backend-signals.js';
import type { ClientSession } from './client-session.js';
import type { Roster } from './roster.js';
import type { StatementRegistry } from './statement-registry.js';
import type { LruCache } from '../sql/lru.js';
import type { SharedSettings } from './session-settings.js';

/** What sessions need from the admin side: the console and the PAUSE/DISABLE state. */
export interface AdminHooks {
  isConsole(database: string): boolean;
  /** A promise when the answer waits for the other workers (`workers = N`). */
  run(req: { sql: string; user: string; admin: boolean; gone?: () => boolean }): Buffer[] | Promise<Buffer[]>;
  isPaused(database: string): boolean;
  isDisabled(database: string): boolean;
}

/** What every client session of one process shares. Passed explicitly: no module singletons. */
export interface ProxyContext {
  config: Config;
  /** auth_file contents: user name -> stored password (plain, md5… or SCRAM secret). */
  users: Map<string, string>;
  /** hba_file's rules; null = every client gets auth_type. */
  hba: HbaRules | null;
  pools: PoolManager;
  router: Router;
  classifier: Classifier;
  functions: FunctionCatalog;
  replay: ReplayTracker;
  /** Server-side names of the named prepared statements of every client. */
  statements: StatementRegistry;
  /** How servers report a startup setting's value (`DateStyle\0iso` → `ISO, MDY`), for ParameterStatus at login. */
  reportedValues: LruCache<string>;
  /** Startup settings by the startup parameters they came from: clients that connect with the same ones share one copy. */
  startupSettings: LruCache<SharedSettings>;
  cancelKeys: CancelKeys<ClientSession>;
  /** Cancel requests forwarded to the [[peers]] that issued their keys. */
  peerCancels: PeerCancels;
  clientTls: SecureContext | null;
  log: Logger;
  /** Every connected client, in connection order. */
  clients: Roster<'clientSlot', ClientSession>;
  /** Clients still logging in, oldest first (bounded by max_login_clients). */
  loggingIn: Roster<'loginSlot', ClientSession>;
  /** Why a client beyond max_client_conn (or the open-files limit's room) is refused. */
  capRefusal: string;
  /** Per-user SCRAM salts (and mock keys for unknown users), the same in every worker. */
  nameSalts: NameSalts;
  /** SCRAM secrets derived from plain auth_file passwords, derived once per user and password. */
  plainToScram(user: string, password: string): Secret;
  /** With `workers = N`: hands a CancelRequest for another worker's client to that worker
   *  (through the primary); null in a single process. */
  relayToWorker: ((pid: number, secret: Buffer, sent: () => void) => void) | null;
  /** With `workers = N`: hands a pg_terminate_backend or pg_cancel_backend of another worker's
   *  client to that worker (see backend-signals.ts); null in a single process. */
  relaySignal: ((signal: RelayedSignal) => void) | null;
  /** With `workers = N`: tells every other worker that a DDL transaction ended here, so that
   *  their read_your_writes reads wait for its position; settles once they all answered (or
   *  did not in time). Null in a single process. */
  announceFence: (() => Promise<unknown>) | null;
  /** Close pgtide's idle connections to the servers' database `name`, in every worker: a
   *  client's statement needs it without sessions (see Classification.freesDatabase). */
  freeDatabase(name: string): void;
  /** Ask the server to cancel what the connection is running, on a separate connection;
   *  `sent` runs once the server closed that connection (it signalled the backend), or gave up. */
  sendCancel(server: LinkedServer, sent?: () => void): void;
  admin: AdminHooks;
  /** Bytes all clients' scanners may hold assembling Query and Parse bodies cut across chunks. */
  assemblyBudget: AssemblyBudget;
}
