//! Loki's JSON result encoding: the `{"status":"success","data":{...}}` envelope, streams
//! with nanosecond string timestamps (plain, or with the `categorize-labels` flag: stream
//! labels alone and a third value element holding structured metadata and parsed labels),
//! metric values in Prometheus' encoding, and the `stats` block.

use std::collections::HashMap;
use std::fmt::Write;

use vigil_logql::{Direction, OutEntry, ScanStats, StreamResult};
use vigil_model::Labels;
use vigil_promql::Value;

use crate::promjson::{push_float, push_json_string, push_value};

/// Appends `{"name":"value",...}`.
pub(super) fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, &label.name);
        out.push(':');
        push_json_string(out, &label.value);
    }
    out.push('}');
}

fn push_entry(out: &mut String, entry: &OutEntry, categorize: bool) {
    let _ = write!(out, "[\"{}\",", entry.ts_ns);
    push_json_string(out, &entry.line);
    if categorize {
        out.push_str(",{");
        let mut first = true;
        for (key, labels) in [
            ("structuredMetadata", &entry.metadata),
            ("parsed", &entry.parsed),
        ] {
            if labels.is_empty() {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "\"{key}\":");
            push_labels(out, labels);
        }
        out.push('}');
    }
    out.push(']');
}

/// With `categorize-labels`, Loki groups by the indexed stream labels alone; the evaluator
/// groups by the full label set, so streams sharing their indexed labels are merged back,
/// keeping the direction's order.
fn group_by_stream(
    streams: Vec<StreamResult>,
    direction: Direction,
) -> Vec<(Labels, Vec<OutEntry>)> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut grouped: Vec<(Labels, Vec<OutEntry>)> = Vec::new();
    for stream in streams {
        match index.get(&stream.stream) {
            Some(&i) => grouped[i].1.extend(stream.entries),
            None => {
                index.insert(stream.stream.clone(), grouped.len());
                grouped.push((stream.stream, stream.entries));
            }
        }
    }
    for (_, entries) in &mut grouped {
        match direction {
            Direction::Forward => entries.sort_by_key(|e| e.ts_ns),
            Direction::Backward => entries.sort_by_key(|e| std::cmp::Reverse(e.ts_ns)),
        }
    }
    grouped.sort_by(|a, b| a.0.cmp(&b.0));
    grouped
}

/// Appends a `streams` result array.
pub(super) fn push_streams(
    out: &mut String,
    streams: Vec<StreamResult>,
    direction: Direction,
    categorize: bool,
) {
    let grouped: Vec<(Labels, Vec<OutEntry>)> = if categorize {
        group_by_stream(streams, direction)
    } else {
        streams.into_iter().map(|s| (s.labels, s.entries)).collect()
    };
    out.push('[');
    for (i, (labels, entries)) in grouped.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":");
        push_labels(out, labels);
        out.push_str(",\"values\":[");
        for (j, entry) in entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_entry(out, entry, categorize);
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// What a query did, for the `stats` block.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct QueryTimings {
    pub(super) scan: ScanStats,
    pub(super) exec_ns: u64,
    pub(super) queue_ns: u64,
    pub(super) entries_returned: u64,
}

/// Appends Loki's `stats` object: the summary Grafana shows in the query inspector, and the
/// querier/ingester/cache sections with the counters Vigil has (the rest zero).
pub(super) fn push_stats(out: &mut String, t: &QueryTimings) {
    let exec_s = t.exec_ns as f64 / 1e9;
    let per_second = |n: u64| -> u64 {
        if t.exec_ns == 0 {
            0
        } else {
            (n as f64 / exec_s) as u64
        }
    };
    out.push_str("{\"summary\":{");
    let _ = write!(
        out,
        "\"bytesProcessedPerSecond\":{},\"linesProcessedPerSecond\":{},\"totalBytesProcessed\":{},\"totalLinesProcessed\":{},\"execTime\":",
        per_second(t.scan.bytes),
        per_second(t.scan.lines),
        t.scan.bytes,
        t.scan.lines
    );
    push_float(out, exec_s);
    out.push_str(",\"queueTime\":");
    push_float(out, t.queue_ns as f64 / 1e9);
    let _ = write!(
        out,
        ",\"subqueries\":0,\"totalEntriesReturned\":{},\"splits\":0,\"shards\":0,\"totalPostFilterLines\":{},\"totalStructuredMetadataBytesProcessed\":0}}",
        t.entries_returned, t.scan.lines
    );
    let _ = write!(
        out,
        ",\"querier\":{{\"store\":{{\"totalChunksRef\":0,\"totalChunksDownloaded\":0,\"chunksDownloadTime\":0,\"queryReferencedStructuredMetadata\":false,\"chunk\":{{\"headChunkBytes\":0,\"headChunkLines\":0,\"decompressedBytes\":{},\"decompressedLines\":{},\"compressedBytes\":0,\"totalDuplicates\":0,\"postFilterLines\":{},\"headChunkStructuredMetadataBytes\":0,\"decompressedStructuredMetadataBytes\":0}}}}}}",
        t.scan.bytes, t.scan.lines, t.scan.lines
    );
    out.push_str(",\"ingester\":{\"totalReached\":0,\"totalChunksMatched\":0,\"totalBatches\":0,\"totalLinesSent\":0,\"store\":{\"totalChunksRef\":0,\"totalChunksDownloaded\":0,\"chunksDownloadTime\":0,\"queryReferencedStructuredMetadata\":false,\"chunk\":{\"headChunkBytes\":0,\"headChunkLines\":0,\"decompressedBytes\":0,\"decompressedLines\":0,\"compressedBytes\":0,\"totalDuplicates\":0,\"postFilterLines\":0,\"headChunkStructuredMetadataBytes\":0,\"decompressedStructuredMetadataBytes\":0}}}");
    out.push_str(",\"cache\":{");
    for (i, name) in [
        "chunk",
        "index",
        "result",
        "statsResult",
        "volumeResult",
        "seriesResult",
        "labelResult",
        "instantMetricResult",
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\"{name}\":{{\"entriesFound\":0,\"entriesRequested\":0,\"entriesStored\":0,\"bytesReceived\":0,\"bytesSent\":0,\"requests\":0,\"downloadTime\":0,\"queryLengthServed\":0}}"
        );
    }
    out.push_str("}}");
}

