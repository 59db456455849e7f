// The differential fuzzer's seeded generator: batches of frontend messages, each one write of
// either a simple Query or extended-protocol messages ending in Sync, over the statement names
// '', s1 and s2 and the portals '' and p1. The same seed gives the same batches, whatever the
// answers.
import { query } from '../src/protocol/encode.js';
import { bind, close, describe, execute, parse, sync } from '../test/support/pipeline.js';

export interface Batch {
  /** Readable form, e.g. `P(s1,"SELECT 1") B(,s1,0) E(,0) S`. */
  desc: string;
  hex: string;
  /** ReadyForQuery messages the batch gets: one per Sync, or one for a Query. */
  syncs: number;
  /** Split mode: byte positions where the write to pgtide is cut, and the pause (ms) after each piece. */
  cuts?: number[];
  pauses?: number[];
}

const SIMPLE = [
  'SELECT 1',
  'SELECT 1/0',
  "SELECT 'a' AS x, 2 AS y",
  'SELECT g FROM generate_series(1,5) g',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT sp',
  'ROLLBACK TO SAVEPOINT sp',
  'RELEASE sp',
  "SET application_name = 'fz'",
  'SHOW application_name',
  'RESET application_name',
  'SET search_path = pg_catalog, public',
  'SHOW search_path',
  "SET LOCAL statement_timeout = '5s'",
  'SHOW statement_timeout',
  'SET statement_timeout = 0',
  'RESET ALL',
  'PREPARE q1 AS SELECT $1::int * 3',
  'PREPARE q2 AS SELECT 2 AS two',
  'EXECUTE q1(7)',
  'EXECUTE q2',
  'DEALLOCATE q1',
  'DEALLOCATE ALL',
  'DEALLOCATE PREPARE q2',
  'DECLARE c1 CURSOR FOR SELECT g FROM generate_series(1,10) g',
  'DECLARE c2 CURSOR WITH HOLD FOR SELECT 1 AS one',
  'FETCH 3 FROM c1',
  'FETCH ALL FROM c2',
  'CLOSE c1',
  'CLOSE ALL',
  'SELECT nonexistent_col',
  '',
  ';',
  'SELECT 1; SELECT 2',
  'BEGIN; SELECT 1; COMMIT',
  'SELECT 1; SELECT 1/0; SELECT 2',
  'BEGIN READ ONLY',
  'START TRANSACTION ISOLATION LEVEL REPEATABLE READ',
  'SHOW transaction_isolation',
  "SELECT current_setting('application_name')",
  'DISCARD ALL',
  "SET TIME ZONE 'UTC'",
  'SHOW TimeZone',
  'select 1 as "X"',
  'COMMIT AND CHAIN',
  "ROLLBACK PREPARED 'nope'",
  'SELECT count(*) FROM pg_cursors',
];

/**
 * SQL that names the statements the client prepares by protocol (s1, s2), which pgtide renames
 * on its servers (FUZZ_PROTOCOL_NAMES_IN_SQL=1: off by default, so that the seeds of the
 * divergences bench/README.md cites still give the same batches).
 */
const PROTOCOL_NAMES_IN_SQL = [
  'EXECUTE s1',
  'EXECUTE s2',
  'EXECUTE s1(5, 6)',
  'EXECUTE s2(7)',
  'EXPLAIN (COSTS OFF) EXECUTE s1',
  'SELECT 1; EXECUTE s2; SELECT 2',
  'DEALLOCATE s1; EXECUTE s1',
  'EXECUTE "S1"',
];

/** The client reads its own statements (known divergence (3) until pgtide listed them as the client's). */
const PREPARED_VIEW = ['SELECT name, statement FROM pg_prepared_statements ORDER BY name'];

/** Statement texts for Parse, with the number of parameters each takes. */
const EXTENDED: [string, number][] = [
  ['SELECT 1', 0],
  ['SELECT $1::int + 1', 1],
  ['SELECT 1/0', 0],
  ["SELECT 'a' AS x, 2 AS y", 0],
  ['SELECT g FROM generate_series(1,5) g', 0],
  ['BEGIN', 0],
  ['COMMIT', 0],
  ['ROLLBACK', 0],
  ['SELECT $1::text AS t, $2::int AS n', 2],
  ['SHOW application_name', 0],
  ["SET application_name = 'fx'", 0],
  ['', 0],
  ['SELECT nonexistent_col', 0],
  ['SELECT 1; SELECT 2', 0],
  ['PREPARE q1 AS SELECT $1::int * 3', 0],
  ['EXECUTE q1(4)', 0],
];

/** Known divergence (7): a statement that EXECUTEs a name made by SQL PREPARE has the result
 *  description of when its server prepared it. Avoiding it, no Parse carries such a text. */
const EXTENDED_AVOIDING_KNOWN = EXTENDED.filter(([sql]) => !sql.startsWith('EXECUTE '));

const DEALLOCATES: [string, number][] = [
  ['DEALLOCATE ALL', 0],
  ['DEALLOCATE s1', 0],
];

const MAX_MESSAGES = 6;

export interface GeneratorOptions {
  /** Leave out the shapes of known divergences (1), (2) and (7) (bench/README.md). */
  avoidKnown: boolean;
  /** Simple queries may also EXECUTE or DEALLOCATE s1 and s2 (see PROTOCOL_NAMES_IN_SQL). */
  protocolNamesInSql?: boolean;
  /** Sometimes query texts and parameters of 70-300 KB, so that messages span pgtide's 64 KiB reads. */
  big?: boolean;
}

