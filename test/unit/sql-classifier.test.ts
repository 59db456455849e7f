import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PGBENCH_SCRIPTS as PGBENCH } from '../../bench/classifier.js';
import { Classifier, FunctionPolicy, type Classification } from '../../src/sql/index.js';
import { heldClassifier, type HeldParser } from './sql-held-parser.js';

type Expect = Partial<Classification>;

const parsers = new WeakMap<Classifier, HeldParser>();
/** A classifier whose parser's answers `check` waits for, and that parser. */
async function held(opts: ConstructorParameters<typeof Classifier>[0] = {}): Promise<[Classifier, HeldParser]> {
  const [c, parser] = await heldClassifier(opts);
  parsers.set(c, parser);
  return [c, parser];
}

async function parsing(opts: ConstructorParameters<typeof Classifier>[0] = {}): Promise<Classifier> {
  return (await held(opts))[0];
}

let classifier: Classifier;
before(async () => {
  classifier = await parsing();
});

/** The classification of `sql` once the parser has answered what classifying it asked. */
function settled(c: Classifier, sql: string): Classification {
  const first = c.classify(sql);
  const parser = parsers.get(c);
  if (!first.awaitingParser || parser === undefined || parser.answerAll(c) === 0) return first;
  return c.classify(sql);
}

/** Asserts every field named in `expected` (and `parsed: false` unless stated), as settled. */
function check(c: Classifier, sql: string, expected: Expect): Classification {
  const got = settled(c, sql);
  const want: Expect = { parsed: false, ...expected };
  for (const [key, value] of Object.entries(want)) {
    assert.deepEqual(
      got[key as keyof Classification],
      value,
      `${key} of ${JSON.stringify(sql)}: ${JSON.stringify(got)}`,
    );
  }
  return got;
}

function table(name: string, cases: ReadonlyArray<readonly [string, Expect]>): void {
  describe(name, () => {
    for (const [sql, expected] of cases)
      it(sql.length > 90 ? `${sql.slice(0, 90)}…` : sql, () => {
        check(classifier, sql, expected);
      });
  });
}

const R = { route: 'read' } as const;
const W = { route: 'write' } as const;

/** One field of the settled classification, case by case. */
function fieldCases<K extends keyof Classification>(field: K, cases: readonly [string, Classification[K]][]): void {
  for (const [sql, value] of cases)
    it(sql, () => {
      const got = settled(classifier, sql);
      assert.deepEqual(got[field], value, JSON.stringify(got));
    });
}

describe('statements that need a database without sessions', () => {
  const cases: [string, Classification['freesDatabase']][] = [
    ['DROP DATABASE app', 'app'],
    ['drop database if exists "App Test" with (force)', 'App Test'],
    ['ALTER DATABASE app RENAME TO app_old', 'app'],
    ['ALTER DATABASE app SET TABLESPACE fast', 'app'],
    ['CREATE DATABASE app_copy TEMPLATE app', 'app'],
    ["CREATE DATABASE app_copy WITH OWNER = x TEMPLATE = 'App'", 'App'],
    ['ALTER DATABASE app SET work_mem = 1', undefined],
    ['ALTER DATABASE app OWNER TO x', undefined],
    ['CREATE DATABASE app', undefined],
    ['DROP TABLE database', undefined],
    ['DROP DATABASE', undefined],
  ];
  fieldCases('freesDatabase', cases);
});

describe('statements after which what was learned of functions may no longer hold', () => {
  const cases: [string, Classification['changesFunctions']][] = [
    ['CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT 1 $$', true],
    ['create function f() returns int begin atomic select 1; end', true],
    ['CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$', true],
    ['CREATE AGGREGATE agg_set(text) (SFUNC = agg_sfunc, STYPE = text)', true],
    ['ALTER FUNCTION f() VOLATILE', true],
    ['alter routine f() stable', true],
    ['DROP FUNCTION IF EXISTS f(int)', true],
    ['DROP SCHEMA app CASCADE', true],
    ['CREATE EXTENSION pgcrypto', true],
    ['ALTER EXTENSION pgcrypto UPDATE', true],
    ['CREATE TABLE function (x int)', undefined],
    ['CREATE TEMP TABLE t (x int)', undefined],
    ['DROP TABLE f', undefined],
    ['SELECT 1', undefined],
  ];
  fieldCases('changesFunctions', cases);
});

describe('pg_terminate_backend and pg_cancel_backend: the pid pgtide may act on', () => {
  const cases: [string, Classification['signals']][] = [
    ['SELECT pg_terminate_backend(1073741900)', [{ terminate: true, pid: 1_073_741_900, param: 0 }]],
    ["select pg_catalog.pg_cancel_backend('1073741900'::int)", [{ terminate: false, pid: 1_073_741_900, param: 0 }]],
    ['SELECT pg_terminate_backend($1)', [{ terminate: true, pid: 0, param: 1 }]],
    ['SELECT pg_terminate_backend($2::int4, 1000)', [{ terminate: true, pid: 0, param: 2 }]],
    [
      'SELECT pg_cancel_backend($1); SELECT pg_terminate_backend(7)',
      [
        { terminate: false, pid: 0, param: 1 },
        { terminate: true, pid: 7, param: 0 },
      ],
    ],
    ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', undefined],
    ['SELECT pg_terminate_backend(1 + 2)', undefined],
    ['SELECT pg_terminate_backend(-5)', undefined],
    ['SELECT pg_terminate_backend(1.5)', undefined],
    ['SELECT pg_terminate_backend(99999999999)', undefined],
    ['SELECT pg_terminate_backend(CAST($1 AS int))', undefined],
    ['SELECT myschema.pg_terminate_backend(5)', undefined],
    ['SELECT pg_backend_pid()', undefined],
  ];
  fieldCases('signals', cases);
});

