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

function remember(s: ReportedParamsSession, name: string, value: string): void {
  if (s.toldOwn !== null || toldByDefault(s, name) !== value) (s.toldOwn ??= new Map()).set(name, value);
}

/** A reported setting as a login tells it by default, encoded once per map of reported values. */
interface Status {
  name: string;
  lowerName: string;
  message: Buffer;
}

/** Per map of reported values (a pool's, fixed once learned; the console's): its messages, so
 *  that a login encodes only the settings its client gave itself. */
const statusByParams = new WeakMap<ReadonlyMap<string, string>, Status[]>();

function statusOf(params: ReadonlyMap<string, string>): Status[] {
  let list = statusByParams.get(params);
  if (list === undefined) {
    list = [];
    for (const [name, value] of params)
      list.push({ name, lowerName: name.toLowerCase(), message: encode.parameterStatus(name, value) });
    statusByParams.set(params, list);
  }
  return list;
}

const READY_IDLE = encode.readyForQuery('I');

/**
 * The end of a login, in one Buffer: ParameterStatus of `params` (what the pool's servers
 * report), BackendKeyData and ReadyForQuery. The client's own startup values are what every
 * server running its transactions will have: those are told in the form the server reports them.
 */
export function loginAnswer(
  s: ReportedParamsSession,
  params: ReadonlyMap<string, string>,
  key: CancelKeyHolder,
): Buffer {
  const own = s.settings?.startup;
  s.toldAtLogin = params;
  const statuses = statusOf(params);
  const messages: Buffer[] = [];
  let i = 0;
  for (const [name, value] of params) {
    const status = statuses[i++]!;
    const raw = own?.get(status.lowerName);
    // Without a startup value of its own, the client is told the pool's: the default, nothing to remember.
    if (raw === undefined) {
      messages.push(status.message);
      continue;
    }
    const reported = s.ctx.reportedValues.get(`${name}\0${raw}`) ?? reportedForm(name, raw);
    remember(s, name, reported);
    messages.push(reported === value ? status.message : encode.parameterStatus(name, reported));
  }
  messages.push(encode.backendKeyData(key.cancelPid, key.cancelSecret), READY_IDLE);
  return Buffer.concat(messages);
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
