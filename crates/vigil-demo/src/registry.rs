//! The metrics of one simulated scrape target: every series is registered up front (so every
//! counter starts at 0 and exists from the first scrape, as a Prometheus client with
//! pre-initialised label values exposes it), then updated through plain indexes.

use vigil_ingest::proto::v1 as pb;
use vigil_ingest::proto::v1::metric_metadata::MetricType;

/// Prometheus' default histogram buckets: 11 bounds from 5 ms to 10 s (the reference services
/// use them), including 0.5 s, the latency SLO's threshold.
pub(crate) const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram's series: one per bound plus `+Inf`, then `_sum` and `_count`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Histogram {
    first_bucket: usize,
    bounds: &'static [f64],
}

/// The series of one target and their current values.
#[derive(Debug)]
pub(crate) struct Registry {
    base: Vec<(String, String)>,
    labels: Vec<Vec<pb::Label>>,
    values: Vec<f64>,
    families: Vec<pb::MetricMetadata>,
}

impl Registry {
    /// A target whose series all carry `base` labels (job, instance, ...).
    pub(crate) fn new(base: &[(&str, &str)]) -> Registry {
        Registry {
            base: base
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            labels: Vec::new(),
            values: Vec::new(),
            families: Vec::new(),
        }
    }

    fn family(&mut self, name: &str, kind: MetricType, help: &str) {
        if self.families.iter().all(|f| f.metric_family_name != name) {
            self.families.push(pb::MetricMetadata {
                r#type: kind as i32,
                metric_family_name: name.to_string(),
                help: help.to_string(),
                unit: String::new(),
            });
        }
    }

    fn series(&mut self, name: &str, labels: &[(&str, &str)]) -> usize {
        let mut all: Vec<(String, String)> = self.base.clone();
        all.extend(labels.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        all.push(("__name__".to_string(), name.to_string()));
        all.sort();
        self.labels.push(
            all.into_iter()
                .map(|(name, value)| pb::Label { name, value })
                .collect(),
        );
        self.values.push(0.0);
        self.values.len() - 1
    }

    /// Registers a counter series (value 0).
    pub(crate) fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)]) -> usize {
        self.family(name, MetricType::Counter, help);
        self.series(name, labels)
    }

    /// Registers a gauge series (value 0).
    pub(crate) fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)]) -> usize {
        self.family(name, MetricType::Gauge, help);
        self.series(name, labels)
    }

    /// Registers a classic histogram with `bounds` (plus `+Inf`).
    pub(crate) fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &'static [f64],
    ) -> Histogram {
        self.family(name, MetricType::Histogram, help);
        let bucket_name = format!("{name}_bucket");
        let mut first_bucket = None;
        for bound in bounds.iter().map(|b| format!("{b}")).chain(["+Inf".into()]) {
            let mut with_le = labels.to_vec();
            with_le.push(("le", bound.as_str()));
            let index = self.series(&bucket_name, &with_le);
            first_bucket.get_or_insert(index);
        }
        self.series(&format!("{name}_sum"), labels);
        self.series(&format!("{name}_count"), labels);
        Histogram {
            first_bucket: first_bucket.unwrap_or_default(),
            bounds,
        }
    }

    pub(crate) fn add(&mut self, series: usize, delta: f64) {
        self.values[series] += delta;
    }

    pub(crate) fn set(&mut self, series: usize, value: f64) {
        self.values[series] = value;
    }

    pub(crate) fn get(&self, series: usize) -> f64 {
        self.values[series]
    }

    /// Records one observation.
    pub(crate) fn observe(&mut self, histogram: Histogram, value: f64) {
        let first = histogram.first_bucket;
        for (i, bound) in histogram.bounds.iter().enumerate() {
            if value <= *bound {
                self.values[first + i] += 1.0;
            }
        }
        let after = first + histogram.bounds.len();
        self.values[after] += 1.0; // +Inf
        self.values[after + 1] += value; // _sum
        self.values[after + 2] += 1.0; // _count
    }

    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn labels(&self, series: usize) -> &[pb::Label] {
        &self.labels[series]
    }

    pub(crate) fn families(&self) -> &[pb::MetricMetadata] {
        &self.families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let mut registry = Registry::new(&[("job", "j")]);
        let h = registry.histogram("d_seconds", "help", &[("path", "/")], DEFAULT_BUCKETS);
        registry.observe(h, 0.3);
        registry.observe(h, 0.004);
        registry.observe(h, 20.0);
        let value = |le: &str| {
            (0..registry.len())
                .find(|&i| {
                    registry
                        .labels(i)
                        .iter()
                        .any(|l| l.name == "le" && l.value == le)
                })
                .map(|i| registry.get(i))
                .unwrap()
        };
        assert_eq!(value("0.005"), 1.0);
        assert_eq!(value("0.25"), 1.0);
        assert_eq!(value("0.5"), 2.0);
        assert_eq!(value("10"), 2.0);
        assert_eq!(value("+Inf"), 3.0);
        assert_eq!(registry.len(), 14);
        let sum = registry.get(12);
        assert!((sum - 20.304).abs() < 1e-9);
        assert_eq!(registry.get(13), 3.0);
        assert_eq!(registry.labels(13)[0].value, "d_seconds_count");
        assert_eq!(registry.families().len(), 1);
    }
}