table('reads', [
  ['SELECT 1', { ...R, kind: 'select' }],
  ['select * from users where id = $1', { ...R, kind: 'select' }],
  ['VALUES (1), (2)', { ...R, kind: 'select' }],
  ['TABLE users', { ...R, kind: 'select' }],
  ['WITH t AS (SELECT 1) SELECT * FROM t', { ...R, kind: 'select' }],
  [
    'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r',
    { ...R, kind: 'select' },
  ],
  ['(SELECT 1)', { ...R, kind: 'select' }],
  ['((VALUES (1)))', { ...R, kind: 'select' }],
  ['(SELECT 1) UNION (SELECT 2) ORDER BY 1', { ...R, kind: 'select' }],
  ['SHOW search_path', { ...R, kind: 'show', name: 'search_path' }],
  ['SHOW ALL', { ...R, kind: 'show' }],
  ['SHOW transaction_read_only', { ...W, kind: 'show', name: 'transaction_read_only' }],
  ['show IN_HOT_STANDBY', { ...W, kind: 'show', name: 'in_hot_standby' }],
  ['EXPLAIN SELECT * FROM t', { ...R, kind: 'explain' }],
  ['EXPLAIN VERBOSE SELECT 1', { ...R, kind: 'explain' }],
  ['EXPLAIN (FORMAT JSON, COSTS OFF) SELECT 1', { ...R, kind: 'explain' }],
  ['EXPLAIN ANALYZE SELECT count(*) FROM t', { ...R, kind: 'explain' }],
  ['select count(*), sum(x), coalesce(a, 1), lower(b) from t group by 1', R],
  ['select now(), pg_catalog.now(), length(name), abs(-1) from t', R],
  ['SELECT x::numeric(10, 2), CAST(y AS varchar(20)), z::timestamp(3) FROM t', R],
  ['SELECT * FROM t WHERE a IN (1, 2) AND EXISTS (SELECT 1) AND b = ANY($1)', R],
  ['SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t', R],
  ['SELECT count(*) FILTER (WHERE a > 1) FROM t', R],
  ['SELECT * FROM t AS x(a, b) JOIN u USING (id)', R],
  ['SELECT * FROM generate_series(1, 10) g', R],
  ['SELECT a FROM t FOR READ ONLY', R],
  ['SELECT substring(s FOR 3) FROM t', R],
  ['SELECT t.update_count, t.inserted FROM t', R],
  ['SELECT * FROM t ORDER BY id FETCH FIRST 5 ROWS ONLY', R],
  ['select 1 -- for update\n', R],
  ['select 1 /* into x */', R],
  ['SELECT ARRAY[1, 2] || ARRAY(SELECT 3)', R],
  ['SELECT 1.5e-3, .5, 0x1F, 1_000', R],
  ['SELECT $1::int + $2', R],
  ['SELECT \'é\', "ñ" FROM "Tàble"', R],
  ['SELECT * FROM t1, LATERAL (SELECT * FROM t2 WHERE t2.a = t1.a) s', R],
  ["SELECT json_build_object('a', 1), jsonb_agg(x) FROM t", R],
  ['SELECT sum(a) OVER (PARTITION BY b) FROM t', R],
  ['SELECT * FROM generate_series(1, 3) g(x)', R],
  // Unreserved keywords before '(' may name a user function: the parser decides.
  ['SELECT * FROM a JOIN (SELECT 1) b ON true', { ...R, parsed: true }],
  ['SELECT a FROM t GROUP BY ROLLUP (a, b)', { ...R, parsed: true }],
  ['SELECT cube(1)', { ...W, parsed: true, functions: ['cube'] }],
]);

table('literals, identifiers and comments hide keywords', [
  ['select $$ insert $$', R],
  ["SELECT 'for update'", R],
  ['SELECT "into" FROM t', R],
  ['SELECT "for", "update" FROM t', R],
  ["SELECT 'it''s; DELETE FROM t'", R],
  ["SELECT E'it\\'s; DELETE FROM t'", R],
  ["SELECT e'\\\\', 'x'", R],
  ["SELECT $tag$ '; drop table t; $$ $tag$", R],
  ['SELECT $a$ $b$ delete $b$ $a$', R],
  ["SELECT U&'d\\0061t\\+000061 insert'", R],
  ["SELECT B'1010', X'1F', N'nat insert'", R],
  ['SELECT 1 /* outer /* nested insert */ still comment; delete */', R],
  ['/* c */ SELECT 1', R],
  ['-- leading\nSELECT 1', R],
  ['SELECT "a""b" FROM t', R],
  ['SELECT a$b$c FROM t', R],
  ["/* c */ select nextval('s')", { ...W, kind: 'select' }],
  ['SELECT 1 /* ; */ ; /* ; */', { ...R, kind: 'select' }],
]);

table('writes', [
  ["INSERT INTO t VALUES (1, 'a')", { ...W, kind: 'dml' }],
  ['UPDATE t SET a = 1', { ...W, kind: 'dml' }],
  ['DELETE FROM t', { ...W, kind: 'dml' }],
  ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', { ...W, kind: 'dml' }],
  ['CREATE TABLE t (a int)', { ...W, kind: 'ddl' }],
  ['create or replace view v as select 1', { ...W, kind: 'ddl' }],
  ['ALTER TABLE t ADD COLUMN b int', { ...W, kind: 'ddl' }],
  ['DROP TABLE IF EXISTS t', { ...W, kind: 'ddl' }],
  ['TRUNCATE t', { ...W, kind: 'utility' }],
  ['GRANT SELECT ON t TO bob', { ...W, kind: 'utility' }],
  ['REVOKE ALL ON t FROM bob', { ...W, kind: 'utility' }],
  ["COMMENT ON TABLE t IS 'x'", { ...W, kind: 'utility' }],
  ['VACUUM ANALYZE t', { ...W, kind: 'utility' }],
  ['ANALYZE t', { ...W, kind: 'utility' }],
  ['CLUSTER t USING i', { ...W, kind: 'utility' }],
  ['REINDEX TABLE t', { ...W, kind: 'utility' }],
  ['REFRESH MATERIALIZED VIEW m', { ...W, kind: 'utility' }],
  ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', { ...W, kind: 'utility' }],
  ['CALL proc(1)', { ...W, kind: 'utility' }],
  ['DO $$ BEGIN PERFORM 1; END $$', { ...W, kind: 'utility' }],
  ['CHECKPOINT', { ...W, kind: 'utility' }],
  ["NOTIFY ch, 'payload'", { ...W, kind: 'notify' }],
  ['SELECT * FROM t FOR UPDATE', { ...W, kind: 'select' }],
  ['SELECT * FROM t FOR SHARE', { ...W, kind: 'select' }],
  ['SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED', { ...W, kind: 'select' }],
  ['select * from t for key share of t nowait', { ...W, kind: 'select' }],
  ['SELECT * FROM (SELECT * FROM t FOR UPDATE) s', W],
  ['select * into x from t', { ...W, kind: 'select' }],
  ['SELECT * INTO TEMP x FROM t', { ...W, sessionState: 'temp_table' }],
  ['SELECT 1 AS a INTO pg_temp.x', { ...W, kind: 'select', sessionState: 'temp_table' }],
  ['select * into table "pg_temp".x from t', { ...W, sessionState: 'temp_table' }],
  ['SELECT * INTO pg_temp_4.x FROM t', { ...W, sessionState: 'temp_table' }],
  ['SELECT * INTO x FROM pg_temp.t', { ...W, kind: 'select', sessionState: undefined }],
  ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', { ...W, kind: 'dml' }],
  ['WITH m AS (UPDATE t SET a = 1 RETURNING id) SELECT count(*) FROM m', { ...W, kind: 'dml' }],
  ['WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x', { ...W, kind: 'dml' }],
  ['EXPLAIN ANALYZE INSERT INTO t VALUES (1)', { ...W, kind: 'explain' }],
  ['EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t', { ...W, kind: 'explain' }],
  ["select nextval('s')", W],
  ["SELECT setval('s', 10)", W],
  ["SELECT currval('s')", { ...W, kind: 'select', opaque: undefined }],
  // A standby shows no prepared transaction: psycopg's tpc_recover() found none through pgtide.
  ['SELECT gid, prepared, owner, database FROM pg_prepared_xacts', { ...W, kind: 'select' }],
  ['select count(*) from pg_catalog.pg_prepared_xacts where database = $1', { ...W, kind: 'select' }],
  ['SELECT * FROM "pg_prepared_xacts"', { ...W, kind: 'select' }],
  ['SELECT pg_prepared_xacts FROM t', { ...W, kind: 'select' }],
  ['SELECT lastval()', { ...W, kind: 'select', opaque: undefined }],
  ["SELECT CURRVAL('public.s'::regclass)", { ...W, kind: 'select', opaque: undefined }],
  ['SELECT pg_catalog.lastval()', { ...W, kind: 'select', opaque: undefined }],
  ['SELECT pg_catalog.nextval($1)', W],
  ['SELECT txid_current()', W],
  ['SELECT pg_current_xact_id()', W],
  ["SELECT lo_import('/tmp/x')", W],
  ["SELECT pg_notify('ch', 'x')", W],
  ['SELECT pg_switch_wal()', W],
  ['SELECT pg_advisory_xact_lock(1)', { ...W, kind: 'select' }],
  ['SELECT "nextval"(\'s\')', { ...W, parsed: true }],
  ['COPY t FROM STDIN', { ...W, kind: 'copy' }],
  ["COPY t (a, b) FROM '/tmp/x' WITH (FORMAT csv)", { ...W, kind: 'copy' }],
  ["COPY t TO '/tmp/file'", { ...W, kind: 'copy' }],
  ['COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT', { ...W, kind: 'copy', copyOut: true }],
  ['SECURITY LABEL ON TABLE t IS NULL', { ...W, kind: 'utility' }],
]);

