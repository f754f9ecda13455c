//! Tokeniser for LogQL.
//!
//! Words are always lexed as identifiers; the parser decides from context whether
//! `json`, `by` or `rate` is a keyword, so label names such as `level` or `rate` keep
//! working wherever a label is expected.

use super::ParseError;
use super::units::{parse_bytes, parse_duration_ns};

/// One lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Number(f64),
    /// A duration literal such as `5m` or `1.5s`, in nanoseconds.
    Duration(i64),
    /// A byte-size literal such as `20MB`.
    Bytes(u64),
    /// A bracketed range such as `[5m]`, in nanoseconds.
    Range(i64),
    /// `--strict`, `--keep-empty`: the flag name without dashes.
    Flag(String),
    Punct(&'static str),
    Eof,
}

impl Tok {
    /// The name used for this token in "unexpected X" messages, as Loki spells it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(_) => "IDENTIFIER".to_string(),
            Tok::Str(_) => "STRING".to_string(),
            Tok::Number(_) => "NUMBER".to_string(),
            Tok::Duration(_) => "DURATION".to_string(),
            Tok::Bytes(_) => "BYTES".to_string(),
            Tok::Range(_) => "RANGE".to_string(),
            Tok::Flag(f) => format!("--{f}"),
            Tok::Punct(p) => (*p).to_string(),
            Tok::Eof => "$end".to_string(),
        }
    }
}

/// A token with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) line: usize,
    pub(crate) col: usize,
}

const PUNCTS: [&str; 28] = [
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", ",", "=", "|",
    ">", "<", "+", "-", "*", "/", "%", "^", "[", "]", ".",
];

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    col: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut cur = Cursor {
        src,
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        // Skip whitespace and comments.
        while let Some(c) = cur.peek() {
            if c.is_whitespace() {
                cur.bump();
            } else if c == '#' {
                while let Some(c) = cur.peek() {
                    if c == '\n' {
                        break;
                    }
                    cur.bump();
                }
            } else {
                break;
            }
        }
        let (line, col) = (cur.line, cur.col);
        let err = |msg: String| ParseError::at(line, col, msg);
        let Some(c) = cur.peek() else {
            out.push(Token {
                tok: Tok::Eof,
                line,
                col,
            });
            return Ok(out);
        };
        let tok = if c == '"' || c == '`' {
            cur.bump();
            Tok::Str(lex_string(&mut cur, c).map_err(err)?)
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = cur.pos;
            while cur
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                cur.bump();
            }
            Tok::Ident(src[start..cur.pos].to_string())
        } else if c.is_ascii_digit()
            || (c == '.' && cur.peek_at(1).is_some_and(|d| d.is_ascii_digit()))
        {
            lex_number(&mut cur).map_err(err)?
        } else if c == '[' {
            cur.bump();
            let start = cur.pos;
            while cur.peek().is_some_and(|c| c != ']') {
                cur.bump();
            }
            if cur.peek().is_none() {
                return Err(err("unterminated range, missing ']'".to_string()));
            }
            let text = src[start..cur.pos].trim().to_string();
            cur.bump();
            let ns = parse_duration_ns(&text)
                .map_err(|e| err(format!("invalid range [{text}]: {e}")))?;
            Tok::Range(ns)
        } else if c == '-'
            && cur.peek_at(1) == Some('-')
            && cur.peek_at(2).is_some_and(|c| c.is_ascii_alphabetic())
        {
            cur.bump();
            cur.bump();
            let start = cur.pos;
            while cur
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                cur.bump();
            }
            Tok::Flag(src[start..cur.pos].to_string())
        } else if let Some(p) = PUNCTS.iter().find(|p| cur.rest().starts_with(**p)) {
            for _ in 0..p.len() {
                cur.bump();
            }
            Tok::Punct(p)
        } else {
            return Err(err(format!("syntax error: unexpected character {c:?}")));
        };
        out.push(Token { tok, line, col });
    }
}

