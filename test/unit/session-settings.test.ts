// A client's settings (proxy/session-settings.ts): startup settings shared by the clients that
// send the same; what statements change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { changesSettings, movesScope, SessionSettings, type SharedSettings } from '../../src/proxy/session-settings.js';
import { Classifier } from '../../src/sql/classifier.js';
import { LruCache } from '../../src/sql/lru.js';

/** The settings of a client whose startup packet held `params` (name, value, name, value…). */
function settingsOf(shared: LruCache<SharedSettings>, ...params: string[]): SessionSettings {
  const map = new Map<string, string>();
  for (let i = 0; i < params.length; i += 2) map.set(params[i]!, params[i + 1]!);
  return new SessionSettings(map, shared);
}

const newCache = () => new LruCache<SharedSettings>(100, 1 << 20);

describe('startup settings', () => {
  it('are shared by clients that send the same parameters, whoever they log in as', () => {
    const shared = newCache();
    const a = settingsOf(shared, 'user', 'a', 'database', 'x', 'application_name', 'app', 'DateStyle', 'ISO');
    const b = settingsOf(shared, 'user', 'b', 'database', 'y', 'application_name', 'app', 'DateStyle', 'ISO');
    assert.equal(a.startup, b.startup);
    assert.deepEqual(
      [...a.startup],
      [
        ['application_name', 'app'],
        ['datestyle', 'ISO'],
      ],
    );
  });

  it('given in another order, or from options, have the same key', () => {
    const shared = newCache();
    const a = settingsOf(shared, 'application_name', 'app', 'search_path', 's');
    const b = settingsOf(shared, 'search_path', 's', 'application_name', 'app');
    const c = settingsOf(shared, 'options', '-c search_path=s -c application_name=app');
    assert.equal(a.key, b.key);
    assert.equal(a.key, c.key);
    assert.notEqual(a.key, settingsOf(shared, 'search_path', 't').key);
  });

  it("take the packet's own parameter over the same one in options, as PostgreSQL does, in either order", () => {
    for (const params of [
      ['client_encoding', 'UTF8', 'options', '-c client_encoding=LATIN1 -c work_mem=200kB'],
      ['options', '-c client_encoding=LATIN1 -c work_mem=200kB', 'client_encoding', 'UTF8'],
    ]) {
      const settings = settingsOf(newCache(), ...params).startup;
      assert.equal(settings.get('client_encoding'), 'UTF8');
      assert.equal(settings.get('work_mem'), '200kB');
    }
  });

  it('with a malformed options value throw at every login, not only the first', () => {
    const shared = newCache();
    assert.throws(() => settingsOf(shared, 'options', '-c'));
    assert.throws(() => settingsOf(shared, 'options', '-c'));
  });
});

describe('statements that move where names resolve', () => {
  const classifier = new Classifier();
  const cases: [string, boolean][] = [
    ['SET search_path = a', true],
    ['SET LOCAL search_path TO a', true],
    ['SET SCHEMA $$a$$', true],
    ['SET ROLE bob', true],
    ['RESET role', true],
    ['SET SESSION AUTHORIZATION bob', true],
    ['RESET ALL', true],
    ['DISCARD ALL', true],
    ["SELECT set_config('search_path', 'a', true)", true],
    ["SELECT set_config('app.tenant', $1, true)", false],
    ["SELECT set_config('app.tenant', '1', true), set_config('search_path', 'a', true)", true],
    ["SELECT set_config($1, 'a', true)", true],
    ['SET app.tenant = 1; SET search_path = a', true],
    ['SET statement_timeout = 5; SELECT 1', false],
    ['SET pgtide.route = primary', false],
    ['SELECT 1', false],
  ];
  for (const [sql, moves] of cases) {
    it(`${sql}: ${moves}`, () => assert.equal(movesScope(classifier.classify(sql)), moves));
  }

  it('custom settings of every set_config call are read back by name', () => {
    const settings = settingsOf(newCache());
    settings.follow(classifier.classify("SELECT set_config('app.a', '1', false), set_config('app.b', '2', false)"));
    assert.deepEqual(settings.takeChanges(), { unknown: false, seen: true, named: null, toStartup: false });
    assert.equal(settings.customNameList, '{"app.a","app.b"}');
  });
});