table('COPY out and cursors', [
  ['COPY t TO STDOUT', { ...R, kind: 'copy', copyOut: true }],
  ['copy t (a, b) to stdout with (format csv, header)', { ...R, kind: 'copy', copyOut: true }],
  ['COPY (SELECT * FROM t WHERE a > 1) TO STDOUT', { ...R, kind: 'copy', copyOut: true }],
  ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', { ...R, kind: 'cursor', name: 'c', sessionState: 'hold_cursor' }],
  ['DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT * FROM t', { ...R, kind: 'cursor', name: 'c' }],
  ['DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE', { ...W, kind: 'cursor', name: 'c' }],
  ['FETCH NEXT FROM c', { ...R, kind: 'cursor', name: 'c' }],
  ['FETCH 10 "MyCur"', { ...R, kind: 'cursor', name: 'MyCur' }],
  ['MOVE ABSOLUTE 5 IN c', { ...R, kind: 'cursor', name: 'c' }],
  ['CLOSE c', { ...R, kind: 'cursor', name: 'c' }],
  ['CLOSE ALL', { ...R, kind: 'cursor', all: true }],
]);

table('transaction control', [
  ['BEGIN', { ...W, kind: 'begin' }],
  ['begin work', { ...W, kind: 'begin' }],
  ['BEGIN READ ONLY', { ...R, kind: 'begin', readOnly: true }],
  ['BEGIN TRANSACTION READ WRITE', { ...W, kind: 'begin', readOnly: false }],
  [
    'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY',
    { ...R, kind: 'begin', readOnly: true, isolation: 'repeatable read' },
  ],
  [
    'START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY',
    { ...W, kind: 'begin', readOnly: true, isolation: 'serializable' },
  ],
  ['START TRANSACTION ISOLATION LEVEL READ COMMITTED', { ...W, kind: 'begin', isolation: 'read committed' }],
  ['start transaction read only deferrable', { ...R, kind: 'begin', readOnly: true }],
  ['BEGIN READ ONLY NOT DEFERRABLE , ISOLATION LEVEL READ UNCOMMITTED', { ...R, kind: 'begin', readOnly: true }],
  // PostgreSQL refuses these (42601): a server must say so, not a replay of a BEGIN pgtide answered.
  [
    'BEGIN READ ONLY GARBAGE',
    { ...W, kind: 'other', error: 'a BEGIN with words PostgreSQL does not take', opaque: true },
  ],
  ["BEGIN READ ONLY 'x'", { ...W, kind: 'other', error: 'a BEGIN with words PostgreSQL does not take' }],
  ['BEGIN , READ ONLY', { ...W, kind: 'other', error: 'a BEGIN with words PostgreSQL does not take' }],
  [
    'START TRANSACTION ISOLATION LEVEL READ',
    { ...W, kind: 'other', error: 'a BEGIN with words PostgreSQL does not take' },
  ],
  ['COMMIT', { ...R, kind: 'commit' }],
  ['END', { ...R, kind: 'commit' }],
  ['COMMIT AND CHAIN', { ...R, kind: 'commit', chain: true }],
  ['ROLLBACK', { ...R, kind: 'rollback' }],
  ['ABORT', { ...R, kind: 'rollback' }],
  ['ROLLBACK WORK AND NO CHAIN', { ...R, kind: 'rollback', chain: false }],
  ['SAVEPOINT sp1', { ...R, kind: 'savepoint', name: 'sp1' }],
  ['RELEASE SAVEPOINT sp1', { ...R, kind: 'savepoint', name: 'sp1' }],
  ['ROLLBACK TO SAVEPOINT sp1', { ...R, kind: 'savepoint', name: 'sp1' }],
  ['ROLLBACK TO sp1', { ...R, kind: 'savepoint', name: 'sp1' }],
  ["PREPARE TRANSACTION 'gx'", { ...W, kind: 'two_phase' }],
  ["COMMIT PREPARED 'gx'", { ...W, kind: 'two_phase' }],
  ["ROLLBACK PREPARED 'gx'", { ...W, kind: 'two_phase' }],
  ['SET TRANSACTION READ ONLY', { ...R, kind: 'set_transaction', readOnly: true }],
  // Standbys refuse these: the transaction they start (after a deferred BEGIN) runs on the primary.
  ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', { ...W, kind: 'set_transaction', isolation: 'serializable' }],
  ['SET TRANSACTION READ WRITE', { ...W, kind: 'set_transaction', readOnly: false }],
  ['SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', { ...R, kind: 'set_transaction', isolation: 'repeatable read' }],
  [
    'SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE',
    { ...R, kind: 'set_transaction', isolation: 'serializable', sessionState: 'transaction_characteristics' },
  ],
  [
    'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
    { kind: 'set_transaction', readOnly: true, sessionState: 'transaction_characteristics' },
  ],
  // The same modes as settings: transaction-scoped whatever SET says, so no session state.
  ["SET transaction_isolation = 'serializable'", { ...W, kind: 'set_transaction', isolation: 'serializable' }],
  ['SET LOCAL transaction_isolation TO SERIALIZABLE', { ...W, kind: 'set_transaction', isolation: 'serializable' }],
  [
    "SET SESSION transaction_isolation = 'repeatable read'",
    { ...R, kind: 'set_transaction', isolation: 'repeatable read' },
  ],
  ['SET transaction_isolation = DEFAULT', { ...R, kind: 'set_transaction' }],
  ['SET transaction_read_only = off', { ...W, kind: 'set_transaction', readOnly: false }],
  ["SET LOCAL transaction_read_only TO 'fal'", { ...W, kind: 'set_transaction', readOnly: false }],
  ['SET transaction_read_only = 0', { ...W, kind: 'set_transaction', readOnly: false }],
  ['SET transaction_read_only TO DEFAULT', { ...W, kind: 'set_transaction', readOnly: false }],
  ['SET transaction_read_only = on', { ...R, kind: 'set_transaction', readOnly: true }],
  ["SET transaction_read_only = 'Y'", { ...R, kind: 'set_transaction', readOnly: true }],
  ['SET transaction_read_only = maybe', { ...R, kind: 'set_transaction' }],
  ['SET transaction_deferrable = on', { ...R, kind: 'set_transaction' }],
  [
    "SET default_transaction_isolation = 'serializable'",
    {
      ...R,
      kind: 'set',
      set: { name: 'default_transaction_isolation', value: "'serializable'", local: false },
    },
  ],
  ['START foo', { ...W, kind: 'other' }],
]);

