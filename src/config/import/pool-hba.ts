// pool_hba.conf (and pg_hba.conf): one rule per line, fields separated by white space,
// `"double quoted"` fields, comma lists, `#` comments outside quotes.
import { isIP } from 'node:net';
import { ImportError, splitLines } from './source.js';

export type HbaConnectionType = 'local' | 'host' | 'hostssl' | 'hostnossl';

export interface HbaRule {
  type: HbaConnectionType;
  databases: string[];
  users: string[];
  /** CIDR (an address with a mask is converted), a host name, `all`, `samehost` or
   *  `samenet`; absent for `local`. */
  address?: string;
  method: string;
  options: Record<string, string>;
  line: number;
}

const TYPES: readonly string[] = ['local', 'host', 'hostssl', 'hostnossl'];
const METHODS: readonly string[] = ['trust', 'reject', 'md5', 'password', 'scram-sha-256', 'pam', 'ldap', 'cert', 'gss', 'sspi', 'ident', 'peer', 'radius'];

export function parsePoolHba(text: string, file: string): HbaRule[] {
  const rules: HbaRule[] = [];
  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    const fields = splitFields(raw, file, line);
    if (fields.length > 0) rules.push(readRule(fields, file, line));
  });
  return rules;
}

/** Renders a rule on one line the way it would be written in the file. */
export function formatHbaRule(rule: HbaRule): string {
  const options = Object.entries(rule.options).map(([key, value]) => `${key}=${value}`);
  return [rule.type, rule.databases.join(','), rule.users.join(','), rule.address ?? '', rule.method, ...options]
    .filter((field) => field !== '')
    .join(' ');
}

function readRule(fields: string[], file: string, line: number): HbaRule {
  const fail = (why: string): never => {
    throw new ImportError(file, line, why);
  };
  const type = fields[0]!;
  if (!TYPES.includes(type)) fail(`unknown connection type ${JSON.stringify(type)} (expected ${TYPES.join(', ')})`);
  const local = type === 'local';
  const minimum = local ? 4 : 5;
  if (fields.length < minimum) fail(`a "${type}" rule needs ${minimum} fields: type, database, user, ${local ? '' : 'address, '}method`);
  let at = 3;
  let address: string | undefined;
  if (!local) {
    address = readAddress(fields[3]!, fields[4], fail);
    // An address followed by a separate netmask uses one more field.
    at = fields[3]!.includes('/') || !isIP(fields[3]!) ? 4 : 5;
  }
  const method = fields[at];
  if (method === undefined) return fail('missing authentication method');
  if (!METHODS.includes(method)) fail(`unknown authentication method ${JSON.stringify(method)}`);
  const options: Record<string, string> = {};
  for (const option of fields.slice(at + 1)) {
    const equals = option.indexOf('=');
    if (equals <= 0) fail(`option ${JSON.stringify(option)} must be name=value`);
    options[option.slice(0, equals)] = option.slice(equals + 1);
  }
  return {
    type: type as HbaConnectionType,
    databases: splitList(fields[1]!),
    users: splitList(fields[2]!),
    ...(address === undefined ? {} : { address }),
    method,
    options,
    line,
  };
}

function readAddress(field: string, next: string | undefined, fail: (why: string) => never): string {
  const slash = field.indexOf('/');
  if (slash >= 0) {
    const ip = field.slice(0, slash);
    const bits = field.slice(slash + 1);
    const family = isIP(ip);
    const maxBits = family === 6 ? 128 : 32;
    if (family === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > maxBits) fail(`invalid CIDR address ${JSON.stringify(field)}`);
    return field;
  }
  const family = isIP(field);
  if (family === 0) return field; // all, samehost, samenet or a host name
  if (next === undefined || isIP(next) === 0) return fail(`address ${JSON.stringify(field)} needs a /prefix or a netmask`);
  if (isIP(next) !== family) fail(`netmask ${JSON.stringify(next)} does not match address ${JSON.stringify(field)}`);
  return `${field}/${maskBits(next, fail)}`;
}

/** The prefix length of a netmask such as 255.240.0.0; a mask with holes is rejected. */
function maskBits(mask: string, fail: (why: string) => never): number {
  const bits = mask.includes(':') ? ipv6Bits(mask) : mask.split('.').map((part) => Number(part).toString(2).padStart(8, '0')).join('');
  const prefix = bits.indexOf('0') < 0 ? bits.length : bits.indexOf('0');
  if (bits.slice(prefix).includes('1')) fail(`netmask ${JSON.stringify(mask)} is not contiguous`);
  return prefix;
}

function ipv6Bits(mask: string): string {
  const [head = '', tail = ''] = mask.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = mask.includes('::') ? [...headGroups, ...zeros, ...tailGroups] : headGroups;
  return groups.map((group) => parseInt(group, 16).toString(2).padStart(16, '0')).join('');
}

function splitList(field: string): string[] {
  return field.split(',').filter((item) => item !== '');
}

/** White-space separated fields; quotes group text (and are removed); `#` outside quotes
 *  starts a comment. */
function splitFields(raw: string, file: string, line: number): string[] {
  const fields: string[] = [];
  let current: string | undefined;
  let quoted = false;
  for (const char of raw) {
    if (quoted) {
      if (char === '"') quoted = false;
      else current += char;
    } else if (char === '"') {
      quoted = true;
      current ??= '';
    } else if (char === '#') {
      break;
    } else if (/\s/.test(char)) {
      if (current !== undefined) fields.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + char;
    }
  }
  if (quoted) throw new ImportError(file, line, 'unterminated double quote');
  if (current !== undefined) fields.push(current);
  return fields;
}