describe('statements whose settings are read back after their transaction', () => {
  const classifier = new Classifier();
  const cases: [string, boolean][] = [
    ['SET app.tenant = 1', true],
    ['SET LOCAL app.tenant = 1', false],
    ['SET LOCAL statement_timeout = 5', false],
    ["SELECT set_config('app.tenant', $1, true)", false],
    ["SELECT set_config('search_path', $1, true), set_config('request.jwt.claims', $2, true)", false],
    ["SELECT set_config('app.tenant', $1, false)", true],
    ["SELECT set_config('app.a', '1', true), set_config('app.b', '2', false)", true],
    ["SELECT set_config('app.tenant', upper($1), true)", true],
    ["SELECT set_config($1, 'a', true)", true],
    ["SELECT pg_advisory_xact_lock(1), set_config('app.a', '1', true), set_config('app.b', '2', false)", true],
    ['RESET app.tenant', true],
    ['SELECT 1', false],
  ];
  for (const [sql, changes] of cases) {
    it(`${sql}: ${changes}`, () => assert.equal(changesSettings(classifier.classify(sql)), changes));
  }

  it('a local custom setting is followed from its first use: its placeholder outlasts the transaction', () => {
    const settings = settingsOf(newCache());
    const local = classifier.classify("SELECT set_config('search_path', $1, true), set_config('app.tenant', $2, true)");
    assert.equal(settings.newPlaceholder(local), true);
    settings.follow(local);
    assert.equal(settings.newPlaceholder(local), false);
    assert.equal(settings.newPlaceholder(classifier.classify('SET LOCAL app.tenant = 2')), false);
    assert.equal(settings.newPlaceholder(classifier.classify('BEGIN; SET LOCAL app.other = 2; COMMIT')), true);
    assert.equal(settings.newPlaceholder(classifier.classify('SET LOCAL statement_timeout = 1')), false);
    assert.equal(settings.newPlaceholder(classifier.classify('SET pgtide.route = primary')), false);
    assert.equal(settings.customNameList, '{"app.tenant"}');
  });

  it('a set_config whose name is not written out is read back as unknown, also after a lock took its place as the session state', () => {
    const settings = settingsOf(newCache());
    settings.follow(classifier.classify("SELECT pg_advisory_lock(1), set_config($1, 'v', false)"));
    assert.equal(settings.takeChanges().unknown, true);
    assert.deepEqual(settings.takeChanges(), { unknown: false, seen: false, named: null, toStartup: false });
  });

  it('code pgtide cannot see into is an unknown change no statement was seen to make', () => {
    const settings = settingsOf(newCache());
    settings.followUnseen();
    assert.deepEqual(settings.takeChanges(), { unknown: true, seen: false, named: null, toStartup: false });
  });

  it('plain SETs alone are read back by name; any other change of the same transaction reads them all', () => {
    const named = (...sqls: string[]) => {
      const settings = settingsOf(newCache());
      for (const sql of sqls) settings.follow(classifier.classify(sql));
      return settings.takeChanges().named;
    };
    const cases: [string[], string | null][] = [
      [['SET search_path TO tenant_1'], '{"search_path"}'],
      [["SET app.tenant = '7'", 'SET search_path = a, b', "SET app.tenant = '8'"], '{"app.tenant","search_path"}'],
      [["SET TIME ZONE 'UTC'; SET NAMES 'LATIN1'"], '{"timezone","client_encoding"}'],
      [['SET "Work_Mem" = 1024'], '{"work_mem"}'],
      [['SET search_path TO a', 'RESET work_mem'], null],
      [['SET search_path TO DEFAULT'], null],
      [['SET search_path TO a', 'SET LOCAL app.tenant = 1'], null],
      [['SET search_path TO a', "SELECT set_config('work_mem', '1MB', false)"], null],
      [['SET ROLE bob'], null],
      [['SET SESSION AUTHORIZATION bob'], null],
      [['SET search_path TO a', 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY'], null],
      [['SET transaction_isolation = serializable'], null],
      [['RESET ALL'], null],
      [['DISCARD ALL'], null],
      [['SET sort_mem = 1024'], null],
      [['SET vacuum_mem = 1024'], null],
    ];
    for (const [sqls, expected] of cases) assert.equal(named(...sqls), expected, sqls.join('; '));
    const settings = settingsOf(newCache());
    settings.follow(classifier.classify('SET search_path TO a'));
    settings.followUnseen();
    assert.equal(settings.takeChanges().named, null, 'code pgtide cannot see into ran as well');
    settings.follow(classifier.classify('SET search_path TO a'));
    assert.equal(settings.takeChanges().named, '{"search_path"}', 'forgotten once taken');
    settings.refused();
    settings.follow(classifier.classify('SET search_path TO a'));
    assert.equal(settings.takeChanges().named, '{"search_path"}', 'an error before the SET changes nothing');
    settings.follow(classifier.classify('SET session_replication_role = replica'));
    settings.refused();
    assert.equal(settings.takeChanges().named, null, 'an error after it: perhaps the SET was refused');
  });

  it('a simple Query that resets the whole session, its transaction to itself, needs no read', () => {
    const npgsql =
      'SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;SELECT pg_advisory_unlock_all();DISCARD SEQUENCES;DISCARD TEMP';
    /** takeChanges().toStartup after `sqls`, each followed as its simple Query, the last a Query beginning its transaction. */
    const toStartup = (sqls: string[], startup: string[] = []) => {
      const settings = settingsOf(newCache(), ...startup);
      for (const sql of sqls) {
        const c = classifier.classify(sql);
        if (changesSettings(c)) settings.follow(c);
      }
      settings.followQuery(classifier.classify(sqls.at(-1)!));
      return settings.takeChanges().toStartup;
    };
    const cases: [string[], boolean][] = [
      [['DISCARD ALL'], true],
      [[npgsql], true],
      [['SET SESSION AUTHORIZATION DEFAULT; RESET ALL'], true],
      [['RESET SESSION AUTHORIZATION; SELECT 1; RESET ALL'], true],
      [['RESET ALL'], true],
      [["SET work_mem = '1MB'", 'DISCARD ALL'], true],
      [["SET work_mem = '1MB'; DISCARD ALL"], true],
      [["DISCARD ALL; SET work_mem = '1MB'"], false],
      [['RESET ALL; SET ROLE bob'], false],
      [['SET ROLE bob; RESET ALL'], false],
      [['SET SESSION AUTHORIZATION DEFAULT'], false],
      [['BEGIN; RESET ALL; ROLLBACK'], false],
      [['RESET ALL; COMMIT'], false],
      [['RESET work_mem'], false],
      [['DISCARD TEMP'], false],
    ];
    for (const [sqls, expected] of cases) assert.equal(toStartup(sqls), expected, sqls.join(' / '));
    const withRole = settingsOf(newCache());
    withRole.learn([[Buffer.from('role').toString('hex'), Buffer.from('bob').toString('hex')]]);
    withRole.followQuery(classifier.classify('RESET ALL'));
    assert.equal(withRole.takeChanges().toStartup, false, 'RESET ALL leaves the role a SET ROLE made');
    const unseen = settingsOf(newCache());
    unseen.followUnseen();
    unseen.followQuery(classifier.classify('DISCARD ALL'));
    assert.equal(unseen.takeChanges().toStartup, false, 'code pgtide cannot see into ran too');
    const failed = settingsOf(newCache());
    failed.followQuery(classifier.classify('DISCARD ALL'));
    failed.refused();
    assert.equal(failed.takeChanges().toStartup, false, 'refused: it changed nothing');
    const later = settingsOf(newCache());
    later.followQuery(classifier.classify('DISCARD ALL'));
    later.follow(classifier.classify('SET search_path TO a'));
    assert.equal(later.takeChanges().toStartup, false, 'a SET of a later Query of its transaction');
  });

  it("what plain SETs left, read by name, replaces those settings' values and leaves the others", () => {
    const settings = settingsOf(newCache(), 'application_name', 'app', 'options', '-c work_mem=2MB');
    const hex = (text: string) => Buffer.from(text).toString('hex');
    settings.learnNamed([
      [hex('search_path'), hex('tenant_1, public')],
      [hex('app.tenant'), hex('ü')],
      [hex('work_mem'), hex('4MB')],
    ]);
    assert.deepEqual([...settings.values].sort(), [
      ['app.tenant', 'ü'],
      ['application_name', 'app'],
      ['search_path', 'tenant_1, public'],
      ['work_mem', '4MB'],
    ]);
    settings.learnNamed([[hex('app.tenant'), null]]);
    assert.equal(settings.values.has('app.tenant'), false, 'a name that no longer exists is gone');
  });

  it('custom names are quoted as array elements', () => {
    const settings = settingsOf(newCache());
    settings.follow(classifier.classify('SET "a\\b"."c""d" = 1'));
    assert.equal(settings.customNameList, '{"a\\\\b.c\\"d"}');
  });
});