table('session state', [
  ['SET search_path TO a, b', { ...R, kind: 'set', set: { name: 'search_path', value: 'a, b', local: false } }],
  ['SET LOCAL x = 1', { kind: 'set', set: { name: 'x', value: '1', local: true } }],
  [
    "SET SESSION statement_timeout = '5s'",
    { kind: 'set', set: { name: 'statement_timeout', value: "'5s'", local: false } },
  ],
  ['set Application_Name to DEFAULT', { kind: 'set', set: { name: 'application_name', value: null, local: false } }],
  ['SET myext.Opt = on', { kind: 'set', set: { name: 'myext.opt', value: 'on', local: false } }],
  ["SET TIME ZONE 'UTC'", { kind: 'set', set: { name: 'timezone', value: "'UTC'", local: false } }],
  ['SET TIME ZONE LOCAL', { kind: 'set', set: { name: 'timezone', value: null, local: false } }],
  ["SET NAMES 'UTF8'", { kind: 'set', set: { name: 'client_encoding', value: "'UTF8'", local: false } }],
  ['SET ROLE admin', { kind: 'set', set: { name: 'role', value: 'admin', local: false } }],
  ['SET role TO admin', { kind: 'set', set: { name: 'role', value: 'admin', local: false } }],
  [
    'SET SESSION AUTHORIZATION bob',
    { kind: 'set', set: { name: 'session_authorization', value: 'bob', local: false } },
  ],
  ['SET CONSTRAINTS ALL DEFERRED', { ...R, kind: 'set' }],
  ['SET x', { ...W, kind: 'other' }],
  [
    "SELECT set_config('a', 'b', false)",
    { ...W, kind: 'select', sessionState: 'set_config', set: { name: 'a', value: "'b'", local: false } },
  ],
  // A local setting changes nothing a standby could not: the statement's route is its own.
  [
    "select set_config('search_path', 'it''s', true)",
    { ...R, set: { name: 'search_path', value: "'it''s'", local: true }, localSets: true },
  ],
  ["SELECT set_config('app.a', $1, true), nextval('s')", { ...W, localSets: true, readsSequences: undefined }],
  ["SELECT set_config('app.a', $1, true) FROM t FOR UPDATE", { ...W, localSets: true }],
  ["SELECT set_config('app.a', $1, true); INSERT INTO t VALUES (1)", { route: 'write' }],
  ["SELECT set_config('transaction_isolation', 'serializable', true)", { ...W, localSets: false }],
  ["SELECT set_config('app.a', 'x', false), set_config('app.b', 'y', true)", { ...W, localSets: false }],
  ["SELECT set_config('app.b', 'y', true), set_config('app.a', 'x', false)", { ...W, localSets: false }],
  // State that pins wins over set_config, whichever comes first.
  [
    "WITH s AS (SELECT set_config('lock_timeout', '3600000', true) AS v) SELECT pg_advisory_lock(385) FROM s",
    { ...W, sessionState: 'advisory_lock', localSets: true },
  ],
  [
    "SELECT set_config('a', 'x', false), pg_advisory_lock(8)",
    { ...W, sessionState: 'advisory_lock', localSets: false },
  ],
  ["SELECT set_config('a', 'x', false), setseed(0.5)", { ...W, sessionState: 'random_seed' }],
  ["SELECT pg_advisory_lock(8), set_config('a', 'x', false)", { ...W, sessionState: 'advisory_lock' }],
  ["SELECT set_config('a', 'x', false) INTO TEMP t", { ...W, sessionState: 'temp_table' }],
  // The name is known even when the value is a parameter: the setting can still be followed.
  [
    "SELECT set_config('a', $1, false)",
    { ...W, sessionState: 'set_config', set: { name: 'a', value: null, local: false } },
  ],
  ["SELECT set_config($1, 'v', false)", { ...W, sessionState: 'set_config', set: undefined }],
  // Every call's name is followed, not the first's alone.
  [
    "SELECT set_config('app.a', '1', false), set_config('Search_Path', 'x', true), set_config($1, 'v', false)",
    {
      ...W,
      sessionState: 'set_config',
      set: { name: 'app.a', value: "'1'", local: false },
      otherSets: ['search_path', null],
    },
  ],
  ["SELECT set_config($1, 'v', false), set_config('app.b', 'w', false)", { set: undefined, otherSets: ['app.b'] }],
  // is_local is read past a parameter value: PostgREST's per-request settings last only the transaction.
  [
    "SELECT set_config('search_path', $1, true), set_config('role', $2::text, true), set_config('request.jwt.claims', $3, true)",
    {
      ...R,
      sessionState: 'set_config',
      set: { name: 'search_path', value: null, local: true },
      otherSets: ['role', 'request.jwt.claims'],
      localSets: true,
    },
  ],
  ["SELECT set_config('app.a', '1', true), set_config('app.b', $1, false)", { localSets: false }],
  [
    "SELECT set_config('app.a', lower($1), true)",
    { set: { name: 'app.a', value: null, local: false }, localSets: false },
  ],
  ["SELECT set_config('app.a', $1, $2)", { localSets: false }],
  ["SELECT set_config($1, 'v', true)", { localSets: false }],
  ["SELECT set_config('app.a', $1::pg_catalog.text, true)", { localSets: false }],
  ["SELECT 'set_config(''a'', ''b'', false)'", { localSets: undefined }],
  ['RESET ALL', { ...R, kind: 'reset', all: true }],
  ['RESET search_path', { ...R, kind: 'reset', set: { name: 'search_path', value: null, local: false } }],
  ['RESET TIME ZONE', { kind: 'reset', set: { name: 'timezone', value: null, local: false } }],
  ['DISCARD ALL', { ...R, kind: 'discard', discard: 'all', all: true }],
  ['DISCARD PLANS', { kind: 'discard', discard: 'plans' }],
  ['DISCARD SEQUENCES', { kind: 'discard', discard: 'sequences' }],
  ['discard temporary', { kind: 'discard', discard: 'temp' }],
  ['DISCARD everything', { ...W, kind: 'other' }],
  [
    'PREPARE p (int) AS SELECT * FROM t WHERE id = $1',
    { ...R, kind: 'prepare', name: 'p', sessionState: 'sql_prepare' },
  ],
  ['PREPARE ins AS INSERT INTO t VALUES ($1)', { ...W, kind: 'prepare', name: 'ins', sessionState: 'sql_prepare' }],
  ['EXECUTE p(1)', { ...W, kind: 'execute', name: 'p', constantArguments: true }],
  ['execute "P" ( -1, \'x\'::text, $1, ARRAY[2] )', { ...W, kind: 'execute', name: 'P', constantArguments: true }],
  ["EXECUTE p(nextval('s'))", { ...W, kind: 'execute', name: 'p', constantArguments: undefined }],
  ['EXECUTE p((SELECT 1))', { ...W, kind: 'execute', name: 'p', constantArguments: undefined }],
  ['EXECUTE', { ...W, kind: 'execute', name: undefined, constantArguments: undefined }],
  ['DEALLOCATE p', { ...R, kind: 'deallocate', name: 'p' }],
  // In UTF-8, PostgreSQL folds only the ASCII letters of an unquoted name.
  ['DEALLOCATE ÄbC_Ö', { ...R, kind: 'deallocate', name: 'Äbc_Ö' }],
  ['DEALLOCATE PREPARE ALL', { ...R, kind: 'deallocate', all: true }],
  ['CREATE TEMP TABLE x (a int)', { ...W, kind: 'ddl', sessionState: 'temp_table' }],
  ['CREATE LOCAL TEMPORARY TABLE x AS SELECT 1', { ...W, sessionState: 'temp_table' }],
  ['CREATE TABLE x (a int)', { ...W, kind: 'ddl', sessionState: undefined }],
  // Objects made in the session's temporary schema by name, with no TEMP (ts-postgres' suite).
  [
    "CREATE FUNCTION pg_temp.f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
    { ...W, kind: 'ddl', sessionState: 'temp_table' },
  ],
  [
    'create or replace function PG_TEMP.f() returns int begin atomic; select 1; end',
    { ...W, sessionState: 'temp_table' },
  ],
  ['CREATE TABLE pg_temp.t (i int)', { ...W, kind: 'ddl', sessionState: 'temp_table' }],
  ['CREATE VIEW "pg_temp".v AS SELECT 1', { ...W, sessionState: 'temp_table' }],
  ['CREATE SEQUENCE pg_temp_3.s', { ...W, sessionState: 'temp_table' }],
  ['CREATE TABLE pg_temporary.t (i int)', { ...W, sessionState: undefined }],
  ["CREATE FUNCTION f() RETURNS int AS 'SELECT * FROM pg_temp.t' LANGUAGE sql", { ...W, sessionState: undefined }],
  ['LISTEN ch', { ...W, kind: 'listen', name: 'ch', sessionState: 'listen' }],
  ['UNLISTEN *', { ...W, kind: 'listen', all: true, sessionState: 'unlisten' }],
  ["LOAD 'auto_explain'", { ...W, kind: 'utility', sessionState: 'load' }],
  ['SELECT pg_advisory_lock(1)', { ...W, kind: 'select', sessionState: 'advisory_lock' }],
  ['SELECT pg_try_advisory_lock_shared(1, 2)', { ...W, sessionState: 'advisory_lock' }],
  ['SELECT setseed(0.5)', { ...W, kind: 'select', sessionState: 'random_seed', opaque: undefined }],
  ['SELECT pg_catalog.setseed($1)', { ...W, sessionState: 'random_seed' }],
  ['SELECT pg_advisory_unlock(1)', { ...W, sessionState: undefined }],
]);

