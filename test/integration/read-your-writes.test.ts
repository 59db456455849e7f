import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology, sqlOn } from '../support/topology.js';
import { clusterBackends, startPgtide } from '../support/pgtide.js';
import type { Consistency } from '../../src/config/types.js';
import { learnProbe } from '../support/reader.js';

const t = currentTopology();
let nextId = 1;

/** `clients` × `iterations` of "insert a row, then read it back" through pgtide. */
async function insertThenSelect(consistency: Consistency, clients: number, iterations: number) {
  const p = await startPgtide(t, { backends: clusterBackends(t, [0, 1, 1]), consistency, default_pool_size: 10 });
  const standbyPorts = new Set(t.standbys.map((s) => s.port));
  let misses = 0, onStandby = 0, reads = 0;
  let elapsed = 0;
  try {
    await Promise.all(Array.from({ length: clients }, async () => {
      const c = new pg.Client(p.pgConfig());
      await c.connect();
      await learnProbe((sql) => c.query(sql)); // pgtide learns that the function only reads
      const started = Date.now();
      for (let i = 0; i < iterations; i++) {
        const id = nextId++;
        await c.query('INSERT INTO ryw VALUES ($1, $2)', [id, `row ${id}`]);
        const { rows } = await c.query('SELECT v, pg_catalog.inet_server_port() AS port FROM ryw WHERE id = $1', [id]);
        reads++;
        if (rows.length === 0) misses++;
        else if (standbyPorts.has(rows[0].port)) onStandby++;
      }
      elapsed += Date.now() - started;
      await c.end();
    }));
  } finally {
    await p.stop();
  }
  return { misses, reads, standbyShare: onStandby / reads, msPerIteration: elapsed / reads };
}

describe('read-your-writes', { timeout: 110_000 }, () => {
  let loading = true;
  let load: Promise<void>;
  before(async () => {
    await sqlOn(t.primary, `DROP TABLE IF EXISTS ryw; CREATE TABLE ryw (id int PRIMARY KEY, v text);
      GRANT ALL ON ryw TO ${t.scramUser.user}; DROP TABLE IF EXISTS ryw_load; CREATE TABLE ryw_load (pad text)`);
    // A background writer keeps the primary and the replication busy.
    load = (async () => {
      const c = new pg.Client({ host: t.primary.host, port: t.primary.port, user: t.superuser.user, password: t.superuser.password, database: t.database });
      await c.connect();
      while (loading) await c.query(`INSERT INTO ryw_load SELECT repeat('x', 500) FROM pg_catalog.generate_series(1, 200)`);
      await c.end();
    })();
  });
  after(async () => {
    loading = false;
    await load;
  });

  test('read_your_writes: 10,000 insert-then-select iterations, 0 misses, most reads on standbys', async () => {
    const r = await insertThenSelect('read_your_writes', 10, 1000);
    console.log(`read_your_writes: ${r.misses} misses in ${r.reads} reads; ${(r.standbyShare * 100).toFixed(1)} % served by standbys; ${r.msPerIteration.toFixed(2)} ms per insert+select per client`);
    assert.equal(r.reads, 10_000);
    assert.equal(r.misses, 0);
    assert.ok(r.standbyShare > 0.5, `only ${(r.standbyShare * 100).toFixed(1)} % of the reads were served by standbys`);
  });

  test('eventual: the same pattern shows misses (the test can fail)', async () => {
    const r = await insertThenSelect('eventual', 10, 300);
    console.log(`eventual: ${r.misses} misses in ${r.reads} reads; ${(r.standbyShare * 100).toFixed(1)} % served by standbys; ${r.msPerIteration.toFixed(2)} ms per insert+select per client`);
    assert.ok(r.misses > 0, 'eventual consistency never missed a fresh row: the read-your-writes test proves nothing');
  });
});
