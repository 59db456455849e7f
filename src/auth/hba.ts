// pg_hba.conf rules, with PostgreSQL's semantics: the first line whose connection type,
// database, user and address match decides the authentication method; no matching line
// refuses the connection. Parsing is pure (included `@files` come through a reader the
// caller gives); matching is pure (the host's own networks, for samehost/samenet, are an
// argument). A line pgtide cannot honour exactly is a problem of the whole file, never a line
// silently skipped: skipping a `reject` line would let in whom it was written to keep out.
import { dirname, isAbsolute, join } from 'node:path';
import { formatIp, inNetwork, parseIp, prefixMask, sameIp, unmapIpv4, type IpBytes } from './hba-address.js';
import { splitFields, tokenizeHba, type HbaToken } from './hba-tokens.js';

export type HbaConnectionType = 'local' | 'host' | 'hostssl' | 'hostnossl' | 'hostgssenc' | 'hostnogssenc';
export type HbaMethod = 'trust' | 'reject' | 'md5' | 'password' | 'scram-sha-256' | 'cert';
/** clientcert: the client must present a certificate pgtide's CA signed (verify-full: whose CN is the user). */
export type ClientCertCheck = 'verify-ca' | 'verify-full';

type NameMatch =
  | { kind: 'all' }
  | { kind: 'sameuser' }
  /** samerole: a role the user is a member of (the database field only). */
  | { kind: 'samerole' }
  | { kind: 'replication' }
  /** +name: the user is that role or a member of it, directly or not (the user field only). */
  | { kind: 'group'; name: string }
  | { kind: 'name'; name: string };

type AddressMatch =
  | { kind: 'all' }
  | { kind: 'samehost' }
  | { kind: 'samenet' }
  | { kind: 'network'; network: IpBytes; mask: Uint8Array };

export interface HbaRule {
  file: string;
  line: number;
  /** The line as written (for logs). */
  text: string;
  type: HbaConnectionType;
  databases: NameMatch[];
  users: NameMatch[];
  address: AddressMatch | null;
  method: HbaMethod;
  /** Set by clientcert, and verify-full always for `cert`. */
  clientCert: ClientCertCheck | null;
}

export interface HbaProblem {
  file: string;
  line: number;
  text: string;
  message: string;
}

export interface HbaRules {
  rules: HbaRule[];
  /** Some line uses samehost or samenet: the matcher needs the host's networks. */
  needsHostNetworks: boolean;
  /** Some line checks client certificates: client_tls_ca_file must be set. */
  needsClientCerts: boolean;
  /** Some line uses +group or samerole: the matcher needs the user's role memberships. */
  needsGroups: boolean;
}

export type HbaParse = { ok: true; hba: HbaRules } | { ok: false; problems: HbaProblem[] };

/** Returns the text of an included file; throws when it cannot. */
export type HbaFileReader = (path: string) => string;

/** PostgreSQL's CONF_FILE_MAX_DEPTH for nested @files. */
const MAX_INCLUDE_DEPTH = 10;
/** Bounds the work a hostile file can cause (@files that include each other widely). */
const MAX_TOKENS = 100_000;

const TYPES: readonly string[] = ['local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc'];
const METHODS: readonly string[] = ['trust', 'reject', 'md5', 'password', 'scram-sha-256', 'cert'];
const UNSUPPORTED_METHODS: Record<string, string> = {
  peer: 'pgtide cannot read the peer credentials of a unix-socket client: peer authentication cannot be honoured',
  ident: 'pgtide does not query ident servers: ident authentication cannot be honoured',
  gss: 'pgtide does not support GSSAPI authentication',
  sspi: 'pgtide does not support SSPI authentication',
  pam: 'pgtide does not support PAM authentication',
  ldap: 'pgtide does not support LDAP authentication',
  radius: 'pgtide does not support RADIUS authentication',
  bsd: 'pgtide does not support BSD authentication',
  oauth: 'pgtide does not support OAuth authentication',
};

class LineProblem extends Error {}
const fail = (message: string): never => {
  throw new LineProblem(message);
};

/**
 * Parses a whole file. Any problem makes the result not ok: PostgreSQL, too, refuses a
 * pg_hba.conf with an invalid line (and keeps the rules it had when reloading).
 */