// Sent to the primary for the session state they take, drop or read there: no write position
// to wait for after them (Classification.writesNothing).
table('the primary for session state alone', [
  ['UNLISTEN *', { ...W, kind: 'listen', writesNothing: true }],
  ['LISTEN jobs', { ...W, kind: 'listen', writesNothing: true }],
  ['SELECT pg_advisory_unlock_all()', { ...W, kind: 'select', writesNothing: true }],
  ['SELECT pg_advisory_lock(1)', { ...W, sessionState: 'advisory_lock', writesNothing: true }],
  ['SELECT pg_try_advisory_xact_lock(1)', { ...W, writesNothing: true }],
  ["SELECT currval('s')", { ...W, readsSequences: true, writesNothing: true }],
  ['SELECT setseed(0.5)', { ...W, sessionState: 'random_seed', writesNothing: true }],
  [
    'SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;SELECT pg_advisory_unlock_all();DISCARD SEQUENCES;DISCARD TEMP',
    { ...W, kind: 'multi', writesNothing: true },
  ],
  ["SELECT nextval('s')", { ...W, writesNothing: undefined }],
  ['SELECT pg_advisory_lock(1) FROM t FOR UPDATE', { ...W, writesNothing: undefined }],
  [
    'WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT pg_advisory_lock(1) FROM x',
    { ...W, writesNothing: undefined },
  ],
  ['SELECT pg_advisory_unlock_all(); INSERT INTO t VALUES (1)', { ...W, kind: 'multi', writesNothing: undefined }],
  ['NOTIFY jobs', { ...W, writesNothing: undefined }],
  ['SELECT 1', { ...R, writesNothing: undefined }],
]);

table('pgtide hints and commands', [
  ['/* pgtide: primary */ SELECT 1', { ...W, kind: 'select', hint: 'primary' }],
  ['/*pgtide:standby*/select 1', { ...R, hint: 'standby' }],
  ['/*  PGTIDE :  Standby  */ SELECT 1', { ...R, hint: 'standby' }],
  ['-- note\n/* pgtide: standby */ SELECT 1', { ...R, hint: 'standby' }],
  ['/* pgtide: primary */ BEGIN READ ONLY', { ...W, kind: 'begin', hint: 'primary' }],
  ['SELECT 1 /* pgtide: primary */', { ...R, hint: undefined }],
  ['/* pgtide: somewhere */ SELECT 1', { ...R, hint: undefined }],
  ['/* pgtide: primaryx */ SELECT 1', { ...R, hint: undefined }],
  ['SET pgtide.route = standby', { ...R, kind: 'pgtide', pgtideRoute: 'standby' }],
  ["SET pgtide.route TO 'primary'", { kind: 'pgtide', pgtideRoute: 'primary' }],
  ['set PGTIDE.ROUTE = Auto', { kind: 'pgtide', pgtideRoute: 'auto' }],
  ['SET pgtide.route = nowhere', { kind: 'pgtide', pgtideRoute: undefined }],
  ['RESET pgtide.route', { kind: 'pgtide', pgtideRoute: 'auto' }],
]);

