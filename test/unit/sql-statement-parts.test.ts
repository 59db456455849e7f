// Each part of tier 1 driven on its own, from the token the dispatch in statement.ts hands it:
// queries (query-scan.ts), transaction control (transaction-statement.ts), settings
// (set-statement.ts) and the shared token walks (statement-draft.ts). sql-classifier.test.ts
// covers them through the whole classifier.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lexer, Tok } from '../../src/sql/lexer.js';
import { Draft, lastName, skipParens, write } from '../../src/sql/statement-draft.js';
import { scanQuery } from '../../src/sql/query-scan.js';
import {
  endTransaction,
  endsFailedBlockText,
  runsInFailedBlock,
  transactionModes,
} from '../../src/sql/transaction-statement.js';
import { discard, reset, set } from '../../src/sql/set-statement.js';

/** Lexes `sql` up to its first token and runs `part` on it; returns the draft and the token it stopped at. */
function run(sql: string, part: (lx: Lexer, d: Draft, first: Tok) => Tok): { d: Draft; end: Tok; rest: string } {
  const buf = Buffer.from(sql);
  const lx = new Lexer();
  lx.reset(buf, 0, buf.length);
  const d = new Draft();
  const end = part(lx, d, lx.next());
  return { d, end, rest: buf.subarray(lx.tokStart).toString() };
}

describe('query-scan: SELECT and friends', () => {
  const query = (sql: string) => run(sql, (lx, d) => scanQuery(lx, d, lx.next(), 0, 'select')).d;

  it('a plain query is a read, ending at its semicolon', () => {
    const { d, end, rest } = run('select a from t; delete from t', (lx, d) => scanQuery(lx, d, lx.next(), 0, 'select'));
    assert.equal(d.route, 'read');
    assert.equal(end, Tok.Semicolon);
    assert.equal(rest, '; delete from t');
  });

  it('locking clauses, INTO and data-modifying CTEs make it a write', () => {
    assert.equal(query('select * from t for update').route, 'write');
    assert.equal(query('select * from t for no key update').route, 'write');
    assert.equal(query('select * into t2 from t').route, 'write');
    const cte = query('with x as (delete from t returning *) select * from x');
    assert.equal(cte.route, 'write');
    assert.equal(cte.kind, 'dml');
    assert.equal(query('select * into temp t2 from t').sessionState, 'temp_table');
  });

  it('hands on calls the policy does not know, and takes set_config apart', () => {
    const unknown = query('select my_func(1), count(*)');
    assert.deepEqual(unknown.calls, ['my_func']);
    assert.deepEqual(unknown.userCalls, ['my_func'], 'a user function runs code tier 1 cannot see');
    const catalog = query('select pg_some_new_function()');
    assert.deepEqual(catalog.calls, ['pg_some_new_function']);
    assert.equal(catalog.userCalls, undefined, "PostgreSQL's own functions set nothing");
    const quoted = query('select "My".f(1)');
    assert.equal(quoted.uncertainCalls, true);
    const setConfig = query("select set_config('search_path', 'app', false)");
    assert.equal(setConfig.route, 'write');
    assert.equal(setConfig.sessionState, 'set_config');
    assert.deepEqual(setConfig.set, { name: 'search_path', value: "'app'", local: false });
  });

  it('words before a parenthesis that are no call (casts, aliases, IN) are not taken for one', () => {
    const d = query('select x::numeric(10, 2), cast(y as varchar(3)) from t as a(b) where z in (1)');
    assert.equal(d.calls, undefined);
    assert.equal(d.route, 'read');
  });
});

