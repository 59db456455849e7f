// Setting values as a client writes them (SET, startup packet, `options=-c`): only the few
// whose meaning routes transactions are read by pgtide.

/** default_transaction_isolation: serializable, which standbys refuse. */
export function isSerializable(value: string | null): boolean {
  return value !== null && /^'?serializable'?$/i.test(value.trim());
}

/** A boolean setting that is on, in PostgreSQL's spellings (quoted or not). */
export function isOn(value: string | null): boolean {
  if (value === null) return false;
  const v = value.replace(/^'|'$/g, '').toLowerCase();
  return v === 'on' || v === 'true' || v === '1' || v === 'yes';
}