table('several statements in one Query', [
  ['BEGIN; INSERT INTO t VALUES (1); COMMIT', { ...W, kind: 'multi', multi: true }],
  ['SELECT 1; SELECT 2;', { ...R, kind: 'multi', multi: true }],
  ['SELECT 1; UPDATE t SET a = 1', { ...W, kind: 'multi' }],
  ["SELECT ';'; SELECT $$;$$", { ...R, kind: 'multi' }],
  ['SELECT 1;;;', { ...R, kind: 'select', multi: undefined }],
  [
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END',
    { ...W, kind: 'ddl', multi: undefined },
  ],
]);

// Text the lexer cannot split runs as code pgtide cannot see into (opaque): it may hold a SET.
table('not understood: always the primary', [
  ['garbage here', { ...W, kind: 'other', opaque: undefined }],
  ['', { ...R, kind: 'empty' }],
  ['  ;  -- only a comment', { ...R, kind: 'empty' }],
  ["SELECT 'unterminated", { ...W, kind: 'other', error: 'unterminated quoted string', opaque: true }],
  ['SELECT "unterminated', { ...W, kind: 'other', opaque: true }],
  ['SELECT $q$ never closed', { ...W, kind: 'other', opaque: true }],
  ['SELECT 1 /* never closed', { ...W, kind: 'other', opaque: true }],
  ['/* never closed', { ...W, kind: 'other', opaque: true }],
  ['SELECT 1)', { ...W, kind: 'other', opaque: true }],
  ['SELECT (1', { ...R, kind: 'select' }],
  ["SELECT 'C:\\'", { ...W, kind: 'other', opaque: true }],
  ["SELECT 'a\\''; SET work_mem = '1MB'; SELECT 1", { ...W, kind: 'other', opaque: true }],
  ["SELECT 'a\\\\'", R],
  ['42', { ...W, kind: 'other' }],
  ['EXPLAIN '.repeat(50) + 'SELECT 1', { ...W }],
  ['SELECT myfunc(', { ...W, parsed: true }],
]);

table('opaque: code the classifier cannot see into', [
  ['DO $$ BEGIN PERFORM 1; END $$', { opaque: true, kind: 'utility', route: 'write' }],
  ['CALL refresh_all()', { opaque: true, kind: 'utility' }],
  ['SELECT set_tenant(42)', { opaque: true, route: 'write', parsed: true }],
  ['SELECT app.set_tenant(42)', { opaque: true, parsed: true }],
  ['SELECT "Set_Tenant"(42)', { opaque: true, parsed: true }],
  ['SELECT 1; SELECT set_tenant(1)', { opaque: true, multi: true, parsed: true }],
  // Built-ins, catalog functions and pgtide-visible writers are not opaque.
  ['SELECT now(), count(*) FROM t', { opaque: undefined, route: 'read' }],
  ['SELECT pg_catalog.array_fill(1, ARRAY[2])', { opaque: undefined, parsed: true }],
  ['SELECT pg_get_viewdef(1)', { opaque: undefined, parsed: true }],
  [`SELECT set_config('search_path', 'x', false)`, { opaque: undefined, route: 'write' }],
  ['SELECT abalance FROM pgbench_accounts WHERE aid = 1', { opaque: undefined }],
  // PostgreSQL's own functions by name (each read cost four round trips of probes and resets).
  ['SELECT inet_server_port(), inet_client_addr()', { opaque: undefined, parsed: true }],
  ['SELECT txid_current_snapshot()', { opaque: undefined, parsed: true }],
  ["SELECT ts_rank(to_tsvector(body), plainto_tsquery('a')) FROM docs", { opaque: undefined, parsed: true }],
  ['SELECT binary_upgrade_set_next_heap_pg_class_oid(1)', { opaque: true, parsed: true }],
  ['SELECT app.inet_server_port()', { opaque: true, parsed: true }],
]);

describe('pgbench built-in scripts classify without the parser', () => {
  const substitutions: ReadonlyArray<readonly [string, (name: string, i: number) => string]> = [
    ['simple protocol (literals)', (_, i) => String(1000 + i)],
    ['prepared protocol ($n)', (_, i) => `$${i + 1}`],
  ];
  for (const [script, statements] of Object.entries(PGBENCH)) {
    for (const [mode, value] of substitutions) {
      it(`${script}, ${mode}`, () => {
        const c = new Classifier(); // no parser: a statement that needed one would count as dropped
        for (const stmt of statements) {
          const vars: string[] = [];
          const sql = stmt.replace(/:(\w+)/g, (_, name: string) => {
            if (!vars.includes(name)) vars.push(name);
            return value(name, vars.indexOf(name));
          });
          const got = c.classify(sql);
          assert.equal(got.parsed, false, sql);
          assert.equal(got.error, undefined, sql);
          const expectRead = /^(select|end)/i.test(sql);
          assert.equal(got.route, expectRead ? 'read' : 'write', sql);
        }
        assert.deepEqual(c.stats, { lexed: statements.length, parsed: 0, cacheHits: 0, queued: 0, dropped: 0 });
      });
    }
  }
  it('a whole script sent as one Query is one multi-statement write', () => {
    const got = new Classifier().classify(PGBENCH['tpcb-like']!.join(';\n').replace(/:\w+/g, '1'));
    assert.equal(got.kind, 'multi');
    assert.equal(got.route, 'write');
    assert.equal(got.parsed, false);
    assert.deepEqual(
      got.statements?.map((s) => s.kind),
      ['begin', 'dml', 'select', 'dml', 'dml', 'dml', 'commit'],
    );
  });
});

