// Decodes what the admin console answers, for the admin tests: results as plain objects.
import { decodeDataRow, decodeErrorFields, type ErrorFields } from '../../src/protocol/backend.js';

export interface DecodedResult {
  columns: { name: string; typeOid: number }[];
  rows: (string | null)[][];
  tag: string;
}

export interface Decoded {
  results: DecodedResult[];
  error: ErrorFields | null;
  empty: boolean;
  /** Messages of the NoticeResponses, in order. */
  notices: string[];
}

/**
 * Each buffer must hold exactly one whole message, as the console encodes them. A single
 * process answers at once; an answer that waits for other workers is awaited first.
 */
export function decodeAnswer(messages: Buffer[] | Promise<Buffer[]>): Decoded {
  if (messages instanceof Promise)
    throw new Error('a single process answered with a promise (it asked other workers?)');
  const out: Decoded = { results: [], error: null, empty: false, notices: [] };
  let current: DecodedResult | null = null;
  for (const m of messages) {
    const type = String.fromCharCode(m[0]!);
    if (m.readInt32BE(1) !== m.length - 1) throw new Error(`bad length in a '${type}' message`);
    const body = m.subarray(5);
    switch (type) {
      case 'T': {
        current = { columns: [], rows: [], tag: '' };
        let pos = 2;
        for (let i = 0; i < body.readInt16BE(0); i++) {
          const end = body.indexOf(0, pos);
          current.columns.push({ name: body.toString('utf8', pos, end), typeOid: body.readInt32BE(end + 7) });
          pos = end + 19;
        }
        if (pos !== body.length) throw new Error('RowDescription has trailing bytes');
        break;
      }
      case 'D': {
        const row = decodeDataRow(body);
        if (!current || !row || row.length !== current.columns.length)
          throw new Error('DataRow does not match its RowDescription');
        current.rows.push(row);
        break;
      }
      case 'C':
        out.results.push({ ...(current ?? { columns: [], rows: [] }), tag: body.toString('utf8', 0, body.length - 1) });
        current = null;
        break;
      case 'E':
        out.error = decodeErrorFields(body);
        break;
      case 'I':
        out.empty = true;
        break;
      case 'N':
        out.notices.push(decodeErrorFields(body).message);
        break;
      default:
        throw new Error(`unexpected message '${type}'`);
    }
  }
  return out;
}

/** Rows as objects keyed by column name. */
export function records(result: DecodedResult): Record<string, string | null>[] {
  return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c.name, row[i]!])));
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every line must be a HELP or TYPE
 * comment or a sample; each sample's family must have been TYPEd first; label values are
 * quoted with \\, \" and \n escapes. Throws on the first line that breaks the format.
 */
export function parsePrometheusText(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleLine = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (-?(?:[0-9.]+(?:e[+-]?[0-9]+)?|NaN|\\+Inf|-Inf))$`);
  const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const comment = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(comment[3]!))
          throw new Error(`bad TYPE: ${line}`);
        types.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const m = sampleLine.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const name = m[1]!;
    if (!types.has(name)) throw new Error(`sample before its TYPE: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = label.exec(rest);
      if (!l) throw new Error(`bad labels: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    const value = Number(m[3]!.replace('+Inf', 'Infinity'));
    if (types.get(name) === 'counter' && !(value >= 0)) throw new Error(`negative counter: ${line}`);
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

/** Sum of the samples of a family whose labels include the given ones. */
export function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
