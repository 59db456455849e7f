// The parts of haproxy.cfg that matter when pgtide's own listeners replace HAProxy: the
// `bind` lines of `listen`/`frontend` sections, `maxconn`, `timeout …` and the `server`
// lines (where HAProxy forwarded to).
import { ImportError, splitLines } from './source.js';

export type SectionKind = 'global' | 'defaults' | 'frontend' | 'backend' | 'listen';

export interface HaproxyBind {
  /** `*` for all addresses (`*:5427` and `:5427`), else the address as written. */
  host: string;
  firstPort: number;
  lastPort: number;
  line: number;
}

export interface HaproxyValue<T> {
  value: T;
  line: number;
}

export interface HaproxySection {
  kind: SectionKind;
  name: string;
  line: number;
  mode?: HaproxyValue<string>;
  binds: HaproxyBind[];
  maxconn?: HaproxyValue<number>;
  /** `timeout client 1m` is stored as client → 60000 (milliseconds). */
  timeouts: Map<string, HaproxyValue<number>>;
  servers: { name: string; address: string; line: number }[];
}

const SECTION_KINDS: readonly string[] = ['global', 'defaults', 'frontend', 'backend', 'listen'];
/** Other section keywords: their contents do not concern pgtide and are skipped. */
const OTHER_SECTIONS: readonly string[] = [
  'userlist',
  'peers',
  'resolvers',
  'mailers',
  'program',
  'cache',
  'http-errors',
  'ring',
  'crt-store',
  'traces',
];

export function parseHaproxy(text: string, file: string): HaproxySection[] {
  const sections: HaproxySection[] = [];
  let current: HaproxySection | undefined;
  let skipping = false;
  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    const words = splitWords(raw, file, line);
    const keyword = words[0];
    if (keyword === undefined) return;
    if (SECTION_KINDS.includes(keyword)) {
      current = {
        kind: keyword as SectionKind,
        name: words[1] ?? '',
        line,
        binds: [],
        timeouts: new Map(),
        servers: [],
      };
      sections.push(current);
      skipping = false;
      return;
    }
    if (OTHER_SECTIONS.includes(keyword)) {
      current = undefined;
      skipping = true;
      return;
    }
    if (skipping) return;
    if (current === undefined) throw new ImportError(file, line, `"${keyword}" outside any section`);
    readDirective(current, words, file, line);
  });
  return sections;
}

function readDirective(section: HaproxySection, words: string[], file: string, line: number): void {
  const [keyword, first, second] = words;
  // Annotated, not inferred, so that a call narrows like a throw: `if (!first) fail(…)`.
  const fail: (why: string) => never = (why) => {
    throw new ImportError(file, line, `${keyword}: ${why}`);
  };
  switch (keyword) {
    case 'bind':
      if (section.kind !== 'frontend' && section.kind !== 'listen')
        fail(`only valid in frontend and listen sections, not ${section.kind}`);
      if (first === undefined) fail('missing address');
      for (const address of first.split(',')) section.binds.push(readBind(address, line, fail));
      return;
    case 'maxconn':
      if (first === undefined || !/^\d{1,10}$/.test(first)) fail('expects a number');
      section.maxconn = { value: Number(first), line };
      return;
    case 'timeout':
      if (first === undefined || second === undefined) fail('expects "timeout <event> <time>"');
      section.timeouts.set(first, { value: readTime(second, fail), line });
      return;
    case 'mode':
      if (first === undefined) fail('missing mode');
      section.mode = { value: first, line };
      return;
    case 'server':
      if (first === undefined || second === undefined) fail('expects "server <name> <address>"');
      section.servers.push({ name: first, address: second, line });
      return;
  }
}

/** `*:5427`, `:5428`, `0.0.0.0:5430-5432`, `[::]:5432`, `ipv4@…`; unix sockets are rejected
 *  because a pgtide listener needs a TCP port. */
function readBind(address: string, line: number, fail: (why: string) => never): HaproxyBind {
  const withoutFamily = address.replace(/^(ipv4|ipv6|tcp|tcp4|tcp6)@/, '');
  if (/^[a-z0-9]+@/.test(withoutFamily) || withoutFamily.startsWith('/')) {
    fail(`${JSON.stringify(address)} is not a TCP address`);
  }
  const match = /^(.*):(\d{1,5})(?:-(\d{1,5}))?$/.exec(withoutFamily);
  if (!match) return fail(`${JSON.stringify(address)} has no port`);
  const firstPort = Number(match[2]);
  const lastPort = match[3] === undefined ? firstPort : Number(match[3]);
  if (firstPort < 1 || lastPort > 65535 || lastPort < firstPort)
    fail(`invalid port range in ${JSON.stringify(address)}`);
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' || host === '*' ? '*' : host, firstPort, lastPort, line };
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** HAProxy times: a number with an optional unit, milliseconds when none is given. */
function readTime(text: string, fail: (why: string) => never): number {
  const match = /^(\d{1,10})(us|ms|s|m|h|d)?$/.exec(text);
  if (!match) return fail(`invalid time ${JSON.stringify(text)}`);
  return Number(match[1]) * TIME_UNITS_MS[match[2] ?? 'ms']!;
}

/** HAProxy's word splitting: white space separates, `"…"` and `'…'` group, a backslash
 *  escapes the next character, `#` outside quotes starts a comment. */
function splitWords(raw: string, file: string, line: number): string[] {
  const words: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (let at = 0; at < raw.length; at++) {
    const char = raw[at]!;
    if (char === '\\' && quote !== "'" && at + 1 < raw.length) {
      current = (current ?? '') + raw[++at];
    } else if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      current ??= '';
    } else if (char === '#') {
      break;
    } else if (/\s/.test(char)) {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + char;
    }
  }
  if (quote !== undefined) throw new ImportError(file, line, `unterminated ${quote} quote`);
  if (current !== undefined) words.push(current);
  return words;
}
