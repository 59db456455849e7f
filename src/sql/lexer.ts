// A byte-level SQL tokenizer following PostgreSQL's lexical rules (scan.l): it
// works on the raw UTF-8 bytes of a Query/Parse message so the common case needs
// no string decoding. It only has to find token boundaries correctly (so that
// keywords hidden in literals, quoted identifiers and comments are ignored); it
// never interprets values beyond what the classifier asks for.

export const enum Tok {
  End,
  Word,
  QuotedIdent,
  String,
  Number,
  Param,
  Op,
  LParen,
  RParen,
  Comma,
  Semicolon,
  Dot,
  DoubleColon,
  LBracket,
  RBracket,
  /** Unterminated literal, quoted identifier or comment: see `Lexer.error`. */
  Error,
}

export const enum StringForm {
  /** '...' with '' as the only escape (standard_conforming_strings = on). */
  Plain,
  /** E'...', U&'...', B'...', X'...', N'...' or $tag$...$tag$. */
  Other,
}

const SLASH = 0x2f,
  STAR = 0x2a,
  DASH = 0x2d,
  QUOTE = 0x27,
  DQUOTE = 0x22,
  DOLLAR = 0x24;
const BACKSLASH = 0x5c,
  COLON = 0x3a,
  LF = 0x0a,
  AMP = 0x26;

const SPACE = 1,
  IDENT_START = 2,
  IDENT = 4,
  DIGIT = 8;

/** Byte classes from scan.l, as a table: the lexer's inner loops test one byte per step. */
const CLASS = (() => {
  const t = new Uint8Array(256);
  for (const b of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) t[b] = SPACE;
  for (let b = 0; b < 256; b++) {
    // Any byte >= 0x80 is part of an identifier (ident_start includes \200-\377).
    const letter = (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80;
    if (letter) t[b] = IDENT_START | IDENT;
    if (b >= 0x30 && b <= 0x39) t[b] = DIGIT | IDENT;
  }
  t[DOLLAR] = IDENT;
  return t;
})();

function isSpace(b: number): boolean {
  return (CLASS[b]! & SPACE) !== 0;
}

function isIdentStart(b: number): boolean {
  return (CLASS[b]! & IDENT_START) !== 0;
}

function isIdentChar(b: number): boolean {
  return (CLASS[b]! & IDENT) !== 0;
}

function isDigit(b: number): boolean {
  return (CLASS[b]! & DIGIT) !== 0;
}

function lower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b + 32 : b;
}

const ASCII_UPPER = /[A-Z]+/g;
const asciiLower = (letters: string): string => letters.toLowerCase();

export type Hint = 'primary' | 'standby';

/** Longer words are decoded every time; so are all words once the cache holds this many. */
const MAX_CACHED_WORD = 32,
  MAX_CACHED_WORDS = 4096;

