// `pgtide import`: turns the seed's stack (HAProxy → PgBouncer → Pgpool-II under supervisord)
// into one commented pgtide.toml. Every setting of the source files either becomes a pgtide
// key or a comment saying how its intent is met now; anything that changes behaviour is also
// a warning.
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseUserList } from '../../auth/userlist.js';
import { dropSetting, setKey, where, type ImportContext } from './context.js';
import { parseHaproxy, type HaproxySection } from './haproxy.js';
import { loadIni, type IniEntry } from './ini.js';
import { mapPgBouncer, type DatabaseServer } from './map-pgbouncer.js';
import { mapPgpool, pgpoolPort, pgpoolServerCap } from './map-pgpool.js';
import { gucBoolean, parsePgpoolConf, type GucEntry, type PgpoolConf } from './pgpool-conf.js';
import { hbaFileProblems } from '../hba-file.js';
import { describeImportedHba } from './imported-hba.js';
import { parsePoolPasswd } from './pool-passwd.js';
import { ImportError, readSource, splitLines } from './source.js';
import { mapImageHealth, mapStateDir, type StateDirOptions } from './state-dir.js';
import { TomlDraft, type TomlValue } from './toml-draft.js';

/** Paths of the seed's files; any may be missing. */
export interface SeedFiles {
  pgbouncer?: string;
  users?: string;
  pgpool?: string;
  poolHba?: string;
  poolPasswd?: string;
  haproxy?: string;
  supervisor?: string;
}

export interface ImportResult {
  toml: string;
  warnings: string[];
}

/** PgBouncer's defaults for the keys the listening step reads. */
const PGBOUNCER_DEFAULT_PORT = 6432;

export function importSeedStack(files: SeedFiles, options: StateDirOptions = {}): ImportResult {
  const ctx: ImportContext = {
    draft: new TomlDraft(),
    warnings: [],
    ...(files.users === undefined ? {} : { usersFile: files.users }),
  };
  const pgbouncer = files.pgbouncer === undefined ? undefined : loadIni(files.pgbouncer);
  const pgpool = files.pgpool === undefined ? undefined : parsePgpoolConf(readSource(files.pgpool), files.pgpool);
  const haproxy = files.haproxy === undefined ? [] : parseHaproxy(readSource(files.haproxy), files.haproxy);

  writeHeader(ctx, files);
  ctx.draft.heading('Listening (PgBouncer and HAProxy ports, one process)');
  mapListening(ctx, pgbouncer, pgpool, haproxy, files.haproxy ?? 'haproxy.cfg');

  let servers: DatabaseServer[] = [];
  if (pgbouncer !== undefined) {
    ctx.draft.heading(`Pooling and clients (${basename(files.pgbouncer ?? 'pgbouncer.ini')})`);
    servers = mapPgBouncer(
      ctx,
      pgbouncer,
      pgpool === undefined ? undefined : pgpoolPort(pgpool),
      pgpool === undefined ? undefined : pgpoolServerCap(pgpool),
    );
  }
  mapMaxConn(ctx, haproxy, files.haproxy ?? 'haproxy.cfg');
  if (pgpool !== undefined) {
    ctx.draft.heading(`Routing and cluster monitoring (${basename(files.pgpool ?? 'pgpool.conf')})`);
    mapPgpool(ctx, pgpool);
  } else {
    mapDatabaseServers(ctx, servers);
  }
  ctx.draft.heading('Authentication');
  mapAuthentication(ctx, files, pgpool);
  ctx.draft.heading('State kept across restarts');
  mapStateDir(ctx, options, ctx.draft.tableCount('[[backends]]'));
  mapImageHealth(ctx, options);
  if (files.supervisor !== undefined) mapSupervisor(ctx, files.supervisor);
  if (pgpool === undefined && servers.length === 0)
    ctx.warnings.push('no backend servers were found: add a [[backends]] table before starting pgtide');
  return { toml: ctx.draft.render(), warnings: ctx.warnings };
}

function writeHeader(ctx: ImportContext, files: SeedFiles): void {
  const sources = Object.entries(files).map(([kind, path]) => `  ${kind}: ${path}`);
  ctx.draft.comment(
    'pgtide.toml imported by `pgtide import` from:',
    ...sources,
    '',
    'One pgtide process replaces the whole stack: HAProxy (extra ports) → PgBouncer (pooling)',
    '→ Pgpool-II (read/write split, lag checks), which supervisord kept running together.',
    'Each key says where it came from; settings without a pgtide key are explained in comments.',
  );
}

