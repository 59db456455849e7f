import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { ClientStatements } from '../../src/proxy/prepared-statements.js';
import { StatementRegistry, statementScope } from '../../src/proxy/statement-registry.js';
import { findDeallocations, findStatementNames } from '../../src/sql/statement-names.js';
import { ResponseTracker } from '../../src/proxy/response-tracker.js';
import { PreparedSet } from '../../src/pool/prepared-set.js';
import { PoolStats } from '../../src/pool/pool.js';
import * as encode from '../../src/protocol/encode.js';
import { BackendMessage } from '../../src/protocol/types.js';
import { Classifier } from '../../src/sql/index.js';
import type { BackendConfig } from '../../src/config/types.js';
import { heldClassifier } from './sql-held-parser.js';
import { timeGrowth, type Clock } from './time-growth.js';

/** The messages of a frontend byte stream as "<type> <printable body>". */
function messages(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let off = 0; off < bytes.length; ) {
    const end = off + 1 + bytes.readUInt32BE(off + 1);
    out.push(
      `${String.fromCharCode(bytes[off]!)} ${bytes
        .subarray(off + 5, end)
        .toString('latin1')
        .replace(/\0/g, '|')}`,
    );
    off = end;
  }
  return out;
}

const classifier = new Classifier();
const registry = () => new StatementRegistry((text, start, end) => classifier.classifyBytes(text, start, end));

function client(shared = registry()) {
  const answered: Buffer[] = [];
  const statements = new ClientStatements(shared, () => 'scope');
  const tracker = new ResponseTracker();
  const stats = new PoolStats();
  const rewrite = (set: PreparedSet, ...msgs: Buffer[]) => {
    tracker.reset(set);
    return messages(statements.rewrite(Buffer.concat(msgs), set, tracker, stats, (b) => answered.push(b) > 0));
  };
  return { statements, tracker, stats, answered, rewrite, registry: shared };
}

const parse = (name: string, text: string) => serialize.parse({ name, text, types: [] });
const bind = (statement: string) => serialize.bind({ statement, values: ['1'] });

