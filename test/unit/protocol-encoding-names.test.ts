import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalEncodingName } from '../../src/protocol/encoding-names.js';

describe('encoding names', () => {
  it('map every spelling PostgreSQL accepts to the name it reports', () => {
    const cases: [string, string][] = [
      ['utf8', 'UTF8'],
      ['UTF-8', 'UTF8'],
      ['unicode', 'UTF8'],
      ['euc-jp', 'EUC_JP'],
      ['EUC_JIS_2004', 'EUC_JIS_2004'],
      ['latin1', 'LATIN1'],
      ['ISO-8859-1', 'LATIN1'],
      ['iso8859-15', 'LATIN9'],
      ['iso_8859_5', 'ISO_8859_5'],
      ['sql_ascii', 'SQL_ASCII'],
      ['Shift_JIS', 'SJIS'],
      ['windows-1252', 'WIN1252'],
      ['win932', 'SJIS'],
      ['Windows949', 'UHC'],
      ['koi8', 'KOI8R'],
      ['alt', 'WIN866'],
      ['tcvn5712', 'WIN1258'],
    ];
    for (const [given, reported] of cases) assert.equal(canonicalEncodingName(given), reported, given);
  });

  it('know nothing of names PostgreSQL rejects', () => {
    for (const name of ['', 'utf16', 'windows', 'auto', 'latin11'])
      assert.equal(canonicalEncodingName(name), null, name);
  });
});
