import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUserList } from '../../src/auth/userlist.js';
import { loadUserList } from '../../src/config/auth-file.js';

test('parses the seed users.txt line forms', () => {
  const users = parseUserList('"alice" "user_password"\n"bob" "md553f48b7c4b76a86ce72276c5755f217d"\n');
  assert.deepEqual(
    [...users],
    [
      ['alice', 'user_password'],
      ['bob', 'md553f48b7c4b76a86ce72276c5755f217d'],
    ],
  );
});

const accepted: Array<[string, string, Array<[string, string]>]> = [
  ['doubled quotes are one quote', '"we""ird" "pa""ss"""', [['we"ird', 'pa"ss"']]],
  ['spaces and punctuation inside quotes', '"a b" "p a;s#s"', [['a b', 'p a;s#s']]],
  ['a SCRAM secret', '"u" "SCRAM-SHA-256$4096:c2FsdA==$a:b"', [['u', 'SCRAM-SHA-256$4096:c2FsdA==$a:b']]],
  ['comments and blank lines', '; semicolon\n# hash\n\n   \n  ; indented\n"u" "p"', [['u', 'p']]],
  ['trailing text is ignored', '"u" "p" whatever "else"', [['u', 'p']]],
  [
    'tabs and CRLF line ends',
    '"u" "p"\r\n\t"v"\t"q"\r\n',
    [
      ['u', 'p'],
      ['v', 'q'],
    ],
  ],
  ['a later line for the same user wins', '"u" "one"\n"u" "two"', [['u', 'two']]],
  ['a leading byte order mark', '\uFEFF"u" "p"', [['u', 'p']]],
  ['an empty password', '"u" ""', [['u', '']]],
];

for (const [name, text, expected] of accepted) {
  test(`accepts ${name}`, () => {
    assert.deepEqual([...parseUserList(text)], expected);
  });
}

const rejected: Array<[string, string, RegExp]> = [
  ['an unquoted user', 'alice "p"', /users\.txt line 1: expected a double-quoted user name/],
  ['a missing password', '"alice"', /users\.txt line 1: expected a double-quoted password/],
  ['an unquoted password', '"alice" secret', /users\.txt line 1: expected a double-quoted password/],
  ['an unterminated user', '"alice', /users\.txt line 1: unterminated double-quoted user name/],
  // `""` is an escaped quote, so adjacent fields read as one user name `u"p`.
  ['adjacent fields without a space', '"u""p"', /users\.txt line 1: expected a double-quoted password/],
  ['an unterminated password', '# c\n\n"alice" "hunter2', /users\.txt line 3: unterminated double-quoted password/],
  ['an empty user', '"u" "p"\n"" "p"', /users\.txt line 2: empty user name/],
];

for (const [name, text, message] of rejected) {
  test(`rejects ${name} with the line number`, () => {
    assert.throws(() => parseUserList(text, 'users.txt'), message);
  });
}

test('error messages never contain the password', () => {
  for (const text of ['"alice" "hunter2', '"alice" hunter2', 'hunter2']) {
    assert.throws(
      () => parseUserList(text),
      (error: Error) => !error.message.includes('hunter2'),
    );
  }
});

test('loadUserList reads a file and names it in errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-auth-'));
  try {
    const path = join(dir, 'users.txt');
    writeFileSync(path, '"postgres" "secret"\n');
    assert.deepEqual([...loadUserList(path)], [['postgres', 'secret']]);
    writeFileSync(path, '"postgres" "secret"\nbroken\n');
    assert.throws(() => loadUserList(path), new RegExp(`${path.replace(/[.]/g, '\\.')} line 2`));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
