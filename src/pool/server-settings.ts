// What a server connection knows of its settings: those it reports (ParameterStatus, bounded
// against a hostile server) and those its clients made, which a reset query forgets.
import { decodeParameterStatus } from '../protocol/backend.js';

/** PostgreSQL reports a few dozen settings, each short; more is a hostile server filling our memory. */
const MAX_REPORTED_PARAMS = 256;
const MAX_PARAMETER_STATUS_LENGTH = 64 * 1024;

/** Settings of a connection whose client changed them without pgtide knowing what: all must be reset. */
export const UNKNOWN_SETTINGS: ReadonlyMap<string, string> = new Map();
/** Only DISCARD ALL ends everything a session can hold (RESET ALL leaves SET ROLE, temp tables …). */
const DISCARDS_ALL = /^\s*discard\s+all\s*;?\s*$/i;

/** The session settings a connection holds once `resetQuery` has run. */
export function settingsAfterReset(resetQuery: string): ReadonlyMap<string, string> {
  return DISCARDS_ALL.test(resetQuery) ? new Map() : UNKNOWN_SETTINGS;
}

/** Why a ParameterStatus body of `length` bytes is not to be taken, or null. */
export function parameterStatusTooLong(length: number): string | null {
  return length > MAX_PARAMETER_STATUS_LENGTH
    ? `ParameterStatus longer than ${MAX_PARAMETER_STATUS_LENGTH} bytes`
    : null;
}

/** Records a ParameterStatus in `params`; returns why the server can no longer be trusted, or null. */
export function trackReportedParameter(params: Map<string, string>, body: Buffer): string | null {
  const p = decodeParameterStatus(body);
  if (!p) return null;
  const tooLong = parameterStatusTooLong(body.length);
  if (tooLong !== null) return tooLong;
  if (params.size >= MAX_REPORTED_PARAMS && !params.has(p.name))
    return `more than ${MAX_REPORTED_PARAMS} ParameterStatus names`;
  params.set(p.name, p.value);
  return null;
}
