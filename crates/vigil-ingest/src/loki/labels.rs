//! The label string of a Loki push stream, e.g. `{app="api", env="prod"}`: a brace-enclosed,
//! comma-separated list of `name="value"` pairs with Go-style escapes in double-quoted
//! values (backquoted raw values too), as LogQL writes stream selectors with `=` only.

/// Parses a label string into name/value pairs in written order; names are not validated
/// here (the validation stage does that with a message naming the stream).
pub fn parse_label_string(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut parser = Parser { rest: text.trim() };
    parser.expect('{')?;
    let mut pairs = Vec::new();
    parser.skip_space();
    if parser.eat('}') {
        return parser.end(pairs);
    }
    loop {
        parser.skip_space();
        let name = parser.name()?;
        parser.skip_space();
        parser.expect('=')?;
        parser.skip_space();
        let value = parser.value()?;
        pairs.push((name, value));
        parser.skip_space();
        if parser.eat(',') {
            parser.skip_space();
            // A trailing comma before the brace is tolerated, as Prometheus does.
            if parser.eat('}') {
                return parser.end(pairs);
            }
            continue;
        }
        parser.expect('}')?;
        return parser.end(pairs);
    }
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            return Ok(());
        }
        match self.rest.chars().next() {
            Some(found) => Err(format!("expected '{c}' but found '{found}'")),
            None => Err(format!("expected '{c}' but the label string ended")),
        }
    }

    fn end(self, pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
        if self.rest.trim().is_empty() {
            return Ok(pairs);
        }
        Err(format!(
            "unexpected text after the closing brace: {:?}",
            self.rest
        ))
    }

    fn name(&mut self) -> Result<String, String> {
        let len = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == ':'))
            .unwrap_or(self.rest.len());
        if len == 0 {
            return Err(format!(
                "expected a label name at {:?}",
                truncate(self.rest)
            ));
        }
        let (name, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(name.to_string())
    }

    fn value(&mut self) -> Result<String, String> {
        if let Some(rest) = self.rest.strip_prefix('`') {
            let Some(end) = rest.find('`') else {
                return Err("unterminated raw string value".into());
            };
            self.rest = &rest[end + 1..];
            return Ok(rest[..end].to_string());
        }
        let Some(rest) = self.rest.strip_prefix('"') else {
            return Err(format!(
                "expected a quoted label value at {:?}",
                truncate(self.rest)
            ));
        };
        let mut value = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &rest[i + 1..];
                    return Ok(value);
                }
                '\\' => {
                    let Some((_, escaped)) = chars.next() else {
                        break;
                    };
                    match escaped {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        'r' => value.push('\r'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        '\'' => value.push('\''),
                        'a' => value.push('\u{7}'),
                        'b' => value.push('\u{8}'),
                        'f' => value.push('\u{c}'),
                        'v' => value.push('\u{b}'),
                        'x' | 'u' | 'U' => {
                            let digits = match escaped {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let mut code = 0u32;
                            for _ in 0..digits {
                                let digit = chars.next().and_then(|(_, d)| d.to_digit(16));
                                let Some(digit) = digit else {
                                    return Err(format!(
                                        "invalid \\{escaped} escape in label value"
                                    ));
                                };
                                code = code * 16 + digit;
                            }
                            let Some(decoded) = char::from_u32(code) else {
                                return Err(format!(
                                    "escape \\{escaped}{code:x} is not a valid character"
                                ));
                            };
                            value.push(decoded);
                        }
                        other => {
                            return Err(format!(
                                "unknown escape sequence \\{other} in label value"
                            ));
                        }
                    }
                }
                _ => value.push(c),
            }
        }
        Err("unterminated quoted label value".into())
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(32);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(
            parse_label_string(r#"{app="api", env="prod"}"#).unwrap(),
            pairs(&[("app", "api"), ("env", "prod")])
        );
        assert_eq!(
            parse_label_string(r#" { a = "1" , } "#).unwrap(),
            pairs(&[("a", "1")])
        );
        assert_eq!(parse_label_string("{}").unwrap(), pairs(&[]));
        assert_eq!(
            parse_label_string(r#"{a="q\"uo\\te\n\u00e9"}"#).unwrap(),
            pairs(&[("a", "q\"uo\\te\né")])
        );
        assert_eq!(
            parse_label_string("{a=`raw\\n`}").unwrap(),
            pairs(&[("a", "raw\\n")])
        );
    }

    #[test]
    fn refuses_malformed_strings_with_a_reason() {
        for (bad, reason) in [
            ("app=\"api\"", "expected '{'"),
            ("{app=\"api\"", "expected '}'"),
            ("{app=api}", "expected a quoted label value"),
            ("{app=\"api}", "unterminated"),
            ("{=\"x\"}", "expected a label name"),
            ("{a=\"\\q\"}", "unknown escape"),
            ("{a=\"x\"} trailing", "unexpected text"),
            ("{a=\"\\u12\"}", "invalid \\u escape"),
        ] {
            let err = parse_label_string(bad).unwrap_err();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }
}