/** Texts over 64 KiB, with their parameter count (split mode). */
function bigTexts(n: number): [string, number][] {
  return [
    ['SELECT length($1::text) AS len', 1],
    [`SELECT 1 AS one /* ${'c'.repeat(n)} */`, 0],
    [`SELECT length('${'q'.repeat(n)}') AS len`, 0],
    [`SELECT length($1::text) AS len, $2::int AS k /* ${'d'.repeat(n)} */`, 2],
  ];
}

/** A linear congruential generator: small, and the same sequence on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

export function generator(seed: number, opts: GeneratorOptions): () => Batch {
  const rnd = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const simple = [...SIMPLE, ...PREPARED_VIEW, ...(opts.protocolNamesInSql ? PROTOCOL_NAMES_IN_SQL : [])];
  const texts = opts.avoidKnown ? EXTENDED_AVOIDING_KNOWN : [...EXTENDED, ...DEALLOCATES];
  /** The parameter count of what the client last parsed under each name: Bind usually fits it. */
  const paramCounts = new Map<string, number>();
  // Big texts and parameters come from a stream of their own: the other choices stay as without.
  const rndBig = seededRandom(seed ^ 0x5bd1e995);
  const bigSize = () => 70_000 + Math.floor(rndBig() * 230_000);
  const big = (p: number) => opts.big === true && rndBig() < p;
  const pickBig = <T>(list: readonly T[]): T => list[Math.floor(rndBig() * list.length)]!;

  return () => {
    if (rnd() < 0.4) {
      let sql = pick(simple);
      if (big(0.12)) {
        const n = bigSize();
        sql = pickBig([`SELECT length('${'q'.repeat(n)}') AS len`, `/* ${'c'.repeat(n)} */ ${sql}`]);
        return {
          desc: `Q ${JSON.stringify(sql.slice(0, 40))}…(${sql.length})`,
          hex: query(sql).toString('hex'),
          syncs: 1,
        };
      }
      return { desc: `Q ${JSON.stringify(sql)}`, hex: query(sql).toString('hex'), syncs: 1 };
    }
    const parts: Buffer[] = [];
    const desc: string[] = [];
    const add = (bytes: Buffer, text: string) => (parts.push(bytes), desc.push(text));
    // Known divergence (1): the unnamed statement used in a later transaction. Avoiding it,
    // only a Parse since the last Sync makes '' a statement to use.
    let unnamedParsed = false;
    const statement = () => (opts.avoidKnown && !unnamedParsed ? pick(['s1', 's2']) : pick(['', '', 's1', 's2']));
    // Known divergence (6): the unnamed portal a failed simple Query leaves behind, which
    // PostgreSQL 18 answers at random and may crash on. Avoiding it, '' is executed or described
    // only after a Bind of it since the last Sync, which replaces it (or, failing, skips them).
    let unnamedBound = false;
    const portalName = () => (opts.avoidKnown && !unnamedBound ? 'p1' : pick(['', '', 'p1']));
    // Known divergence (2): a DEALLOCATE the server skips. Avoiding it, one comes only first in
    // its batch, unnamed and executed at once.
    if (opts.avoidKnown && rnd() < 0.05) {
      const [sql] = pick(DEALLOCATES);
      add(parse('', sql), `P(,${JSON.stringify(sql)})`);
      add(bind('', '', []), 'B(,,0)');
      add(execute('', 0), 'E(,0)');
    }
    const count = 1 + Math.floor(rnd() * MAX_MESSAGES);
    for (let i = 0; i < count; i++) {
      const r = rnd();
      if (r < 0.3) {
        const name = pick(['', '', 's1', 's2']);
        let [sql, params] = pick(texts);
        if (big(0.2)) [sql, params] = pickBig(bigTexts(bigSize()));
        paramCounts.set(name, params);
        if (name === '') unnamedParsed = true;
        const shown = sql.length > 200 ? `${JSON.stringify(sql.slice(0, 40))}…(${sql.length})` : JSON.stringify(sql);
        add(parse(name, sql), `P(${name},${shown})`);
      } else if (r < 0.55) {
        const st = statement();
        const portal = pick(['', '', 'p1']);
        if (portal === '') unnamedBound = true;
        let n = paramCounts.get(st) ?? 0;
        if (rnd() < 0.1) n = (n + 1) % 3;
        const values = Array.from({ length: n }, (_, k) => String(k + 5));
        let bigNote = '';
        if (n > 0 && big(0.3)) {
          const size = bigSize();
          values[0] = 'b'.repeat(size);
          bigNote = `,$1=${size}B`;
        }
        add(bind(portal, st, values), `B(${portal},${st},${n}${bigNote})`);
      } else if (r < 0.65) {
        const kind = pick(['S', 'P'] as const);
        const name = kind === 'S' ? statement() : portalName();
        add(describe(kind, name), `D${kind}(${name})`);
      } else if (r < 0.85) {
        const portal = portalName();
        const max = pick([0, 0, 2]);
        add(execute(portal, max), `E(${portal},${max})`);
      } else if (r < 0.93) {
        const kind = pick(['S', 'P'] as const);
        const name = kind === 'S' ? pick(['', 's1', 's2']) : pick(['', 'p1']);
        add(close(kind, name), `C${kind}(${name})`);
      } else {
        add(sync(), 'S');
        unnamedParsed = false;
        unnamedBound = false;
      }
    }
    add(sync(), 'S');
    return {
      desc: desc.join(' '),
      hex: Buffer.concat(parts).toString('hex'),
      syncs: desc.filter((d) => d === 'S').length,
    };
  };
}
