// A named statement whose parameter types PostgreSQL infers, prepared again by another client
// after its table was dropped and created with other column types: PostgreSQL infers the new
// types for the new Parse. pgtide once answered that Parse from the copy a server had parsed
// before the change, and told the client the old types: asyncpg's own suite
// (test_custom_codec_override_tuple) then encoded a time as a date, and a client told `date`
// for a `timestamp` column stored its timestamps with the time of day cut off.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { currentTopology } from '../support/topology.js';
import {
  describe as describeMessage,
  directLogin,
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