describe('transaction-statement: BEGIN modes, COMMIT and ROLLBACK', () => {
  const begin = (modes: string) =>
    run(`begin ${modes}`, (lx, d) => {
      d.kind = 'begin';
      return transactionModes(lx, d, lx.next(), 0);
    }).d;

  it('only a READ ONLY transaction below SERIALIZABLE may start on a standby', () => {
    assert.equal(begin('').route, 'write');
    assert.equal(begin('read only').route, 'read');
    assert.equal(begin('isolation level repeatable read, read only').isolation, 'repeatable read');
    assert.equal(begin('isolation level serializable read only').route, 'write');
    assert.equal(begin('read write').readOnly, false);
  });

  it('COMMIT AND CHAIN, ROLLBACK TO a savepoint, and two-phase COMMIT PREPARED', () => {
    const commit = (sql: string) => run(sql, (lx, d) => endTransaction(lx, d, 0, 'commit')).d;
    const rollback = (sql: string) => run(sql, (lx, d) => endTransaction(lx, d, 0, 'rollback')).d;
    assert.equal(commit('commit and chain').chain, true);
    assert.equal(commit('commit and no chain').chain, false);
    assert.equal(commit('commit').route, 'read');
    const toSavepoint = rollback('rollback to savepoint s1');
    assert.equal(toSavepoint.kind, 'savepoint');
    assert.equal(toSavepoint.name, 's1');
    const prepared = commit("commit prepared 'gid'");
    assert.equal(prepared.kind, 'two_phase');
    assert.equal(prepared.route, 'write');
  });
});

describe('set-statement: SET, RESET, DISCARD', () => {
  const setOf = (sql: string) => run(sql, (lx, d) => set(lx, d, 0)).d;

  it('SET with its SQL spellings names the setting PostgreSQL knows', () => {
    assert.deepEqual(setOf("set time zone 'UTC'").set, { name: 'timezone', value: "'UTC'", local: false });
    assert.deepEqual(setOf('set time zone local').set, { name: 'timezone', value: null, local: false });
    assert.deepEqual(setOf('set local search_path = a, b').set, { name: 'search_path', value: 'a, b', local: true });
    assert.deepEqual(setOf('set role none').set, { name: 'role', value: null, local: false });
    assert.deepEqual(setOf('set session authorization default').set, {
      name: 'session_authorization',
      value: null,
      local: false,
    });
    assert.deepEqual(setOf('set myapp.tenant to 7').set, { name: 'myapp.tenant', value: '7', local: false });
  });

  it('SET TRANSACTION and SET SESSION CHARACTERISTICS are transaction modes', () => {
    assert.equal(setOf('set transaction read only').kind, 'set_transaction');
    const characteristics = setOf('set session characteristics as transaction read only');
    assert.equal(characteristics.sessionState, 'transaction_characteristics');
    assert.equal(characteristics.readOnly, true);
  });

  it("pgtide.route is pgtide's own command; a SET without a value is not understood", () => {
    const route = setOf('set pgtide.route = standby');
    assert.equal(route.kind, 'pgtide');
    assert.equal(route.pgtideRoute, 'standby');
    const incomplete = setOf('set search_path');
    assert.equal(incomplete.kind, 'other');
    assert.equal(incomplete.route, 'write');
  });

  it('RESET one setting or ALL; DISCARD what it names, anything else is not understood', () => {
    assert.deepEqual(run('reset work_mem', (lx, d) => reset(lx, d, 0)).d.set, {
      name: 'work_mem',
      value: null,
      local: false,
    });
    assert.equal(run('reset all', (lx, d) => reset(lx, d, 0)).d.all, true);
    assert.equal(run('reset pgtide.route', (lx, d) => reset(lx, d, 0)).d.pgtideRoute, 'auto');
    assert.equal(run('discard temporary', (lx, d) => discard(lx, d, 0)).d.discard, 'temp');
    assert.equal(run('discard all', (lx, d) => discard(lx, d, 0)).d.all, true);
    assert.equal(run('discard everything', (lx, d) => discard(lx, d, 0)).d.route, 'write');
  });
});

describe('statement-draft: the shared token walks', () => {
  it('skips a parenthesised list, and calls one cut by the statement end unbalanced', () => {
    const { d, rest } = run('(a, (b)) next', (lx, d, first) => {
      assert.equal(first, Tok.LParen);
      return skipParens(lx, d);
    });
    assert.equal(rest, 'next');
    assert.equal(d.invalid, undefined);
    assert.equal(run('(a, b; x', (lx, d) => skipParens(lx, d)).d.invalid, 'unbalanced parentheses');
  });

  it('takes the last name before the end, and a write ends at the statement end', () => {
    assert.equal(run('close all_done "Cur"', (lx, d, first) => lastName(lx, first, 0, d)).d.name, 'Cur');
    const { d, end } = run('vacuum t; select 1', (lx, d) => write(lx, d, 'utility', 0));
    assert.equal(d.kind, 'utility');
    assert.equal(d.route, 'write');
    assert.equal(end, Tok.Semicolon);
  });
});

