//! The label-extracting parser stages: json, logfmt, regexp, pattern, unpack.

use std::borrow::Cow;

use regex::Regex;

use super::json::{self, JValue, PathSeg};
use super::pattern::Pattern;
use super::pipeline::{LabelBuilder, LabelKind};

/// `__error__` values set by the parsers.
pub const JSON_PARSER_ERR: &str = "JSONParserErr";
/// `__error__` value when logfmt parsing fails.
pub const LOGFMT_PARSER_ERR: &str = "LogfmtParserErr";

/// Makes an extracted key a valid label name: invalid characters become `_`, a leading
/// digit gets a `_` prefix.
pub fn sanitize_label_name(key: &str) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// [`sanitize_label_name`] without allocating when `key` is already a valid name.
fn sanitized(key: &str) -> Cow<'_, str> {
    let valid = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if valid {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(sanitize_label_name(key))
    }
}

/// [`set_parsed`] that allocates the name and value only when the label is kept.
fn set_parsed_borrowed(lb: &mut LabelBuilder<'_>, name: Cow<'_, str>, value: Cow<'_, str>) {
    if name.is_empty() || !lb.may_want_parsed(&name) {
        return;
    }
    let name = if lb.base_has(&name) {
        Cow::Owned(format!("{name}_extracted"))
    } else {
        name
    };
    if lb.wants_parsed(&name) {
        lb.set(name.into_owned(), value.into_owned(), LabelKind::Parsed);
    }
}

/// Sets a parsed label, renaming it `<name>_extracted` when a stream label has the name.
fn set_parsed(lb: &mut LabelBuilder<'_>, name: String, value: String) {
    if name.is_empty() {
        return;
    }
    let name = if lb.base_has(&name) {
        format!("{name}_extracted")
    } else {
        name
    };
    if lb.wants_parsed(&name) {
        lb.set(name, value, LabelKind::Parsed);
    }
}

fn flatten(prefix: &str, v: &JValue, lb: &mut LabelBuilder<'_>) {
    match v {
        JValue::Object(fields) => {
            for (k, v) in fields {
                let key = sanitize_label_name(k);
                let name = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}_{key}")
                };
                flatten(&name, v, lb);
            }
        }
        JValue::Array(_) | JValue::Null => {}
        scalar => set_parsed(lb, prefix.to_string(), scalar.to_label_value()),
    }
}

/// `| json`: every scalar field, nested objects flattened with `_`.
pub(crate) fn json_all(line: &str, lb: &mut LabelBuilder<'_>) {
    match json::parse(line) {
        Ok(v @ JValue::Object(_)) => flatten("", &v, lb),
        Ok(_) => lb.set_error(
            JSON_PARSER_ERR,
            "Value looks like a scalar, expected an object",
        ),
        Err(e) => lb.set_error(JSON_PARSER_ERR, &e),
    }
}

/// `| json a="b.c"`: only the listed paths.
pub(crate) fn json_paths(line: &str, paths: &[(String, Vec<PathSeg>)], lb: &mut LabelBuilder<'_>) {
    let doc = match json::parse(line) {
        Ok(v) => v,
        Err(e) => return lb.set_error(JSON_PARSER_ERR, &e),
    };
    for (label, path) in paths {
        if let Some(v) = doc.get_path(path) {
            set_parsed(lb, label.clone(), v.to_label_value());
        }
    }
}

/// `| unpack`: string fields become labels, `_entry` replaces the line.
pub(crate) fn unpack(line: &str, lb: &mut LabelBuilder<'_>) -> Option<String> {
    match json::parse(line) {
        Ok(JValue::Object(fields)) => {
            let mut entry = None;
            for (k, v) in fields {
                if let JValue::Str(s) = v {
                    if k == "_entry" {
                        entry = Some(s);
                    } else {
                        set_parsed(lb, sanitize_label_name(&k), s);
                    }
                }
            }
            entry
        }
        Ok(_) => {
            lb.set_error(
                JSON_PARSER_ERR,
                "Value looks like a scalar, expected an object",
            );
            None
        }
        Err(e) => {
            lb.set_error(JSON_PARSER_ERR, &e);
            None
        }
    }
}

/// One logfmt pair, borrowed from the line where it can be; `value` is None for a
/// standalone key.
type Pair<'l> = (&'l str, Option<Cow<'l, str>>);

