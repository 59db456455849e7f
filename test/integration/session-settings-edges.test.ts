// Edge cases of session-settings tracking in transaction pooling found in review: each test
// states what PostgreSQL does on a dedicated connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import {
  WireClient,
  bind,
  dataRows,
  errorCodes,
  execute,
  normalise,
  parse,
  query,
  sync,
  type Message,
  useWirePgtide,
  withStaleableTable,
} from '../support/pipeline.js';

const t = currentTopology();

/** One server connection: every client's transaction runs on it, in the order the test says. */
describe('review: session settings, pool size 1', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });
  const connect = wire.connect;
  const oneValue = async (c: WireClient, sql: string) => {
    const got = await c.exchange(query(sql));
    assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
    return dataRows(got)[0]![0];
  };

  test('a custom setting (SET rs.app = …) is carried: another client does not see it', async () => {
    // The documented promise ("any custom app.setting"); the usual row-level-security tenant pattern.
    const a = await connect();
    assert.deepEqual(errorCodes(await a.exchange(query(`SET rs.app = 'tenant_a'`))), []);
    const b = await connect();
    assert.notEqual(
      await oneValue(b, "SELECT pg_catalog.current_setting('rs.app', true)"),
      'tenant_a',
      "client b sees client a's custom setting",
    );
  });

  test('set_config run again through a named statement (Bind/Execute only) is read back, not seen by another client', async () => {
    // Drivers prepare such a statement once, then only bind new values.
    const a = await connect();
    const setName = (value: string) => [bind('', 'rs_set_app', [value]), execute(), sync()];
    assert.deepEqual(
      errorCodes(
        await a.exchange(
          parse('rs_set_app', "SELECT pg_catalog.set_config('application_name', $1, false)"),
          ...setName('rs_one'),
        ),
      ),
      [],
    );
    assert.deepEqual(errorCodes(await a.exchange(...setName('rs_two'))), []);
    // A client whose own application_name is what pgtide believes the server has.
    const b = await connect({ application_name: 'rs_one' });
    assert.equal(await oneValue(b, 'SHOW application_name'), 'rs_one', "client b sees client a's application_name");
    assert.equal(await oneValue(a, 'SHOW application_name'), 'rs_two');
  });

  test('set_config(…, true) before set_config(…, false) in one statement: the session-level one is read back', async () => {
    const a = await connect();
    const got = await a.exchange(
      query(`SELECT set_config('statement_timeout', '1000', true), set_config('application_name', 'rs_kept', false)`),
    );
    assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
    // A client with no settings of its own, on the same server connection.
    const b = await connect();
    assert.notEqual(await oneValue(b, 'SHOW application_name'), 'rs_kept', "client b sees client a's application_name");
  });

  test('the next message, cut across two reads while the settings are read back, is framed once', async () => {
    // A helper's raw client: 3 of 4 such messages got 08P01 (the client's own bytes read as a
    // length) or no answer at all, wedging the server; a large query TCP delivers in pieces did
    // the same now and then. Sent as the rest of a SET's transaction ends, each cut point.
    const a = await connect();
    for (const cut of [1, 3, 5, 6, 10]) {
      const setting = `${cut}MB`;
      assert.deepEqual(errorCodes(await a.exchange(query(`BEGIN; SET work_mem = '${setting}'`))), []);
      assert.deepEqual(errorCodes(await a.exchange(query('COMMIT'))), []);
      const show = query('SHOW work_mem');
      a.send(show.subarray(0, cut));
      await new Promise((resolve) => setTimeout(resolve, 30));
      a.send(show.subarray(cut));
      const got = await a.untilReady(1, 5000);
      assert.deepEqual(dataRows(got), [[setting]], `cut at ${cut}: ${normalise(got).join(' | ')}`);
    }
  });

  test('a stale-plan retry in a batch that also SETs is answered (the client is not left waiting)', async () => {
    await withStaleableTable(t.primary, 'rs_stale', async (changeType) => {
      const a = await connect();
      assert.deepEqual(
        errorCodes(await a.exchange(parse('rs_st', 'SELECT v FROM rs_stale'), bind('', 'rs_st'), execute(), sync())),
        [],
      );
      await changeType();
      // Without the SET pgtide prepares the statement afresh and runs the batch again (see
      // prepared-statements-edges.test.ts); the SET only makes pgtide read settings back.
      a.send(
        bind('', 'rs_st'),
        execute(),
        parse('', "SET application_name = 'rs_after_stale'"),
        bind('', ''),
        execute(),
        sync(),
      );
      const got = await a.untilReady(1, 5000);
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.deepEqual(dataRows(got), [['new-7']]);
    });
  });

  test('ParameterStatus at login says what SHOW says for startup DateStyle and client_encoding', async () => {
    const startup = { DateStyle: 'iso', client_encoding: 'utf8' };
    const direct = await connect(startup, { ...wire.login(), host: t.primary.host, port: t.primary.port });
    const pooled = await connect(startup);
    for (const name of ['DateStyle', 'client_encoding']) {
      const shown = await oneValue(pooled, `SHOW ${name}`);
      assert.equal(direct.parameters.get(name), shown, `PostgreSQL reports ${name} as SHOW shows it`);
      assert.equal(
        pooled.parameters.get(name),
        shown,
        `pgtide reported ${name} = ${pooled.parameters.get(name)}, SHOW says ${shown}`,
      );
    }
  });

  test("a startup setting the server rejects ends the session with the server's error: at login, as on PostgreSQL, or at the first statement with no server idle", async () => {
    const bad = { DateStyle: 'no such style' };
    const refused = /login failed: .*22023/;
    await assert.rejects(connect(bad, { ...wire.login(), host: t.primary.host, port: t.primary.port }), refused);
    // The pool's one server is idle: the login tries the setting there.
    assert.equal(await oneValue(await connect(), 'SELECT 1'), '1');
    await assert.rejects(connect(bad), refused);
    // A client holds it: the login does not wait, its first statement gets the refusal.
    const holder = await connect();
    assert.deepEqual(errorCodes(await holder.exchange(query('BEGIN'), query('SELECT 1'))), []);
    const c = await connect(bad);
    c.send(query('SELECT 1'));
    assert.deepEqual(errorCodes(await holder.exchange(query('COMMIT'))), []);
    const answer = await c.next(Date.now() + 5000);
    assert.deepEqual(errorCodes([answer]), ['22023']);
  });

  test("a startup setting restored under client_encoding SJIS cannot run SQL of the client's choice", async () => {
    // U+0441 is D1 81 in UTF-8; in SJIS 81 5C is one character, so it swallows the backslash
    // that escapes the next quote, and the rest of the value is read as SQL.
    const value = "\u0441', false), pg_catalog.set_config($$application_name$$, $$rs_injected$$, false) --";
    const a = await connect({ client_encoding: 'SJIS', 'rs.x': value });
    assert.equal(await oneValue(a, 'SELECT 1'), '1');
    // PostgreSQL restores the startup value; pgtide does it with its own query.
    assert.deepEqual(errorCodes(await a.exchange(query('RESET rs.x'))), []);
    const b = await connect();
    assert.notEqual(
      await oneValue(b, 'SHOW application_name'),
      'rs_injected',
      'SQL inside a setting value ran, and its effect reached another client',
    );
  });
});