describe('ClientStatements.rewrite', () => {
  it('maps a client name to the shared server name, in Parse and Bind', () => {
    const c = client();
    const set = new PreparedSet(10);
    assert.deepEqual(c.rewrite(set, parse('q1', 'SELECT $1'), bind('q1'), serialize.sync()), [
      ...messages(parse('pgtide_1', 'SELECT $1')),
      ...messages(bind('pgtide_1')),
      'S ',
    ]);
    assert.equal(set.has('pgtide_1'), true);
    assert.deepEqual([c.stats.clientParses, c.stats.serverParses, c.stats.binds], [1, 1, 1]);
  });

  it('a second client with the same text shares the statement; pgtide answers its Parse when the server has it', () => {
    const shared = registry();
    const set = new PreparedSet(10);
    client(shared).rewrite(set, parse('mine', 'SELECT 1'), serialize.sync());
    const b = client(shared);
    assert.deepEqual(b.rewrite(set, parse('theirs', 'SELECT 1'), bind('theirs'), serialize.sync()), [
      ...messages(bind('pgtide_1')),
      'S ',
    ]);
    assert.deepEqual(b.answered, [encode.parseComplete()], 'answered at once: nothing was owed before it');
  });

  it('a Bind on a server that lacks the statement prepares it first', () => {
    const c = client();
    c.rewrite(new PreparedSet(10), parse('q', 'SELECT 2'), serialize.sync());
    assert.deepEqual(c.rewrite(new PreparedSet(10), bind('q'), serialize.sync()), [
      ...messages(parse('pgtide_1', 'SELECT 2')),
      ...messages(bind('pgtide_1')),
      'S ',
    ]);
  });

  it('Close of a statement is answered by pgtide and forgets only the client name', () => {
    const c = client();
    const set = new PreparedSet(10);
    c.rewrite(set, parse('q', 'SELECT 3'), serialize.sync());
    assert.deepEqual(c.rewrite(set, serialize.close({ type: 'S', name: 'q' }), serialize.sync()), ['S ']);
    assert.deepEqual(c.answered, [encode.closeComplete()]);
    assert.equal(c.statements.size, 0);
    assert.equal(set.has('pgtide_1'), true, 'others may still use it');
  });

  it('unnamed statements and unknown names pass unchanged', () => {
    const c = client();
    const set = new PreparedSet(10);
    const input = [parse('', 'SELECT 4'), bind(''), bind('nobody'), serialize.sync()];
    assert.deepEqual(c.rewrite(set, ...input), messages(Buffer.concat(input)));
  });

  it('the LRU closes the least recently used statement to make room', () => {
    const c = client();
    const set = new PreparedSet(1);
    c.rewrite(set, parse('a', 'SELECT 5'), serialize.sync());
    assert.deepEqual(c.rewrite(set, parse('b', 'SELECT 6'), serialize.sync()), [
      'C Spgtide_1|',
      ...messages(parse('pgtide_2', 'SELECT 6')),
      'S ',
    ]);
  });

  it('DEALLOCATE of a client name deallocates the shared name', () => {
    const c = client();
    const set = new PreparedSet(10);
    c.rewrite(set, parse('q', 'SELECT 7'), serialize.sync());
    assert.deepEqual(c.rewrite(set, encode.query('DEALLOCATE q')), ['Q DEALLOCATE "pgtide_1"|']);
    assert.equal(c.statements.size, 0);
  });

  it('DEALLOCATE in a multi-statement query and in an unnamed Parse: the client name becomes the server name', () => {
    const c = client();
    const set = new PreparedSet(10);
    c.rewrite(set, parse('q', 'SELECT 8'), parse('r', 'SELECT 9'), serialize.sync());
    assert.deepEqual(c.rewrite(set, encode.query('SELECT 1; DEALLOCATE PREPARE q; SELECT 2')), [
      'Q SELECT 1; DEALLOCATE PREPARE "pgtide_1"; SELECT 2|',
    ]);
    assert.deepEqual(c.rewrite(set, parse('', 'deallocate r'), bind(''), serialize.sync()), [
      ...messages(parse('', 'deallocate "pgtide_2"')),
      ...messages(bind('')),
      'S ',
    ]);
    // Parsed and bound, the DEALLOCATE has not run: the name stays until a portal of it runs.
    assert.equal(c.statements.size, 1);
    c.rewrite(set, parse('', 'deallocate r'), bind(''), serialize.execute({}), serialize.sync());
    assert.equal(c.statements.size, 0);
    assert.equal(
      set.isDoubtful('pgtide_1') && set.isDoubtful('pgtide_2'),
      true,
      'closed before they are prepared again',
    );
  });

  it('DEALLOCATE ALL in an unnamed statement, once run, forgets every name and doubts every statement of the server', () => {
    const c = client();
    const set = new PreparedSet(10);
    c.rewrite(set, parse('q', 'SELECT 10'), serialize.sync());
    assert.deepEqual(c.rewrite(set, parse('', 'DEALLOCATE ALL'), serialize.sync()), [
      ...messages(parse('', 'DEALLOCATE ALL')),
      'S ',
    ]);
    assert.equal(c.statements.size, 1, 'parsed, not run');
    c.rewrite(set, parse('', 'DEALLOCATE ALL'), bind(''), serialize.execute({}), serialize.sync());
    assert.equal(c.statements.size, 0);
    assert.equal(set.size, 0);
    assert.equal(set.isDoubtful('pgtide_1'), true);
  });

  // Found by a helper: under repeated DDL a server held 1,957 statements with
  // max_prepared_statements = 200: a copy left in doubt (a version a schema change replaced,
  // which no Parse under its name comes back for) was never closed, nor counted.
  it('copies left in doubt are closed at the next Parse on that server, whatever its name', () => {
    const c = client();
    const set = new PreparedSet(10);
    c.rewrite(set, parse('a', 'SELECT 1'), serialize.sync());
    set.doubt('pgtide_1');
    assert.deepEqual(c.rewrite(set, parse('b', 'SELECT 2'), serialize.sync()), [
      'C Spgtide_1|',
      ...messages(parse('pgtide_2', 'SELECT 2')),
      'S ',
    ]);
    assert.equal(set.isDoubtful('pgtide_1'), false);
  });

  it('a statement shown stale is prepared afresh (Close, then Parse) wherever an older copy is, and Parse is not answered from it', () => {
    const shared = registry();
    const a = client(shared);
    const elsewhere = new PreparedSet(10);
    const set = new PreparedSet(10);
    a.rewrite(elsewhere, parse('q', 'SELECT 11'), serialize.sync());
    a.rewrite(set, bind('q'), serialize.sync());
    a.statements.invalidate('pgtide_1');
    const b = client(shared);
    assert.deepEqual(b.rewrite(elsewhere, parse('mine', 'SELECT 11'), serialize.sync()), [
      'C Spgtide_1|',
      ...messages(parse('pgtide_1', 'SELECT 11')),
      'S ',
    ]);
    assert.deepEqual(b.answered, [], 'the server answers the Parse');
    assert.deepEqual(a.rewrite(set, bind('q'), serialize.sync()), [
      'C Spgtide_1|',
      ...messages(parse('pgtide_1', 'SELECT 11')),
      ...messages(bind('pgtide_1')),
      'S ',
    ]);
  });
});

