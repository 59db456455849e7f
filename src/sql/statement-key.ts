// The key tier 2 caches a statement's facts under: its tokens, with every constant replaced by a
// placeholder and whitespace and comments dropped. Applications that inline their values
// (`SELECT f(1)`, `SELECT f(2)`, ...) then share one parse: a constant never changes which
// functions a statement calls or whether it writes, and the parse tree is all tier 2 reads.

import { Lexer, Tok } from './lexer.js';

const NUMBER = 0x30, // '0'
  QUOTE = 0x27,
  SPACE = 0x20,
  PLUS = 0x2b,
  MINUS = 0x2d;

/** Builds keys into one reused buffer: a key costs the lexing and one string. */
export class StatementKeys {
  private readonly lexer = new Lexer();
  private out = Buffer.allocUnsafe(1024);

  /**
   * The key of the statement in buf[start, end): tokens separated by one space, unquoted words
   * lower-cased (PostgreSQL folds them), numbers (with a sign written before them) as `0`,
   * strings of every form (E'', $$...$$, B'', U&'') as `''`. Quoted identifiers and `$n`
   * parameters stay as written: they name things.
   */
  keyOf(buf: Buffer, start: number, end: number): string {
    // A token grows by at most its separator, and one-byte tokens are the worst case: 2x.
    if (2 * (end - start) > this.out.length) this.out = Buffer.allocUnsafe(2 * (end - start));
    const lx = this.lexer,
      out = this.out;
    lx.reset(buf, start, end);
    let n = 0,
      signAt = -1;
    for (let tok = lx.next(); tok !== Tok.End; tok = lx.next()) {
      if (n > 0) out[n++] = SPACE;
      const at = n;
      if (tok === Tok.Number) {
        // A sign just before a number is part of the constant as written: `f(-1)` is `f(1)`.
        if (signAt >= 0) n = signAt;
        out[n++] = NUMBER;
      } else if (tok === Tok.String) {
        out[n++] = QUOTE;
        out[n++] = QUOTE;
      } else if (tok === Tok.Word) {
        for (let p = lx.tokStart; p < lx.tokEnd; p++) {
          const b = buf[p]!;
          out[n++] = b >= 0x41 && b <= 0x5a ? b + 32 : b;
        }
      } else if (tok === Tok.Error) {
        // Not reached for a statement the classifier lexed whole; kept distinct all the same.
        n += buf.copy(out, n, lx.tokEnd, end);
        break;
      } else {
        n += buf.copy(out, n, lx.tokStart, lx.tokEnd);
      }
      const b = buf[lx.tokStart];
      signAt = tok === Tok.Op && (b === MINUS || b === PLUS) ? at : -1;
    }
    return out.toString('latin1', 0, n);
  }
}