export class Lexer {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;
  tok: Tok = Tok.End;
  tokStart = 0;
  tokEnd = 0;
  /** Parenthesis depth after the current token. */
  depth = 0;
  stringForm: StringForm = StringForm.Plain;
  /**
   * A plain string ended in an odd run of backslashes. With
   * standard_conforming_strings = off the server would read that quote as
   * escaped and see different token boundaries, so the classifier must not
   * trust its own reading of this text.
   */
  backslashQuote = false;
  error: string | undefined;
  /** Lower-cased ASCII words met before, by a hash of their bytes: see name(). */
  private readonly words = new Map<number, string>();

  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.tok = Tok.End;
    this.tokStart = this.tokEnd = start;
    this.depth = 0;
    this.backslashQuote = false;
    this.error = undefined;
  }

  /**
   * Skips the whitespace and comments before the first token and returns the
   * routing hint of a leading comment such as a `pgtide: standby` block comment.
   */
  readLeadingHint(): Hint | undefined {
    let hint: Hint | undefined;
    for (;;) {
      this.skipSpace();
      const b = this.buf,
        p = this.pos;
      if (p + 1 < this.end && b[p] === SLASH && b[p + 1] === STAR) {
        hint ??= this.hintAt(p + 2);
        // Leave an unterminated comment for next() to report.
        if (!this.skipBlockComment()) {
          this.pos = p;
          return hint;
        }
      } else if (p + 1 < this.end && b[p] === DASH && b[p + 1] === DASH) {
        this.skipLineComment();
      } else {
        return hint;
      }
    }
  }

  next(): Tok {
    if (this.tok === Tok.Error) return Tok.Error;
    const b = this.buf,
      end = this.end;
    for (;;) {
      this.skipSpace();
      const p = this.pos;
      if (p >= end) return this.emit(Tok.End, p, p);
      const c = b[p];
      if (c === DASH && p + 1 < end && b[p + 1] === DASH) {
        this.skipLineComment();
      } else if (c === SLASH && p + 1 < end && b[p + 1] === STAR) {
        if (!this.skipBlockComment()) return this.fail('unterminated /* comment');
      } else {
        break;
      }
    }
    const start = this.pos;
    const c = b[start]!;
    if (isIdentStart(c)) return this.lexWordOrPrefixedString(start);
    if (isDigit(c) || (c === 0x2e && start + 1 < end && isDigit(b[start + 1]!))) return this.lexNumber(start);
    switch (c) {
      case QUOTE:
        return this.lexQuoted(start, start, StringForm.Plain);
      case DQUOTE:
        return this.lexQuotedIdent(start, start);
      case DOLLAR:
        return this.lexDollar(start);
      case 0x28:
        this.depth++;
        return this.emit(Tok.LParen, start, start + 1);
      case 0x29:
        this.depth--;
        return this.emit(Tok.RParen, start, start + 1);
      case 0x2c:
        return this.emit(Tok.Comma, start, start + 1);
      case 0x3b:
        return this.emit(Tok.Semicolon, start, start + 1);
      case 0x2e:
        return this.emit(Tok.Dot, start, start + 1);
      case 0x5b:
        return this.emit(Tok.LBracket, start, start + 1);
      case 0x5d:
        return this.emit(Tok.RBracket, start, start + 1);
      case COLON:
        if (start + 1 < end && b[start + 1] === COLON) return this.emit(Tok.DoubleColon, start, start + 2);
        return this.emit(Tok.Op, start, start + 1);
      default:
        // Operators are emitted one byte at a time: the classifier never needs
        // whole operators, and this keeps `--`/`/*` inside them recognisable.
        return this.emit(Tok.Op, start, start + 1);
    }
  }

  /** True when the current token is the unquoted keyword `kw` (lower-case ASCII). */
  is(kw: string): boolean {
    if (this.tok !== Tok.Word || this.tokEnd - this.tokStart !== kw.length) return false;
    const b = this.buf,
      s = this.tokStart;
    for (let i = 0; i < kw.length; i++) if (lower(b[s + i]!) !== kw.charCodeAt(i)) return false;
    return true;
  }

  /** The current Word lower-cased, or a QuotedIdent's exact name. */
  name(): string {
    if (this.tok === Tok.QuotedIdent) return this.quotedIdentName();
    const s = this.tokStart,
      e = this.tokEnd;
    if (e - s > MAX_CACHED_WORD) return this.decodeWord(s, e);
    // Every statement's first word is read as a name, and decoding it cost more than lexing the
    // rest of a short SELECT: a word met before comes from the cache, checked byte for byte.
    const b = this.buf;
    let h = e - s;
    for (let i = s; i < e; i++) {
      const c = b[i]!;
      if (c >= 0x80) return this.decodeWord(s, e);
      h = (Math.imul(h, 31) + lower(c)) | 0;
    }
    const known = this.words.get(h);
    if (known !== undefined && this.is(known)) return known;
    const word = this.decodeWord(s, e);
    if (known === undefined && this.words.size < MAX_CACHED_WORDS) this.words.set(h, word);
    return word;
  }

  private decodeWord(start: number, end: number): string {
    // In a multibyte encoding (UTF-8, the only one pgtide speaks) PostgreSQL folds only the
    // ASCII letters of an unquoted name: "ÄBC" names Äbc.
    return this.buf.toString('utf8', start, end).replace(ASCII_UPPER, asciiLower);
  }

  /** The value of the current plain '...' literal, or undefined for other string forms. */
  plainStringValue(): string | undefined {
    if (this.tok !== Tok.String || this.stringForm !== StringForm.Plain) return undefined;
    return this.buf.toString('utf8', this.tokStart + 1, this.tokEnd - 1).replaceAll("''", "'");
  }

  text(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }

  private quotedIdentName(): string {
    // U&"..." identifiers carry escapes we do not decode; keep their source text.
    const s = this.buf[this.tokStart] === DQUOTE ? this.tokStart + 1 : this.tokStart;
    return this.buf.toString('utf8', s, this.tokEnd - 1).replaceAll('""', '"');
  }

  private emit(tok: Tok, start: number, end: number): Tok {
    this.tok = tok;
    this.tokStart = start;
    this.tokEnd = end;
    this.pos = end;
    return tok;
  }

  private fail(message: string): Tok {
    this.error = message;
    this.tok = Tok.Error;
    this.pos = this.end;
    return Tok.Error;
  }

  private skipSpace(): void {
    const b = this.buf,
      end = this.end;
    let p = this.pos;
    while (p < end && isSpace(b[p]!)) p++;
    this.pos = p;
  }

  private skipLineComment(): void {
    const b = this.buf,
      end = this.end;
    let p = this.pos + 2;
    while (p < end && b[p] !== LF && b[p] !== 0x0d) p++;
    this.pos = p;
  }

  /** Block comments nest in PostgreSQL. Returns false when unterminated. */
  private skipBlockComment(): boolean {
    const b = this.buf,
      end = this.end;
    let p = this.pos + 2,
      depth = 1;
    while (p + 1 < end) {
      if (b[p] === STAR && b[p + 1] === SLASH) {
        p += 2;
        if (--depth === 0) {
          this.pos = p;
          return true;
        }
      } else if (b[p] === SLASH && b[p + 1] === STAR) {
        p += 2;
        depth++;
      } else {
        p++;
      }
    }
    this.pos = end;
    return false;
  }

  private hintAt(p: number): Hint | undefined {
    const b = this.buf,
      end = this.end;
    const skip = (q: number): number => {
      while (q < end && isSpace(b[q]!)) q++;
      return q;
    };
    const word = (q: number, w: string): number => {
      if (q + w.length > end) return -1;
      for (let i = 0; i < w.length; i++) if (lower(b[q + i]!) !== w.charCodeAt(i)) return -1;
      return q + w.length;
    };
    let q = word(skip(p), 'pgtide');
    if (q < 0) return undefined;
    q = skip(q);
    if (q >= end || b[q] !== COLON) return undefined;
    q = skip(q + 1);
    for (const hint of ['primary', 'standby'] as const) {
      const after = word(q, hint);
      if (after >= 0 && (after >= end || !isIdentChar(b[after]!))) return hint;
    }
    return undefined;
  }

  private lexWordOrPrefixedString(start: number): Tok {
    const b = this.buf,
      end = this.end;
    let p = start + 1;
    while (p < end && isIdentChar(b[p]!)) p++;
    if (p === start + 1 && p < end) {
      const c = lower(b[start]!),
        n = b[p];
      if (n === QUOTE) {
        if (c === 0x65) return this.lexQuoted(start, p, StringForm.Other, true); // E'...'
        if (c === 0x62 || c === 0x78 || c === 0x6e) return this.lexQuoted(start, p, StringForm.Other); // B'' X'' N''
      } else if (c === 0x75 && n === AMP && p + 1 < end) {
        // U&'...' / U&"..."
        if (b[p + 1] === QUOTE) return this.lexQuoted(start, p + 1, StringForm.Other);
        if (b[p + 1] === DQUOTE) return this.lexQuotedIdent(start, p + 1);
      }
    }
    return this.emit(Tok.Word, start, p);
  }

  private lexNumber(start: number): Tok {
    const b = this.buf,
      end = this.end;
    let p = start;
    // Digits, '.', '_' separators, exponent, hex/octal/binary prefixes: all are
    // identifier-like bytes or '.', and none can hide a keyword.
    while (p < end) {
      const c = b[p]!;
      if (isIdentChar(c) || (c === 0x2e && !(p + 1 < end && b[p + 1] === 0x2e))) p++;
      else if ((c === 0x2b || c === DASH) && lower(b[p - 1]!) === 0x65 && p + 1 < end && isDigit(b[p + 1]!)) p++;
      else break;
    }
    return this.emit(Tok.Number, start, p);
  }

  /** `open` is the index of the opening quote; `start` the token start (before any prefix). */
  private lexQuoted(start: number, open: number, form: StringForm, backslashEscapes = false): Tok {
    const b = this.buf,
      end = this.end;
    let p = open + 1;
    while (p < end) {
      const c = b[p];
      if (c === BACKSLASH && backslashEscapes) {
        p += 2;
      } else if (c === QUOTE) {
        if (form === StringForm.Plain) this.noteBackslashQuote(p);
        if (p + 1 < end && b[p + 1] === QUOTE) {
          p += 2;
          continue;
        }
        this.stringForm = form;
        return this.emit(Tok.String, start, p + 1);
      } else {
        p++;
      }
    }
    return this.fail('unterminated quoted string');
  }

  private noteBackslashQuote(quote: number): void {
    let n = 0;
    for (let q = quote - 1; q >= 0 && this.buf[q] === BACKSLASH; q--) n++;
    if (n % 2 === 1) this.backslashQuote = true;
  }

  private lexQuotedIdent(start: number, open: number): Tok {
    const b = this.buf,
      end = this.end;
    let p = open + 1;
    while (p < end) {
      if (b[p] === DQUOTE) {
        if (p + 1 < end && b[p + 1] === DQUOTE) {
          p += 2;
          continue;
        }
        return this.emit(Tok.QuotedIdent, start, p + 1);
      }
      p++;
    }
    return this.fail('unterminated quoted identifier');
  }

  private lexDollar(start: number): Tok {
    const b = this.buf,
      end = this.end;
    let p = start + 1;
    if (p < end && isDigit(b[p]!)) {
      while (p < end && isDigit(b[p]!)) p++;
      return this.emit(Tok.Param, start, p);
    }
    // $tag$: the tag follows identifier rules but cannot contain '$'.
    while (p < end && isIdentChar(b[p]!) && b[p] !== DOLLAR) p++;
    if (p >= end || b[p] !== DOLLAR) return this.emit(Tok.Op, start, start + 1);
    const tagLen = p + 1 - start;
    for (let q = p + 1; q + tagLen <= end; q++) {
      if (b[q] === DOLLAR && b.compare(b, start, start + tagLen, q, q + tagLen) === 0) {
        this.stringForm = StringForm.Other;
        return this.emit(Tok.String, start, q + tagLen);
      }
    }
    return this.fail('unterminated dollar-quoted string');
  }
}
