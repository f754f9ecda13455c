//! A small, forgiving tokenizer for the pre-pass.
//!
//! It only needs to be precise about the things the rewriter looks at:
//! where string literals and comments begin and end (so nothing inside them
//! is ever mistaken for syntax), brace and bracket nesting, numbers and
//! duration literals, and identifiers. It never fails: anything it does not
//! recognise becomes an [`TokKind::Other`] token and is left for
//! promql-parser to complain about.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// Identifier or keyword (`rate`, `offset`, `job:rate5m` outside brackets).
    Ident,
    /// Number literal (`1`, `1.5`, `.5`, `1e3`, `0x1f`).
    Number,
    /// Duration literal (`5m`, `1h30m`, `500ms`).
    Duration,
    /// Quoted string (`"…"`, `'…'`, or backticks), possibly unterminated.
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    /// `:` inside brackets (outside brackets colons belong to identifiers).
    Colon,
    At,
    /// An operator such as `+`, `==`, `=~`, `!~`, `</`.
    Op,
    /// Anything else (a stray character).
    Other,
}

/// One token: its kind, byte span in the query, and whether it sits inside
/// a `{…}` label-matcher list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) in_braces: bool,
}

impl Token {
    /// The token's text in `src`.
    pub(crate) fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// Whether the token is the operator `op`.
    pub(crate) fn is_op(&self, src: &str, op: &str) -> bool {
        self.kind == TokKind::Op && self.text(src) == op
    }

    /// Whether the token is an identifier equal to `word`, ignoring ASCII case.
    pub(crate) fn is_word(&self, src: &str, word: &str) -> bool {
        self.kind == TokKind::Ident && self.text(src).eq_ignore_ascii_case(word)
    }
}

/// Duration units, longest spelling first so `ms` wins over `m`.
const UNITS: [&str; 7] = ["ms", "y", "w", "d", "h", "m", "s"];

/// Splits `src` into tokens, skipping whitespace and `#` comments.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut pos = 0;
    let mut brace_depth = 0usize;
    let mut bracket_depth = 0usize;
    while pos < bytes.len() {
        let c = bytes[pos];
        if c.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        if c == b'#' {
            while pos < bytes.len() && bytes[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        let in_braces = brace_depth > 0;
        let kind = match c {
            b'"' | b'\'' | b'`' => {
                pos = string_end(bytes, pos);
                TokKind::Str
            }
            b'(' => {
                pos += 1;
                TokKind::LParen
            }
            b')' => {
                pos += 1;
                TokKind::RParen
            }
            b'{' => {
                pos += 1;
                brace_depth += 1;
                TokKind::LBrace
            }
            b'}' => {
                pos += 1;
                brace_depth = brace_depth.saturating_sub(1);
                TokKind::RBrace
            }
            b'[' => {
                pos += 1;
                bracket_depth += 1;
                TokKind::LBracket
            }
            b']' => {
                pos += 1;
                bracket_depth = bracket_depth.saturating_sub(1);
                TokKind::RBracket
            }
            b',' => {
                pos += 1;
                TokKind::Comma
            }
            b'@' => {
                pos += 1;
                TokKind::At
            }
            b':' if bracket_depth > 0 => {
                pos += 1;
                TokKind::Colon
            }
            b'0'..=b'9' => {
                let (end, kind) = number_or_duration(bytes, pos);
                pos = end;
                kind
            }
            b'.' if bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) => {
                pos = number_end(bytes, pos);
                TokKind::Number
            }
            _ if is_ident_start(c) || (c == b':' && bracket_depth == 0) => {
                let colons = bracket_depth == 0;
                while pos < bytes.len() && is_ident_char(bytes[pos], colons) {
                    pos += 1;
                }
                TokKind::Ident
            }
            _ => {
                let len = operator_len(bytes, pos);
                if len == 0 {
                    // One whole (possibly multi-byte) character.
                    pos += src
                        .get(pos..)
                        .and_then(|rest| rest.chars().next())
                        .map_or(1, char::len_utf8);
                    TokKind::Other
                } else {
                    pos += len;
                    TokKind::Op
                }
            }
        };
        toks.push(Token {
            kind,
            start,
            end: pos,
            in_braces,
        });
    }
    toks
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8, colons: bool) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || (colons && c == b':')
}