describe('function policy', () => {
  it('with no lists, unknown functions are reported until their volatility is learned', async () => {
    const policy = new FunctionPolicy();
    const c = await parsing({ policy });
    check(c, 'SELECT myfunc(1), other.fn(2) FROM t', { ...W, parsed: true, functions: ['myfunc', 'other.fn'] });
    policy.learnVolatility('myfunc', false);
    check(c, 'SELECT myfunc(1), other.fn(2) FROM t', { ...W, parsed: true, functions: ['other.fn'] });
    policy.learnVolatility('other.fn', true);
    check(c, 'SELECT myfunc(1), other.fn(2) FROM t', { ...W, parsed: true, functions: undefined });
    policy.learnVolatility('other.fn', false);
    // Every call now known read-only: the lexer alone decides, no parse, no cache.
    check(c, 'SELECT myfunc(1), other.fn(2) FROM t', { ...R, parsed: false });
    assert.deepEqual(c.stats, { lexed: 1, parsed: 1, cacheHits: 3, queued: 1, dropped: 0 });
  });

  it('a volatility learned more than a minute ago is unknown again: a function replaced by DDL elsewhere is looked up anew', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const policy = new FunctionPolicy();
    policy.learnVolatility('get_balance', false);
    assert.equal(policy.isWrite('get_balance'), false);
    t.mock.timers.tick(60_000);
    assert.equal(policy.isWrite('get_balance'), false);
    t.mock.timers.tick(1);
    assert.equal(policy.isWrite('get_balance'), undefined);
    policy.learnVolatility('get_balance', true);
    assert.equal(policy.isWrite('get_balance'), true);
  });

  it("a name of PostgreSQL's own that the database also defines is a user function's, unless qualified by pg_catalog", async () => {
    const policy = new FunctionPolicy();
    const c = await parsing({ policy });
    assert.equal(c.classify('SELECT upper(17)').opaque, undefined);
    policy.shadowed.add('upper');
    policy.shadowed.add('pg_tenant');
    assert.equal(c.classify('SELECT upper(17)').opaque, true);
    assert.equal(c.classify("SELECT pg_tenant('a')").opaque, true);
    assert.equal(c.classify("SELECT pg_catalog.upper('a')").opaque, undefined);
    policy.learnVolatility('upper', false);
    assert.equal(c.classify('SELECT upper(17)').opaque, undefined, 'no overload is volatile');
  });

  it('a user function known not to write runs no code pgtide must check after it; one that may, or unknown, does', async () => {
    const policy = new FunctionPolicy();
    const c = await parsing({ policy });
    check(c, 'SELECT get_balance(1)', { ...W, parsed: true, opaque: true });
    policy.learnVolatility('get_balance', false);
    check(c, 'SELECT get_balance(1)', { ...R, opaque: undefined });
    check(c, 'SELECT get_balance(1), set_tenant(2)', { ...W, parsed: true, opaque: true });
    policy.learnVolatility('set_tenant', true);
    check(c, 'SELECT get_balance(1), set_tenant(2)', { ...W, parsed: true, opaque: true });
    check(c, 'SELECT get_balance(1); DO $$ BEGIN END $$', { multi: true, opaque: true });
    const listed = await parsing({ policy: new FunctionPolicy({ readOnlyFunctions: ['safe_.*'] }) });
    check(listed, 'SELECT safe_calc(1)', { ...R, opaque: undefined });
    check(listed, 'SELECT other(1)', { ...W, parsed: true, opaque: true });
  });

  it('write_function_list: only matching functions are writes (anchored)', async () => {
    const c = await parsing({ policy: new FunctionPolicy({ writeFunctions: ['my_.*', 'audit'] }) });
    check(c, 'SELECT my_writer(1)', { ...W, parsed: true });
    check(c, 'SELECT audit()', { ...W, parsed: true });
    check(c, 'SELECT my_audit()', { ...W, parsed: true });
    check(c, 'SELECT unlisted(1)', { ...R });
    check(c, 'SELECT xaudit(), auditx()', { ...R });
    check(c, "SELECT nextval('s')", W); // built-in writers stay writes
  });

  it('read_only_function_list: every function not matching it is a write', async () => {
    const c = await parsing({ policy: new FunctionPolicy({ readOnlyFunctions: ['safe_.*'] }) });
    check(c, 'SELECT safe_calc(1)', R);
    check(c, 'SELECT other(1)', { ...W, parsed: true, functions: undefined });
    check(c, 'SELECT count(*), now() FROM t', R);
    check(c, 'SELECT * FROM t AS x(a, b)', R);
  });

  it('write_function_list wins over read_only_function_list', async () => {
    const c = await parsing({ policy: new FunctionPolicy({ writeFunctions: ['w'], readOnlyFunctions: ['r'] }) });
    check(c, 'SELECT r(), other()', R);
    check(c, 'SELECT w()', { ...W, parsed: true });
  });

  it('a schema-qualified name matches a pattern for the bare name or the qualified one', () => {
    const policy = new FunctionPolicy({ writeFunctions: ['app\\.bump', 'touch'] });
    assert.equal(policy.isWrite('app.bump'), true);
    assert.equal(policy.isWrite('other.bump'), false);
    assert.equal(policy.isWrite('x.touch'), true);
  });

  it('isWrite: built-ins, unknowns and learned volatility', () => {
    const policy = new FunctionPolicy();
    assert.equal(policy.isWrite('nextval'), true);
    assert.equal(policy.isWrite('pg_catalog.setval'), true);
    assert.equal(policy.isWrite('pg_advisory_lock'), true);
    assert.equal(policy.isWrite('lower'), false);
    assert.equal(policy.isWrite('pg_catalog.count'), false);
    assert.equal(policy.isWrite('myschema.count'), undefined);
    assert.equal(policy.isWrite('f'), undefined);
    policy.learnVolatility('f', true);
    assert.equal(policy.isWrite('f'), true);
    policy.forgetVolatility();
    assert.equal(policy.isWrite('f'), undefined);
  });

  it('rejects an invalid regular expression with the option name', () => {
    assert.throws(
      () => new FunctionPolicy({ writeFunctions: ['ok', 'bad('] }),
      /write_function_list: invalid regular expression "bad\("/,
    );
  });
});

