//! The `pattern` parser / `|>` filter language: literals and `<name>` / `<_>` captures.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    /// `<name>`, or `<_>` (None) which matches without capturing.
    Capture(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    parts: Vec<Part>,
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl Pattern {
    /// Compiles `text`. With `need_named`, at least one named capture is required (the
    /// parser form); the `|>` filter form accepts patterns without captures.
    pub(crate) fn parse(text: &str, need_named: bool) -> Result<Self, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut rest = text;
        let mut lit = String::new();
        while !rest.is_empty() {
            if rest.starts_with('<')
                && let Some(end) = rest.find('>')
                && is_name(&rest[1..end])
            {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err("invalid pattern: found consecutive capture".to_string());
                }
                let name = &rest[1..end];
                if name != "_"
                    && parts
                        .iter()
                        .any(|p| matches!(p, Part::Capture(Some(n)) if n == name))
                {
                    return Err(format!("invalid pattern: duplicate capture name ({name})"));
                }
                parts.push(Part::Capture((name != "_").then(|| name.to_string())));
                rest = &rest[end + 1..];
                continue;
            }
            let c = rest.chars().next().unwrap_or(' ');
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        let named = parts
            .iter()
            .filter(|p| matches!(p, Part::Capture(Some(_))))
            .count();
        if need_named && named == 0 {
            return Err("invalid pattern: at least one capture is required".to_string());
        }
        if parts.is_empty() {
            return Err("invalid pattern: empty pattern".to_string());
        }
        Ok(Self { parts })
    }

    /// Matches `line`, returning the named captures in order. With `full`, a trailing
    /// literal must end the line (the filter form); otherwise trailing input is ignored.
    pub(crate) fn captures<'a>(&self, line: &'a str, full: bool) -> Option<Vec<(&str, &'a str)>> {
        let mut out = Vec::new();
        let mut rest = line;
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                Part::Lit(l) => {
                    rest = rest.strip_prefix(l.as_str())?;
                    i += 1;
                }
                Part::Capture(name) => {
                    let value;
                    match self.parts.get(i + 1) {
                        Some(Part::Lit(l)) => {
                            let last = i + 2 == self.parts.len();
                            let at = if last && full {
                                rest.ends_with(l.as_str()).then(|| rest.len() - l.len())?
                            } else {
                                rest.find(l.as_str())?
                            };
                            value = &rest[..at];
                            rest = &rest[at..];
                        }
                        _ => {
                            value = rest;
                            rest = "";
                        }
                    }
                    if let Some(n) = name {
                        out.push((n.as_str(), value));
                    }
                    i += 1;
                }
            }
        }
        if full && !rest.is_empty() {
            return None;
        }
        Some(out)
    }

    /// The literal pieces in order (content-index hints).
    pub(crate) fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Lit(l) => Some(l.as_str()),
            Part::Capture(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_filters() {
        let p = Pattern::parse("<ip> - <_> \"<method> <uri>\" <status>", true).unwrap();
        let caps = p
            .captures("1.2.3.4 - x \"GET /a\" 200 extra", false)
            .unwrap();
        assert_eq!(
            caps,
            vec![
                ("ip", "1.2.3.4"),
                ("method", "GET"),
                ("uri", "/a"),
                ("status", "200 extra")
            ]
        );
        let f = Pattern::parse("<_> error <_>", false).unwrap();
        assert!(f.captures("a error b", true).is_some());
        assert!(f.captures("a warn b", true).is_none());
        assert!(Pattern::parse("<a><b>", true).is_err());
        assert!(Pattern::parse("plain", true).is_err());
    }
}
