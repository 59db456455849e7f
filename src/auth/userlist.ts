// PgBouncer's auth_file: one `"user" "password"` per line, where the password is plain
// text, an md5 hash or a SCRAM secret (see secret.ts). Errors name the line, never the
// password. Pure: src/config/auth-file.ts reads the file.

/** user -> stored password; a user listed twice keeps the later line. */
export function parseUserList(text: string, source = 'user list'): Map<string, string> {
  const users = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const start = line.length - line.trimStart().length;
    if (start === line.length || line[start] === ';' || line[start] === '#') continue;
    const where = `${source} line ${index + 1}`;
    const user = readQuoted(line, start, 'user name', where);
    if (user.value === '') throw new Error(`${where}: empty user name`);
    const passwordStart = line.length - line.slice(user.end).trimStart().length;
    // Anything after the password is ignored, as PgBouncer does.
    users.set(user.value, readQuoted(line, passwordStart, 'password', where).value);
  }
  return users;
}

/** Reads a double-quoted field starting at `at`, where `""` stands for one `"`. */
function readQuoted(line: string, at: number, field: string, where: string): { value: string; end: number } {
  if (line[at] !== '"') throw new Error(`${where}: expected a double-quoted ${field}`);
  let value = '';
  let from = at + 1;
  for (;;) {
    const quote = line.indexOf('"', from);
    if (quote < 0) throw new Error(`${where}: unterminated double-quoted ${field}`);
    value += line.slice(from, quote);
    if (line[quote + 1] !== '"') return { value, end: quote + 1 };
    value += '"';
    from = quote + 2;
  }
}
