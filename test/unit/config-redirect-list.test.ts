import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRedirectList, type RedirectRule } from '../../src/config/redirect-list.js';

function plain(rules: RedirectRule[]): [string, RedirectRule['target'], number][] {
  return rules.map((rule) => [rule.pattern.source, rule.target, rule.weight]);
}

describe('parseRedirectList', () => {
  test('empty text is no rules', () => {
    assert.deepEqual(parseRedirectList(''), []);
    assert.deepEqual(parseRedirectList('   '), []);
  });

  test('targets, weights and spaces', () => {
    assert.deepEqual(
      plain(parseRedirectList('postgres:primary, report.*:standby(0.3) ,mydb[0-4]:1( 1 ),x:Standby(.5)')),
      [
        ['^(?:postgres)$', 'primary', 1],
        ['^(?:report.*)$', 'standby', 0.3],
        ['^(?:mydb[0-4])$', 1, 1],
        ['^(?:x)$', 'standby', 0.5],
      ],
    );
  });

  test('patterns match whole names only, as Pgpool-II anchors them', () => {
    const [rule] = parseRedirectList('app|web:standby');
    assert.ok(rule!.pattern.test('app'));
    assert.ok(rule!.pattern.test('web'));
    assert.ok(!rule!.pattern.test('myapp'));
    assert.ok(!rule!.pattern.test('app2'));
  });

  test('the last colon separates the target, so a pattern may hold colons', () => {
    assert.deepEqual(plain(parseRedirectList('a:b:primary')), [['^(?:a:b)$', 'primary', 1]]);
  });

  test('weight 0 is allowed', () => {
    assert.equal(parseRedirectList('a:0(0)')[0]!.weight, 0);
  });

  const bad: [string, RegExp][] = [
    ['app', /must look like "regex:target"/],
    [':primary', /must look like "regex:target"/],
    ['app:', /the target must be/],
    ['app:replica', /got "replica"/],
    ['app:-1', /the target must be/],
    ['app:1024', /backend index \(0 to 1023\)/],
    ['app:primary(1.5)', /weight must be a number from 0 to 1, got "1.5"/],
    ['app:primary(abc)', /weight must be/],
    ['app:primary()', /weight must be/],
    ['app:primary(0.5', /the target must be/],
    ['app:primary(0.5)x', /the target must be/],
    ['a[:primary', /invalid regular expression/],
    ['a,,b:primary', /entry "a" must look like/],
    ['a:primary,', /entry "" must look like/],
    ['  :standby', /must look like|empty pattern/],
  ];
  for (const [text, message] of bad) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseRedirectList(text), message);
    });
  }

  test('refuses a runaway list', () => {
    const text = Array.from({ length: 257 }, (_, i) => `db${i}:primary`).join(',');
    assert.throws(() => parseRedirectList(text), /more than 256 entries/);
    assert.equal(parseRedirectList(text.split(',').slice(0, 256).join(',')).length, 256);
  });
});