describe('a statement whose shape clients were told, prepared afresh on a server: its shape is checked first', () => {
  const ROW = 0x54;
  const rows = (typeOid: number) => encode.rowDescription([{ name: 'v', typeOid }]).subarray(5);
  const INT4 = 23,
    TEXT = 25;
  const execute = serialize.execute({});

  /** A client that prepared and described 's' on server A (its RowDescription: int4), then binds it on server B. */
  function describedOnA(...more: Buffer[]) {
    const c = client();
    c.rewrite(
      new PreparedSet(10),
      parse('s', 'SELECT v FROM t'),
      serialize.describe({ type: 'S', name: 's' }),
      serialize.sync(),
    );
    c.statements.learnShape('pgtide_1', ROW, rows(INT4), null);
    c.statements.endUndo();
    const b = new PreparedSet(10);
    const sent = c.rewrite(b, bind('s'), ...more, execute, serialize.sync());
    return { c, b, sent };
  }

  it('the Bind and what follows wait; the statement is prepared and described there, then Flush', () => {
    const { c, sent } = describedOnA();
    assert.deepEqual(sent, [...messages(parse('pgtide_1', 'SELECT v FROM t')), 'D Spgtide_1|', 'H ']);
    assert.equal(c.statements.holding, true);
    // More bytes of the client's wait behind them.
    c.statements.hold(serialize.sync());
    assert.equal(c.statements.takeHeld().length, 2);
  });

  it('two shapes told at one version: a new version when two backends disagree, none when two servers of one do', () => {
    const primary = { name: 'primary' } as BackendConfig;
    const standby = { name: 'standby' } as BackendConfig;
    const bindAfter = (first: BackendConfig, second: BackendConfig) => {
      const c = client();
      const set = new PreparedSet(10);
      c.rewrite(set, parse('s', 'SELECT v FROM t'), serialize.describe({ type: 'S', name: 's' }), serialize.sync());
      c.statements.learnShape('pgtide_1', ROW, rows(INT4), first);
      c.statements.learnShape('pgtide_1', ROW, rows(TEXT), second);
      c.statements.endUndo();
      return c.rewrite(set, bind('s'), execute, serialize.sync())[0]!;
    };
    // A standby behind the primary: a new version, whose shape is learned (on the server the
    // Bind goes to) before the client binds with the description it holds.
    assert.equal(bindAfter(primary, standby), 'C Spgtide_1|');
    // One backend's servers disagree only across a table change, which PostgreSQL and the
    // shape check of a fresh copy already guard: the client's Bind runs.
    assert.equal(bindAfter(primary, primary), messages(bind('pgtide_1'))[0]);
  });

  it('a client told the shape of a new version before it was made binds without 0A000; one told another gets it', () => {
    for (const [checked, first] of [
      [INT4, bind('pgtide_1')],
      [TEXT, bind('pgtide_old_shape')],
    ] as const) {
      const { c } = describedOnA();
      c.statements.takeHeld();
      // Another server showed the statement stale: a new version, whose shape is not known yet.
      c.statements.invalidate('pgtide_1');
      const b = new PreparedSet(10);
      c.tracker.reset(b);
      const sent = c.rewrite(b, bind('s'), execute, serialize.sync());
      assert.deepEqual(sent, [...messages(parse('pgtide_1', 'SELECT v FROM t')), 'D Spgtide_1|', 'H ']);
      c.statements.shapeAnswered(ROW, rows(checked), b, null);
      const [held] = c.statements.takeHeld();
      const again = messages(c.statements.rewrite(held!, b, c.tracker, c.stats, () => true));
      assert.equal(again[0], messages(first)[0], `checked ${checked}`);
    }
  });

  it('a client told the shape the new version has binds at once, where the version is held', () => {
    const { c } = describedOnA();
    c.statements.takeHeld();
    c.statements.invalidate('pgtide_1');
    // Another client describes the new version on a server that holds it: the same shape.
    const b = new PreparedSet(10);
    const other = client(c.registry);
    other.rewrite(
      b,
      parse('mine', 'SELECT v FROM t'),
      serialize.describe({ type: 'S', name: 'mine' }),
      serialize.sync(),
    );
    other.statements.learnShape('pgtide_1', ROW, rows(INT4), null);
    c.tracker.reset(b);
    assert.deepEqual(c.rewrite(b, bind('s'), execute, serialize.sync()), [
      ...messages(bind('pgtide_1')),
      ...messages(execute),
      'S ',
    ]);
  });

  it('the same shape there: the Bind runs, with no Parse (the server holds it now)', () => {
    const { c, b } = describedOnA();
    c.statements.shapeAnswered(ROW, rows(INT4), b, null);
    const [held] = c.statements.takeHeld();
    assert.deepEqual(messages(c.statements.rewrite(held!, b, c.tracker, c.stats, () => true)), [
      ...messages(bind('pgtide_1')),
      ...messages(execute),
      'S ',
    ]);
  });

  it('another shape there: a new version of the statement, and the Bind goes where the server fails it (0A000)', () => {
    const { c, b } = describedOnA();
    c.statements.shapeAnswered(ROW, rows(TEXT), b, null);
    const [held] = c.statements.takeHeld();
    const sent = messages(c.statements.rewrite(held!, b, c.tracker, c.stats, () => true));
    assert.deepEqual(sent[0], messages(bind('pgtide_old_shape'))[0]);
    // The copy there is of the new version: another client's Bind uses it as it is.
    assert.equal(b.holds({ serverName: 'pgtide_1', epoch: 1 }), true);
  });

  it('a client that never described it is checked too: the copy made here serves clients that did', () => {
    const { c } = describedOnA();
    const other = client(c.registry);
    const b = new PreparedSet(10);
    assert.deepEqual(other.rewrite(b, parse('mine', 'SELECT v FROM t'), serialize.sync()), [
      ...messages(parse('pgtide_1', 'SELECT v FROM t')),
      'D Spgtide_1|',
      'H ',
    ]);
    assert.equal(other.statements.holding, true);
    other.statements.shapeAnswered(ROW, rows(TEXT), b, null);
    // The check's answers are in (nothing is owed).
    other.tracker.reset(b);
    // Its Parse is answered from the copy the check made (of the new version).
    const [held] = other.statements.takeHeld();
    assert.deepEqual(
      messages(other.statements.rewrite(held!, b, other.tracker, other.stats, (m) => other.answered.push(m) > 0)),
      ['S '],
    );
    assert.deepEqual(other.answered, [encode.parseComplete()]);
    // The first client's Bind, wherever it lands, fails as PostgreSQL's would.
    const sent = c.rewrite(b, bind('s'), serialize.sync());
    assert.deepEqual(sent[0], messages(bind('pgtide_old_shape'))[0]);
  });

  it('a statement whose shape nobody was told is prepared at once, unchecked', () => {
    const c = client();
    c.rewrite(new PreparedSet(10), parse('s', 'SELECT v FROM t'), serialize.sync());
    assert.deepEqual(c.rewrite(new PreparedSet(10), bind('s'), serialize.sync()), [
      ...messages(parse('pgtide_1', 'SELECT v FROM t')),
      ...messages(bind('pgtide_1')),
      'S ',
    ]);
    assert.equal(c.statements.holding, false);
  });
});