export function parseHba(text: string, file: string, readFile: HbaFileReader): HbaParse {
  const rules: HbaRule[] = [];
  const problems: HbaProblem[] = [];
  const budget = { tokens: 0 };
  for (const line of tokenizeHba(text)) {
    const at = { file, line: line.line, text: line.text };
    if ('error' in line) {
      problems.push({ ...at, message: line.error });
      continue;
    }
    try {
      const fields = line.fields.map((field) => expandField(field, file, readFile, 0, budget));
      rules.push({ ...at, ...readRule(fields) });
    } catch (err) {
      if (!(err instanceof LineProblem)) throw err;
      problems.push({ ...at, message: err.message });
    }
  }
  // As PostgreSQL: a file without rules is a mistake (a truncated copy?), not "refuse everyone".
  if (problems.length === 0 && rules.length === 0)
    problems.push({ file, line: 0, text: '', message: `configuration file "${file}" contains no entries` });
  if (problems.length > 0) return { ok: false, problems };
  const needsHostNetworks = rules.some((rule) => rule.address?.kind === 'samehost' || rule.address?.kind === 'samenet');
  const needsClientCerts = rules.some((rule) => rule.clientCert !== null);
  const needsGroups = rules.some(
    (rule) => rule.users.some((u) => u.kind === 'group') || rule.databases.some((d) => d.kind === 'samerole'),
  );
  return { ok: true, hba: { rules, needsHostNetworks, needsClientCerts, needsGroups } };
}

export function formatHbaProblem(problem: HbaProblem): string {
  if (problem.line === 0) return problem.message; // about the whole file, which it names
  return `${problem.file}:${problem.line}: ${problem.message} (in "${problem.text.slice(0, 200)}")`;
}

/** Replaces unquoted `@file` tokens by every token of that file, relative to the including file. */
function expandField(
  field: HbaToken[],
  file: string,
  readFile: HbaFileReader,
  depth: number,
  budget: { tokens: number },
): HbaToken[] {
  const out: HbaToken[] = [];
  for (const token of field) {
    if ((budget.tokens += 1) > MAX_TOKENS) fail(`more than ${MAX_TOKENS} names after expanding @files`);
    if (token.quoted || token.text.length < 2 || !token.text.startsWith('@')) {
      out.push(token);
      continue;
    }
    if (depth >= MAX_INCLUDE_DEPTH)
      fail(`could not open file "${token.text.slice(1)}": maximum nesting depth exceeded`);
    const path = isAbsolute(token.text.slice(1)) ? token.text.slice(1) : join(dirname(file), token.text.slice(1));
    let included: string;
    try {
      included = readFile(path);
    } catch (err) {
      // PostgreSQL only logs this and reads the list as empty; an empty list in a `reject`
      // line would quietly let clients in, so pgtide refuses the file instead.
      return fail(
        `could not read secondary authentication file "${token.text}" as "${path}": ${(err as Error).message}`,
      );
    }
    for (const line of included.split('\n')) {
      let fields: HbaToken[][];
      try {
        fields = splitFields(line.replace(/\r$/, ''));
      } catch (err) {
        return fail(`in "${path}": ${(err as Error).message}`);
      }
      for (const inner of fields) out.push(...expandField(inner, path, readFile, depth + 1, budget));
    }
  }
  return out;
}

