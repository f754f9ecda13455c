//! Series label validation shared by both protocol versions, with Prometheus' rules.

use vigil_model::{Label, Labels, METRIC_NAME, is_valid_label_name, is_valid_metric_name};

/// Turns the label pairs of one series, as sent, into [`Labels`].
///
/// Unsorted pairs are sorted, pairs with an empty value are dropped (Prometheus treats them
/// as absent). Invalid label names, duplicate names, a missing or empty `__name__` and an
/// invalid metric name reject the series; the error is the message to report, naming it.
pub(crate) fn validate_series_labels(mut pairs: Vec<(&str, &str)>) -> Result<Labels, String> {
    // Stable, so a duplicate name shows its values in the order sent.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !is_valid_label_name(name)) {
        return Err(format!(
            "invalid label name {name:?} in series {}",
            format_pairs(&pairs)
        ));
    }
    // Checked before empty values are dropped: `a=""` next to `a="x"` is still a duplicate.
    if let Some(pair) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "duplicate label name {:?} in series {}",
            pair[0].0,
            format_pairs(&pairs)
        ));
    }
    let metric_name = pairs
        .iter()
        .find(|(name, _)| *name == METRIC_NAME)
        .map(|(_, value)| *value)
        .unwrap_or_default();
    if metric_name.is_empty() {
        return Err(format!(
            "missing metric name ({METRIC_NAME}) in series {}",
            format_pairs(&pairs)
        ));
    }
    if !is_valid_metric_name(metric_name) {
        return Err(format!(
            "invalid metric name {metric_name:?} in series {}",
            format_pairs(&pairs)
        ));
    }
    let labels: Vec<Label> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| Label::new(*name, *value))
        .collect();
    Labels::from_unsorted_unique(labels)
        .map_err(|err| format!("{err} in series {}", format_pairs(&pairs)))
}

/// Formats pairs as Prometheus prints a series (`{a="1", b="2"}`), also when they are invalid.
pub(crate) fn format_pairs(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", body.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_unsorted_labels_and_drops_empty_values() {
        let labels = validate_series_labels(vec![
            ("zone", "a"),
            ("empty", ""),
            ("__name__", "up"),
            ("job", "api"),
        ])
        .unwrap();
        assert_eq!(
            labels,
            Labels::from_static(&[("__name__", "up"), ("job", "api"), ("zone", "a")])
        );
    }

    #[test]
    fn rejects_invalid_label_names_naming_label_and_series() {
        let err = validate_series_labels(vec![("__name__", "up"), ("1abc", "x")]).unwrap_err();
        assert_eq!(
            err,
            r#"invalid label name "1abc" in series {1abc="x", __name__="up"}"#
        );
        let err = validate_series_labels(vec![("__name__", "up"), ("a-b", "x")]).unwrap_err();
        assert!(err.contains(r#"invalid label name "a-b""#), "{err}");
    }

    #[test]
    fn rejects_duplicate_label_names_even_with_an_empty_value() {
        let err = validate_series_labels(vec![("__name__", "up"), ("job", "a"), ("job", "b")])
            .unwrap_err();
        assert_eq!(
            err,
            r#"duplicate label name "job" in series {__name__="up", job="a", job="b"}"#
        );
        let err = validate_series_labels(vec![("__name__", "up"), ("job", ""), ("job", "b")])
            .unwrap_err();
        assert!(err.starts_with(r#"duplicate label name "job""#), "{err}");
    }

    #[test]
    fn rejects_missing_empty_and_invalid_metric_names() {
        let err = validate_series_labels(vec![("job", "a")]).unwrap_err();
        assert_eq!(err, r#"missing metric name (__name__) in series {job="a"}"#);
        let err = validate_series_labels(vec![("__name__", ""), ("job", "a")]).unwrap_err();
        assert!(err.starts_with("missing metric name"), "{err}");
        let err = validate_series_labels(vec![("__name__", "1up")]).unwrap_err();
        assert_eq!(
            err,
            r#"invalid metric name "1up" in series {__name__="1up"}"#
        );
        assert!(validate_series_labels(vec![("__name__", "job:rate5m")]).is_ok());
        assert!(validate_series_labels(vec![]).is_err());
    }
}