describe("a client told a portal's shape (libpq's PQexecPrepared): its Bind runs only on a copy of that shape", () => {
  const ROW = 0x54;
  const rows = (typeOid: number, format = 0) => {
    const body = Buffer.from(encode.rowDescription([{ name: 'v', typeOid }]).subarray(5));
    body.writeUInt16BE(format, body.length - 2);
    return body;
  };
  const INT4 = 23,
    TEXT = 25;
  const portal = () => [
    bind('s'),
    serialize.describe({ type: 'P', name: '' }),
    serialize.execute({}),
    serialize.sync(),
  ];

  /** A client that prepared 's' on server A and ran it once there, told the portal's shape `told`. */
  function ranOnA(told: Buffer) {
    const c = client();
    const a = new PreparedSet(10);
    c.rewrite(a, parse('s', 'SELECT v FROM t'), serialize.sync());
    c.rewrite(a, ...portal());
    c.statements.learnPortalShape('pgtide_1', 's', ROW, told, a);
    c.statements.endUndo();
    return { c, a };
  }

  /** Server B, whose copy of the statement another client's Describe of a portal found of the shape `typeOid`. */
  function copyTold(c: ReturnType<typeof client>, typeOid: number): PreparedSet {
    const b = new PreparedSet(10);
    const other = client(c.registry);
    other.rewrite(b, parse('mine', 'SELECT v FROM t'), serialize.sync());
    other.statements.learnPortalShape('pgtide_1', 'mine', ROW, rows(typeOid), b);
    return b;
  }

  it('the answer to a Describe of the portal is the shape of the copy there too: the next Bind there runs at once', () => {
    const { c, a } = ranOnA(rows(INT4, 1));
    assert.equal(a.shapeOf('pgtide_1')?.length, rows(INT4).length + 1);
    assert.equal(c.rewrite(a, ...portal())[0], messages(bind('pgtide_1'))[0]);
  });

  it('on a server without the statement, the Bind waits while the copy made there is described', () => {
    const { c } = ranOnA(rows(INT4));
    const b = new PreparedSet(10);
    assert.deepEqual(c.rewrite(b, ...portal()), [
      ...messages(parse('pgtide_1', 'SELECT v FROM t')),
      'D Spgtide_1|',
      'H ',
    ]);
    assert.equal(c.statements.holding, true);
  });

  for (const [name, there, first] of [
    ['the same columns (a statement describes them as text)', rows(INT4), bind('pgtide_1')],
    ["other columns (the table changed): PostgreSQL's 0A000", rows(TEXT), bind('pgtide_old_shape')],
  ] as const) {
    it(`checked there with ${name}`, () => {
      const { c } = ranOnA(rows(INT4, 1));
      const b = new PreparedSet(10);
      c.rewrite(b, ...portal());
      c.statements.shapeAnswered(ROW, there, b, null);
      const [held] = c.statements.takeHeld();
      c.tracker.reset(b);
      const again = messages(c.statements.rewrite(held!, b, c.tracker, c.stats, () => true));
      assert.equal(again[0], messages(first)[0]);
      // The check of one copy says nothing of the statement's shape elsewhere.
      assert.equal(c.statements.named('s')?.shape, null);
    });
  }

  it('a copy whose shape is known from another client is not described again', () => {
    const { c } = ranOnA(rows(INT4));
    const b = copyTold(c, TEXT);
    assert.equal(c.rewrite(b, ...portal())[0], messages(bind('pgtide_old_shape'))[0]);
  });

  it("two names of one text: the statement prepared again under a new name leaves the old name's shape", () => {
    const { c } = ranOnA(rows(INT4));
    const b = new PreparedSet(10);
    c.tracker.reset(b);
    c.rewrite(b, parse('s2', 'SELECT v FROM t'), serialize.sync());
    c.statements.learnPortalShape('pgtide_1', 's2', ROW, rows(TEXT), b);
    const run = (name: string) =>
      c.rewrite(b, bind(name), serialize.describe({ type: 'P', name: '' }), serialize.sync())[0];
    assert.equal(run('s'), messages(bind('pgtide_old_shape'))[0]);
    assert.equal(run('s2'), messages(bind('pgtide_1'))[0]);
  });

  it('names rolled back (the link runs again elsewhere) get back the portal shape the client held', () => {
    const { c } = ranOnA(rows(INT4));
    const b = copyTold(c, TEXT);
    c.statements.beginUndo();
    c.tracker.reset(b);
    c.rewrite(b, serialize.close({ type: 'S', name: 's' }), parse('s', 'SELECT v FROM t'), serialize.sync());
    c.statements.rollBack();
    c.statements.endUndo();
    c.tracker.reset(b);
    assert.equal(c.rewrite(b, ...portal())[0], messages(bind('pgtide_old_shape'))[0]);
  });

  for (const [name, there, first] of [
    ['the same columns (the table made again as it was)', rows(INT4), bind('pgtide_1')],
    ["other columns: PostgreSQL's 0A000", rows(TEXT), bind('pgtide_old_shape')],
  ] as const) {
    it(`a new version of no known shape (a Bind failed with 42P01, its table dropped), checked with ${name}`, () => {
      const { c, a } = ranOnA(rows(INT4));
      c.statements.invalidate('pgtide_1');
      c.tracker.reset(a);
      assert.deepEqual(c.rewrite(a, ...portal()).slice(-2), ['D Spgtide_1|', 'H ']);
      c.statements.shapeAnswered(ROW, there, a, null);
      const [held] = c.statements.takeHeld();
      c.tracker.reset(a);
      const again = messages(c.statements.rewrite(held!, a, c.tracker, c.stats, () => true));
      assert.equal(again[0], messages(first)[0]);
      // And at every later Bind, as long as nothing shows that shape outdated.
      c.tracker.reset(a);
      assert.equal(c.rewrite(a, ...portal())[0], messages(first)[0]);
    });
  }

  it('prepared again (a DISCARD, a stale plan), the copy is described again', () => {
    const { c, a } = ranOnA(rows(INT4));
    a.doubt('pgtide_1');
    assert.equal(a.shapeOf('pgtide_1'), undefined);
    c.tracker.reset(a);
    assert.deepEqual(c.rewrite(a, ...portal()).slice(-2), ['D Spgtide_1|', 'H ']);
  });
});

