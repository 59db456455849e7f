// What a PgBouncer setting is called in pgtide, and how PgBouncer's spelling of a value reads
// as pgtide's. Shared by `pgtide import` (a pgbouncer.ini line) and the console's SET (a
// runbook's `SET autodb_idle_timeout = 60`), so both take the same names and spellings.
import type { Field } from './fields.js';

/** Settings whose pgtide key has another name or a wider meaning, with what the import says. */
export const RENAMED: Readonly<Record<string, { key: string; note: string }>> = {
  autodb_idle_timeout: {
    key: 'pool_idle_timeout',
    note: 'PgBouncer\'s autodb_idle_timeout drops the pools of databases it created from "*"; pgtide drops any pool left unused that long.',
  },
};

/** The pgtide key a PgBouncer setting of that name sets (the name itself where pgtide took it over). */
export function pgtideKeyOf(pgbouncerKey: string): string {
  return Object.hasOwn(RENAMED, pgbouncerKey) ? RENAMED[pgbouncerKey]!.key : pgbouncerKey;
}

/** A PgBouncer value as text pgtide's readEnvField takes: its enums ignore case, and its user
 *  lists take white space between names as well as commas. */
export function pgbouncerValueText(field: Field, text: string): string {
  if (field.kind === 'enum') return text.toLowerCase();
  if (field.kind === 'names') return text.split(/[\s,]+/).join(',');
  return text;
}