/// End of the string literal starting at `pos` (the quote). Single and
/// double quotes honour backslash escapes; backticks are raw. An
/// unterminated string runs to the end of the input.
fn string_end(bytes: &[u8], pos: usize) -> usize {
    let quote = bytes[pos];
    let mut i = pos + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && quote != b'`' {
            i += 2;
            continue;
        }
        if c == quote {
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Length of the operator at `pos`, 0 if there is none.
fn operator_len(bytes: &[u8], pos: usize) -> usize {
    let two = bytes.get(pos..pos + 2).unwrap_or(&[]);
    match two {
        b"==" | b"!=" | b"<=" | b">=" | b"=~" | b"!~" | b"</" | b">/" => return 2,
        _ => {}
    }
    match bytes[pos] {
        b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' | b'=' | b'!' => 1,
        _ => 0,
    }
}

/// Lexes the digits at `pos` as a duration (`1h30m`) if they form one,
/// otherwise as a number.
fn number_or_duration(bytes: &[u8], pos: usize) -> (usize, TokKind) {
    if let Some(end) = duration_end(bytes, pos) {
        return (end, TokKind::Duration);
    }
    (number_end(bytes, pos), TokKind::Number)
}

/// End of a duration literal (one or more `<digits><unit>` groups) at `pos`.
fn duration_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos;
    let mut groups = 0;
    loop {
        let digits_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            break;
        }
        let rest = &bytes[i..];
        let Some(unit) = UNITS.iter().find(|u| rest.starts_with(u.as_bytes())) else {
            i = digits_start;
            break;
        };
        i += unit.len();
        groups += 1;
    }
    let followed_by_word = bytes
        .get(i)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.');
    (groups > 0 && !followed_by_word).then_some(i)
}

/// End of a number literal at `pos`: hex, or decimal with optional
/// fraction and exponent.
fn number_end(bytes: &[u8], pos: usize) -> usize {
    let mut i = pos;
    if bytes.get(i) == Some(&b'0') && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokKind, &str)> {
        tokenize(src)
            .into_iter()
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn durations_numbers_and_idents() {
        use TokKind::*;
        assert_eq!(
            kinds("rate(x:y[1h30m:500ms]) * 1.5e3 + 0x1f"),
            vec![
                (Ident, "rate"),
                (LParen, "("),
                (Ident, "x:y"),
                (LBracket, "["),
                (Duration, "1h30m"),
                (Colon, ":"),
                (Duration, "500ms"),
                (RBracket, "]"),
                (RParen, ")"),
                (Op, "*"),
                (Number, "1.5e3"),
                (Op, "+"),
                (Number, "0x1f"),
            ]
        );
    }

    #[test]
    fn strings_hide_their_contents() {
        let src = r#"x{a="[5m] \" anchored # no", b='it\'s', c=`raw\`} offset 1m"#;
        let toks = tokenize(src);
        let strs: Vec<_> = toks
            .iter()
            .filter(|t| t.kind == TokKind::Str)
            .map(|t| t.text(src))
            .collect();
        assert_eq!(
            strs,
            vec![r#""[5m] \" anchored # no""#, r"'it\'s'", r"`raw\`"]
        );
        assert!(toks.iter().all(|t| t.kind != TokKind::LBracket));
        assert_eq!(toks.last().map(|t| t.text(src)), Some("1m"));
    }

    #[test]
    fn comments_are_skipped_and_braces_tracked() {
        let src = "foo{a=\"b\"} # [5m] anchored\n + bar";
        let toks = tokenize(src);
        let texts: Vec<_> = toks.iter().map(|t| t.text(src)).collect();
        assert_eq!(texts, vec!["foo", "{", "a", "=", "\"b\"", "}", "+", "bar"]);
        assert!(toks[2].in_braces && toks[4].in_braces);
        assert!(!toks[0].in_braces && !toks[7].in_braces);
    }

    #[test]
    fn non_ascii_and_stray_characters() {
        let src = "é ~ $ 5mx";
        let k: Vec<_> = kinds(src).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            k,
            vec![
                TokKind::Other,
                TokKind::Other,
                TokKind::Other,
                TokKind::Number,
                TokKind::Ident
            ]
        );
    }
}