describe('tier 2 learns, then routes', () => {
  it('a statement first goes to the primary while the parser reads it, then routes by its facts', async () => {
    const policy = new FunctionPolicy();
    const [c, parser] = await heldClassifier({ policy }); // answered when the test says
    check(c, 'SELECT "Rate"(1) FROM t', { ...W, awaitingParser: true, opaque: true });
    assert.deepEqual(parser.held, [['select "Rate" ( 0 ) from t', 'SELECT "Rate"(1) FROM t']]);
    policy.learnVolatility('Rate', false);
    check(c, 'SELECT "Rate"(2) FROM t', { ...W, awaitingParser: true }); // asked once per key
    assert.equal(parser.held.length, 1);
    parser.answerAll(c);
    check(c, 'SELECT "Rate"(3) FROM t', { ...R, parsed: true, awaitingParser: undefined });
    check(c, 'SELECT "Rate"(-4.5)  FROM t -- other constants, other spacing', { ...R, parsed: true });
    assert.deepEqual(c.stats, { lexed: 0, parsed: 1, cacheHits: 2, queued: 1, dropped: 0 });
  });

  it('the names the lexer read are looked up while the parser reads the statement', async () => {
    const [c] = await heldClassifier();
    check(c, 'SELECT app.f(1), "G"(2)', { ...W, awaitingParser: true, functions: ['app.f'] });
  });

  it('a syntax error is a write and is cached', async () => {
    const c = await parsing();
    const got = check(c, 'SELECT f(1) FROM FROM', { ...W, parsed: true });
    assert.match(got.error!, /syntax error/);
    c.classify('SELECT f(2) FROM FROM');
    assert.deepEqual(c.stats, { lexed: 0, parsed: 1, cacheHits: 2, queued: 1, dropped: 0 });
  });

  it('each statement of a Query is learned on its own; the Query waits for all', async () => {
    const [c, parser] = await held();
    const got = c.classify('SELECT "a"(1); SELECT "b"(1)');
    assert.equal(got.awaitingParser, true);
    assert.equal(parser.held.length, 2);
    parser.answerAll(c);
    assert.equal(c.classify('SELECT "a"(2); SELECT "b"(3)').awaitingParser, undefined);
  });

  it('a statement that got no answer (the parser died) is asked again', async () => {
    const [c, parser] = await held();
    c.classify('SELECT "f"(1)');
    const [[key]] = parser.held.splice(0) as [[string, string]];
    c.classify('SELECT "f"(1)');
    assert.equal(parser.held.length, 0); // still in flight
    c.forget(key);
    check(c, 'SELECT "f"(1)', { ...W, parsed: true, functions: ['f'] });
    assert.deepEqual(c.stats, { lexed: 0, parsed: 1, cacheHits: 1, queued: 2, dropped: 0 });
  });

  it('a parser that cannot take requests (down, or none): primary, counted as dropped, asked later', async () => {
    const [c, parser] = await held();
    parser.running = false;
    check(c, 'SELECT "f"(1)', { ...W, awaitingParser: true });
    check(c, 'SELECT "f"(1)', { ...W, awaitingParser: true });
    parser.running = true;
    check(c, 'SELECT "f"(1)', { ...W, parsed: true, functions: ['f'] });
    assert.deepEqual(c.stats, { lexed: 0, parsed: 1, cacheHits: 1, queued: 1, dropped: 2 });
    const none = new Classifier();
    check(none, 'SELECT "f"(1)', { ...W, awaitingParser: true });
    assert.equal(none.stats.dropped, 1);
  });

  it('at most maxQueued statements wait for the parser; more are dropped', async () => {
    const [c, parser] = await held({ maxQueued: 2 });
    for (const name of ['a', 'b', 'c', 'd']) c.classify(`SELECT "${name}"(1)`);
    assert.deepEqual(
      parser.held.map(([key]) => key),
      ['select "a" ( 0 )', 'select "b" ( 0 )'],
    );
    assert.deepEqual(c.stats, { lexed: 0, parsed: 0, cacheHits: 0, queued: 2, dropped: 2 });
    parser.answerAll(c);
    c.classify('SELECT "c"(1)');
    assert.equal(parser.held.length, 1);
  });

  it('keeps at most cacheSize parsed statements', async () => {
    const c = await parsing({ cacheSize: 2 });
    for (const sql of ['SELECT a()', 'SELECT b()', 'SELECT c()', 'SELECT a()']) check(c, sql, { ...W, parsed: true });
    assert.equal(c.stats.parsed, 4);
    c.classify('SELECT c()');
    assert.equal(c.stats.cacheHits, 5);
  });

  it('never parses a statement longer than maxParseLength: primary', async () => {
    const c = await parsing({ maxParseLength: 100 });
    const sql = `SELECT f(${'1 + '.repeat(50)}1)`;
    const got = check(c, sql, { ...W, kind: 'select', parsed: false, awaitingParser: undefined });
    assert.match(got.error!, /longer than 100 bytes/);
    assert.equal(c.stats.queued, 0);
  });

  it('never parses a bulk INSERT, however long', async () => {
    const c = await parsing();
    const rows = Array.from({ length: 5000 }, (_, i) => `(${i}, 'name ${i}', now(), myfunc(${i}))`).join(', ');
    check(c, `INSERT INTO t (a, b, c, d) VALUES ${rows}`, { ...W, kind: 'dml' });
    assert.equal(c.stats.queued, 0);
  });

  it('an over-cap statement is neither parsed nor cached', async () => {
    const c = await parsing({ maxParseLength: 5 });
    check(c, 'SELECT f()', { ...W, parsed: false });
    check(c, 'SELECT f()', { ...W, parsed: false });
    assert.deepEqual(c.stats, { lexed: 0, parsed: 0, cacheHits: 0, queued: 0, dropped: 0 });
  });
});

describe('classifyBytes', () => {
  it('classifies the query text inside a Query message without copying it', () => {
    const sql = "SELECT 'é' FROM t FOR UPDATE";
    const body = Buffer.from(`${sql}\0`, 'utf8');
    const msg = Buffer.concat([Buffer.from([0x51, 0, 0, 0, body.length + 4]), body]);
    const got = classifier.classifyBytes(msg, 5, msg.length - 1);
    assert.deepEqual(got, classifier.classify(sql));
    assert.equal(got.route, 'write');
  });

  it('reads only the given range', () => {
    const buf = Buffer.from('DELETE FROM t; SELECT 1; INSERT INTO t VALUES (1)');
    assert.equal(classifier.classifyBytes(buf, 15, 23).route, 'read');
  });
});

describe('hostile input', () => {
  it('deep nesting neither throws nor recurses without bound', async () => {
    const c = await parsing();
    assert.equal(c.classify(`SELECT ${'('.repeat(100_000)}1${')'.repeat(100_000)}`).route, 'read');
    assert.equal(settled(c, `SELECT f(${'('.repeat(5000)}1${')'.repeat(5000)})`).route, 'write');
    assert.equal(c.stats.parsed, 1);
    assert.equal(c.classify('PREPARE a AS '.repeat(100) + 'SELECT 1').route, 'write');
  });

  it('random bytes always give a classification', async () => {
    const c = await parsing();
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = Buffer.from(`select insert for update into ( ) ; ' " $$ $a$ -- /* */ e' \\ \n . :: , pgtide`);
    for (let n = 0; n < 2000; n++) {
      const len = Math.floor(rand() * 200);
      const buf = Buffer.alloc(len);
      for (let i = 0; i < len; i++)
        buf[i] = rand() < 0.5 ? alphabet[Math.floor(rand() * alphabet.length)]! : Math.floor(rand() * 256);
      const got = c.classifyBytes(buf, 0, len);
      assert.ok(got.route === 'read' || got.route === 'write');
    }
    // Whatever the classifier asked, the parser answers without throwing.
    parsers.get(c)!.answerAll(c);
  });

  it('a classification of a read never hides an unquoted write keyword after a lexical error', () => {
    assert.equal(classifier.classify("SELECT 'x\\'' ; DELETE FROM t; SELECT '").route, 'write');
  });
});