/** PgBouncer's port (or Pgpool-II's when it faced clients) plus every port HAProxy bound. */
function mapListening(
  ctx: ImportContext,
  pgbouncer: readonly IniEntry[] | undefined,
  pgpool: PgpoolConf | undefined,
  haproxy: readonly HaproxySection[],
  haproxyFile: string,
): void {
  const segments: { first: number; last: number; at: { file: string; line: number } }[] = [];
  const addresses: { list: string[]; at: { file: string; line: number } }[] = [];
  const front = frontListener(pgbouncer, pgpool);
  if (front !== undefined) {
    segments.push({ first: front.port, last: front.port, at: front.portAt });
    addresses.push({ list: front.addresses, at: front.addressAt });
  }
  for (const section of haproxy) {
    if (section.mode !== undefined && section.mode.value !== 'tcp') {
      ctx.warnings.push(
        `${where({ file: haproxyFile, line: section.mode.line })}: mode ${section.mode.value}: pgtide speaks only the PostgreSQL protocol`,
      );
    }
    for (const bind of section.binds) {
      segments.push({ first: bind.firstPort, last: bind.lastPort, at: { file: haproxyFile, line: bind.line } });
      addresses.push({ list: [bind.host], at: { file: haproxyFile, line: bind.line } });
    }
    for (const server of section.servers) {
      ctx.draft.comment(
        `${where({ file: haproxyFile, line: server.line })} server ${server.name} ${server.address}: HAProxy forwarded these ports to PgBouncer; pgtide listens on all of them itself.`,
      );
    }
    for (const [event, timeout] of section.timeouts) {
      ctx.draft.comment(
        `${where({ file: haproxyFile, line: timeout.line })} timeout ${event} ${timeout.value / 1000}s: HAProxy closed a connection silent that long on the ${event} side.`,
        'pgtide adds no such hop; its idle limits are client_idle_timeout, idle_transaction_timeout and query_timeout, left at 0 (off), which is wider than the seed asked for.',
      );
    }
  }
  const ports = uniquePorts(ctx, segments);
  if (ports.length > 0) {
    setKey(
      ctx,
      'listen_port',
      ports.map(({ first, last }) => (first === last ? first : `${first}-${last}`)),
      segments[0]!.at,
      segments.map((s) => `${s.first === s.last ? s.first : `${s.first}-${s.last}`} from ${where(s.at)}`).join('; '),
    );
  }
  const all = addresses.flatMap((item) => item.list);
  if (all.length > 0) {
    const merged = all.includes('*') ? ['*'] : [...new Set(all)];
    const distinct = new Set(all.map((address) => (address === '0.0.0.0' ? '*' : address)));
    if (distinct.size > 1)
      ctx.warnings.push(
        `listen_addr: the sources listened on different addresses (${[...new Set(all)].join(', ')}); pgtide listens on ${merged.join(', ')} for every port`,
      );
    setKey(
      ctx,
      'listen_addr',
      merged,
      addresses[0]!.at,
      'pgtide listens on every listen_addr on every listen_port; "*" is every IPv4 and IPv6 address.',
    );
  }
}

function frontListener(
  pgbouncer: readonly IniEntry[] | undefined,
  pgpool: PgpoolConf | undefined,
):
  | {
      port: number;
      portAt: { file: string; line: number };
      addresses: string[];
      addressAt: { file: string; line: number };
    }
  | undefined {
  if (pgbouncer !== undefined) {
    const setting = (key: string): IniEntry | undefined =>
      pgbouncer.filter((e) => e.section === 'pgbouncer' && e.key === key).at(-1);
    const port = setting('listen_port');
    const addr = setting('listen_addr');
    const fallback = { file: 'pgbouncer.ini', line: 0 };
    const portNumber = port === undefined ? PGBOUNCER_DEFAULT_PORT : Number(port.value);
    if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535)
      throw new ImportError(port!.file, port!.line, 'listen_port must be a port number');
    return {
      port: portNumber,
      portAt: port ?? fallback,
      addresses: (addr?.value ?? 'localhost')
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== ''),
      addressAt: addr ?? fallback,
    };
  }
  if (pgpool === undefined) return undefined;
  const addr: GucEntry | undefined = pgpool.settings.get('listen_addresses');
  const fallback = { file: 'pgpool.conf', line: 0 };
  return {
    port: pgpoolPort(pgpool),
    portAt: pgpool.settings.get('port') ?? fallback,
    addresses: (addr?.value ?? 'localhost')
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== ''),
    addressAt: addr ?? fallback,
  };
}

