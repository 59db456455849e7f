// Code pgtide cannot see into (user functions, DO blocks) may set settings or leave session
// state on its server connection: in transaction pooling that must follow its client and
// never reach another one (unless trust_functions says no function does such things).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide, type RunningPgtide } from '../support/pgtide.js';
import { int32, rawConnect, startupPacket } from '../support/raw-client.js';
import type { Config } from '../../src/config/types.js';

const t = currentTopology();

/** FunctionCall of set_config(text, text, boolean) (oid 2078) with text arguments. */
function setConfigCall(name: string, value: string): Buffer {
  const int16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const args = [name, value, 'false'].map((a) => Buffer.concat([int32(Buffer.byteLength(a)), Buffer.from(a)]));
  const body = Buffer.concat([int32(2078), int16(0), int16(args.length), ...args, int16(0)]);
  return Buffer.concat([Buffer.from('F'), int32(body.length + 4), body]);
}

const FUNCTIONS = `
CREATE OR REPLACE FUNCTION opaque_set_path() RETURNS text LANGUAGE sql
  AS $$ SELECT pg_catalog.set_config('search_path', 'opaque_path', false) $$;
CREATE OR REPLACE FUNCTION opaque_set_tenant(tenant int) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', tenant::text, false); END $$;
CREATE OR REPLACE FUNCTION opaque_temp_table() RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN CREATE TEMP TABLE IF NOT EXISTS opaque_temp (x int); END $$;
CREATE OR REPLACE FUNCTION opaque_noop() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION opaque_set_mem(mem text) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN PERFORM pg_catalog.set_config('work_mem', mem, false); END $$;
CREATE OR REPLACE FUNCTION opaque_reset_mem() RETURNS void LANGUAGE plpgsql AS $$ BEGIN RESET work_mem; END $$;
CREATE OR REPLACE FUNCTION opaque_agg_step(s text, t text) RETURNS text LANGUAGE plpgsql
  AS $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', t, false); RETURN t; END $$;
CREATE OR REPLACE AGGREGATE opaque_agg(text) (SFUNC = opaque_agg_step, STYPE = text);
CREATE OR REPLACE FUNCTION pg_opaque_tenant(t text) RETURNS text LANGUAGE plpgsql
  AS $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', t, false); RETURN t; END $$;
CREATE OR REPLACE FUNCTION initcap(t int) RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', t::text, false); RETURN t; END $$;
CREATE SEQUENCE IF NOT EXISTS opaque_seq;
CREATE TABLE IF NOT EXISTS opaque_items (id int PRIMARY KEY DEFAULT pg_catalog.nextval('opaque_seq'), note text);
GRANT ALL ON SEQUENCE opaque_seq TO PUBLIC;
GRANT ALL ON TABLE opaque_items TO PUBLIC;
CREATE OR REPLACE FUNCTION opaque_next() RETURNS bigint LANGUAGE sql AS $$ SELECT pg_catalog.nextval('opaque_seq') $$;
CREATE OR REPLACE FUNCTION opaque_curr() RETURNS bigint LANGUAGE sql AS $$ SELECT pg_catalog.currval('opaque_seq') $$;
CREATE OR REPLACE FUNCTION opaque_last() RETURNS bigint LANGUAGE sql AS $$ SELECT pg_catalog.lastval() $$;
CREATE OR REPLACE FUNCTION opaque_dealloc() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DEALLOCATE ALL'; RETURN 1; END $$;
CREATE OR REPLACE FUNCTION opaque_superuser_setting(v text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM pg_catalog.set_config('log_min_duration_statement', v, false); RETURN v; END $$;`;

/** A function first stable, then replaced (through pgtide) by one that sets a custom setting. */
const STABLE_CHANGED =
  'CREATE OR REPLACE FUNCTION opaque_changed(t text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT t $$';
const VOLATILE_CHANGED = `CREATE OR REPLACE FUNCTION opaque_changed(t text) RETURNS text LANGUAGE plpgsql VOLATILE
  AS $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', t, false); RETURN t; END $$`;

async function connected(p: RunningPgtide): Promise<pg.Client> {
  const c = new pg.Client(p.pgConfig());
  await c.connect();
  return c;
}

async function one(c: pg.Client, sql: string): Promise<unknown> {
  const { rows } = await c.query({ text: sql, rowMode: 'array' });
  return rows[0]?.[0];
}

