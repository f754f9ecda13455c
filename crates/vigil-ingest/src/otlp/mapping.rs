//! OTLP log records → Loki-style streams, following Loki's default mapping: a fixed list of
//! resource attributes become stream labels (names sanitised, `service_name` always
//! present), everything else (other resource attributes, scope, record attributes,
//! severity, trace context, ...) becomes structured metadata of each entry. The line is the
//! body as a string; the time is the event time, else the observed time, else now.

use std::collections::BTreeMap;
use std::fmt::Write;

use vigil_model::{Label, Labels, LogEntry};

use crate::logs::level::{DETECTED_LEVEL, detect_level};
use crate::logs::{DecodedPush, DecodedStream};
use crate::otlp::proto::{AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, any_value};

/// Resource attributes that Loki promotes to stream labels by default.
pub const DEFAULT_INDEX_LABEL_ATTRIBUTES: [&str; 18] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// An attribute name as a label name: every character outside `[A-Za-z0-9_]` becomes `_`,
/// and a leading digit gets a `key_` prefix.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn to_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &value.value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(J::Null, J::Number)
        }
        Some(any_value::Value::BytesValue(b)) => J::String(base64_encode(b)),
        Some(any_value::Value::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        Some(any_value::Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(J::Null, to_json)))
                .collect(),
        ),
    }
}

/// A value as a string, as OpenTelemetry's `AsString` renders it (lists and maps as JSON).
pub fn value_as_string(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => base64_encode(b),
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            to_json(value).to_string()
        }
    }
}

/// Flattens attributes into sanitised name/value pairs: nested maps join keys with `_`.
fn flatten(attributes: &[KeyValue], prefix: &str, out: &mut Vec<(String, String)>) {
    for kv in attributes {
        let name = if prefix.is_empty() {
            sanitize_name(&kv.key)
        } else {
            format!("{prefix}_{}", sanitize_name(&kv.key))
        };
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::KvlistValue(nested)) => flatten(&nested.values, &name, out),
            Some(_) => {
                if let Some(value) = kv.value.as_ref() {
                    out.push((name, value_as_string(value)));
                }
            }
            None => {}
        }
    }
}

/// Pairs into [`Labels`], later pairs overriding earlier ones with the same name.
fn to_labels(pairs: Vec<(String, String)>) -> Labels {
    let unique: BTreeMap<String, String> =
        pairs.into_iter().filter(|(n, _)| !n.is_empty()).collect();
    let labels: Vec<Label> = unique.into_iter().map(|(n, v)| Label::new(n, v)).collect();
    // Names are unique by construction, so this cannot fail.
    Labels::from_unsorted_unique(labels).unwrap_or_default()
}

fn record_metadata(
    record: &LogRecord,
    base: &[(String, String)],
    line: &str,
    discover_levels: bool,
) -> Labels {
    let mut pairs = base.to_vec();
    flatten(&record.attributes, "", &mut pairs);
    if !record.severity_text.is_empty() {
        pairs.push(("severity_text".into(), record.severity_text.clone()));
    }
    if record.severity_number != 0 {
        pairs.push(("severity_number".into(), record.severity_number.to_string()));
    }
    if !record.trace_id.is_empty() {
        pairs.push(("trace_id".into(), hex(&record.trace_id)));
    }
    if !record.span_id.is_empty() {
        pairs.push(("span_id".into(), hex(&record.span_id)));
    }
    if record.flags != 0 {
        pairs.push(("flags".into(), record.flags.to_string()));
    }
    if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
        pairs.push((
            "observed_timestamp".into(),
            record.observed_time_unix_nano.to_string(),
        ));
    }
    if record.dropped_attributes_count != 0 {
        pairs.push((
            "dropped_attributes_count".into(),
            record.dropped_attributes_count.to_string(),
        ));
    }
    if !record.event_name.is_empty() {
        pairs.push(("event_name".into(), record.event_name.clone()));
    }
    if discover_levels && !pairs.iter().any(|(n, _)| n == DETECTED_LEVEL) {
        let severity_text =
            (!record.severity_text.is_empty()).then_some(record.severity_text.as_str());
        let level = detect_level(severity_text, Some(record.severity_number), line);
        pairs.push((DETECTED_LEVEL.into(), level.into()));
    }
    to_labels(pairs)
}

