// A named statement whose parameter types PostgreSQL infers, prepared again by another client
// after its table was dropped and created with other column types: PostgreSQL infers the new
// types for the new Parse. pgtide once answered that Parse from the copy a server had parsed
// before the change, and told the client the old types: asyncpg's own suite
// (test_custom_codec_override_tuple) then encoded a time as a date, and a client told `date`
// for a `timestamp` column stored its timestamps with the time of day cut off.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology, sqlOn } from '../support/topology.js';
import {
  bind,
  close,
  describe as describeMessage,
  directLogin,
  errorCodes,
  execute,
  parse,
  query,
  sync,
  useWirePgtide,
  type WireLogin,
} from '../support/pipeline.js';

const t = currentTopology();

describe('a Parse after a schema change gets the parameter types PostgreSQL infers now', { timeout: 60_000 }, () => {
  // One server connection: the statement the first client prepared is on it.
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  /** The ParameterDescription a second client is told for the INSERT, after the table changed. */
  async function toldAfterChange(to: WireLogin, table: string): Promise<string> {
    const a = await wire.connect(undefined, to);
    await a.exchange(query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (v date)`));
    const insert = `INSERT INTO ${table} VALUES ($1)`;
    const first = await a.exchange(parse('s_a', insert), describeMessage('S', 's_a'), sync());
    assert.ok(first.some((m) => m.type === 't'));
    await a.exchange(query(`DROP TABLE ${table}`));
    await a.exchange(query(`CREATE TABLE ${table} (v timestamp)`));
    const b = await wire.connect(undefined, to);
    const told = await b.exchange(parse('s_b', insert), describeMessage('S', 's_b'), sync());
    await a.exchange(query(`DROP TABLE ${table}`));
    await b.close();
    await a.close();
    const description = told.find((m) => m.type === 't');
    assert.ok(description, 'a ParameterDescription');
    return description.body.toString('hex');
  }

  test('a timestamp column, not the date it was when another client prepared the text', async () => {
    const expected = await toldAfterChange(directLogin(t), 'schema_change_direct');
    // One parameter of type timestamp (oid 1114).
    assert.equal(expected, '00010000045a');
    assert.equal(await toldAfterChange(wire.login(), 'schema_change_direct'), expected);
  });
});

describe('a statement held across a schema change keeps the parameter types it was told', { timeout: 60_000 }, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  /** A Bind of `statement` with one int4 parameter in binary: four bytes, as the client was told. */
  function bindInt4(statement: string, value: number): Buffer {
    const name = Buffer.from(`\0${statement}\0`);
    const body = Buffer.alloc(name.length + 2 + 2 + 2 + 4 + 4 + 2);
    let off = name.copy(body, 0);
    off = body.writeInt16BE(1, off);
    off = body.writeInt16BE(1, off);
    off = body.writeInt16BE(1, off);
    off = body.writeInt32BE(4, off);
    off = body.writeInt32BE(value, off);
    body.writeInt16BE(0, off);
    const header = Buffer.alloc(5);
    header.write('B', 0, 'latin1');
    header.writeInt32BE(4 + body.length, 1);
    return Buffer.concat([header, body]);
  }

  async function bindAfterChange(to: WireLogin, table: string, pooled: boolean): Promise<string[]> {
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (v int4)`);
    await sqlOn(t.primary, `GRANT ALL ON ${table} TO PUBLIC`);
    const a = await wire.connect({ application_name: 'schema_holder' }, to);
    const told = await a.exchange(
      parse('s_a', `INSERT INTO ${table} VALUES ($1)`),
      describeMessage('S', 's_a'),
      sync(),
    );
    assert.equal(told.find((m) => m.type === 't')?.body.toString('hex'), '000100000017', 'told int4');
    await sqlOn(t.primary, `ALTER TABLE ${table} ALTER v TYPE int8`);
    if (pooled) {
      // The server connection that has the copy goes (on a direct connection that is the
      // client's own): the next Bind lands on one without it.
      await sqlOn(
        t.primary,
        `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
          WHERE application_name = 'schema_holder' AND pid <> pg_catalog.pg_backend_pid()`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const ran = await a.exchange(bindInt4('s_a', 7), execute(''), sync());
    await a.close();
    await sqlOn(t.primary, `DROP TABLE ${table}`);
    return ran.map((m) => (m.type === 'E' ? `E ${errorCodes([m]).join()}` : m.type));
  }

  test('an int4 parameter in binary still binds after the column became int8', async () => {
    const expected = await bindAfterChange(directLogin(t), 'schema_held_direct', false);
    assert.deepEqual(expected, ['2', 'C', 'Z']);
    assert.deepEqual(await bindAfterChange(wire.login(), 'schema_held_pgtide', true), expected);
  });

  /** Answers as message types, an error's SQLSTATE, a one-column row's text. */
  function summary(answers: { type: string; body: Buffer }[]): string {
    return answers
      .map((m) =>
        m.type === 'E' ? `E${errorCodes([m]).join()}` : m.type === 'D' ? `D ${m.body.subarray(6).toString()}` : m.type,
      )
      .join(' ');
  }

  /** Each Bind's answer while the column the parameter compares with changes type under it. */
  async function bindsAcrossTypes(to: WireLogin, table: string): Promise<string[]> {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (k int4, v text);
       INSERT INTO ${table} VALUES (1, 'one'), (16843009, 'big'); GRANT ALL ON ${table} TO PUBLIC`,
    );
    const a = await wire.connect(undefined, to);
    const told = await a.exchange(
      parse('s_k', `SELECT v FROM ${table} WHERE k = $1`),
      describeMessage('S', 's_k'),
      sync(),
    );
    assert.equal(told.find((m) => m.type === 't')?.body.toString('hex'), '000100000017', 'told int4');
    const run = async (value: number) => summary(await a.exchange(bindInt4('s_k', value), execute(''), sync()));
    const got = [await run(1)];
    await sqlOn(t.primary, `ALTER TABLE ${table} ALTER k TYPE text`);
    // 16843009 is 01 01 01 01: as text, four bytes a copy parsed with a text parameter would compare.
    got.push(await run(16843009), await run(16843009));
    await sqlOn(t.primary, `ALTER TABLE ${table} ALTER k TYPE float4 USING k::float4`);
    got.push(await run(1));
    await sqlOn(t.primary, `ALTER TABLE ${table} ALTER k TYPE int4 USING k::int4`);
    got.push(await run(1), await run(16843009));
    await a.close();
    await sqlOn(t.primary, `DROP TABLE ${table}`);
    return got;
  }

  /** What a client gets for a text another client prepared and described, parsed in its own
   *  transaction after it changed the parameter's column to text (a migration). */
  async function parsedAfterOwnDdl(to: WireLogin, table: string): Promise<string[]> {
    await sqlOn(
      t.primary,
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (c int, n int); INSERT INTO ${table} VALUES (5, 0);
       GRANT ALL ON ${table} TO PUBLIC; ALTER TABLE ${table} OWNER TO ${t.scramUser.user}`,
    );
    const update = `UPDATE ${table} SET n = n + 1 WHERE c = $1 RETURNING n`;
    const b = await wire.connect(undefined, to);
    await b.exchange(parse('s_b', update), describeMessage('S', 's_b'), bind('', 's_b', ['5']), execute(''), sync());
    const a = await wire.connect(undefined, to);
    const got = [
      summary(await a.exchange(query(`BEGIN; ALTER TABLE ${table} ALTER c TYPE text`))),
      summary(await a.exchange(parse('s_a', update), bind('', 's_a', ['5']), execute(''), sync())),
      summary(await a.exchange(query('COMMIT'))),
    ];
    await b.close();
    await a.close();
    await sqlOn(t.primary, `DROP TABLE ${table}`);
    return got;
  }

  // Found by a helper: the copy another client's Describe had typed (int4) was used for a Parse
  // in a transaction that had changed the column to text: 42883, and the migration rolled back.
  test("a Parse in a transaction that changed the parameter's column is parsed as PostgreSQL parses it there", async () => {
    const expected = await parsedAfterOwnDdl(directLogin(t), 'schema_own_ddl_direct');
    assert.deepEqual(expected, ['C C Z', '1 2 D 2 C Z', 'C Z']);
    assert.deepEqual(await parsedAfterOwnDdl(wire.login(), 'schema_own_ddl_pgtide'), expected);
  });

  // Found by a helper with asyncpg's default statement cache: the 42883 of the Bind on a column
  // become text made pgtide prepare the statement again with the types inferred anew (text),
  // and the client's int4 bytes were read as text (no row, no error), or as a float4.
  test('a statement whose column changed type keeps its int4 parameter, as PostgreSQL keeps it: the same errors and rows', async () => {
    const expected = await bindsAcrossTypes(directLogin(t), 'schema_types_direct');
    assert.deepEqual(expected.slice(0, 2), ['2 D one C Z', 'E42883 Z']);
    assert.deepEqual(await bindsAcrossTypes(wire.login(), 'schema_types_pgtide'), expected);
  });

  /** What a client that described the statement, then new clients, get after its parameter's
   *  column changed on a connection pgtide does not see (a migration run directly on the
   *  primary): the first client keeps the types it was told, the new ones get what PostgreSQL
   *  infers now. `setup(table)`: a table (m of some type, v text) holding ('glad', 'one'). */
  const direct = directLogin(t);
  async function afterDirectChange(
    to: WireLogin,
    table: string,
    setup: (table: string) => string,
    change: (table: string) => string,
  ): Promise<string[]> {
    await sqlOn(t.primary, `${setup(table)}; GRANT ALL ON ${table} TO PUBLIC`);
    const text = `SELECT v FROM ${table} WHERE m = $1`;
    const run = (c: { exchange: (...m: Buffer[]) => Promise<{ type: string; body: Buffer }[]> }) =>
      c.exchange(bind('', 's_m', ['glad']), execute(''), sync()).then(summary);
    const a = await wire.connect({ application_name: 'type_holder' }, to);
    await a.exchange(parse('s_m', text), describeMessage('S', 's_m'), sync());
    const got = [await run(a)];
    await sqlOn(t.primary, change(table));
    // Through pgtide, the server with the copy goes: the next client's Parse is prepared afresh.
    if (to !== direct)
      await sqlOn(
        t.primary,
        `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
          WHERE application_name = 'type_holder' AND pid <> pg_catalog.pg_backend_pid()`,
      );
    for (let round = 0; round < 2; round++) {
      const b = await wire.connect(undefined, to);
      const told = await b.exchange(parse('s_m', text), describeMessage('S', 's_m'), sync());
      got.push(summary(told.filter((m) => m.type !== 't' && m.type !== 'T')), await run(b));
      await b.close();
    }
    got.push(await run(a));
    await a.close();
    await sqlOn(t.primary, `DROP TABLE ${table}`);
    return got;
  }

  // The copies pgtide prepares with the types a client was told (see learnParameters) were
  // parsed so for new clients too: their every Parse of the text failed, for good.
  test("a new client's Parse after the parameter's type was dropped and created again parses as on PostgreSQL", async () => {
    const mood = (table: string) => `${table}_mood`;
    const setup = (table: string) =>
      `DROP TABLE IF EXISTS ${table}; DROP TYPE IF EXISTS ${mood(table)}; CREATE TYPE ${mood(table)} AS ENUM ('calm', 'glad');
       CREATE TABLE ${table} (m ${mood(table)}, v text); INSERT INTO ${table} VALUES ('glad', 'one')`;
    const change = (table: string) =>
      `ALTER TABLE ${table} ALTER m TYPE text; DROP TYPE ${mood(table)}; CREATE TYPE ${mood(table)} AS ENUM ('glad', 'calm');
       ALTER TABLE ${table} ALTER m TYPE ${mood(table)} USING m::${mood(table)}`;
    const expected = await afterDirectChange(direct, 'schema_recreated_direct', setup, change);
    // XX000 "cache lookup failed for type" for the client holding the dropped type.
    assert.deepEqual(expected, ['2 D one C Z', '1 Z', '2 D one C Z', '1 Z', '2 D one C Z', 'EXX000 Z']);
    assert.deepEqual(await afterDirectChange(wire.login(), 'schema_recreated_pgtide', setup, change), expected);
    await sqlOn(
      t.primary,
      `DROP TYPE ${mood('schema_recreated_direct')}; DROP TYPE ${mood('schema_recreated_pgtide')}`,
    );
  });

  test("a new client's Parse after the parameter's column became text parses as on PostgreSQL", async () => {
    const setup = (table: string) =>
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (m int4, v text); INSERT INTO ${table} VALUES (7, 'one')`;
    const change = (table: string) => `UPDATE ${table} SET m = 0; ALTER TABLE ${table} ALTER m TYPE text USING 'glad'`;
    const expected = await afterDirectChange(direct, 'schema_retyped_direct', setup, change);
    // The first client binds 'glad' as the int4 it was told, before the change and after it: 22P02.
    assert.deepEqual(expected, ['E22P02 Z', '1 Z', '2 D one C Z', '1 Z', '2 D one C Z', 'E22P02 Z']);
    const got = await afterDirectChange(wire.login(), 'schema_retyped_pgtide', setup, change);
    assert.deepEqual(got.slice(0, -1), expected.slice(0, -1));
    // Its copy, prepared again with int4 where its server went, fails at the Parse (42883) before
    // the Bind's value is read, where PostgreSQL's own copy, kept, reads the value first.
    assert.match(got.at(-1)!, /^E(22P02|42883) Z$/);
  });
});

// Found by pgJDBC's own suite (AutoRollbackTestSuite, failMode ALTER; and its statement cache
// off): a transaction reads a table through a named statement, changes the table, and prepares
// the same text again under a new name. PostgreSQL parses it afresh. Through pgtide the new
// Parse was answered from the copy prepared before the change (PostgreSQL's 0A000 "cached plan
// must not change result type" at its Bind), or, after the old statement's own 0A000 and a
// ROLLBACK TO SAVEPOINT (autosave=conservative), its Bind got a 0A000 pgtide made up itself.
describe('a text prepared again in the transaction that changed its table runs as PostgreSQL parses it now', {
  timeout: 60_000,
}, () => {
  const wire = useWirePgtide(t, { pool_mode: 'transaction', default_pool_size: 1 });

  /** Each step's answers: message types, an error's SQLSTATE, a RowDescription's column count. */
  async function answers(to: WireLogin, steps: (table: string) => Buffer[][], table: string): Promise<string[]> {
    const c = await wire.connect(undefined, to);
    await c.exchange(
      query(
        `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (a int, b text); INSERT INTO ${table} VALUES (1, 'x')`,
      ),
    );
    const got: string[] = [];
    for (const step of steps(table)) {
      const messages = await c.exchange(...step);
      got.push(
        messages
          .map((m) =>
            m.type === 'E' ? `E${errorCodes([m])[0]}` : m.type === 'T' ? `T${m.body.readInt16BE(0)}` : m.type,
          )
          .join(' '),
      );
    }
    await c.exchange(query(`DROP TABLE ${table}`));
    await c.close();
    return got;
  }

  async function sameAsDirect(name: string, steps: (table: string) => Buffer[][]): Promise<void> {
    const expected = await answers(directLogin(t), steps, `${name}_direct`);
    assert.match(expected.at(-2)!, /T3 (D )+C Z$/, 'the statement prepared again reads three columns');
    assert.deepEqual(await answers(wire.login(), steps, `${name}_pgtide`), expected);
  }

  test('statement cache off: Close, then a Parse of the same text under a new name', async () => {
    await sameAsDirect('reparse_alter', (table) => {
      const read = `SELECT * FROM ${table}`;
      return [
        [query('BEGIN')],
        [parse('s_1', read), bind('', 's_1'), describeMessage('P', ''), execute(), sync()],
        [query(`ALTER TABLE ${table} ADD c int`)],
        [close('S', 's_1'), parse('s_2', read), bind('', 's_2'), describeMessage('P', ''), execute(), sync()],
        [query('ROLLBACK')],
      ];
    });
  });

  test("autosave: the old statement's 0A000, ROLLBACK TO SAVEPOINT, then the text prepared again", async () => {
    await sameAsDirect('autosave_alter', (table) => {
      const read = `SELECT * FROM ${table}`;
      return [
        [
          parse('a_begin', 'BEGIN'),
          bind('', 'a_begin'),
          execute(),
          parse('a_insert', `INSERT INTO ${table} VALUES (2, 'y')`),
          bind('', 'a_insert'),
          describeMessage('P', ''),
          execute(),
          sync(),
        ],
        [parse('a_5', read), bind('', 'a_5'), describeMessage('P', ''), execute(), sync()],
        [parse('a_6', `ALTER TABLE ${table} ADD c int`), bind('', 'a_6'), describeMessage('P', ''), execute(), sync()],
        [query('SAVEPOINT autosave')],
        [bind('', 'a_5'), execute(), sync()],
        [parse('a_7', 'ROLLBACK TO SAVEPOINT autosave'), bind('', 'a_7'), execute(), sync()],
        [close('S', 'a_5'), parse('a_8', read), bind('', 'a_8'), describeMessage('P', ''), execute(), sync()],
        [query('ROLLBACK')],
      ];
    });
  });
});
