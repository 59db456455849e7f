// Where a text reads pg_prepared_statements (sql/statement-list.ts), and the SQL pgtide puts in
// its place (proxy/statement-list.ts). The rows that SQL gives are checked against PostgreSQL in
// test/integration/statement-list.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findStatementLists, mayReadStatementList } from '../../src/sql/statement-list.js';
import { listEdits, preparedNow, statementListSql } from '../../src/proxy/statement-list.js';
import { Classifier } from '../../src/sql/index.js';

/** Each reference as the text it covers, and whether an alias follows it. */
function references(sql: string): [string, boolean][] | null {
  const buf = Buffer.from(sql);
  return (
    findStatementLists(buf, 0, buf.length)?.map((r) => {
      assert.equal(r.table, buf.toString('utf8', r.start, r.end).toLowerCase().startsWith('table'));
      return [buf.toString('utf8', r.start, r.end), r.aliased];
    }) ?? null
  );
}

describe('findStatementLists', () => {
  const cases: [sql: string, expected: [string, boolean][] | null][] = [
    ['select count(*) from pg_prepared_statements', [['pg_prepared_statements', false]]],
    ['SELECT name FROM PG_PREPARED_STATEMENTS ORDER BY name', [['PG_PREPARED_STATEMENTS', false]]],
    ['select * from pg_catalog.pg_prepared_statements where name = $1', [['pg_catalog.pg_prepared_statements', false]]],
    ['select * from "pg_catalog"."pg_prepared_statements"', [['"pg_catalog"."pg_prepared_statements"', false]]],
    ['select p.name from pg_prepared_statements p', [['pg_prepared_statements', true]]],
    ['select p.name from pg_prepared_statements as p', [['pg_prepared_statements', true]]],
    ['select * from pg_prepared_statements "P"', [['pg_prepared_statements', true]]],
    ['select * from pg_prepared_statements join x on true', [['pg_prepared_statements', false]]],
    ['select * from pg_prepared_statements left join x using (name)', [['pg_prepared_statements', false]]],
    ['select * from pg_prepared_statements, x', [['pg_prepared_statements', false]]],
    ['select (select count(*) from pg_prepared_statements)', [['pg_prepared_statements', false]]],
    ['table pg_prepared_statements', [['table pg_prepared_statements', false]]],
    [
      '(TABLE pg_catalog.pg_prepared_statements) union all table x',
      [['TABLE pg_catalog.pg_prepared_statements', false]],
    ],
    [
      'select 1 from pg_prepared_statements; select 2 from pg_prepared_statements limit 1',
      [
        ['pg_prepared_statements', false],
        ['pg_prepared_statements', false],
      ],
    ],
    // A column qualified by the view's name is no reference of its own; the FROM is.
    ['select pg_prepared_statements.name from pg_prepared_statements', [['pg_prepared_statements', false]]],
    // Not the view: another schema's relation, a function, a string, a comment, a longer name.
    ['select * from myschema.pg_prepared_statements', null],
    ['select pg_prepared_statements()', null],
    ["select 'pg_prepared_statements'", null],
    // standard_conforming_strings = off reads a string here: the text goes as it is.
    ["select 'it\\'s', 'x from pg_prepared_statements y'", null],
    ['select 1 -- from pg_prepared_statements', null],
    ['select * from pg_prepared_statements_x', null],
    ['select * from pg_prepared_xacts', null],
    // Kept text: the client's list of the moment would stay in it for every session.
    ['create view v as select * from pg_prepared_statements', null],
    ['CREATE FUNCTION f() RETURNS bigint BEGIN ATOMIC SELECT count(*) FROM pg_prepared_statements; END', null],
    ['create temp view v as select 1; select name from pg_prepared_statements', [['pg_prepared_statements', false]]],
    ['select 1', null],
  ];
  for (const [sql, expected] of cases) {
    it(sql, () => assert.deepEqual(references(sql), expected));
  }

  it('the cheap test passes every text that names the view, and most others not', () => {
    const yes = ['pg_prepared_statements', 'PG_PREPARED_STATEMENTS', '"pg_prepared_statements"'];
    for (const s of yes) assert.equal(mayReadStatementList(Buffer.from(s), 0, s.length), true, s);
    for (const s of ['select 1', 'select user_id from t', 'select * from pg_stat_activity', 'select x_state from t'])
      assert.equal(mayReadStatementList(Buffer.from(s), 0, s.length), false, s);
  });

  it('looks only within the range it is given', () => {
    const buf = Buffer.from('xx select * from pg_prepared_statements yy');
    assert.equal(findStatementLists(buf, 3, 20), null);
    assert.equal(findStatementLists(buf, 3, buf.length - 3)?.length, 1);
  });
});