/// Maps a decoded OTLP request to streams; `now_ns` stamps records without any time.
pub fn to_push(
    request: ExportLogsServiceRequest,
    now_ns: i64,
    discover_levels: bool,
) -> DecodedPush {
    let mut push = DecodedPush::default();
    for resource_logs in request.resource_logs {
        let resource = resource_logs.resource.unwrap_or_default();
        let mut resource_pairs = Vec::new();
        flatten(&resource.attributes, "", &mut resource_pairs);
        let index_names: Vec<String> = DEFAULT_INDEX_LABEL_ATTRIBUTES
            .iter()
            .map(|n| sanitize_name(n))
            .collect();
        let (mut stream_pairs, resource_metadata): (Vec<_>, Vec<_>) = resource_pairs
            .into_iter()
            .partition(|(name, value)| index_names.contains(name) && !value.is_empty());
        if !stream_pairs.iter().any(|(n, _)| n == "service_name") {
            stream_pairs.push(("service_name".into(), "unknown_service".into()));
        }
        let stream_labels = to_labels(stream_pairs);
        let labels_text = stream_labels.to_string();
        let mut entries = Vec::new();
        for scope_logs in resource_logs.scope_logs {
            let mut base = resource_metadata.clone();
            if resource.dropped_attributes_count != 0 {
                base.push((
                    "resource_dropped_attributes_count".into(),
                    resource.dropped_attributes_count.to_string(),
                ));
            }
            if let Some(scope) = &scope_logs.scope {
                if !scope.name.is_empty() {
                    base.push(("scope_name".into(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    base.push(("scope_version".into(), scope.version.clone()));
                }
                flatten(&scope.attributes, "", &mut base);
                if scope.dropped_attributes_count != 0 {
                    base.push((
                        "scope_dropped_attributes_count".into(),
                        scope.dropped_attributes_count.to_string(),
                    ));
                }
            }
            for record in scope_logs.log_records {
                let line = record
                    .body
                    .as_ref()
                    .map(value_as_string)
                    .unwrap_or_default();
                let time = if record.time_unix_nano != 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                let timestamp_ns = if time == 0 {
                    now_ns
                } else {
                    i64::try_from(time).unwrap_or(i64::MAX)
                };
                let structured_metadata = record_metadata(&record, &base, &line, discover_levels);
                entries.push(LogEntry {
                    timestamp_ns,
                    line,
                    structured_metadata,
                });
            }
        }
        push.streams.push(DecodedStream {
            labels: Ok(stream_labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()),
            labels_text,
            entries,
            invalid_entries: Vec::new(),
        });
    }
    push
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::proto::{
        InstrumentationScope, KeyValueList, Resource, ResourceLogs, ScopeLogs,
    };

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    #[test]
    fn maps_like_loki_by_default() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s("checkout")),
                        kv("k8s.namespace.name", s("shop")),
                        kv("host.name", s("node-1")),
                        kv("process.pid", any_value::Value::IntValue(42)),
                    ],
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app.logger".into(),
                        version: "2".into(),
                        ..Default::default()
                    }),
                    log_records: vec![
                        LogRecord {
                            time_unix_nano: 1_000,
                            observed_time_unix_nano: 2_000,
                            severity_number: 13,
                            severity_text: "WARN".into(),
                            body: Some(AnyValue {
                                value: Some(s("disk slow")),
                            }),
                            attributes: vec![
                                kv("http.method", s("GET")),
                                kv(
                                    "nested",
                                    any_value::Value::KvlistValue(KeyValueList {
                                        values: vec![kv("a.b", any_value::Value::BoolValue(true))],
                                    }),
                                ),
                            ],
                            trace_id: vec![0xab; 16],
                            span_id: vec![0x01; 8],
                            flags: 1,
                            ..Default::default()
                        },
                        LogRecord {
                            observed_time_unix_nano: 3_000,
                            body: Some(AnyValue {
                                value: Some(any_value::Value::KvlistValue(KeyValueList {
                                    values: vec![kv("msg", s("hi"))],
                                })),
                            }),
                            ..Default::default()
                        },
                        LogRecord::default(),
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let push = to_push(request, 9_999, true);
        assert_eq!(push.streams.len(), 1);
        let stream = &push.streams[0];
        let labels: Vec<(String, String)> = stream.labels.clone().unwrap();
        assert_eq!(
            labels,
            vec![
                ("k8s_namespace_name".to_string(), "shop".to_string()),
                ("service_name".to_string(), "checkout".to_string())
            ]
        );
        let first = &stream.entries[0];
        assert_eq!(first.timestamp_ns, 1_000);
        assert_eq!(first.line, "disk slow");
        let md = &first.structured_metadata;
        assert_eq!(md.get("host_name"), Some("node-1"));
        assert_eq!(md.get("process_pid"), Some("42"));
        assert_eq!(md.get("scope_name"), Some("app.logger"));
        assert_eq!(md.get("scope_version"), Some("2"));
        assert_eq!(md.get("http_method"), Some("GET"));
        assert_eq!(md.get("nested_a_b"), Some("true"));
        assert_eq!(md.get("severity_text"), Some("WARN"));
        assert_eq!(md.get("severity_number"), Some("13"));
        assert_eq!(md.get("trace_id"), Some("abababababababababababababababab"));
        assert_eq!(md.get("span_id"), Some("0101010101010101"));
        assert_eq!(md.get("flags"), Some("1"));
        assert_eq!(md.get("observed_timestamp"), Some("2000"));
        assert_eq!(md.get("detected_level"), Some("warn"));
        let second = &stream.entries[1];
        assert_eq!(
            second.timestamp_ns, 3_000,
            "observed time when time is unset"
        );
        assert_eq!(second.line, r#"{"msg":"hi"}"#, "maps render as JSON");
        assert_eq!(second.structured_metadata.get("observed_timestamp"), None);
        assert_eq!(
            stream.entries[2].timestamp_ns, 9_999,
            "now when no time at all"
        );
    }

    #[test]
    fn service_name_is_always_present_and_names_are_sanitised() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: None,
                scope_logs: vec![],
                schema_url: String::new(),
            }],
        };
        let push = to_push(request, 0, false);
        assert_eq!(
            push.streams[0].labels.clone().unwrap(),
            vec![("service_name".to_string(), "unknown_service".to_string())]
        );
        assert_eq!(
            sanitize_name("http.response.status-code"),
            "http_response_status_code"
        );
        assert_eq!(sanitize_name("1st"), "key_1st");
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_encode(b"hi!"), "aGkh");
    }
}