/// What a query returned.
pub(super) enum QueryData {
    /// Log lines.
    Streams {
        streams: Vec<StreamResult>,
        direction: Direction,
    },
    /// A metric value.
    Metric(Value),
}

/// The complete success body of `query`/`query_range`.
pub(super) fn query_body(data: QueryData, timings: &QueryTimings, categorize: bool) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("{\"status\":\"success\",\"data\":{\"resultType\":");
    let is_streams = matches!(data, QueryData::Streams { .. });
    match data {
        QueryData::Streams { streams, direction } => {
            out.push_str("\"streams\",\"result\":");
            push_streams(&mut out, streams, direction, categorize);
        }
        QueryData::Metric(value) => {
            let kind = match &value {
                Value::Scalar { .. } => "scalar",
                Value::String { .. } => "string",
                Value::Vector(_) => "vector",
                Value::Matrix(_) => "matrix",
            };
            let _ = write!(out, "\"{kind}\",\"result\":");
            push_value(&mut out, &value);
        }
    }
    out.push_str(",\"stats\":");
    push_stats(&mut out, timings);
    if categorize && is_streams {
        out.push_str(",\"encodingFlags\":[\"categorize-labels\"]");
    }
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts_ns: i64, line: &str, metadata: Labels, parsed: Labels) -> OutEntry {
        OutEntry {
            ts_ns,
            line: line.into(),
            metadata,
            parsed,
        }
    }

    fn two_streams() -> Vec<StreamResult> {
        let stream = Labels::from_static(&[("app", "x")]);
        vec![
            StreamResult {
                labels: Labels::from_static(&[("app", "x"), ("level", "error")]),
                stream: stream.clone(),
                entries: vec![entry(
                    3,
                    "level=error",
                    Labels::empty(),
                    Labels::from_static(&[("level", "error")]),
                )],
            },
            StreamResult {
                labels: Labels::from_static(&[("app", "x"), ("level", "info"), ("trace", "t")]),
                stream,
                entries: vec![
                    entry(
                        2,
                        "level=info",
                        Labels::from_static(&[("trace", "t")]),
                        Labels::from_static(&[("level", "info")]),
                    ),
                    entry(
                        1,
                        "level=info",
                        Labels::from_static(&[("trace", "t")]),
                        Labels::from_static(&[("level", "info")]),
                    ),
                ],
            },
        ]
    }

    #[test]
    fn plain_streams_carry_all_labels_and_two_element_values() {
        let mut out = String::new();
        push_streams(&mut out, two_streams(), Direction::Backward, false);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"stream": {"app": "x", "level": "error"}, "values": [["3", "level=error"]]},
                {"stream": {"app": "x", "level": "info", "trace": "t"},
                 "values": [["2", "level=info"], ["1", "level=info"]]},
            ])
        );
    }

    #[test]
    fn categorized_streams_group_by_indexed_labels_with_a_third_element() {
        let mut out = String::new();
        push_streams(&mut out, two_streams(), Direction::Backward, true);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"stream": {"app": "x"}, "values": [
                    ["3", "level=error", {"parsed": {"level": "error"}}],
                    ["2", "level=info", {"structuredMetadata": {"trace": "t"}, "parsed": {"level": "info"}}],
                    ["1", "level=info", {"structuredMetadata": {"trace": "t"}, "parsed": {"level": "info"}}],
                ]},
            ])
        );
    }

    #[test]
    fn envelope_echoes_the_encoding_flag_for_streams_only() {
        let timings = QueryTimings::default();
        let body = query_body(
            QueryData::Streams {
                streams: Vec::new(),
                direction: Direction::Forward,
            },
            &timings,
            true,
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["data"]["encodingFlags"],
            serde_json::json!(["categorize-labels"])
        );
        assert_eq!(json["data"]["stats"]["summary"]["totalLinesProcessed"], 0);
        let body = query_body(QueryData::Metric(Value::Vector(Vec::new())), &timings, true);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(json["data"].get("encodingFlags").is_none());
        assert_eq!(json["data"]["resultType"], "vector");
    }
}
