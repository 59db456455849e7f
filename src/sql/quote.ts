// Quoting for the SQL pgtide writes itself. Pure ASCII on the wire: the server reads it in the
// session's client_encoding, which may be one (SJIS, BIG5 …) where a multi-byte character can
// swallow an escaping backslash or quote.

const ASCII = /^[\x00-\x7f]*$/;

/** A string literal; E'' means the same under any standard_conforming_strings. */
export function literal(s: string): string {
  if (!ASCII.test(s))
    return `pg_catalog.convert_from(pg_catalog.decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
  return `E'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

export function identifier(s: string): string {
  if (!ASCII.test(s))
    return `U&"${[...s].map((c) => (ASCII.test(c) && c !== '\\' && c !== '"' ? c : `\\+${c.codePointAt(0)!.toString(16).padStart(6, '0')}`)).join('')}"`;
  return `"${s.replaceAll('"', '""')}"`;
}
