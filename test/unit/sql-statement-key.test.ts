import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StatementKeys } from '../../src/sql/statement-key.js';

const keys = new StatementKeys();
const keyOf = (sql: string): string => {
  const buf = Buffer.from(sql);
  return keys.keyOf(buf, 0, buf.length);
};

describe('the tier-2 cache key is free of constants', () => {
  const same: ReadonlyArray<readonly [string, string, string]> = [
    ['integers', 'SELECT f(1)', 'SELECT f(2)'],
    ['decimals and exponents', 'SELECT f(1.5, 1e10, .5)', 'SELECT f(42, 7E-3, 0.25)'],
    ['hex, octal, binary and separators', 'SELECT f(0x1F, 0o17, 0b101, 1_000)', 'SELECT f(1, 2, 3, 4)'],
    ['negative numbers', 'SELECT f(-1) WHERE x > - 2', 'SELECT f(1) WHERE x > 2'],
    ['a sign after an operator', 'SELECT x*-1, x<-1, x^+2', 'SELECT x*3, x<4, x^5'],
    ['strings', "SELECT f('a')", "SELECT f('it''s longer')"],
    ['E strings', "SELECT f(E'a\\'b\\\\')", "SELECT f('x')"],
    ['dollar quotes', "SELECT f($$a;b$$, $tag$ ' $$ $tag$)", "SELECT f('x', '')"],
    ['bit, hex and national strings', "SELECT f(B'101', X'1F', N'n')", "SELECT f('', '', '')"],
    ['Unicode strings', "SELECT f(U&'d\\0061t' UESCAPE '!')", "SELECT f(U&'x' UESCAPE '?')"],
    ['typed literals', "SELECT f(date '2024-01-01', interval '1 day')", "SELECT f(date 'x', interval '2 hours')"],
    ['casts', "SELECT f('1'::int, CAST('2' AS text))", "SELECT f('9'::int, CAST('8' AS text))"],
    ['whitespace', 'SELECT  f( 1 )\n\tFROM t', 'SELECT f(1) FROM t'],
    ['comments', '/* pgtide: standby */ SELECT f(1) -- why\n FROM /* a /* nested */ one */ t', 'SELECT f(1) FROM t'],
    ['keyword and name case', 'select F(1) from T', 'SELECT f(1) FROM t'],
    [
      'IN lists of equal length',
      'SELECT f(x) FROM t WHERE id IN (1, 2, 3)',
      'SELECT f(x) FROM t WHERE id IN (4, 5, 6)',
    ],
    ['LIMIT and OFFSET', 'SELECT f(x) FROM t LIMIT 10 OFFSET 20', 'SELECT f(x) FROM t LIMIT 1 OFFSET 0'],
  ];
  for (const [what, a, b] of same) {
    it(`same key: ${what}`, () => assert.equal(keyOf(a), keyOf(b)));
  }

  const different: ReadonlyArray<readonly [string, string, string]> = [
    ['another function', 'SELECT f(1)', 'SELECT g(1)'],
    ['another schema', 'SELECT a.f(1)', 'SELECT b.f(1)'],
    ['a quoted name keeps its case', 'SELECT "F"(1)', 'SELECT "f"(1)'],
    ['a quoted name is not a string', 'SELECT "f"(1)', "SELECT 'f'(1)"],
    ['another table', 'SELECT f(1) FROM a', 'SELECT f(1) FROM b'],
    ['another column', 'SELECT f(a)', 'SELECT f(b)'],
    ['a constant or a column', 'SELECT f(1)', 'SELECT f(x)'],
    ['another parameter', 'SELECT f($1)', 'SELECT f($2)'],
    ['a parameter or a constant', 'SELECT f($1)', 'SELECT f(1)'],
    ['a number or a string', 'SELECT f(1)', "SELECT f('1')"],
    ['more arguments', 'SELECT f(1)', 'SELECT f(1, 2)'],
    ['nesting', 'SELECT f(g(1))', 'SELECT f(g, 1)'],
    ['a cast to another type', "SELECT f('1'::int)", "SELECT f('1'::text)"],
    ['a locking clause', 'SELECT f(1) FROM t', 'SELECT f(1) FROM t FOR UPDATE'],
    ['words that only touch', 'SELECT f(1) FROM ab', 'SELECT f(1) FROM a b'],
    ['a minus between columns', 'SELECT f(a - b)', 'SELECT f(a b)'],
  ];
  for (const [what, a, b] of different) {
    it(`different keys: ${what}`, () => assert.notEqual(keyOf(a), keyOf(b)));
  }

  it('reads as the tokens it keeps', () => {
    assert.equal(
      keyOf("SELECT \"Rate\"(-1.5, $1, E'x')::numeric FROM app.t WHERE a <> 'b'"),
      "select \"Rate\" ( 0 , $1 , '' ) :: numeric from app . t where a < > ''",
    );
  });

  it('reads only the given range, from any buffer', () => {
    const buf = Buffer.from('xxSELECT f(1)yy');
    assert.equal(keys.keyOf(buf, 2, buf.length - 2), keyOf('SELECT f(7)'));
    const long = `SELECT f(${'1, '.repeat(5000)}1)`;
    assert.equal(keyOf(long), `select f ( ${'0 , '.repeat(5000)}0 )`);
  });

  it('keeps the rest of a text it cannot lex, so it shares no key', () => {
    assert.notEqual(keyOf("SELECT f('1"), keyOf("SELECT f('2"));
  });
});