/// Splits a logfmt line. Returns the pairs read and the first error, if any; without
/// `strict` the reader skips a malformed token and carries on.
fn logfmt_pairs(line: &str, strict: bool) -> (Vec<Pair<'_>>, Option<String>) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut first_err = None;
    let is_space = |c: u8| c <= b' ';
    'tokens: while i < b.len() {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let tok_start = i;
        let mut fail = |msg: String, i: &mut usize| {
            if first_err.is_none() {
                first_err = Some(format!("logfmt syntax error at pos {}: {msg}", *i + 1));
            }
            while *i < b.len() && !is_space(b[*i]) {
                *i += 1;
            }
        };
        // key
        while i < b.len() && !is_space(b[i]) && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        if i < b.len() && b[i] == b'"' {
            fail("unexpected '\"'".to_string(), &mut i);
            if strict {
                break;
            }
            continue;
        }
        let key = &line[tok_start..i];
        if key.is_empty() {
            fail("unexpected '='".to_string(), &mut i);
            if strict {
                break;
            }
            continue;
        }
        if i >= b.len() || is_space(b[i]) {
            out.push((key, None));
            continue;
        }
        // b[i] == '='
        i += 1;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            // Borrowed until the first escape.
            let vs = i;
            let mut val: Option<String> = None;
            loop {
                if i >= b.len() {
                    fail("unterminated quoted value".to_string(), &mut i);
                    if strict {
                        break 'tokens;
                    }
                    continue 'tokens;
                }
                match b[i] {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' if i + 1 < b.len() => {
                        let val = val.get_or_insert_with(|| line[vs..i].to_string());
                        // `i + 1` follows an ASCII byte, so it starts a character.
                        let escaped = line.get(i + 1..).and_then(|r| r.chars().next());
                        let ch = escaped.unwrap_or('\\');
                        match ch {
                            'n' => val.push('\n'),
                            't' => val.push('\t'),
                            'r' => val.push('\r'),
                            '"' => val.push('"'),
                            '\\' => val.push('\\'),
                            other => {
                                val.push('\\');
                                val.push(other);
                            }
                        }
                        i += 1 + ch.len_utf8();
                    }
                    _ => {
                        let ch = line[i..].chars().next().unwrap_or(' ');
                        if let Some(val) = val.as_mut() {
                            val.push(ch);
                        }
                        i += ch.len_utf8();
                    }
                }
            }
            if i < b.len() && !is_space(b[i]) {
                fail(
                    "unexpected character after quoted value".to_string(),
                    &mut i,
                );
                if strict {
                    break;
                }
                continue;
            }
            let value = match val {
                Some(owned) => Cow::Owned(owned),
                // The closing quote is one byte before `i`.
                None => Cow::Borrowed(&line[vs..i - 1]),
            };
            out.push((key, Some(value)));
        } else {
            let vs = i;
            while i < b.len() && !is_space(b[i]) {
                if b[i] == b'"' || b[i] == b'=' {
                    let msg = format!("unexpected '{}'", b[i] as char);
                    fail(msg, &mut i);
                    if strict {
                        break 'tokens;
                    }
                    continue 'tokens;
                }
                i += 1;
            }
            out.push((key, Some(Cow::Borrowed(&line[vs..i]))));
        }
    }
    (out, first_err)
}

/// `| logfmt [--strict] [--keep-empty] [a, b="c"]`.
pub(crate) fn logfmt(
    line: &str,
    strict: bool,
    keep_empty: bool,
    extractions: &[(String, String)],
    lb: &mut LabelBuilder<'_>,
) {
    let (pairs, err) = logfmt_pairs(line, strict);
    for (k, v) in pairs {
        let value = match v {
            Some(v) => v,
            None if keep_empty => Cow::Borrowed(""),
            None => continue,
        };
        if extractions.is_empty() {
            set_parsed_borrowed(lb, sanitized(k), value);
        } else {
            for (label, key) in extractions {
                if key == k {
                    set_parsed(lb, label.clone(), value.to_string());
                }
            }
        }
    }
    if strict && let Some(e) = err {
        lb.set_error(LOGFMT_PARSER_ERR, &e);
    }
}

/// `| regexp "..."`: a compiled regex with at least one named group.
#[derive(Debug, Clone)]
pub(crate) struct RegexpParser {
    re: Regex,
    names: Vec<(usize, String)>,
}

impl RegexpParser {
    /// Compiles the expression; it must name at least one capture group.
    pub(crate) fn new(expr: &str) -> Result<Self, String> {
        let re = Regex::new(expr).map_err(|e| format!("invalid regexp {expr:?}: {e}"))?;
        let names: Vec<(usize, String)> = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, sanitize_label_name(n))))
            .collect();
        if names.is_empty() {
            return Err("at least one named capture must be supplied".to_string());
        }
        Ok(Self { re, names })
    }

    pub(crate) fn apply(&self, line: &str, lb: &mut LabelBuilder<'_>) {
        if let Some(caps) = self.re.captures(line) {
            for (i, name) in &self.names {
                if let Some(m) = caps.get(*i) {
                    set_parsed(lb, name.clone(), m.as_str().to_string());
                }
            }
        }
    }
}

/// `| pattern "..."`.
pub(crate) fn pattern(p: &Pattern, line: &str, lb: &mut LabelBuilder<'_>) {
    if let Some(caps) = p.captures(line, false) {
        for (name, value) in caps {
            set_parsed(lb, name.to_string(), value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_reader() {
        let (pairs, err) = logfmt_pairs(r#"a=1 b="x y" c d= e="q\"z""#, true);
        assert!(err.is_none());
        assert_eq!(
            pairs,
            vec![
                ("a", Some("1".into())),
                ("b", Some("x y".into())),
                ("c", None),
                ("d", Some(String::new().into())),
                ("e", Some("q\"z".into())),
            ]
        );
        let (pairs, err) = logfmt_pairs("a=1 =bad b=2", false);
        assert!(err.is_some());
        assert_eq!(pairs.len(), 2);
        let (pairs, err) = logfmt_pairs("a=1 =bad b=2", true);
        assert!(err.is_some());
        assert_eq!(pairs.len(), 1);
    }

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize_label_name("1a.b-c"), "_1a_b_c");
        let (pairs, _) = logfmt_pairs("a=\"\\ዂ\" b=\"x\\é\"", true);
        assert_eq!(
            pairs,
            vec![("a", Some("\\ዂ".into())), ("b", Some("x\\é".into()))]
        );
        for key in ["1a.b-c", "ok_name", "Caps9", " padded ", "", "é"] {
            assert_eq!(sanitized(key), sanitize_label_name(key), "{key:?}");
        }
    }
}
