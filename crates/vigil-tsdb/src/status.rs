//! Cardinality statistics of a head for `/api/v1/status/tsdb`.

use std::collections::HashMap;

use vigil_storage::{HeadStats, TsdbStatus};

use crate::head::Head;

fn top(map: HashMap<String, u64>, limit: usize) -> Vec<(String, u64)> {
    let mut entries: Vec<(String, u64)> = map.into_iter().collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    entries.truncate(limit);
    entries
}

pub(crate) fn head_status(head: &Head, limit: usize) -> TsdbStatus {
    let index = head.index.read();
    let mut by_metric: HashMap<String, u64> = HashMap::new();
    let mut values_by_name: HashMap<String, u64> = HashMap::new();
    let mut bytes_by_name: HashMap<String, u64> = HashMap::new();
    let mut by_pair: HashMap<String, u64> = HashMap::new();
    let mut chunk_count = 0u64;
    for series in index.series.values() {
        chunk_count += series.data.lock().chunk_count() as u64;
        if let Some(name) = series.labels.metric_name() {
            *by_metric.entry(name.to_string()).or_default() += 1;
        }
        for label in &series.labels {
            *by_pair
                .entry(format!("{}={}", label.name, label.value))
                .or_default() += 1;
        }
    }
    let mut num_label_pairs = 0u64;
    for name in index.postings.label_names() {
        let values = index.postings.label_values(&name);
        num_label_pairs += values.len() as u64;
        let bytes: u64 = values.iter().map(|v| v.len() as u64).sum();
        bytes_by_name.insert(name.clone(), bytes);
        values_by_name.insert(name, values.len() as u64);
    }
    let (min_time_ms, max_time_ms) = head.time_bounds().unwrap_or((0, 0));
    TsdbStatus {
        head: HeadStats {
            num_series: index.series.len() as u64,
            num_label_pairs,
            chunk_count,
            min_time_ms,
            max_time_ms,
        },
        series_count_by_metric_name: top(by_metric, limit),
        label_value_count_by_label_name: top(values_by_name, limit),
        memory_in_bytes_by_label_name: top(bytes_by_name, limit),
        series_count_by_label_value_pair: top(by_pair, limit),
    }
}
