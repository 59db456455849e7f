// PostgreSQL accepts an encoding under many spellings (`utf8`, `UTF-8`, `unicode`, `euc-jp`)
// but reports client_encoding in ParameterStatus under one canonical name (`UTF8`, `EUC_JP`).
// A client told at login must hear that name, as from PostgreSQL, even before any server
// has shown pgtide the form: drivers compare it. The names and aliases are those of the
// "PostgreSQL Character Sets" table in PostgreSQL's documentation.

const CANONICAL = [
  'BIG5',
  'EUC_CN',
  'EUC_JP',
  'EUC_JIS_2004',
  'EUC_KR',
  'EUC_TW',
  'GB18030',
  'GBK',
  'ISO_8859_5',
  'ISO_8859_6',
  'ISO_8859_7',
  'ISO_8859_8',
  'JOHAB',
  'KOI8R',
  'KOI8U',
  'LATIN1',
  'LATIN2',
  'LATIN3',
  'LATIN4',
  'LATIN5',
  'LATIN6',
  'LATIN7',
  'LATIN8',
  'LATIN9',
  'LATIN10',
  'MULE_INTERNAL',
  'SJIS',
  'SHIFT_JIS_2004',
  'SQL_ASCII',
  'UHC',
  'UTF8',
  'WIN866',
  'WIN874',
  'WIN1250',
  'WIN1251',
  'WIN1252',
  'WIN1253',
  'WIN1254',
  'WIN1255',
  'WIN1256',
  'WIN1257',
  'WIN1258',
];

const ALIASES: Record<string, string> = {
  unicode: 'UTF8',
  koi8: 'KOI8R',
  alt: 'WIN866',
  win: 'WIN1251',
  abc: 'WIN1258',
  tcvn: 'WIN1258',
  tcvn5712: 'WIN1258',
  vscii: 'WIN1258',
  mskanji: 'SJIS',
  shiftjis: 'SJIS',
  win932: 'SJIS',
  win936: 'GBK',
  win949: 'UHC',
  win950: 'BIG5',
  iso88591: 'LATIN1',
  iso88592: 'LATIN2',
  iso88593: 'LATIN3',
  iso88594: 'LATIN4',
  iso88599: 'LATIN5',
  iso885910: 'LATIN6',
  iso885913: 'LATIN7',
  iso885914: 'LATIN8',
  iso885915: 'LATIN9',
  iso885916: 'LATIN10',
};

/** PostgreSQL compares encoding names ignoring case and every character but letters and digits. */
function clean(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const BY_CLEAN_NAME = new Map<string, string>(Object.entries(ALIASES));
for (const name of CANONICAL) {
  BY_CLEAN_NAME.set(clean(name), name);
  // `windows1252` names the same encoding as `win1252`.
  if (name.startsWith('WIN')) BY_CLEAN_NAME.set('windows' + name.slice(3), name);
}
for (const [alias, name] of Object.entries(ALIASES)) {
  if (/^win\d/.test(alias)) BY_CLEAN_NAME.set('windows' + alias.slice(3), name);
}

/** The name PostgreSQL reports for an encoding given as `name`; null when it knows none. */
export function canonicalEncodingName(name: string): string | null {
  return BY_CLEAN_NAME.get(clean(name)) ?? null;
}
