//! A small JSON reader that keeps numbers as written (Loki reports `1.50` as `1.50`),
//! plus the path language of `| json label="a.b[0]"`.

/// A JSON value; numbers keep their source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JValue {
    Object(Vec<(String, JValue)>),
    Array(Vec<JValue>),
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

impl JValue {
    /// The label value Loki extracts for a scalar; objects and arrays render as JSON.
    pub(crate) fn to_label_value(&self) -> String {
        match self {
            JValue::Str(s) => s.clone(),
            JValue::Num(n) => n.clone(),
            JValue::Bool(b) => b.to_string(),
            JValue::Null => String::new(),
            other => other.to_json(),
        }
    }

    /// Compact JSON text.
    pub(crate) fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            JValue::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            JValue::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            JValue::Str(s) => write_json_string(s, out),
            JValue::Num(n) => out.push_str(n),
            JValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JValue::Null => out.push_str("null"),
        }
    }

    /// Follows a compiled path.
    pub(crate) fn get_path(&self, path: &[PathSeg]) -> Option<&JValue> {
        let mut cur = self;
        for seg in path {
            cur = match (seg, cur) {
                (PathSeg::Key(k), JValue::Object(fields)) => {
                    &fields.iter().rev().find(|(name, _)| name == k)?.1
                }
                (PathSeg::Index(i), JValue::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses a complete JSON document.
pub(crate) fn parse(text: &str) -> Result<JValue, String> {
    let mut r = Reader {
        b: text.as_bytes(),
        s: text,
        pos: 0,
        depth: 0,
    };
    r.ws();
    let v = r.value()?;
    r.ws();
    if r.pos != r.b.len() {
        return Err(format!("unexpected trailing data at offset {}", r.pos));
    }
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.pos))
    }
    fn value(&mut self) -> Result<JValue, String> {
        self.depth += 1;
        if self.depth > 256 {
            return self.err("nesting too deep");
        }
        let v = match self.b.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.b.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        if self.b.get(self.pos) != Some(&b'"') {
                            return self.err("expected object key");
                        }
                        let k = self.string()?;
                        self.ws();
                        if self.b.get(self.pos) != Some(&b':') {
                            return self.err("expected ':'");
                        }
                        self.pos += 1;
                        self.ws();
                        let v = self.value()?;
                        fields.push((k, v));
                        self.ws();
                        match self.b.get(self.pos) {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return self.err("expected ',' or '}'"),
                        }
                    }
                }
                JValue::Object(fields)
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value()?);
                        self.ws();
                        match self.b.get(self.pos) {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return self.err("expected ',' or ']'"),
                        }
                    }
                }
                JValue::Array(items)
            }
            Some(b'"') => JValue::Str(self.string()?),
            Some(b't') if self.s[self.pos..].starts_with("true") => {
                self.pos += 4;
                JValue::Bool(true)
            }
            Some(b'f') if self.s[self.pos..].starts_with("false") => {
                self.pos += 5;
                JValue::Bool(false)
            }
            Some(b'n') if self.s[self.pos..].starts_with("null") => {
                self.pos += 4;
                JValue::Null
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.pos < self.b.len()
                    && matches!(
                        self.b[self.pos],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.pos += 1;
                }
                let text = &self.s[start..self.pos];
                if text.parse::<f64>().is_err() {
                    return self.err("invalid number");
                }
                JValue::Num(text.to_string())
            }
            Some(_) => return self.err("unexpected character"),
            None => return self.err("unexpected end of input"),
        };
        self.depth -= 1;
        Ok(v)
    }
    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self.pos < self.b.len() && self.b[self.pos] != b'"' && self.b[self.pos] != b'\\' {
                if self.b[self.pos] < 0x20 {
                    return self.err("control character in string");
                }
                self.pos += 1;
            }
            out.push_str(&self.s[start..self.pos]);
            match self.b.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.b.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.pos + 1..].starts_with("\\u")
                            {
                                self.pos += 2;
                                let lo = self.hex4()?;
                                let cp = 0x10000
                                    + ((hi - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                                char::from_u32(cp).unwrap_or('\u{fffd}')
                            } else {
                                char::from_u32(hi).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => return self.err("invalid escape"),
                    };
                    out.push(c);
                    self.pos += 1;
                }
                _ => return self.err("unterminated string"),
            }
        }
    }
    /// Reads 4 hex digits after the `u` at `pos`; leaves `pos` on the last digit.
    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .s
            .get(self.pos + 1..self.pos + 5)
            .ok_or("truncated escape")?;
        let v =
            u32::from_str_radix(digits, 16).map_err(|_| "invalid unicode escape".to_string())?;
        self.pos += 4;
        Ok(v)
    }
}

/// One step of a json path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathSeg {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0]`, `a["b c"].d`, `["x"]` into segments.
pub(crate) fn parse_path(path: &str) -> Result<Vec<PathSeg>, String> {
    let b = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut expect_key = true;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if expect_key {
                    return Err("unexpected '.'".to_string());
                }
                expect_key = true;
                i += 1;
            }
            b'[' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let end = path[i + 1..]
                        .find('"')
                        .ok_or_else(|| "unterminated key".to_string())?
                        + i
                        + 1;
                    out.push(PathSeg::Key(path[i + 1..end].to_string()));
                    i = end + 1;
                } else {
                    let end = path[i..]
                        .find(']')
                        .ok_or_else(|| "missing ']'".to_string())?
                        + i;
                    let n: usize = path[i..end]
                        .trim()
                        .parse()
                        .map_err(|_| format!("invalid index {:?}", &path[i..end]))?;
                    out.push(PathSeg::Index(n));
                    i = end;
                }
                if b.get(i) != Some(&b']') {
                    return Err("missing ']'".to_string());
                }
                i += 1;
                expect_key = false;
            }
            _ => {
                if !expect_key {
                    return Err(format!("unexpected character at {i}"));
                }
                let end = path[i..].find(['.', '[']).map_or(path.len(), |e| e + i);
                out.push(PathSeg::Key(path[i..end].to_string()));
                i = end;
                expect_key = false;
            }
        }
    }
    if out.is_empty() || expect_key && !out.is_empty() && path.ends_with('.') {
        return Err("empty path".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_follows_paths() {
        let v = parse(r#"{"a":{"b":[1,{"c":"x"}]},"n":1.50,"s":"q\"\u00e9"}"#).unwrap();
        let p = parse_path("a.b[1].c").unwrap();
        assert_eq!(v.get_path(&p), Some(&JValue::Str("x".into())));
        assert_eq!(
            v.get_path(&parse_path("n").unwrap())
                .unwrap()
                .to_label_value(),
            "1.50"
        );
        assert_eq!(
            v.get_path(&parse_path(r#"["s"]"#).unwrap())
                .unwrap()
                .to_label_value(),
            "q\"é"
        );
        assert!(parse("{").is_err());
        assert!(parse("[1,]").is_err());
        assert!(parse_path("a..b").is_err());
    }
}