/** Drops ports listed twice (PgBouncer's port also bound by HAProxy), with a warning. */
function uniquePorts<T extends { first: number; last: number; at: { file: string; line: number } }>(
  ctx: ImportContext,
  segments: T[],
): T[] {
  const seen = new Set<number>();
  const kept: T[] = [];
  for (const segment of segments) {
    const fresh: number[] = [];
    for (let port = segment.first; port <= segment.last; port++) if (!seen.has(port)) fresh.push(port);
    if (fresh.length !== segment.last - segment.first + 1)
      ctx.warnings.push(`${where(segment.at)}: a port is listed twice; pgtide listens on it once`);
    for (const port of fresh) seen.add(port);
    // Keep the runs of new ports as ranges.
    let start = 0;
    for (let i = 1; i <= fresh.length; i++) {
      if (i === fresh.length || fresh[i] !== fresh[i - 1]! + 1) {
        if (fresh.length > 0) kept.push({ ...segment, first: fresh[start]!, last: fresh[i - 1]! });
        start = i;
      }
    }
  }
  return kept;
}

/** HAProxy's maxconn capped the same clients PgBouncer's max_client_conn did. */
function mapMaxConn(ctx: ImportContext, haproxy: readonly HaproxySection[], haproxyFile: string): void {
  for (const section of haproxy) {
    if (section.maxconn === undefined) continue;
    const at = { file: haproxyFile, line: section.maxconn.line };
    const current = ctx.draft.valueOf('max_client_conn');
    ctx.draft.comment(
      `${where(at)} maxconn ${section.maxconn.value} (${section.kind}): the same cap as max_client_conn, which pgtide applies across all its ports.`,
    );
    if (current === undefined)
      setKey(
        ctx,
        'max_client_conn',
        section.maxconn.value,
        at,
        "From HAProxy's maxconn (pgbouncer.ini did not set max_client_conn).",
      );
    else if (current !== section.maxconn.value)
      ctx.warnings.push(
        `${where(at)}: maxconn ${section.maxconn.value} differs from max_client_conn ${String(current)}; pgtide uses max_client_conn`,
      );
  }
}

/** Without Pgpool-II, the servers of PgBouncer's [databases] become the backends. */
function mapDatabaseServers(ctx: ImportContext, servers: readonly DatabaseServer[]): void {
  const seen = new Set<string>();
  for (const server of servers) {
    const key = `${server.host}:${server.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const entries: [string, TomlValue][] = [
      ['host', server.host],
      ['port', server.port],
    ];
    ctx.draft.table('[[backends]]', entries, `${where(server.entry)} [databases] ${server.entry.key}`);
  }
  if (seen.size > 1)
    ctx.warnings.push(
      `pgbouncer.ini names ${seen.size} servers; pgtide serves them as one cluster, a primary and its streaming standbys: if they are not one, run one pgtide per cluster (docs/migration.md)`,
    );
}

/** The --users file; a line PgBouncer could not read either is an ImportError (a refused configuration). */
function readUserList(path: string): Map<string, string> {
  const text = readSource(path);
  try {
    return parseUserList(text, path);
  } catch (error) {
    throw new ImportError(path, 0, (error as Error).message.replace(`${path} `, ''));
  }
}

function mapAuthentication(ctx: ImportContext, files: SeedFiles, pgpool: PgpoolConf | undefined): void {
  const usersFile = files.users;
  const users = usersFile === undefined ? undefined : readUserList(usersFile);
  if (usersFile !== undefined && users !== undefined) {
    if (!ctx.draft.has('auth_file'))
      setKey(ctx, 'auth_file', resolve(usersFile), { file: usersFile, line: 0 }, 'pgbouncer.ini named no auth_file.');
    ctx.draft.comment(
      `${basename(usersFile)}: ${users.size} users (${[...users.keys()].join(', ')}); md5 and plain-text passwords both work with auth_type = "md5".`,
    );
  }
  const srUser = pgpool?.settings.get('sr_check_user');
  if (usersFile !== undefined && users !== undefined && srUser !== undefined && !users.has(srUser.value)) {
    ctx.warnings.push(`${where(srUser)}: sr_check_user ${srUser.value} is not in ${basename(usersFile)}`);
  }
  const hbaEnabled = pgpool?.settings.get('enable_pool_hba');
  const enforced = hbaEnabled !== undefined && gucBoolean(hbaEnabled);
  if (hbaEnabled !== undefined) {
    dropSetting(
      ctx,
      hbaEnabled,
      `enable_pool_hba = ${hbaEnabled.value}`,
      !enforced
        ? 'Pgpool-II did not enforce pool_hba.conf, so hba_file stays unset.'
        : files.poolHba !== undefined
          ? 'pgtide enforces pool_hba.conf through hba_file.'
          : 'pool_hba.conf was not given (--pool-hba), so hba_file stays unset: no access rules.',
      false,
    );
    if (enforced && files.poolHba === undefined)
      ctx.warnings.push(
        `${where(hbaEnabled)}: enable_pool_hba = ${hbaEnabled.value}, but no pool_hba.conf was given: pass --pool-hba to enforce its rules, or set hba_file`,
      );
  }
  if (files.poolHba !== undefined) mapPoolHba(ctx, files.poolHba, enforced, files.pgbouncer !== undefined);
  const passwdSetting = pgpool?.settings.get('pool_passwd');
  if (passwdSetting !== undefined)
    dropSetting(
      ctx,
      passwdSetting,
      `pool_passwd = '${passwdSetting.value}'`,
      'PgBouncer logged in to Pgpool-II with these; pgtide has no such hop and checks clients against auth_file only.',
      false,
    );
  if (files.poolPasswd !== undefined) mapPoolPasswd(ctx, files.poolPasswd, users);
}

/**
 * pool_hba.conf has pg_hba.conf's format, which pgtide's hba engine reads as it is: the file is
 * referenced, not copied, so the operator keeps one file to edit.
 */
function mapPoolHba(ctx: ImportContext, path: string, enabled: boolean, behindPgBouncer: boolean): void {
  const name = basename(path);
  const file = resolve(path);
  if (!enabled) {
    ctx.draft.comment(`${name}: not enabled in pgpool.conf; to enforce it with pgtide, set hba_file = "${file}".`);
    return;
  }
  if (ctx.draft.has('hba_file')) {
    ctx.draft.comment(`${name}: not enforced: PgBouncer's auth_hba_file, which the applications met, is hba_file.`);
    return;
  }
  const parsed = hbaFileProblems(file);
  // Behind PgBouncer, a trust line let in PgBouncer's connections, which had asked the
  // applications for a password first; as pgtide's rules it would let the applications in
  // without one (Pgpool-II's sample file trusts every local and loopback connection).
  // Read from the text, so that a line pgtide cannot honour (which the operator rewrites as the
  // warning says) does not hide a trust line from this check.
  const trusting = behindPgBouncer && existsSync(file) ? trustLines(readSource(file)) : [];
  if (trusting.length > 0) {
    ctx.draft.comment(
      `${name}: not enforced: its trust lines applied to PgBouncer's connections, which had logged the applications in with auth_type first.`,
      `To enforce its rules on the applications, rewrite those lines with a password method, then set hba_file = "${file}".`,
    );
    ctx.warnings.push(
      `${trusting.map((line) => `${name}:${line}`).join(', ')}: trust: in the seed PgBouncer asked for passwords before Pgpool-II trusted its connections; as pgtide's rules these lines would let the applications in without one, so hba_file is not set: every client logs in with auth_type`,
    );
    return;
  }
  setKey(
    ctx,
    'hba_file',
    file,
    { file: path, line: 0 },
    'enable_pool_hba = on: pgtide enforces these rules for its clients, first matching line wins.',
  );
  describeImportedHba(ctx, path, parsed);
  if (behindPgBouncer && !Array.isArray(parsed)) {
    // In the seed, Pgpool-II's clients were PgBouncer's connections; pgtide's are the applications.
    ctx.warnings.push(
      `${name}: Pgpool-II applied these rules to its own clients (PgBouncer, from its addresses); pgtide applies them to the applications, from theirs: add lines for the applications' networks before switching over`,
    );
  }
}