describe('ClientStatements.rewrite of EXECUTE', () => {
  it('EXECUTE of a client name runs the server name, prepared first where the server lacks it, with a Sync of its own after', () => {
    const c = client();
    c.rewrite(new PreparedSet(10), parse('q', 'SELECT $1::int'), serialize.sync());
    const lacking = new PreparedSet(10);
    assert.deepEqual(c.rewrite(lacking, encode.query('EXECUTE q(1)')), [
      ...messages(parse('pgtide_1', 'SELECT $1::int')),
      'Q EXECUTE "pgtide_1"(1)|',
      'S ',
    ]);
    assert.equal(c.statements.takeAddedSyncs(), 1);
    assert.deepEqual(c.rewrite(lacking, encode.query('explain execute q(2)')), ['Q explain execute "pgtide_1"(2)|']);
    assert.equal(c.statements.takeAddedSyncs(), 0);
  });

  it('an unnamed Parse of EXECUTE prepares the statement in the client batch; no Sync is added', () => {
    const c = client();
    c.rewrite(new PreparedSet(10), parse('q', 'SELECT 1'), serialize.sync());
    assert.deepEqual(c.rewrite(new PreparedSet(10), parse('', 'EXECUTE q'), bind(''), serialize.sync()), [
      ...messages(parse('pgtide_1', 'SELECT 1')),
      ...messages(parse('', 'EXECUTE "pgtide_1"')),
      ...messages(bind('')),
      'S ',
    ]);
    assert.equal(c.statements.takeAddedSyncs(), 0);
  });

  it("after a DEALLOCATE of the name in the same text, and for unknown names, EXECUTE stays the client's", () => {
    const c = client();
    const set = new PreparedSet(10);
    c.rewrite(set, parse('q', 'SELECT 1'), serialize.sync());
    assert.deepEqual(c.rewrite(set, encode.query('DEALLOCATE q; EXECUTE q; EXECUTE nobody')), [
      'Q DEALLOCATE "pgtide_1"; EXECUTE q; EXECUTE nobody|',
    ]);
  });
});