function readRule(fields: HbaToken[][]): Omit<HbaRule, 'file' | 'line' | 'text'> {
  const typeText = single(fields[0]!, 'connection type');
  if (typeText === 'include' || typeText === 'include_if_exists' || typeText === 'include_dir') {
    fail(`"${typeText}" directives are not supported by pgtide: write the rules into this file`);
  }
  if (!TYPES.includes(typeText)) fail(`invalid connection type "${typeText}"`);
  const type = typeText as HbaConnectionType;
  let at = 1;
  const databaseField = fields[at++] ?? fail('end-of-line before database specification');
  const userField = fields[at++] ?? fail('end-of-line before role specification');
  const databases = databaseField.map(databaseMatch);
  const users = userField.map(userMatch);
  let address: AddressMatch | null = null;
  if (type !== 'local') {
    const addressText = single(fields[at++] ?? fail('end-of-line before IP address specification'), 'host address');
    const parsed = readAddress(addressText, fields[at]);
    address = parsed.address;
    if (parsed.usedMask) at++;
  }
  const methodText = single(fields[at++] ?? fail('end-of-line before authentication method'), 'authentication type');
  const unsupported = UNSUPPORTED_METHODS[methodText];
  if (unsupported !== undefined) fail(unsupported);
  if (!METHODS.includes(methodText)) fail(`invalid authentication method "${methodText}"`);
  const method = methodText as HbaMethod;
  // PostgreSQL's own checks and words.
  if (method === 'cert' && type !== 'hostssl') fail('cert authentication is only supported on hostssl connections');
  let clientCert: ClientCertCheck | null = method === 'cert' ? 'verify-full' : null;
  for (const option of fields.slice(at).flat()) {
    const { name, value } = readOption(option.text);
    if (type !== 'hostssl') fail(`${name} can only be configured for "hostssl" rows`);
    if (name === 'clientcert') {
      if (value !== 'verify-ca' && value !== 'verify-full') fail(`invalid value for clientcert: "${value}"`);
      if (method === 'cert' && value !== 'verify-full')
        fail('clientcert can only be set to "verify-full" when using "cert" authentication');
      clientCert = value as ClientCertCheck;
    } else if (value === 'DN') {
      fail("clientname=DN: pgtide matches the user name with the certificate's CN only");
    } else if (value !== 'CN') {
      fail(`invalid value for clientname: "${value}"`);
    }
  }
  return { type, databases, users, address, method, clientCert };
}

function single(field: HbaToken[], what: string): string {
  if (field.length !== 1) fail(`multiple values specified for ${what}`);
  return field[0]!.text;
}

function keyword(token: HbaToken, word: string): boolean {
  return !token.quoted && token.text === word;
}

function databaseMatch(token: HbaToken): NameMatch {
  if (keyword(token, 'all')) return { kind: 'all' };
  if (keyword(token, 'sameuser')) return { kind: 'sameuser' };
  if (keyword(token, 'replication')) return { kind: 'replication' };
  // samegroup: PostgreSQL's older spelling.
  if (keyword(token, 'samerole') || keyword(token, 'samegroup')) return { kind: 'samerole' };
  return nameMatch(token);
}

function userMatch(token: HbaToken): NameMatch {
  if (keyword(token, 'all')) return { kind: 'all' };
  if (!token.quoted && token.text.startsWith('+')) return { kind: 'group', name: token.text.slice(1) };
  return nameMatch(token);
}

function nameMatch(token: HbaToken): NameMatch {
  if (!token.quoted && token.text.startsWith('/')) {
    fail(`regular expression "${token.text}" is not supported by pgtide: list the names`);
  }
  return { kind: 'name', name: token.text };
}

function readAddress(text: string, next: HbaToken[] | undefined): { address: AddressMatch; usedMask: boolean } {
  if (text === 'all' || text === 'samehost' || text === 'samenet') return { address: { kind: text }, usedMask: false };
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const network = parseIp(text.slice(0, slash));
    if (network === null) return fail(`invalid IP address "${text.slice(0, slash)}"`);
    const bits = text.slice(slash + 1);
    const mask = /^[0-9]{1,3}$/.test(bits) ? prefixMask(network.family, Number(bits)) : null;
    if (mask === null) return fail(`invalid CIDR mask in address "${text}"`);
    return { address: { kind: 'network', network, mask }, usedMask: false };
  }
  const network = parseIp(text);
  if (network === null) {
    return fail(
      `host name "${text}": pgtide does not resolve host names (it would cost DNS lookups at every login); write an address with a mask, or all`,
    );
  }
  const maskText = single(next ?? fail('end-of-line before netmask specification'), 'netmask');
  const mask = parseIp(maskText);
  if (mask === null) return fail(`invalid IP mask "${maskText}"`);
  if (mask.family !== network.family) return fail('IP address and mask do not match');
  return { address: { kind: 'network', network, mask: mask.bytes }, usedMask: true };
}

function readOption(text: string): { name: 'clientcert' | 'clientname'; value: string } {
  const equals = text.indexOf('=');
  if (equals <= 0) fail(`authentication option not in name=value format: ${text}`);
  const name = text.slice(0, equals);
  if (name === 'clientcert' || name === 'clientname') return { name, value: text.slice(equals + 1) };
  if (name === 'map') fail('map: pgtide does not read pg_ident.conf user name maps');
  return fail(`unrecognized authentication option name: "${name}"`);
}

