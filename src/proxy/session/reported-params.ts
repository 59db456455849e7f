// What the client was told of its server's settings (ParameterStatus): at login, from the
// pool's servers with the client's own startup values in the form a server reports them; and
// later, where a server reports one in another form or a setting pgtide restored. Only the values
// that differ from what a login tells by default are kept per client.
import * as encode from '../../protocol/encode.js';
import type { LinkedServer } from '../../pool/linked-server.js';
import { canonicalEncodingName } from '../../protocol/encoding-names.js';
import type { CancelKeyHolder } from '../cancel-keys.js';
import type { ClientSession } from '../client-session.js';

/** What of the session these functions use. */
export type ReportedParamsSession = Pick<
  ClientSession,
  'ctx' | 'isClosed' | 'settings' | 'socket' | 'toldAtLogin' | 'toldOwn'
>;

/**
 * The server now has this client's settings: where it reports one of the client's startup
 * settings in another form than the client was told at login (`iso` → `ISO, MDY`), tell the
 * client again (ParameterStatus may come at any time), and remember the form for later logins.
 */
export function correctReported(s: ReportedParamsSession, server: LinkedServer): void {
  const own = s.settings!.startup;
  for (const [name, value] of server.params) {
    const raw = own.get(name.toLowerCase());
    if (raw === undefined || toldValue(s, name) === value || s.isClosed) continue;
    if (s.settings!.values.get(name.toLowerCase()) !== raw) continue;
    s.ctx.reportedValues.set(`${name}\0${raw}`, value, name.length + raw.length + value.length);
    tell(s, name, value);
  }
}

/** The value the client was last told of `name`. */
function toldValue(s: ReportedParamsSession, name: string): string | undefined {
  return s.toldOwn?.get(name) ?? toldByDefault(s, name);
}

/** What a login tells of `name` unless toldOwn says otherwise: the client's own startup value
 *  where it gave one, else what the pool reported. */
function toldByDefault(s: ReportedParamsSession, name: string): string | undefined {
  const reported = s.toldAtLogin.get(name);
  return reported === undefined ? undefined : (s.settings?.startup.get(name.toLowerCase()) ?? reported);
}

/** ParameterStatus `name` = `value`, remembered for toldValue (no copy while it is the default). */
export function tell(s: ReportedParamsSession, name: string, value: string): void {
  remember(s, name, value);
  s.socket.write(encode.parameterStatus(name, value));
}

/** Tells the client again what it was last told of `name`, which changes nothing for it; false
 *  when it was told nothing of it. */
export function repeatTold(s: ReportedParamsSession, name: string): boolean {
  const value = toldValue(s, name);
  if (value === undefined) return false;
  s.socket.write(encode.parameterStatus(name, value));
  return true;
}

function remember(s: ReportedParamsSession, name: string, value: string): void {
  if (s.toldOwn !== null || toldByDefault(s, name) !== value) (s.toldOwn ??= new Map()).set(name, value);
}

/** The ParameterStatus messages a login tells by default, encoded once per map of reported values. */
interface Statuses {
  /** Every message, in the map's order, in one Buffer. */
  block: Buffer;
  /** Per setting, in the same order: its lower-cased name, and where its message ends in block. */
  lowerNames: string[];
  ends: number[];
}

/** Per map of reported values (a pool's, fixed once learned; the console's): its messages, so
 *  that a login encodes only the settings its client gave itself. */
const statusByParams = new WeakMap<ReadonlyMap<string, string>, Statuses>();

function statusOf(params: ReadonlyMap<string, string>): Statuses {
  let statuses = statusByParams.get(params);
  if (statuses === undefined) {
    const messages: Buffer[] = [];
    const lowerNames: string[] = [];
    const ends: number[] = [];
    let end = 0;
    for (const [name, value] of params) {
      const message = encode.parameterStatus(name, value);
      messages.push(message);
      lowerNames.push(name.toLowerCase());
      end += message.length;
      ends.push(end);
    }
    statuses = { block: Buffer.concat(messages), lowerNames, ends };
    statusByParams.set(params, statuses);
  }
  return statuses;
}

const READY_IDLE = encode.readyForQuery('I');

/**
 * The end of a login, in one Buffer: `head` (messages still to send before it), ParameterStatus
 * of `params` (what the pool's servers report), BackendKeyData and ReadyForQuery. The client's
 * own startup values are what every server running its transactions will have: those are told
 * in the form the server reports them, in place of the pool's.
 */
export function loginAnswer(
  s: ReportedParamsSession,
  params: ReadonlyMap<string, string>,
  key: CancelKeyHolder,
  head: readonly Buffer[] = [],
): Buffer {
  const own = s.settings?.startup;
  s.toldAtLogin = params;
  const { block, lowerNames, ends } = statusOf(params);
  const parts = head.slice();
  // The default messages go as runs of the block, between those told in another form.
  let runStart = 0;
  if (own !== undefined && own.size > 0) {
    let i = 0;
    let start = 0;
    for (const [name, value] of params) {
      const end = ends[i]!;
      const raw = own.get(lowerNames[i++]!);
      // Without a startup value of its own, the client is told the pool's: the default, nothing to remember.
      if (raw !== undefined) {
        const reported = s.ctx.reportedValues.get(`${name}\0${raw}`) ?? reportedForm(name, raw);
        remember(s, name, reported);
        if (reported !== value) {
          if (start > runStart) parts.push(block.subarray(runStart, start));
          parts.push(encode.parameterStatus(name, reported));
          runStart = end;
        }
      }
      start = end;
    }
  }
  parts.push(runStart === 0 ? block : block.subarray(runStart));
  parts.push(encode.backendKeyData(key.cancelPid, key.cancelSecret), READY_IDLE);
  return Buffer.concat(parts);
}

/** How a server will report a startup value pgtide has not yet seen one report: client_encoding
 *  by its canonical name (`utf-8` → `UTF8`), anything else as given until a server corrects it. */
function reportedForm(name: string, raw: string): string {
  return name === 'client_encoding' ? (canonicalEncodingName(raw) ?? raw) : raw;
}

/** ParameterStatus of settings the server reports, as it has them now. */
export function reportSettings(s: ReportedParamsSession, server: LinkedServer, names: readonly string[]): void {
  for (const [name, value] of server.params) {
    if (names.includes(name.toLowerCase())) s.socket.write(encode.parameterStatus(name, value));
  }
}
