use std::fmt;
use std::sync::Arc;

use crate::ModelError;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One name/value pair of a series' identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value; an empty value means "label absent" and is never stored.
    pub value: String,
}

impl Label {
    /// Builds a label.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A series identity: labels sorted by name, no duplicates, no empty values.
///
/// Cloning is cheap (one reference count). The sort and uniqueness invariants are
/// established by the constructors, so code holding a `Labels` may rely on them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<[Label]>);

/// The one empty label set every [`Labels::empty`] shares, so that making one is a
/// reference count increment rather than an allocation.
static EMPTY: std::sync::LazyLock<Labels> =
    std::sync::LazyLock::new(|| Labels(Arc::from(Vec::new())));

impl Default for Labels {
    fn default() -> Self {
        EMPTY.clone()
    }
}

/// True when `name` is a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True when `name` is a valid Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' || first == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        EMPTY.clone()
    }

    /// Builds a label set from untrusted pairs: validates names, sorts, rejects duplicates and
    /// drops pairs with empty values (Prometheus treats them as absent).
    pub fn try_from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self, ModelError>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<Label> = Vec::new();
        for (name, value) in pairs {
            let label = Label::new(name, value);
            if !is_valid_label_name(&label.name) {
                return Err(ModelError::InvalidLabelName { name: label.name });
            }
            if !label.value.is_empty() {
                labels.push(label);
            }
        }
        Self::from_unsorted_unique(labels)
    }

    /// Sorts `labels` by name and rejects duplicate names; does not validate name syntax.
    pub fn from_unsorted_unique(mut labels: Vec<Label>) -> Result<Self, ModelError> {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = labels.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(ModelError::DuplicateLabelName {
                name: pair[0].name.clone(),
            });
        }
        Ok(Self(labels.into()))
    }

    /// Builds a label set from trusted static pairs (tests, constants). Panics on duplicates,
    /// so it must never be called with input from outside the process.
    pub fn from_static(pairs: &[(&str, &str)]) -> Self {
        match Self::try_from_pairs(pairs.iter().copied()) {
            Ok(labels) => labels,
            Err(err) => panic!("Labels::from_static called with invalid labels: {err}"),
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// A stable 64-bit hash of the label set (xxh3 over names and values with separators).
    ///
    /// Stable across processes and versions of Vigil, but not collision free: users must
    /// compare the labels themselves on a hash match.
    pub fn stable_hash(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for label in self.0.iter() {
            hasher.update(label.name.as_bytes());
            hasher.update(&[0xff]);
            hasher.update(label.value.as_bytes());
            hasher.update(&[0xff]);
        }
        hasher.digest()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Labels {
    /// Prometheus' text form: `{a="1", b="2"}` with Go-style escaping of values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, label) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_validates_and_rejects_duplicates() {
        let labels =
            Labels::try_from_pairs([("job", "api"), ("__name__", "up"), ("empty", "")]).unwrap();
        let names: Vec<_> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job"]);
        assert_eq!(labels.get("job"), Some("api"));
        assert_eq!(labels.metric_name(), Some("up"));
        assert!(matches!(
            Labels::try_from_pairs([("a", "1"), ("a", "2")]),
            Err(ModelError::DuplicateLabelName { .. })
        ));
        assert!(matches!(
            Labels::try_from_pairs([("1abc", "x")]),
            Err(ModelError::InvalidLabelName { .. })
        ));
    }

    #[test]
    fn hash_distinguishes_boundaries() {
        let a = Labels::from_static(&[("a", "bc")]);
        let b = Labels::from_static(&[("ab", "c")]);
        assert_ne!(a.stable_hash(), b.stable_hash());
        assert_eq!(
            a.stable_hash(),
            Labels::from_static(&[("a", "bc")]).stable_hash()
        );
    }

    #[test]
    fn name_syntax() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
        assert!(is_valid_metric_name("job:rate5m"));
        assert!(!is_valid_metric_name("1up"));
    }
}