// ---- matching ----

export interface HbaConnection {
  /** The client's address; null for a unix-socket client. */
  address: IpBytes | null;
  ssl: boolean;
  user: string;
  database: string;
  /** A walsender connection (replication=true): only `replication` database entries apply. */
  replication: boolean;
  /** The roles the user is or is a member of (for +group and samerole); empty when unknown. */
  roles: ReadonlySet<string>;
}

/** An address of this host and the mask of its network (for samehost and samenet). */
export interface HostNetwork {
  address: IpBytes;
  mask: Uint8Array;
}

/** The client's address as PostgreSQL would see it: null for unix sockets, IPv4-mapped unwrapped. */
export function clientAddress(remoteAddress: string | undefined): IpBytes | null {
  if (remoteAddress === undefined || remoteAddress === '') return null;
  const ip = parseIp(remoteAddress);
  return ip === null ? null : unmapIpv4(ip);
}

/** The first rule that applies, or null (no entry: the connection is refused). */
export function matchHba(hba: HbaRules, conn: HbaConnection, hostNetworks: readonly HostNetwork[]): HbaRule | null {
  for (const rule of hba.rules) {
    if (!typeMatches(rule.type, conn)) continue;
    // A rule with an address matches only a connection that has one (typeMatches has seen to that).
    if (rule.address !== null && (conn.address === null || !addressMatches(rule.address, conn.address, hostNetworks)))
      continue;
    if (!rule.databases.some((d) => databaseMatches(d, conn))) continue;
    if (!rule.users.some((u) => userMatches(u, conn))) continue;
    return rule;
  }
  return null;
}

function typeMatches(type: HbaConnectionType, conn: HbaConnection): boolean {
  if (type === 'local') return conn.address === null;
  if (conn.address === null) return false;
  if (type === 'hostssl') return conn.ssl;
  if (type === 'hostnossl') return !conn.ssl;
  // pgtide never offers GSSAPI encryption: hostgssenc never matches, hostnogssenc always.
  return type !== 'hostgssenc';
}

function addressMatches(address: AddressMatch, client: IpBytes, hostNetworks: readonly HostNetwork[]): boolean {
  switch (address.kind) {
    case 'all':
      return true;
    case 'samehost':
      return hostNetworks.some((n) => sameIp(n.address, client));
    case 'samenet':
      return hostNetworks.some((n) => inNetwork(client, n.address, n.mask));
    case 'network':
      return inNetwork(client, address.network, address.mask);
  }
}

function databaseMatches(match: NameMatch, conn: HbaConnection): boolean {
  // A physical replication connection names no database: only the keyword applies to it,
  // and the keyword applies to nothing else.
  if (conn.replication) return match.kind === 'replication';
  switch (match.kind) {
    case 'all':
      return true;
    case 'sameuser':
      return conn.database === conn.user;
    case 'samerole':
      return conn.roles.has(conn.database);
    case 'replication':
    case 'group':
      return false;
    case 'name':
      return conn.database === match.name;
  }
}

function userMatches(match: NameMatch, conn: HbaConnection): boolean {
  switch (match.kind) {
    case 'all':
      return true;
    case 'group':
      return conn.roles.has(match.name);
    case 'name':
      return match.name === conn.user;
    default:
      return false; // database keywords: a user field reads them as names
  }
}

/** PostgreSQL's words for a refusal (28000); the host is "[local]" for a unix socket. */
export function hbaRefusal(conn: HbaConnection, rule: HbaRule | null): string {
  const host = conn.address === null ? '[local]' : formatIp(conn.address);
  const encryption = conn.ssl ? 'SSL encryption' : 'no encryption';
  if (rule === null) {
    return conn.replication
      ? `no pg_hba.conf entry for replication connection from host "${host}", user "${conn.user}", ${encryption}`
      : `no pg_hba.conf entry for host "${host}", user "${conn.user}", database "${conn.database}", ${encryption}`;
  }
  return conn.replication
    ? `pg_hba.conf rejects replication connection for host "${host}", user "${conn.user}", ${encryption}`
    : `pg_hba.conf rejects connection for host "${host}", user "${conn.user}", database "${conn.database}", ${encryption}`;
}