describe('findDeallocations', () => {
  const found = (sql: string) => {
    const b = Buffer.from(sql);
    return (
      findDeallocations(b, 0, b.length)?.map((d) =>
        d.name === null ? 'ALL' : `${d.name}@${b.toString('utf8', d.start, d.end)}`,
      ) ?? null
    );
  };
  it('reads the forms of DEALLOCATE and DISCARD ALL, with where each name is written', () => {
    assert.deepEqual(found('DEALLOCATE q1'), ['q1@q1']);
    assert.deepEqual(found('  deallocate prepare Q1;'), ['q1@Q1']);
    assert.deepEqual(found('DEALLOCATE "Mixed ""Case"""'), ['Mixed "Case"@"Mixed ""Case"""']);
    assert.deepEqual(found('DEALLOCATE ALL'), ['ALL']);
    assert.deepEqual(found('discard all'), ['ALL']);
    assert.deepEqual(found('Deallocate PREPARE all'), ['ALL']);
  });
  it('finds them in every statement of a multi-statement text, and nowhere else', () => {
    assert.deepEqual(found("SELECT 1; DEALLOCATE q1; /* deallocate x */ SELECT 'deallocate y'; DISCARD ALL"), [
      'q1@q1',
      'ALL',
    ]);
    assert.deepEqual(found('SELECT deallocate FROM t; discard plans'), null);
    assert.deepEqual(found('SELECT 1'), null);
    assert.deepEqual(found('DELETE FROM discs WHERE deal'), null);
  });
  // With standard_conforming_strings = off this is a SELECT of two strings (ruby-pg's suite
  // sets it): rewritten, the second string changed and the client's q1 was forgotten.
  it('finds none in text where a backslash comes before a closing quote: it goes as it is', () => {
    assert.deepEqual(found("SELECT 'it\\'s', '; DEALLOCATE q1; '"), null);
    assert.deepEqual(found("SELECT E'it\\'s'; DEALLOCATE q1"), ['q1@q1']);
  });
  it('says which statement of the text each is, empty statements not counted, as PostgreSQL completes them', () => {
    const ordinals = (sql: string) => {
      const b = Buffer.from(sql);
      return findDeallocations(b, 0, b.length)?.map((d) => d.statement) ?? null;
    };
    assert.deepEqual(ordinals('DEALLOCATE q1'), [0]);
    assert.deepEqual(ordinals("SELECT ';'; DEALLOCATE q1;; ; SELECT (1); DISCARD ALL"), [1, 3]);
    assert.deepEqual(ordinals(';DEALLOCATE ALL; DEALLOCATE q2'), [0, 1]);
  });
});