describe('code pgtide cannot see into', { timeout: 60_000 }, () => {
  before(async () => {
    await sqlOn(t.primary, FUNCTIONS);
  });
  after(async () => {
    await sqlOn(
      t.primary,
      `DROP FUNCTION opaque_set_path(); DROP FUNCTION opaque_set_tenant(int); DROP FUNCTION opaque_temp_table();
       DROP FUNCTION opaque_noop(); DROP FUNCTION opaque_set_mem(text); DROP FUNCTION opaque_reset_mem();
       DROP AGGREGATE opaque_agg(text); DROP FUNCTION opaque_agg_step(text, text); DROP FUNCTION IF EXISTS opaque_changed(text);
       DROP FUNCTION pg_opaque_tenant(text); DROP FUNCTION initcap(int); DROP FUNCTION opaque_superuser_setting(text);
       DROP FUNCTION IF EXISTS pg_opaque_later(text); DROP FUNCTION opaque_next(); DROP FUNCTION opaque_curr();
       DROP FUNCTION opaque_last(); DROP FUNCTION opaque_dealloc(); DROP TABLE opaque_items; DROP SEQUENCE opaque_seq`,
    );
  });

  /** Runs `body` with a pgtide of its own (one server unless said otherwise) and two clients. */
  async function withClients(
    overrides: Partial<Config>,
    body: (a: pg.Client, b: pg.Client) => Promise<void>,
  ): Promise<void> {
    const p = await startPgtide(t, { pool_mode: 'transaction', default_pool_size: 1, ...overrides });
    const clients: pg.Client[] = [];
    try {
      clients.push(await connected(p), await connected(p));
      await body(clients[0]!, clients[1]!);
    } finally {
      for (const c of clients) await c.end().catch(() => {});
      await p.stop();
    }
  }

  test('a setting a user function makes follows its client and never reaches the next one', async () => {
    await withClients({}, async (a, b) => {
      const defaultPath = await one(b, 'SHOW search_path');
      await a.query('SELECT opaque_set_path()');
      // One server: B's transaction runs on the server A's function changed.
      assert.equal(await one(b, 'SHOW search_path'), defaultPath);
      assert.equal(await one(a, 'SHOW search_path'), 'opaque_path');
      assert.equal(await one(b, 'SHOW search_path'), defaultPath);
    });
  });

  test('a custom setting a DO block or a function makes never reaches the next client', async () => {
    await withClients({}, async (a, b) => {
      await a.query(`DO $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', '42', false); END $$`);
      assert.ok(
        [null, ''].includes((await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`)) as string | null),
      );
      await a.query('SELECT opaque_set_tenant(7)');
      assert.ok(
        [null, ''].includes((await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`)) as string | null),
      );
    });
  });

  test("a custom setting a function makes stays its client's on the server it ran on, and never reaches the next client", async () => {
    await withClients({}, async (a, b) => {
      await a.query('SELECT opaque_set_tenant(7)');
      // As on a connection of its own: the server was reset before A's next transaction, the value gone.
      assert.equal(await one(a, `SELECT pg_catalog.current_setting('app.tenant', true)`), '7');
      assert.equal(await one(a, `SELECT pg_catalog.current_setting('app.tenant', true)`), '7');
      assert.ok(
        [null, ''].includes((await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`)) as string | null),
      );
    });
  });

  test('a setting a function changes after calls that changed nothing is learned and follows its client, so is its reset', async () => {
    await withClients({}, async (a, b) => {
      const defaultMem = await one(b, 'SHOW work_mem');
      // The first calls read the settable names, then their values' digest; the next ones the digest alone.
      for (let i = 0; i < 3; i++) await a.query('SELECT opaque_noop()');
      await a.query("SELECT opaque_set_mem('777kB')");
      await a.query('SELECT opaque_noop()');
      assert.equal(await one(b, 'SHOW work_mem'), defaultMem);
      assert.equal(await one(a, 'SHOW work_mem'), '777kB', 'on the server B had reset');
      for (let i = 0; i < 3; i++) await a.query('SELECT opaque_noop()');
      await a.query('SELECT opaque_reset_mem()');
      assert.equal(await one(b, 'SHOW work_mem'), defaultMem);
      assert.equal(await one(a, 'SHOW work_mem'), defaultMem);
    });
  });

  test("clients taking turns on one server: a change one client's function makes after the other's calls left the same digest is learned", async () => {
    await withClients({}, async (a, b) => {
      const defaultMem = await one(b, 'SHOW work_mem');
      // Same settings, so each read-back after the first ones compares the digest the other found.
      for (let i = 0; i < 3; i++) {
        await a.query('SELECT opaque_noop()');
        await b.query('SELECT opaque_noop()');
      }
      await b.query("SELECT opaque_set_mem('555kB')");
      assert.equal(await one(a, 'SHOW work_mem'), defaultMem);
      await a.query('SELECT opaque_noop()');
      assert.equal(await one(b, 'SHOW work_mem'), '555kB', 'after A had the server');
      await a.query("SELECT opaque_set_mem('444kB')");
      assert.equal(await one(b, 'SHOW work_mem'), '555kB');
      assert.equal(await one(a, 'SHOW work_mem'), '444kB');
    });
  });

  // Found by a helper running psycopg: since the reset after such code became RESET ALL
  // (DISCARD ALL had dropped the values too), B read A's value.
  test("currval or lastval in a function never answers with another client's sequence value", async () => {
    await withClients({}, async (a, b) => {
      const noValue = (e: { code?: string }) => e.code === '55000';
      for (let i = 0; i < 3; i++) {
        await a.query('SELECT opaque_next()');
        await assert.rejects(b.query('SELECT opaque_curr()'), noValue, 'B called no nextval');
      }
      for (let i = 0; i < 3; i++) {
        const own = Number(await one(b, `INSERT INTO opaque_items (note) VALUES ('b') RETURNING id`));
        const theirs = Number(await one(a, 'SELECT opaque_next()'));
        // Directly B reads its own id; through a pool its values may be gone (55000), never A's.
        const read = await one(b, 'SELECT opaque_last()').then(Number, (e: { code?: string }) => e.code);
        assert.ok(read === own || read === '55000', `B read ${read}: its own ${own}, A's ${theirs}`);
        const back = await one(a, 'SELECT opaque_curr()').then(Number, (e: { code?: string }) => e.code);
        assert.ok(back === theirs || back === '55000', `A read ${back}: its own ${theirs}, B's ${own}`);
      }
    });
  });

  // Found by a helper: the digest names settings only privileged roles may read, and was refused.
  test('after SET ROLE to a role that may not read every setting, such code is read back without the digest: the client does not keep its server', async () => {
    await withClients({}, async (a, b) => {
      const user = await one(a, 'SELECT current_user');
      await sqlOn(
        t.primary,
        `DROP ROLE IF EXISTS opaque_low; CREATE ROLE opaque_low NOLOGIN; GRANT opaque_low TO "${user}"`,
      );
      try {
        for (let i = 0; i < 2; i++) await a.query('SELECT opaque_noop()');
        await a.query('SET ROLE opaque_low');
        for (let i = 0; i < 3; i++) {
          await a.query('SELECT opaque_noop()');
          // One server: B would wait for good behind a client that kept it.
          assert.equal(await one(b, 'SELECT current_user'), user);
          assert.equal(await one(a, 'SELECT current_user'), 'opaque_low');
        }
      } finally {
        await a.query('RESET ROLE');
        await sqlOn(t.primary, 'DROP OWNED BY opaque_low; DROP ROLE opaque_low');
      }
    });
  });

  // Found by a helper: the first read-back on a server prepared pgtide's own checks afresh,
  // which hid the drop, and the next client's named statement was missing (26000, pgtide_1).
  test("EXECUTE 'DEALLOCATE ALL' in a function: the next client's named statement is prepared again, and the caller's", async () => {
    const read = { name: 'opaque_r', text: 'SELECT $1::int + 1 AS v', values: [1] };
    await withClients({}, async (a, b) => {
      assert.equal((await a.query(read)).rows[0].v, 2);
      // Code that drops nothing: the first read-back here prepares pgtide's checks, after the count.
      await a.query('SELECT opaque_noop()');
      assert.equal((await a.query(read)).rows[0].v, 2, 'a statement nothing dropped is kept');
      for (let i = 0; i < 3; i++) {
        await b.query('BEGIN');
        await b.query('SELECT opaque_dealloc()');
        await b.query('COMMIT');
        await a.query('BEGIN');
        assert.equal((await a.query(read)).rows[0].v, 2, `round ${i}`);
        await a.query('COMMIT');
      }
    });
    // The caller's own names stay, where PostgreSQL drops them (documented): a name it prepares
    // after the drop, in the same transaction, PostgreSQL keeps, and so must pgtide.
    await withClients({}, async (a) => {
      assert.equal((await a.query(read)).rows[0].v, 2);
      // pgtide's checks are prepared there first: the drop makes their Bind fail too.
      await a.query('SELECT opaque_noop()');
      await a.query('SELECT opaque_dealloc()');
      assert.equal((await a.query(read)).rows[0].v, 2, "the caller's statement is prepared again");
      const after = { name: 'opaque_after', text: 'SELECT $1::int * 3 AS v', values: [2] };
      await a.query('BEGIN');
      await a.query('SELECT opaque_dealloc()');
      assert.equal((await a.query(after)).rows[0].v, 6);
      await a.query('COMMIT');
      assert.equal((await a.query(after)).rows[0].v, 6, 'prepared after the drop: kept');
    });
  });

  // Found by review: the reset began with a snapshot at the session's own isolation, which
  // then refused the BEGIN ISOLATION LEVEL READ COMMITTED after it (25001), and B was closed.
  test('a client whose default isolation is repeatable read runs such code: the next client gets the server reset', async () => {
    await withClients({}, async (a, b) => {
      await a.query(`SET default_transaction_isolation = 'repeatable read'`);
      await a.query('SELECT opaque_noop()');
      assert.equal(await one(b, 'SHOW default_transaction_isolation'), 'read committed');
      assert.equal(await one(a, 'SHOW default_transaction_isolation'), 'repeatable read');
    });
  });

  test("a client that leaves mid-transaction after nextval: the next client's currval answers 55000, never its value", async () => {
    await withClients({}, async (a, b) => {
      await a.query('BEGIN');
      await a.query(`SELECT pg_catalog.nextval('opaque_seq')`);
      await a.end();
      await assert.rejects(
        b.query(`SELECT pg_catalog.currval('opaque_seq')`),
        (e: { code?: string }) => e.code === '55000',
      );
    });
  });

  test('an aggregate whose state function is volatile is code pgtide cannot see into: its setting never reaches the next client', async () => {
    await withClients({}, async (a, b) => {
      // The first call looks the name up; the later ones go by what it learned.
      for (let i = 0; i < 3; i++) {
        await a.query(`SELECT opaque_agg(x) FROM (VALUES ('agg-${i}')) AS v (x)`);
        await new Promise((r) => setTimeout(r, 50));
        const seen = await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`);
        assert.ok([null, ''].includes(seen as string | null), `call ${i}: ${String(seen)}`);
      }
    });
  });

  test('a function replaced through pgtide is looked up again: made volatile, its setting never reaches the next client', async () => {
    await sqlOn(t.primary, `${STABLE_CHANGED}; GRANT EXECUTE ON FUNCTION opaque_changed(text) TO PUBLIC`);
    await withClients({}, async (a, b) => {
      await a.query(`SELECT opaque_changed('x')`);
      await new Promise((r) => setTimeout(r, 50));
      await a.query(`SELECT opaque_changed('x')`);
      await sqlOn(t.primary, `ALTER FUNCTION opaque_changed(text) OWNER TO ${t.scramUser.user}`);
      await a.query(VOLATILE_CHANGED);
      for (let i = 0; i < 3; i++) {
        await a.query(`SELECT opaque_changed('changed-${i}')`);
        const seen = await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`);
        assert.ok([null, ''].includes(seen as string | null), `call ${i}: ${String(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    });
  });

  test('a serializable default a function sets keeps its reads off the standbys, which refuse it, as a SET does', async () => {
    await withClients({ backends: clusterBackends(t, [0, 1]), consistency: 'eventual' }, async (a) => {
      assert.equal(await one(a, 'SELECT pg_catalog.pg_is_in_recovery()'), true, 'reads go to the standby');
      for (const set of [
        `DO $$ BEGIN PERFORM pg_catalog.set_config('default_transaction_isolation', 'serializable', false); END $$`,
        "SELECT pg_catalog.set_config('default_transaction_isolation', 'serializable', false)",
      ]) {
        await a.query(set);
        for (let i = 0; i < 4; i++) assert.equal(await one(a, 'SELECT pg_catalog.pg_is_in_recovery()'), false, set);
        assert.equal(await one(a, 'SHOW default_transaction_isolation'), 'serializable');
        await a.query('SET default_transaction_isolation = DEFAULT');
        assert.equal(await one(a, 'SELECT pg_catalog.pg_is_in_recovery()'), true, 'reads go to the standby again');
      }
      await a.query("SELECT pg_catalog.set_config('default_transaction_isolation', 'read committed', false)");
      await a.query(`DO $$ BEGIN PERFORM pg_catalog.set_config('default_transaction_read_only', 'on', false); END $$`);
      assert.equal(await one(a, 'SHOW default_transaction_read_only'), 'on');
    });
  });

  test("a user function named like PostgreSQL's own (pg_…, or an overload of a built-in) is code pgtide cannot see into", async () => {
    await withClients({}, async (a, b) => {
      // The database's functions named so are asked for at the clients' login.
      await new Promise((r) => setTimeout(r, 300));
      for (const call of ["SELECT pg_opaque_tenant('pg')", 'SELECT initcap(42)', "SELECT initcap('x'), initcap(7)"]) {
        await a.query(call);
        const seen = await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`);
        assert.ok([null, ''].includes(seen as string | null), `${call}: ${String(seen)}`);
      }
    });
  });

  test('a superuser-only setting a SECURITY DEFINER function sets for its client stays on that server: the client goes on, the next client never sees it', async () => {
    await withClients({}, async (a, b) => {
      const defaultValue = await one(b, 'SHOW log_min_duration_statement');
      await a.query("SELECT opaque_superuser_setting('12345')");
      assert.equal(await one(a, 'SHOW log_min_duration_statement'), '12345ms', 'on its own server');
      assert.equal(await one(b, 'SHOW log_min_duration_statement'), defaultValue);
      // Its next server could not be given it (42501): it goes on without it.
      assert.equal(await one(a, 'SELECT 1'), 1);
      assert.equal(await one(b, 'SHOW log_min_duration_statement'), defaultValue);
    });
  });

  test('a function named like a built-in that is created through pgtide is asked for at the next login', async () => {
    await withClients({}, async (a, b) => {
      await new Promise((r) => setTimeout(r, 300));
      await a.query(`CREATE FUNCTION pg_opaque_later(t text) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN PERFORM pg_catalog.set_config('app.tenant', t, false); RETURN t; END $$`);
      // A login after the DDL asks again, though the last lookup was less than a minute ago.
      const c = new pg.Client({
        host: a.host,
        port: a.port,
        user: a.user,
        database: a.database,
        password: t.scramUser.password,
      });
      await c.connect();
      await c.end();
      await new Promise((r) => setTimeout(r, 300));
      await a.query("SELECT pg_opaque_later('later')");
      const seen = await one(b, `SELECT pg_catalog.current_setting('app.tenant', true)`);
      assert.ok([null, ''].includes(seen as string | null), String(seen));
    });
  });

  test('a SET in text pgtide cannot split (standard_conforming_strings = off) follows its client, never the next', async () => {
    await withClients({}, async (a, b) => {
      const defaultMem = await one(b, 'SHOW work_mem');
      await a.query('SET standard_conforming_strings = off');
      // With the setting off, '\'' is a quote: pgtide's lexer, reading it as on, cannot tell.
      await a.query(String.raw`SELECT 'a\'' AS x; SET work_mem = '888kB'; SELECT '\'' AS y`);
      assert.equal(await one(a, 'SHOW work_mem'), '888kB');
      assert.equal(await one(b, 'SHOW work_mem'), defaultMem);
      assert.equal(await one(a, 'SHOW work_mem'), '888kB');
    });
  });

  test('a temporary table a function creates pins its client; the other client never sees it', async () => {
    await withClients({ default_pool_size: 2 }, async (a, b) => {
      await a.query('SELECT opaque_temp_table()');
      const pid = await one(a, 'SELECT pg_catalog.pg_backend_pid()');
      assert.equal(await one(a, 'SELECT count(*)::int FROM opaque_temp'), 0);
      assert.equal(await one(a, 'SELECT pg_catalog.pg_backend_pid()'), pid, 'A keeps its server');
      for (let i = 0; i < 4; i++) {
        assert.equal(await one(b, `SELECT pg_catalog.to_regclass('pg_temp.opaque_temp')::text`), null);
      }
    });
  });

  test('a setting a FunctionCall message makes never reaches the next client', async () => {
    await withClients({ auth_type: 'trust' }, async (a, b) => {
      const defaultPath = await one(b, 'SHOW search_path');
      await a.end();
      const raw = await rawConnect(Number(b.port));
      try {
        const received: Buffer[] = [];
        const readyTwice = new Promise<void>((resolve) =>
          raw.on('data', (d: Buffer) => {
            received.push(d);
            // ReadyForQuery after the login, then after the FunctionCall.
            if (Buffer.concat(received).toString('latin1').split('Z\0\0\0\x05').length > 2) resolve();
          }),
        );
        raw.write(startupPacket({ user: t.scramUser.user, database: t.database }));
        await new Promise((r) => setTimeout(r, 200));
        raw.write(setConfigCall('search_path', 'call_path'));
        await readyTwice;
        assert.match(Buffer.concat(received).toString('latin1'), /V.*call_path/s);
        assert.equal(await one(b, 'SHOW search_path'), defaultPath);
      } finally {
        raw.destroy();
      }
    });
  });

  test('with trust_functions = true nothing is checked, as in PgBouncer: the setting stays on the server', async () => {
    await withClients({ trust_functions: true }, async (a, b) => {
      await a.query('SELECT opaque_set_path()');
      assert.equal(await one(b, 'SHOW search_path'), 'opaque_path');
    });
  });
});