/** The numbers of the lines whose method is trust (the word, outside a comment). */
function trustLines(text: string): number[] {
  const lines: number[] = [];
  splitLines(text).forEach((line, index) => {
    const fields = line.replace(/#.*$/, '').trim().split(/\s+/);
    if (fields.length > 3 && fields.some((field) => field.toLowerCase() === 'trust')) lines.push(index + 1);
  });
  return lines;
}

function mapPoolPasswd(ctx: ImportContext, path: string, users: Map<string, string> | undefined): void {
  const entries = parsePoolPasswd(readSource(path), path);
  for (const entry of entries) {
    const at = { file: path, line: entry.line };
    if (entry.kind === 'aes') {
      ctx.warnings.push(
        `${where(at)}: ${entry.user}: AES-encrypted password; it cannot be decrypted without Pgpool-II's key file (.pgpoolkey): add the user to auth_file by hand`,
      );
    } else if (users !== undefined && !users.has(entry.user)) {
      ctx.warnings.push(
        `${where(at)}: ${entry.user} is in pool_passwd but not in auth_file; add it to auth_file if clients log in as ${entry.user}`,
      );
    }
  }
  ctx.draft.comment(
    `${basename(path)}: ${entries.length} users (${entries.map((e) => e.user).join(', ')}); pgtide does not read this file.`,
  );
}

function mapSupervisor(ctx: ImportContext, path: string): void {
  const programs = [...readSource(path).matchAll(/^\s*\[program:([^\]]+)\]/gm)].map((match) => match[1]!.trim());
  ctx.draft.heading(`Process supervision (${basename(path)})`);
  ctx.draft.comment(
    `supervisord ran ${programs.join(' and ') || 'no programs'} side by side; pgtide is one process: run it under the`,
    'container runtime (e.g. docker run --restart=always) or systemd. INSTANCE_NAME still sets instance_name.',
  );
}
