//! Content-index hints: substrings every line matching a log expression must contain.

use crate::syntax::{FilterValue, LineFilterOp, LogExpr, ParserStage, Stage};

use super::pattern::Pattern;

/// The literal substrings every line selected by `log` must contain, from `|=` filters,
/// the literal prefix of `|~` regexes and the literal pieces of `|>` patterns.
///
/// Only filters that see the stored line count: the scan stops at the first stage that
/// rewrites the line (`line_format`, `decolorize`, `unpack`). Filters with `or` give no
/// hint. The store may skip any chunk that lacks one of the returned strings; an empty
/// result means no pruning is possible.
pub fn required_substrings(log: &LogExpr) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for stage in &log.stages {
        match stage {
            Stage::LineFormat(_) | Stage::Decolorize | Stage::Parser(ParserStage::Unpack) => break,
            Stage::LineFilter(lf) if lf.values.len() == 1 => {
                let FilterValue::Text(t) = &lf.values[0] else {
                    continue;
                };
                match lf.op {
                    LineFilterOp::Contains if !t.is_empty() => out.push(t.clone()),
                    LineFilterOp::Regex => {
                        if let Some(p) = regex_literal_prefix(t) {
                            out.push(p);
                        }
                    }
                    LineFilterOp::Pattern => {
                        if let Ok(p) = Pattern::parse(t, false) {
                            out.extend(p.literals().filter(|l| !l.is_empty()).map(str::to_string));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out.dedup();
    out
}

/// The literal text every match of `re` starts with, if the regex has one that is
/// case-sensitive and not part of an alternation.
pub fn regex_literal_prefix(re: &str) -> Option<String> {
    let body = re.strip_prefix('^').unwrap_or(re);
    if body.starts_with("(?") || has_top_level_alternation(body) {
        return None;
    }
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let lit = match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => e,
                _ => break,
            },
            '.' | '[' | ']' | '(' | ')' | '{' | '}' | '*' | '+' | '?' | '|' | '^' | '$' => break,
            c => c,
        };
        // A quantifier after this character makes it optional (or repeatable).
        if matches!(chars.peek(), Some('*' | '?' | '{')) {
            break;
        }
        out.push(lit);
        if matches!(chars.peek(), Some('+')) {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn has_top_level_alternation(re: &str) -> bool {
    let mut depth = 0i32;
    let mut in_class = false;
    let mut escaped = false;
    for c in re.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' => in_class = true,
            ']' => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth -= 1,
            '|' if !in_class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(regex_literal_prefix("error: .*"), Some("error: ".into()));
        assert_eq!(
            regex_literal_prefix(r"GET /api\.v1"),
            Some("GET /api.v1".into())
        );
        assert_eq!(regex_literal_prefix("abc?"), Some("ab".into()));
        assert_eq!(regex_literal_prefix("a|b"), None);
        assert_eq!(regex_literal_prefix("(?i)err"), None);
        assert_eq!(regex_literal_prefix(".*x"), None);
    }
}