describe('lexer: names of words', () => {
  /** The names one lexer gives, in order, for the words of `sql`. */
  function names(lx: Lexer, sql: string): string[] {
    const buf = Buffer.from(sql);
    lx.reset(buf, 0, buf.length);
    const out: string[] = [];
    for (let tok = lx.next(); tok !== Tok.End; tok = lx.next()) {
      if (tok === Tok.Word || tok === Tok.QuotedIdent) out.push(lx.name());
    }
    return out;
  }

  it('a word met again in another case, or beside a longer one, keeps its own name', () => {
    const lx = new Lexer();
    assert.deepEqual(names(lx, 'SELECT Sel select selects "SELECT"'), ['select', 'sel', 'select', 'selects', 'SELECT']);
    assert.deepEqual(names(lx, 'SeLeCt sel SELECTS'), ['select', 'sel', 'selects']);
  });

  it('non-ASCII and very long words, decoded each time, are folded as PostgreSQL folds them in UTF-8: ASCII letters only', () => {
    const lx = new Lexer();
    const long = `A${'b'.repeat(40)}`;
    // PostgreSQL 18 in UTF-8: PREPARE ÉTÉ … names ÉtÉ in pg_prepared_statements.
    assert.deepEqual(names(lx, `ÉTÉ été ${long} ${long}`), ['ÉtÉ', 'été', long.toLowerCase(), long.toLowerCase()]);
  });

  it('two words whose cache keys collide each get their own name', () => {
    // The cache key is a hash of the word's lower-cased bytes: find two 3-letter words sharing one.
    const lx = new Lexer();
    const seen = new Map<number, string>();
    const letters = 'abcdefghijklmnopqrstuvwxyz_0123456789';
    let pair: [string, string] | undefined;
    for (const a of letters.slice(0, 27)) {
      for (const b of letters) {
        for (const c of letters) {
          const w = a + b + c;
          let h = 3;
          for (const ch of w) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
          const other = seen.get(h);
          if (other !== undefined) pair ??= [other, w];
          seen.set(h, w);
        }
      }
    }
    assert.ok(pair, 'no colliding pair found');
    const [x, y] = pair;
    assert.deepEqual(names(lx, `${x} ${y} ${x.toUpperCase()} ${y}`), [x, y, x, y]);
  });
});

describe('transaction-statement: what still runs in a failed transaction block', () => {
  const exits = (sql: string) => {
    const buf = Buffer.from(sql);
    return runsInFailedBlock(buf, 0, buf.length);
  };
  const ends = (sql: string) => {
    const buf = Buffer.from(sql);
    return endsFailedBlockText(buf, 0, buf.length);
  };
  const empty = ['', ' ; ;', '/* nothing */', ' -- only a comment\n'];

  it('an empty text is taken, and its portal leaves the block failed', () => {
    for (const sql of empty) {
      assert.equal(exits(sql), true, sql);
      assert.equal(ends(sql), false, sql);
    }
  });

  it('COMMIT, ROLLBACK, their synonyms, ROLLBACK TO and PREPARE TRANSACTION end it', () => {
    for (const sql of [
      'COMMIT',
      'commit and chain',
      'END',
      'ROLLBACK',
      'abort',
      'ROLLBACK TO SAVEPOINT sp',
      'rollback to sp',
      "PREPARE TRANSACTION 'x'",
      '/* pgtide: primary */ ROLLBACK',
      ' -- why\n  COMMIT; SELECT 1',
    ]) {
      assert.equal(exits(sql), true, sql);
      assert.equal(ends(sql), true, sql);
    }
  });

  it('anything else, COMMIT PREPARED and ROLLBACK PREPARED included, is refused', () => {
    for (const sql of [
      'SELECT 1; ROLLBACK',
      'DEALLOCATE s1',
      'DISCARD ALL',
      "COMMIT PREPARED 'x'",
      "ROLLBACK PREPARED 'x'",
      'PREPARE q AS SELECT 1',
      'BEGIN',
      'SAVEPOINT sp',
      'RELEASE sp',
      '"commit"',
    ]) {
      assert.equal(exits(sql), false, sql);
      assert.equal(ends(sql), false, sql);
    }
  });
});