describe('findStatementNames', () => {
  const found = (sql: string) => {
    const b = Buffer.from(sql);
    return (
      findStatementNames(b, 0, b.length, true)?.map(
        (d) => `${d.executes ? 'x' : 'd'} ${d.name}@${b.toString('utf8', d.start, d.end)}#${d.statement}`,
      ) ?? null
    );
  };
  it('reads EXECUTE where PostgreSQL takes one: alone, under EXPLAIN, as the query of CREATE TABLE AS', () => {
    assert.deepEqual(found('EXECUTE q1'), ['x q1@q1#0']);
    assert.deepEqual(found('execute "Q 1"(1, 2); Execute Q2'), ['x Q 1@"Q 1"#0', 'x q2@Q2#1']);
    assert.deepEqual(found('EXPLAIN (ANALYZE, COSTS OFF) EXECUTE q(1)'), ['x q@q#0']);
    assert.deepEqual(found('explain analyze verbose execute q'), ['x q@q#0']);
    assert.deepEqual(found('CREATE TEMP TABLE t (a) WITH (fillfactor = 70) AS EXECUTE q WITH NO DATA'), ['x q@q#0']);
    assert.deepEqual(found('EXPLAIN CREATE UNLOGGED TABLE IF NOT EXISTS s.t AS EXECUTE q'), ['x q@q#0']);
    assert.deepEqual(found('EXECUTE q; DEALLOCATE q; EXECUTE q'), ['x q@q#0', 'd q@q#1', 'x q@q#2']);
  });
  it('finds no EXECUTE elsewhere, nor when not asked to', () => {
    assert.deepEqual(
      found("SELECT 'execute q'; CREATE TABLE t AS SELECT 1 AS execute; CREATE FUNCTION f() AS 'x'"),
      null,
    );
    assert.deepEqual(
      found('CREATE TABLE t (a int GENERATED ALWAYS AS (1) STORED); DO $$ BEGIN EXECUTE q; END $$'),
      null,
    );
    const b = Buffer.from('EXECUTE q');
    assert.equal(findStatementNames(b, 0, b.length, false), null);
  });
});

