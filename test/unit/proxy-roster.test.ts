import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Roster } from '../../src/proxy/roster.js';
import { seededRandom } from '../../bench/fuzz-generator.js';

class Member {
  clientSlot = -1;
  loginSlot = -1;
  constructor(readonly id: number) {}
}

const ids = (roster: Roster<'clientSlot', Member>): number[] => [...roster].map((m) => m.id);

describe('roster', () => {
  it('keeps its members in the order they joined, through removals and compaction', () => {
    const roster = new Roster<'clientSlot', Member>('clientSlot');
    const model: Member[] = [];
    const next = seededRandom(7);
    let made = 0;
    for (let step = 0; step < 20_000; step++) {
      if (model.length === 0 || next() < 0.52) {
        const m = new Member(made++);
        roster.add(m);
        model.push(m);
      } else {
        const at = Math.floor(next() * model.length);
        const [gone] = model.splice(at, 1);
        assert.equal(roster.delete(gone!), true);
        assert.equal(gone!.clientSlot, -1);
      }
      assert.equal(roster.size, model.length);
      if (step % 997 === 0)
        assert.deepEqual(
          ids(roster),
          model.map((m) => m.id),
        );
      assert.equal(roster.oldest(), model[0]);
    }
    assert.deepEqual(
      ids(roster),
      model.map((m) => m.id),
    );
  });

  it('adds a member once, removes it once, and tells a stranger apart', () => {
    const roster = new Roster<'clientSlot', Member>('clientSlot');
    const a = new Member(1);
    roster.add(a);
    roster.add(a);
    assert.equal(roster.size, 1);
    assert.equal(roster.delete(new Member(2)), false);
    assert.equal(roster.delete(a), true);
    assert.equal(roster.delete(a), false);
    assert.equal(roster.size, 0);
    assert.equal(roster.oldest(), undefined);
  });

  it('keeps two rosters of the same members apart by their slot fields', () => {
    const clients = new Roster<'clientSlot', Member>('clientSlot');
    const logins = new Roster<'loginSlot', Member>('loginSlot');
    const members = Array.from({ length: 100 }, (_, i) => new Member(i));
    for (const m of members) {
      clients.add(m);
      logins.add(m);
    }
    for (const m of members.slice(0, 90)) logins.delete(m);
    logins.add(new Member(100));
    assert.equal(clients.size, 100);
    assert.deepEqual(
      [...logins].map((m) => m.id),
      [90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100],
    );
    assert.equal(logins.oldest()?.id, 90);
  });

  it('lets an iteration remove members, visits none that left before its turn, and moves nothing under it', () => {
    const roster = new Roster<'clientSlot', Member>('clientSlot');
    const members = Array.from({ length: 200 }, (_, i) => new Member(i));
    for (const m of members) roster.add(m);
    for (const m of members.slice(0, 150)) roster.delete(m);
    const seen: number[] = [];
    for (const m of roster) {
      seen.push(m.id);
      // Each visit removes itself and the member after it; a join meanwhile is not visited and compacts nothing.
      roster.delete(m);
      const after = members[m.id + 1];
      if (after) roster.delete(after);
      roster.add(new Member(1000 + m.id));
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => 150 + 2 * i),
    );
    assert.equal(roster.size, 25);
    assert.deepEqual(
      ids(roster),
      seen.map((id) => 1000 + id),
    );
  });

  it('compacts past an iteration left unfinished once the holes pile up', () => {
    const roster = new Roster<'clientSlot', Member>('clientSlot');
    const members = Array.from({ length: 5010 }, (_, i) => new Member(i));
    for (const m of members.slice(0, 10)) roster.add(m);
    // Taken by hand at the first member and never finished: its walk stays open.
    const abandoned = roster[Symbol.iterator]();
    assert.equal(abandoned.next().value?.id, 0);
    for (const m of members.slice(10)) roster.add(m);
    for (const m of members.slice(0, 5000)) roster.delete(m);
    // 5,000 holes for 10 members: the next join compacts though the walk is open, so the
    // members move down into the slots it has yet to visit.
    roster.add(new Member(5010));
    assert.deepEqual(ids(roster), [5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010]);
    assert.equal(abandoned.next().value?.id, 5001);
  });
});
