// What an idle logged-in client holds in pgtide beyond its socket (bench/memory measures the
// KiB): no function of its own (the socket handlers are shared), no timer, no buffer, no number
// that V8 keeps in a box, and of the objects it points to only those listed here are its own; the others (pool, backend,
// settings, ParameterStatus values) it shares with the other clients of its pool. A new
// per-client object fails this test: allocate it when it is first needed, or share it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { currentTopology } from '../support/topology.js';
import { startPgtide, type RunningPgtide } from '../support/pgtide.js';

const t = currentTopology();

/** The only objects a client session holds for itself once logged in and idle. Its lists of
 *  chunks (queued, deferred, sent on a link) are the shared empty one until it holds some. */
const OWN_OBJECTS = [
  'scanner', // message boundaries of the client's stream: numbers only, no buffer (checked below)
  'settings', // its session settings, whose startup values are shared (checked below)
  'socket',
];

/** Own properties whose values are objects that `a` does not share with `b`. */
function ownObjects(a: object, b: object): string[] {
  const other = b as Record<string, unknown>;
  return Object.entries(a)
    .filter(([name, value]) => typeof value === 'object' && value !== null && value !== other[name])
    .map(([name]) => name)
    .sort();
}

/** V8's small integers: 32 bits, or 31 in a build with pointer compression. */
const SMALL_INTEGER_BITS = (process.config.variables as Record<string, unknown>)['v8_enable_pointer_compression']
  ? 31
  : 32;

function isSmall(value: number): boolean {
  return Number.isInteger(value) && value >= -(2 ** (SMALL_INTEGER_BITS - 1)) && value < 2 ** (SMALL_INTEGER_BITS - 1);
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('an idle logged-in client', { timeout: 60_000 }, () => {
  let p: RunningPgtide;
  const clients: pg.Client[] = [];
  before(async () => {
    p = await startPgtide(t);
  });
  after(async () => {
    for (const c of clients) await c.end();
    await p.stop();
  });

  test('holds no function, timer or buffer, and only its own few objects, before and after a transaction', async () => {
    // The first login learns the pool's settings from a server; the two measured ones do not.
    const first = new pg.Client(p.pgConfig());
    await first.connect();
    clients.push(first);
    // The database's functions are looked up at its first login, on a connection of pgtide's own with its timers.
    while (p.pgtide.context.functions.lookups > 0) await new Promise((r) => setTimeout(r, 10));
    const timersBefore = timers();
    for (let i = 0; i < 2; i++) {
      const c = new pg.Client(p.pgConfig({ application_name: 'idle' }));
      await c.connect();
      clients.push(c);
    }
    const [a, b] = [...p.pgtide.context.clients].slice(-2) as unknown as [
      Record<string, object>,
      Record<string, object>,
    ];
    for (const when of ['after login', 'after a transaction']) {
      assert.equal(timers(), timersBefore, `${when}: no timer per client`);
      for (const session of [a, b]) {
        const functions = Object.entries(session)
          .filter(([, value]) => typeof value === 'function')
          .map(([name]) => name);
        assert.deepEqual(functions, [], `${when}: no function of its own`);
        // A field is 8 bytes per client: yes/no state lives in the bits of one (session/flags.ts).
        const booleans = Object.entries(session)
          .filter(([, value]) => typeof value === 'boolean')
          .map(([name]) => name);
        assert.deepEqual(booleans, [], `${when}: no boolean field of its own`);
        // A number that is no small integer (Date.now(), say) is kept in a box of 16 bytes per
        // field: times are kept in ticks (session/clock.ts). waitingSince is exact in ms.
        const boxed = Object.entries(session)
          .filter(([name, value]) => typeof value === 'number' && name !== 'waitingSince' && !isSmall(value))
          .map(([name]) => name);
        assert.deepEqual(boxed, [], `${when}: no number of its own that needs a box`);
      }
      assert.deepEqual(ownObjects(a, b), [...OWN_OBJECTS].sort(), `${when}: the objects a client holds for itself`);
      assert.deepEqual(
        ownObjects(a['scanner']!, b['scanner']!),
        [],
        `${when}: the scanner holds no buffer or table of its own`,
      );
      assert.deepEqual(
        ownObjects(a['settings']!, b['settings']!),
        [],
        `${when}: clients with the same startup settings share them`,
      );
      for (const c of clients.slice(-2)) assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    }
  });
});