describe('StatementRegistry scopes', () => {
  it('gives one statement per text in a scope, and another in another scope', () => {
    const shared = registry();
    const rest = parse('q', 'SELECT v FROM items WHERE id = $1').subarray(7);
    const tenantA = statementScope('app', 'app', new Map([['search_path', 'tenant_a']]));
    const tenantB = statementScope('app', 'app', new Map([['search_path', 'tenant_b']]));
    const a = shared.intern(rest, tenantA);
    assert.equal(shared.intern(rest, tenantA), a);
    const b = shared.intern(rest, tenantB);
    assert.notEqual(b, a);
    assert.notEqual(b.serverName, a.serverName);
    assert.equal(shared.find(rest, tenantB), b);
  });

  it('tells apart databases, users, search paths and roles, not other settings', () => {
    const base = statementScope('app', 'alice', new Map([['search_path', 's']]));
    assert.notEqual(statementScope('other', 'alice', new Map([['search_path', 's']])), base);
    assert.notEqual(statementScope('app', 'bob', new Map([['search_path', 's']])), base);
    assert.notEqual(statementScope('app', 'alice', null), base);
    assert.notEqual(
      statementScope(
        'app',
        'alice',
        new Map([
          ['search_path', 's'],
          ['role', 'r'],
        ]),
      ),
      base,
    );
    assert.equal(
      statementScope(
        'app',
        'alice',
        new Map([
          ['search_path', 's'],
          ['timezone', 'UTC'],
        ]),
      ),
      base,
    );
  });
});

describe('StatementRegistry.classification', () => {
  it('a statement interned before the parser answered is classified again at its next run', async () => {
    const [held, parser] = await heldClassifier();
    const shared = new StatementRegistry((text, start, end) => held.classifyBytes(text, start, end));
    const statement = shared.intern(parse('q', 'SELECT "pg_catalog".lower($1)').subarray(7), 'scope'); // after 'q' and its NUL
    assert.equal(shared.classification(statement).awaitingParser, true);
    assert.equal(shared.classification(statement).route, 'write'); // asked once: still waiting
    parser.answerAll(held);
    assert.equal(shared.classification(statement).route, 'read');
    assert.equal(statement.classification.route, 'read'); // kept: later runs cost no lookup
  });
});

describe('a pipelined batch of named Parses', () => {
  /** Milliseconds to rewrite `n` Parses of new statements and their Sync, and to take their answers. */
  function batchTime(n: number, clock: Clock): number {
    const c = client();
    // As the session does (see parseAnswered): each ParseComplete finds its statement.
    c.tracker.onParseAnswered = (serverName) => assert.ok(c.statements.statementNamed(serverName));
    const batch = Buffer.concat([
      ...Array.from({ length: n }, (_, i) => parse(`s${i}`, `SELECT ${i}`)),
      serialize.sync(),
    ]);
    const set = new PreparedSet(2 * n);
    c.tracker.reset(set);
    const start = clock();
    c.statements.rewrite(batch, set, c.tracker, c.stats, () => assert.fail('nothing is answered at once'));
    for (let i = 0; i < n; i++) c.tracker.onAnswer(BackendMessage.ParseComplete);
    c.tracker.onAnswer(BackendMessage.ReadyForQuery);
    const took = clock() - start;
    assert.ok(c.tracker.idle);
    return took;
  }

  it('costs each Parse and its answer alike, however many the batch holds', () => {
    // Found by a hostile-input helper: 9000 Parses before their Sync froze pgtide's event loop
    // for seconds, each Parse looking through every request owed for a Sync, each ParseComplete
    // through every name of the client for its statement. Against a batch a sixteenth its size:
    // linear, some sixteen to forty times as long, where the scans made it a hundred times and more.
    const growth = timeGrowth(batchTime, 1000, 16000);
    assert.ok(growth < 64, `16000 Parses took ${growth.toFixed(1)} times as long as 1000`);
  });
});