fn lex_number(cur: &mut Cursor<'_>) -> Result<Tok, String> {
    let start = cur.pos;
    let src = cur.src;
    if cur.rest().starts_with("0x") || cur.rest().starts_with("0X") {
        cur.bump();
        cur.bump();
        let hs = cur.pos;
        while cur.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            cur.bump();
        }
        return i64::from_str_radix(&src[hs..cur.pos], 16)
            .map(|v| Tok::Number(v as f64))
            .map_err(|_| format!("invalid number {}", &src[start..cur.pos]));
    }
    while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
        cur.bump();
    }
    if cur.peek() == Some('.') && cur.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
        cur.bump();
        while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
            cur.bump();
        }
    }
    // Exponent, only when followed by digits (so `5e` stays an error and `1e3` a number).
    if matches!(cur.peek(), Some('e' | 'E')) {
        let sign = matches!(cur.peek_at(1), Some('+' | '-'));
        let digit_at = if sign { 2 } else { 1 };
        if cur.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
            for _ in 0..digit_at {
                cur.bump();
            }
            while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                cur.bump();
            }
        }
    }
    if cur
        .peek()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == 'µ')
    {
        // A duration (`1h30m`, `1.5s`) or a byte size (`20MB`, `1KiB`).
        while cur
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == 'µ')
        {
            cur.bump();
        }
        let text = &src[start..cur.pos];
        if let Ok(ns) = parse_duration_ns(text) {
            return Ok(Tok::Duration(ns));
        }
        if let Ok(b) = parse_bytes(text) {
            return Ok(Tok::Bytes(b));
        }
        return Err(format!("invalid duration or byte size {text:?}"));
    }
    let text = &src[start..cur.pos];
    text.parse::<f64>()
        .map(Tok::Number)
        .map_err(|_| format!("invalid number {text:?}"))
}

fn lex_string(cur: &mut Cursor<'_>, quote: char) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let Some(c) = cur.bump() else {
            return Err("literal not terminated".to_string());
        };
        if c == quote {
            return Ok(out);
        }
        if quote == '`' {
            out.push(c);
            continue;
        }
        if c == '\n' {
            return Err("literal not terminated".to_string());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = cur.bump() else {
            return Err("literal not terminated".to_string());
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                for _ in 0..n {
                    let d = cur
                        .bump()
                        .and_then(|c| c.to_digit(16))
                        .ok_or_else(|| "invalid escape sequence in string".to_string())?;
                    v = v * 16 + d;
                }
                let ch = char::from_u32(v)
                    .ok_or_else(|| "invalid escape sequence in string".to_string())?;
                out.push(ch);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = cur
                        .bump()
                        .and_then(|c| c.to_digit(8))
                        .ok_or_else(|| "invalid escape sequence in string".to_string())?;
                    v = v * 8 + d;
                }
                let ch = char::from_u32(v)
                    .ok_or_else(|| "invalid escape sequence in string".to_string())?;
                out.push(ch);
            }
            _ => return Err("invalid escape sequence in string".to_string()),
        }
    }
}

/// Quotes `s` as a double-quoted LogQL string that [`tokenize`] reads back unchanged.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let v = c as u32;
                if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_core_tokens() {
        let toks = tokenize(r#"{a="b"} |~ `x\d` | n >= 1.5 [5m] 20MB 250ms --strict # c"#).unwrap();
        let kinds: Vec<_> = toks.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Punct("{"),
                Tok::Ident("a".into()),
                Tok::Punct("="),
                Tok::Str("b".into()),
                Tok::Punct("}"),
                Tok::Punct("|~"),
                Tok::Str("x\\d".into()),
                Tok::Punct("|"),
                Tok::Ident("n".into()),
                Tok::Punct(">="),
                Tok::Number(1.5),
                Tok::Range(300_000_000_000),
                Tok::Bytes(20_000_000),
                Tok::Duration(250_000_000),
                Tok::Flag("strict".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn quote_round_trips() {
        for s in ["plain", "a\"b\\c", "tab\tnl\n", "\u{1b}[31m", "ünï"] {
            let toks = tokenize(&quote(s)).unwrap();
            assert_eq!(toks[0].tok, Tok::Str(s.to_string()));
        }
    }
}