describe('the classifier marks texts that read the view', () => {
  const classifier = new Classifier();
  const marked = (sql: string) => {
    const buf = Buffer.from(sql);
    return classifier.classifyBytes(buf, 0, buf.length).readsStatementList === true;
  };
  it('a query reading it, alone or among others, stays a read', () => {
    assert.equal(marked('select count(*) from pg_prepared_statements'), true);
    assert.equal(marked('SELECT name FROM "pg_prepared_statements"'), true);
    assert.equal(marked('select 1; select name from pg_prepared_statements'), true);
    const buf = Buffer.from('select name from pg_prepared_statements');
    assert.equal(classifier.classifyBytes(buf, 0, buf.length).route, 'read');
  });
  it('other texts are not marked', () => {
    assert.equal(marked('select 1'), false);
    assert.equal(marked('select * from pg_prepared_xacts'), false);
  });
});

describe('statementListSql', () => {
  it('with no statement of the client, only the names pgtide did not give', () => {
    const sql = statementListSql([]);
    assert.match(sql, /^\(SELECT \* FROM pg_catalog\.pg_prepared_statements WHERE .*'pgtide_'\)$/);
  });
  it("the client's names quoted for any standard_conforming_strings, texts as sent, and times", () => {
    const sql = statementListSql([
      { name: "it's", serverName: 'pgtide_7', text: Buffer.from("select 'a\\b'"), preparedAt: 1_700_000_000_123.456 },
      { name: 'ü', serverName: 'pgtide_8', text: Buffer.from([0x73, 0xe9]), preparedAt: undefined },
    ]);
    assert.ok(
      sql.includes(
        "(E'pgtide_7', E'it\\'s', $pgtide$select 'a\\b'$pgtide$, pg_catalog.to_timestamp(1700000000.123456))",
      ),
    );
    assert.ok(sql.includes("convert_from(pg_catalog.decode('c3bc', 'hex'), 'UTF8')"));
    // The text's own bytes, whatever the client's encoding (here LATIN1's é): a string of bytes.
    assert.ok(Buffer.from(sql, 'latin1').includes(Buffer.from([0x24, 0x73, 0xe9, 0x24])));
    assert.ok(sql.includes('NULL::pg_catalog.timestamptz'));
    assert.match(sql, /^\(.*\)$/s);
  });
  it('a text holding the dollar quote, or ending as one would begin, gets another', () => {
    const quoted = (text: string) => {
      const sql = statementListSql([{ name: 'a', serverName: 'pgtide_1', text: Buffer.from(text), preparedAt: 0 }]);
      return sql.slice(sql.indexOf("E'a', ") + 6, sql.indexOf(', pg_catalog.to_timestamp'));
    };
    assert.equal(quoted('select 1'), '$pgtide$select 1$pgtide$');
    assert.equal(quoted("select '$pgtide$'"), "$pgtide0$select '$pgtide$'$pgtide0$");
    assert.equal(quoted('select 1 as "x$pgtide"'), '$pgtide$select 1 as "x$pgtide"$pgtide$');
    assert.equal(quoted('select 1 -- x$pgtide'), '$pgtide0$select 1 -- x$pgtide$pgtide0$');
    assert.equal(quoted('select 1 -- $pgtide$ $pgtide0$'), '$pgtide1$select 1 -- $pgtide$ $pgtide0$$pgtide1$');
  });
  it('a reference without an alias gets the view name as one; TABLE becomes a SELECT', () => {
    assert.deepEqual(
      listEdits(
        [
          { start: 1, end: 2, aliased: false, table: false },
          { start: 5, end: 9, aliased: true, table: false },
          { start: 12, end: 40, aliased: false, table: true },
        ],
        '(q)',
      ),
      [
        [1, 2, '(q) AS pg_prepared_statements'],
        [5, 9, '(q)'],
        [12, 40, 'SELECT * FROM (q) AS pg_prepared_statements'],
      ],
    );
  });
  it('past 64 MiB of rewritten text in all, the references stay the server’s view', () => {
    const refs = Array.from({ length: 65 }, (_, i) => ({ start: i, end: i + 1, aliased: true, table: false }));
    assert.equal(listEdits(refs.slice(0, 64), 'x'.repeat(1024 * 1024)).length, 64);
    assert.deepEqual(listEdits(refs, 'x'.repeat(1024 * 1024)), []);
    // A list whose texts alone passed it was not made.
    assert.deepEqual(listEdits(refs.slice(0, 1), null), []);
  });
  it('prepare times never repeat, and grow', () => {
    const times = Array.from({ length: 1000 }, preparedNow);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! > times[i - 1]!);
  });
});