describe('review: server_reset_query = RESET ALL, pool size 1', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  const role = 'rs_role';

  before(async () => {
    p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1, server_reset_query: 'RESET ALL' });
    await sqlOn(t.primary, `DROP ROLE IF EXISTS ${role}`);
    await sqlOn(t.primary, `CREATE ROLE ${role} NOLOGIN; GRANT ${role} TO ${t.scramUser.user}`);
  });
  after(async () => {
    await p.stop();
    await sqlOn(t.primary, `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  });

  const currentUserOfNextClient = async () => {
    const b = new pg.Client(p.pgConfig());
    await b.connect();
    try {
      return (await b.query('SELECT current_user AS u')).rows[0].u as string;
    } finally {
      await b.end();
    }
  };

  test('SET ROLE of a client that left mid-transaction does not reach the next client', async () => {
    const a = new pg.Client(p.pgConfig());
    await a.connect();
    await a.query(`SET ROLE ${role}`);
    await a.query('BEGIN');
    await a.query(`SET work_mem = '2MB'`);
    await a.end(); // leaves inside the transaction: pgtide rolls back and runs server_reset_query
    assert.equal(await currentUserOfNextClient(), t.scramUser.user);
  });

  test('the temporary table of a pinned client that left does not reach the next client', async () => {
    const a = new pg.Client(p.pgConfig());
    await a.connect();
    await a.query('CREATE TEMP TABLE rs_pinned_tmp (v int)');
    // Let the pin probe finish, so that the client leaves while linked (not mid-probe).
    await new Promise((resolve) => setTimeout(resolve, 200));
    await a.end();
    const b = new pg.Client(p.pgConfig());
    await b.connect();
    try {
      const found = (await b.query(`SELECT pg_catalog.to_regclass('pg_temp.rs_pinned_tmp') AS r`)).rows[0].r;
      assert.equal(found, null, 'the next client sees the temporary table of a client that left');
    } finally {
      await b.end();
    }
  });
});

describe('review: reads on standbys', { timeout: 60_000 }, () => {
  let p: RunningPgtide;

  before(async () => {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS rs_written; CREATE TABLE rs_written (v int); GRANT ALL ON rs_written TO PUBLIC;
      CREATE OR REPLACE FUNCTION rs_writer() RETURNS int LANGUAGE sql AS 'INSERT INTO rs_written VALUES (1) RETURNING v'`,
    );
    for (const standby of t.standbys) {
      for (
        let i = 0;
        (await sqlOn(standby, `SELECT 1 FROM pg_catalog.pg_proc WHERE proname = 'rs_writer'`)).length === 0;
        i++
      ) {
        if (i > 100) throw new Error(`rs_writer never reached ${standby.name}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // The operator wrongly lists a writing function as read-only: the documented 25006 retry case.
    p = await startPgtide(t, {
      pool_mode: 'transaction',
      default_pool_size: 2,
      backends: clusterBackends(t, [0, 1, 1]),
      read_only_function_list: ['rs_writer'],
    });
  });
  after(async () => {
    await p?.stop();
    await sqlOn(t.primary, 'DROP FUNCTION IF EXISTS rs_writer(); DROP TABLE IF EXISTS rs_written');
  });

  test('a statement a standby refuses with 25006 is run again on the primary even when the same query SETs', async () => {
    const c = await WireClient.connect(p.wireLogin());
    try {
      // Alone, the refused statement is retried on the primary: the client sees only its row.
      const alone = await c.exchange(query('SELECT rs_writer() AS v'));
      assert.deepEqual(errorCodes(alone), [], normalise(alone).join(' | '));
      c.send(query(`SELECT rs_writer() AS v; SET application_name = 'rs_after_refusal'`));
      const got = await c.untilReady(1, 5000);
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.deepEqual(dataRows(got), [['1']]);
    } finally {
      await c.close();
    }
  });

  test('SET default_transaction_isolation = serializable: the client keeps working (standbys refuse serializable)', async () => {
    const c = await WireClient.connect(p.wireLogin());
    try {
      const set = await c.exchange(query(`SET default_transaction_isolation = 'serializable'`));
      assert.deepEqual(errorCodes(set), [], normalise(set).join(' | '));
      // On a direct connection to the primary this simply works.
      c.send(query('SELECT 1 AS one'));
      const got: Message[] = [];
      const deadline = Date.now() + 5000;
      for (
        let m = await c.next(deadline).catch(() => null);
        m;
        m = m.type === 'Z' ? null : await c.next(deadline).catch(() => null)
      )
        got.push(m);
      assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
      assert.deepEqual(dataRows(got), [['1']]);
    } finally {
      await c.close();
    }
  });
});

/** Found by PostgreSQL's regression suite (guc.sql) run through pgtide: one server connection, superusers (LOAD). */
describe('custom settings a server dropped or keeps as placeholders, pool size 1', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1, admin_users: [t.superuser.user] });
  const connect = () =>
    wire.connect(undefined, { ...wire.login(), user: t.superuser.user, password: t.superuser.password });
  const rows = async (c: WireClient, sql: string) => {
    const got = await c.exchange(query(sql));
    assert.deepEqual(errorCodes(got), [], normalise(got).join(' | '));
    return dataRows(got);
  };

  /** The pool's server is replaced: the placeholders the old one held are gone with it (DISCARD
   *  ALL keeps them; RECONNECT gives the pool a new server connection). */
  const newServer = async () => {
    const admin = await WireClient.connect({
      ...wire.login(),
      user: t.superuser.user,
      password: t.superuser.password,
      database: 'pgbouncer',
    });
    try {
      assert.deepEqual(errorCodes(await admin.exchange(query('RECONNECT'))), []);
    } finally {
      await admin.close();
    }
  };

  test("another client's placeholder that a LOAD removed (its prefix now reserved) does not end the next client's session", async () => {
    const a = await connect();
    // A placeholder while plpgsql is not loaded in the server's session (a fresh one: the test's own pgtide).
    await rows(a, 'SET plpgsql.rs_no_such_setting = true');
    // PostgreSQL warns and drops the name: "plpgsql" is now a reserved prefix.
    await rows(a, "LOAD 'plpgsql'");
    const b = await connect();
    // pgtide took the server to hold a's setting: its RESET there failed, and b got FATAL 22023.
    assert.deepEqual(await rows(b, 'SELECT 1'), [['1']]);
    assert.deepEqual(await rows(b, 'SELECT 2'), [['2']]);
  });

  test('a custom setting set then reset reads as its placeholder does, on any server: SHOW finds it, current_setting is not NULL', async () => {
    const a = await connect();
    await rows(a, "SET rs.reset_me = 'x'");
    await rows(a, 'RESET rs.reset_me');
    await newServer();
    // Directly: '' from both (42704 "unrecognized configuration parameter" from SHOW, NULL from current_setting, without).
    assert.deepEqual(await rows(a, "SELECT pg_catalog.current_setting('rs.reset_me', true)"), [['']]);
    assert.deepEqual(await rows(a, 'SHOW rs.reset_me'), [['']]);
  });

  test('a custom setting only ever set LOCAL reads as its placeholder does, on any server', async () => {
    const a = await connect();
    for (const sql of ['BEGIN', "SET LOCAL rs.local_only = 'x'", 'COMMIT']) await rows(a, sql);
    await rows(a, "SELECT pg_catalog.set_config('rs.local_call', 'y', true)");
    await newServer();
    for (const name of ['rs.local_only', 'rs.local_call']) {
      assert.deepEqual(await rows(a, `SELECT pg_catalog.current_setting('${name}', true)`), [['']]);
      assert.deepEqual(await rows(a, `SHOW ${name}`), [['']]);
    }
  });
});
