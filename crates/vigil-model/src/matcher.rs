use std::fmt;

use regex::Regex;

use crate::{Labels, ModelError};

/// The comparison a [`Matcher`] applies to a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

impl MatchOp {
    /// The PromQL spelling of the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }
}

/// A label matcher with Prometheus semantics: a missing label matches as the empty string,
/// and regular expressions are anchored at both ends (RE2 syntax via the `regex` crate).
#[derive(Clone)]
pub struct Matcher {
    /// The label name the matcher tests.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or pattern as written.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling the anchored regex for `=~`/`!~`.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, ModelError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(|err| {
                    ModelError::InvalidRegex {
                        name: name.clone(),
                        pattern: value.clone(),
                        reason: err.to_string(),
                    }
                })?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// Shorthand for an `=` matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// True when the matcher accepts `value` (pass `""` for an absent label).
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // Constructors always set the regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// True when the matcher accepts the empty string, i.e. also series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// True when the label set satisfies this matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// For `=~` patterns that are a plain alternation of literals (`a|b|c`), the literals;
    /// lets indexes answer such matchers with lookups instead of a scan.
    pub fn set_literals(&self) -> Option<Vec<String>> {
        if self.op != MatchOp::Regex {
            return None;
        }
        let is_literal = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || "_-:/ ,@".contains(c))
        };
        let parts: Vec<&str> = self.value.split('|').collect();
        parts
            .iter()
            .all(|p| is_literal(p))
            .then(|| parts.iter().map(|p| p.to_string()).collect())
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_absent_is_empty() {
        let m = Matcher::new(MatchOp::Regex, "job", "api|web").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("xapi"));
        assert!(!m.matches_empty());
        let n = Matcher::new(MatchOp::NotEqual, "env", "prod").unwrap();
        assert!(n.matches_labels(&Labels::from_static(&[("job", "a")])));
        let dotall = Matcher::new(MatchOp::Regex, "x", ".*").unwrap();
        assert!(dotall.matches("a\nb"));
        assert_eq!(
            m.set_literals(),
            Some(vec!["api".to_string(), "web".to_string()])
        );
        assert!(Matcher::new(MatchOp::Regex, "x", "(").is_err());
    }
}
