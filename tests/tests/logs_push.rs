//! Log ingestion end to end, against the real binary, once on the filesystem object store
//! and once on a real S3 API server (moto on loopback):
//! - every push encoding (Loki protobuf+snappy, JSON, gzip/deflate of both, OTLP/HTTP
//!   protobuf and JSON on `/otlp/v1/logs` and `/v1/logs`) round-trips through the Loki query
//!   API: lines, nanosecond timestamps, stream labels and structured metadata, both
//!   directions; tenants never see each other's logs;
//! - every bad-input class gets its 4xx naming the problem, and the good entries of the same
//!   request are stored and readable (also after a restart with other limits);
//! - `POST /flush` puts segments on the object store (committed by `meta.json`), and a fresh
//!   node with an empty data directory reads them back from there alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use prost::Message;
use serde_json::json;
use vigil_ingest::loki::proto as loki_pb;
use vigil_ingest::otlp::proto as otlp_pb;
use vigil_tests::logs::{
    Backend, ReadEntry, ReadStream, deflate, flush, gzip, now_ns, post_push, query_all,
    query_streams, start_on,
};
use vigil_tests::{Vigil, snappy};

/// Runs each named test body on both backends: `filesystem::name`, one test each, and
/// `s3::suite`, which starts one moto server and runs every body in a bucket of its own
/// (skipped with a message when moto is not installed, unless `VIGIL_REQUIRE_INTEROP=1`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod filesystem {
            $(
                #[test]
                fn $name() {
                    let root = tempfile::tempdir().unwrap();
                    super::$name(&vigil_tests::logs::Backend::filesystem(root.path()), root.path());
                }
            )*
        }
        mod s3 {
            #[test]
            fn suite() {
                let Some(moto) = vigil_tests::logs::Moto::start("logs_push::s3::suite") else {
                    return;
                };
                let moto = std::sync::Arc::new(moto);
                $(
                    let root = tempfile::tempdir().unwrap();
                    let backend = vigil_tests::logs::Backend::s3(&moto, stringify!($name));
                    super::$name(&backend, root.path());
                    eprintln!("s3: {} passed", stringify!($name));
                )*
            }
        }
    };
}

on_both_backends!(
    every_push_encoding_round_trips,
    bad_input_is_refused_by_class_and_good_entries_stay,
    flushed_segments_are_read_back_from_the_object_store,
);

const LOKI_PUSH: &str = "/loki/api/v1/push";
const HOUR_NS: i64 = 3_600_000_000_000;

type Pairs = Vec<(String, String)>;

fn pairs(list: &[(&str, &str)]) -> Pairs {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn map(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A stream to push: labels as the sender orders them, entries (ns, line, metadata).
struct PushStream {
    labels: Pairs,
    entries: Vec<(i64, String, Pairs)>,
}

fn label_string(labels: &Pairs) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn loki_proto(streams: &[PushStream]) -> Vec<u8> {
    loki_pb::PushRequest {
        streams: streams
            .iter()
            .map(|s| loki_pb::StreamAdapter {
                labels: label_string(&s.labels),
                entries: s
                    .entries
                    .iter()
                    .map(|(ts, line, metadata)| loki_pb::EntryAdapter {
                        timestamp: Some(loki_pb::Timestamp {
                            seconds: ts.div_euclid(1_000_000_000),
                            nanos: ts.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: line.clone(),
                        structured_metadata: metadata
                            .iter()
                            .map(|(n, v)| loki_pb::LabelPairAdapter {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: String::new(),
    }
    .encode_to_vec()
}

fn loki_json(streams: &[PushStream]) -> Vec<u8> {
    let streams: Vec<serde_json::Value> = streams
        .iter()
        .map(|s| {
            let labels: serde_json::Map<String, serde_json::Value> = s
                .labels
                .iter()
                .map(|(n, v)| (n.clone(), json!(v)))
                .collect();
            let values: Vec<serde_json::Value> = s
                .entries
                .iter()
                .map(|(ts, line, metadata)| {
                    if metadata.is_empty() {
                        json!([ts.to_string(), line])
                    } else {
                        let metadata: serde_json::Map<String, serde_json::Value> = metadata
                            .iter()
                            .map(|(n, v)| (n.clone(), json!(v)))
                            .collect();
                        json!([ts.to_string(), line, metadata])
                    }
                })
                .collect();
            json!({"stream": labels, "values": values})
        })
        .collect();
    serde_json::to_vec(&json!({ "streams": streams })).unwrap()
}

/// The Loki-push test stream for encoding `enc`, and what reading it back must give
/// (forward order). Vigil adds `detected_level` from a level field or the line, as Loki.
fn loki_case(enc: &str, base: i64) -> (PushStream, Vec<ReadEntry>) {
    let t0 = base + 123_456_789; // not a whole microsecond
    let t1 = base + 1_000_000_001;
    let t2 = base + 2_000_000_007;
    let push = PushStream {
        // Not in sorted order, as senders may write them.
        labels: pairs(&[("job", "e2e"), ("enc", enc), ("app", "shop")]),
        entries: vec![
            // Out of order within the stream: Loki's unordered writes accept it.
            (
                t1,
                format!("level=error msg=\"payment failed\" enc={enc} ünïcödé ✓"),
                vec![],
            ),
            (
                t0,
                format!("level=info msg=\"order placed\" enc={enc}"),
                pairs(&[
                    ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
                    ("user", "u-1"),
                ]),
            ),
            (
                t2,
                format!("plain line with its level in metadata enc={enc}"),
                pairs(&[("level", "debug")]),
            ),
            (t2, format!("same nanosecond, no level enc={enc}"), vec![]),
        ],
    };
    let expected = vec![
        ReadEntry {
            ts_ns: t0,
            line: format!("level=info msg=\"order placed\" enc={enc}"),
            metadata: map(&[
                ("detected_level", "info"),
                ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
                ("user", "u-1"),
            ]),
        },
        ReadEntry {
            ts_ns: t1,
            line: format!("level=error msg=\"payment failed\" enc={enc} ünïcödé ✓"),
            metadata: map(&[("detected_level", "error")]),
        },
        ReadEntry {
            ts_ns: t2,
            line: format!("plain line with its level in metadata enc={enc}"),
            // A level field in the metadata is the level, as Loki's distributor reads it.
            metadata: map(&[("detected_level", "debug"), ("level", "debug")]),
        },
        ReadEntry {
            ts_ns: t2,
            line: format!("same nanosecond, no level enc={enc}"),
            metadata: map(&[("detected_level", "unknown")]),
        },
    ];
    (push, expected)
}

fn kv(key: &str, value: otlp_pb::any_value::Value) -> otlp_pb::KeyValue {
    otlp_pb::KeyValue {
        key: key.into(),
        value: Some(otlp_pb::AnyValue { value: Some(value) }),
    }
}

fn s(value: &str) -> otlp_pb::any_value::Value {
    otlp_pb::any_value::Value::StringValue(value.into())
}

const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
const SPAN_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The OTLP test request for `service` (as protobuf and as OTLP/JSON), the stream labels
/// Loki's default mapping gives it, and the entries read back (forward order).
fn otlp_case(
    service: &str,
    base: i64,
) -> (Vec<u8>, Vec<u8>, BTreeMap<String, String>, Vec<ReadEntry>) {
    let t0 = base + 5_000_000_123;
    let t1 = base + 6_000_000_456;
    let observed = base + 6_500_000_000;
    let t2 = base + 7_000_000_789;
    let request = otlp_pb::ExportLogsServiceRequest {
        resource_logs: vec![otlp_pb::ResourceLogs {
            resource: Some(otlp_pb::Resource {
                attributes: vec![
                    kv("service.name", s(service)),
                    kv("k8s.namespace.name", s("shop")),
                    kv("host.name", s("node-1")),
                ],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![otlp_pb::ScopeLogs {
                scope: Some(otlp_pb::InstrumentationScope {
                    name: "e2e-scope".into(),
                    version: "1.2".into(),
                    attributes: vec![],
                    dropped_attributes_count: 0,
                }),
                log_records: vec![
                    otlp_pb::LogRecord {
                        time_unix_nano: t0 as u64,
                        severity_number: 13,
                        severity_text: "WARN".into(),
                        body: Some(otlp_pb::AnyValue {
                            value: Some(s(&format!("disk almost full on {service}"))),
                        }),
                        attributes: vec![kv("user.id", s("42")), kv("http.method", s("GET"))],
                        trace_id: TRACE_ID.to_vec(),
                        span_id: SPAN_ID.to_vec(),
                        ..Default::default()
                    },
                    otlp_pb::LogRecord {
                        time_unix_nano: t1 as u64,
                        observed_time_unix_nano: observed as u64,
                        body: Some(otlp_pb::AnyValue {
                            value: Some(s(&format!("level=error boom in {service}"))),
                        }),
                        ..Default::default()
                    },
                    otlp_pb::LogRecord {
                        // No event time: the observed time is the entry's time.
                        observed_time_unix_nano: t2 as u64,
                        severity_number: 17,
                        body: Some(otlp_pb::AnyValue {
                            value: Some(s(&format!("retrying {service}"))),
                        }),
                        attributes: vec![kv("retry", otlp_pb::any_value::Value::IntValue(3))],
                        ..Default::default()
                    },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let json_body = json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service}},
            {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
            {"key": "host.name", "value": {"stringValue": "node-1"}},
        ]},
        "scopeLogs": [{
            "scope": {"name": "e2e-scope", "version": "1.2"},
            "logRecords": [
                {
                    "timeUnixNano": t0.to_string(),
                    "severityNumber": 13,
                    "severityText": "WARN",
                    "body": {"stringValue": format!("disk almost full on {service}")},
                    "attributes": [
                        {"key": "user.id", "value": {"stringValue": "42"}},
                        {"key": "http.method", "value": {"stringValue": "GET"}},
                    ],
                    "traceId": hex(&TRACE_ID),
                    "spanId": hex(&SPAN_ID),
                },
                {
                    "timeUnixNano": t1.to_string(),
                    "observedTimeUnixNano": observed.to_string(),
                    "body": {"stringValue": format!("level=error boom in {service}")},
                },
                {
                    "observedTimeUnixNano": t2.to_string(),
                    "severityNumber": 17,
                    "body": {"stringValue": format!("retrying {service}")},
                    "attributes": [{"key": "retry", "value": {"intValue": "3"}}],
                },
            ],
        }],
    }]});
    let labels = map(&[("k8s_namespace_name", "shop"), ("service_name", service)]);
    let (trace_hex, span_hex, observed_text) =
        (hex(&TRACE_ID), hex(&SPAN_ID), observed.to_string());
    let resource_and_scope = [
        ("host_name", "node-1"),
        ("scope_name", "e2e-scope"),
        ("scope_version", "1.2"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut m = map(&resource_and_scope);
        m.extend(map(extra));
        m
    };
    let expected = vec![
        ReadEntry {
            ts_ns: t0,
            line: format!("disk almost full on {service}"),
            metadata: with(&[
                ("user_id", "42"),
                ("http_method", "GET"),
                ("severity_text", "WARN"),
                ("severity_number", "13"),
                ("trace_id", trace_hex.as_str()),
                ("span_id", span_hex.as_str()),
                ("detected_level", "warn"),
            ]),
        },
        ReadEntry {
            ts_ns: t1,
            line: format!("level=error boom in {service}"),
            metadata: with(&[
                ("observed_timestamp", observed_text.as_str()),
                ("detected_level", "error"),
            ]),
        },
        ReadEntry {
            ts_ns: t2,
            line: format!("retrying {service}"),
            metadata: with(&[
                ("retry", "3"),
                ("severity_number", "17"),
                ("detected_level", "error"),
            ]),
        },
    ];
    (
        request.encode_to_vec(),
        serde_json::to_vec(&json_body).unwrap(),
        labels,
        expected,
    )
}

/// Reads `selector` back in both directions (and the newest two with a limit) and checks
/// one stream with exactly `labels` and `expected` (given in forward order).
fn assert_reads_back(
    vigil: &Vigil,
    selector: &str,
    tenant: Option<&str>,
    labels: &BTreeMap<String, String>,
    expected: &[ReadEntry],
    context: &str,
) {
    let (start, end) = (now_ns() - 2 * HOUR_NS, now_ns() + HOUR_NS);
    let forward = query_streams(vigil, selector, start, end, "forward", 1000, tenant);
    assert_eq!(
        forward,
        vec![ReadStream {
            labels: labels.clone(),
            entries: expected.to_vec()
        }],
        "{context}: forward read of {selector}"
    );
    // Backward: newest first. Entries sharing a nanosecond may come in either order.
    let backward = query_streams(vigil, selector, start, end, "backward", 1000, tenant);
    assert_eq!(backward.len(), 1, "{context}: backward read of {selector}");
    let times: Vec<i64> = backward[0].entries.iter().map(|e| e.ts_ns).collect();
    let mut want_times: Vec<i64> = expected.iter().map(|e| e.ts_ns).collect();
    want_times.reverse();
    assert_eq!(times, want_times, "{context}: backward read of {selector}");
    let mut sorted = backward[0].entries.clone();
    sorted.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(sorted, want, "{context}: backward read of {selector}");
    let newest = query_streams(vigil, selector, start, end, "backward", 2, tenant);
    let mut newest: Vec<ReadEntry> = newest[0].entries.clone();
    newest.sort();
    let mut want_newest = expected[expected.len() - 2..].to_vec();
    want_newest.sort();
    assert_eq!(
        newest, want_newest,
        "{context}: backward limit 2 of {selector}"
    );
}

fn every_push_encoding_round_trips(backend: &Backend, root: &std::path::Path) {
    let mut vigil = start_on(backend, &root.join("data"), "", "");
    let base = now_ns() - 10 * 60 * 1_000_000_000;
    let tenant = Some("roundtrip");
    let mut loki_cases = Vec::new();
    for (enc, content_type, encoding) in [
        ("protobuf-snappy", "application/x-protobuf", None),
        (
            "protobuf-snappy-header",
            "application/x-protobuf",
            Some("snappy"),
        ),
        ("protobuf-gzip", "application/x-protobuf", Some("gzip")),
        ("json", "application/json", None),
        ("json-charset", "application/json; charset=utf-8", None),
        ("json-gzip", "application/json", Some("gzip")),
        ("json-deflate", "application/json", Some("deflate")),
    ] {
        let (push, expected) = loki_case(enc, base);
        let streams = [push];
        let raw = if content_type.starts_with("application/json") {
            loki_json(&streams)
        } else {
            snappy(&loki_proto(&streams))
        };
        let body = match encoding {
            Some("gzip") => gzip(&raw),
            Some("deflate") => deflate(&raw),
            _ => raw,
        };
        let reply = post_push(&vigil, LOKI_PUSH, content_type, encoding, tenant, body);
        assert_eq!(reply.status, 204, "{enc}: {}", reply.body);
        let labels = map(&[("app", "shop"), ("enc", enc), ("job", "e2e")]);
        loki_cases.push((enc, labels, expected));
    }
    let mut otlp_cases = Vec::new();
    for (path, format) in [
        ("/otlp/v1/logs", "protobuf"),
        ("/v1/logs", "protobuf"),
        ("/otlp/v1/logs", "json"),
        ("/v1/logs", "json"),
    ] {
        let service = format!("svc-{format}{}", path.replace('/', "-"));
        let (proto_body, json_body, labels, expected) = otlp_case(&service, base);
        let (content_type, body) = if format == "json" {
            ("application/json", json_body)
        } else {
            ("application/x-protobuf", proto_body)
        };
        let reply = post_push(&vigil, path, content_type, None, tenant, body);
        assert_eq!(reply.status, 200, "{service}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some(content_type));
        if format == "json" {
            assert_eq!(
                reply.json(),
                json!({}),
                "a full success has no partialSuccess"
            );
        } else {
            let response =
                otlp_pb::ExportLogsServiceResponse::decode(reply.body.as_bytes()).unwrap();
            assert_eq!(response.partial_success, None);
        }
        otlp_cases.push((service, labels, expected));
    }
    // gzip on OTLP too (the Collector's default).
    let (proto_body, _, labels, expected) = otlp_case("svc-protobuf-gzip", base);
    let reply = post_push(
        &vigil,
        "/v1/logs",
        "application/x-protobuf",
        Some("gzip"),
        tenant,
        gzip(&proto_body),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    otlp_cases.push(("svc-protobuf-gzip".into(), labels, expected));

    // Tenants: the same stream in two tenants, each sees its own only.
    for who in ["tenant-a", "tenant-b"] {
        let streams = [PushStream {
            labels: pairs(&[("app", "secret")]),
            entries: vec![(base, format!("only for {who}"), vec![])],
        }];
        let reply = post_push(
            &vigil,
            LOKI_PUSH,
            "application/json",
            None,
            Some(who),
            loki_json(&streams),
        );
        assert_eq!(reply.status, 204, "{}", reply.body);
    }

    let check = |vigil: &Vigil, when: &str| {
        for (enc, labels, expected) in &loki_cases {
            let context = format!("{} {when}: loki {enc}", backend.name());
            assert_reads_back(
                vigil,
                &format!("{{enc=\"{enc}\"}}"),
                tenant,
                labels,
                expected,
                &context,
            );
        }
        for (service, labels, expected) in &otlp_cases {
            let context = format!("{} {when}: otlp {service}", backend.name());
            assert_reads_back(
                vigil,
                &format!("{{service_name=\"{service}\"}}"),
                tenant,
                labels,
                expected,
                &context,
            );
        }
        let (start, end) = (now_ns() - 2 * HOUR_NS, now_ns() + HOUR_NS);
        for who in ["tenant-a", "tenant-b"] {
            let streams = query_streams(
                vigil,
                r#"{app="secret"}"#,
                start,
                end,
                "forward",
                100,
                Some(who),
            );
            let lines: Vec<&str> = streams
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| e.line.as_str()))
                .collect();
            assert_eq!(lines, [format!("only for {who}")], "{when}");
        }
        let default_tenant =
            query_streams(vigil, r#"{app="secret"}"#, start, end, "forward", 100, None);
        assert!(default_tenant.is_empty(), "{when}: {default_tenant:?}");
        let other = query_streams(vigil, r#"{app="shop"}"#, start, end, "forward", 100, None);
        assert!(other.is_empty(), "{when}: another tenant's streams leaked");
    };
    check(&vigil, "from the head");
    // Flushed to the object store and read from segments; then restarted after kill -9.
    flush(&vigil);
    check(&vigil, "from segments");
    vigil.kill9();
    let vigil = Vigil::start_with_config(&vigil.data_dir, &vigil.config_path);
    check(&vigil, "after restart");
}

/// One bad-input case: its own tenant, a body, the status and message parts expected, the
/// lines of the same request that must be stored.
struct BadCase {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message_parts: Vec<String>,
    stored: Vec<String>,
}

fn good_and_bad(name: &'static str, base: i64, bad: PushStream, message: &[&str]) -> BadCase {
    let good = PushStream {
        labels: pairs(&[("app", "good"), ("case", name)]),
        entries: vec![
            (base, format!("{name}: good line 1"), vec![]),
            (base + 1, format!("{name}: good line 2"), vec![]),
        ],
    };
    BadCase {
        name,
        path: LOKI_PUSH,
        content_type: "application/json",
        encoding: None,
        body: loki_json(&[good, bad]),
        status: 400,
        message_parts: message.iter().map(|s| s.to_string()).collect(),
        stored: vec![
            format!("{name}: good line 1"),
            format!("{name}: good line 2"),
        ],
    }
}

fn decode_failure(
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message: &str,
) -> BadCase {
    BadCase {
        name,
        path,
        content_type,
        encoding,
        body,
        status,
        message_parts: vec![message.to_string()],
        stored: vec![],
    }
}

fn stored_lines(vigil: &Vigil, tenant: &str) -> Vec<String> {
    let (start, end) = (now_ns() - 9 * 24 * HOUR_NS, now_ns() + 2 * HOUR_NS);
    let mut lines: Vec<String> = query_all(vigil, r#"{app=~".+"}"#, start, end, Some(tenant))
        .into_iter()
        .map(|(_, e)| e.line)
        .collect();
    lines.sort();
    lines
}

const LIMITS_YAML: &str = "logs:\n  max_line_size_bytes: 1024\n  max_streams_per_tenant: 3\n  ingestion_rate_bytes: 50000\n  ingestion_burst_bytes: 100000\n";

fn bad_input_is_refused_by_class_and_good_entries_stay(backend: &Backend, root: &std::path::Path) {
    let data = root.join("data");
    let mut vigil = start_on(backend, &data, "", LIMITS_YAML);
    let now = now_ns();
    let base = now - 60_000_000_000;
    let good_proto = loki_proto(&[PushStream {
        labels: pairs(&[("app", "x")]),
        entries: vec![(base, "never stored".into(), vec![])],
    }]);
    let labels16: Pairs = (0..16)
        .map(|i| (format!("l{i:02}"), "v".to_string()))
        .collect();
    let cases = vec![
        decode_failure(
            "bad-snappy",
            LOKI_PUSH,
            "application/x-protobuf",
            None,
            b"not snappy at all".to_vec(),
            400,
            "invalid snappy block",
        ),
        decode_failure(
            "bad-protobuf",
            LOKI_PUSH,
            "application/x-protobuf",
            None,
            snappy(b"\xff\xff\xff\xff garbage that is no PushRequest"),
            400,
            "invalid protobuf PushRequest",
        ),
        decode_failure(
            "bad-json",
            LOKI_PUSH,
            "application/json",
            None,
            br#"{"streams": [{"stream": {"app": "x"}, "values": [["1", "li"#.to_vec(),
            400,
            "invalid JSON push body",
        ),
        decode_failure(
            "json-number-timestamp",
            LOKI_PUSH,
            "application/json",
            None,
            format!(r#"{{"streams":[{{"stream":{{"app":"x"}},"values":[[{base},"line"]]}}]}}"#)
                .into_bytes(),
            400,
            "expected a string of nanoseconds",
        ),
        decode_failure(
            "bad-gzip",
            LOKI_PUSH,
            "application/x-protobuf",
            Some("gzip"),
            snappy(&good_proto),
            400,
            "invalid gzip body",
        ),
        decode_failure(
            "unknown-encoding",
            LOKI_PUSH,
            "application/x-protobuf",
            Some("br"),
            snappy(&good_proto),
            415,
            "content-encoding \"br\" is not supported",
        ),
        decode_failure(
            "otlp-bad-protobuf",
            "/v1/logs",
            "application/x-protobuf",
            None,
            b"\x0a\xff\xff\xff\xff\x0f".to_vec(),
            400,
            "invalid protobuf ExportLogsServiceRequest",
        ),
        decode_failure(
            "otlp-bad-json",
            "/otlp/v1/logs",
            "application/json",
            None,
            br#"{"resourceLogs": [{"#.to_vec(),
            400,
            "invalid OTLP/JSON body",
        ),
        decode_failure(
            "otlp-bad-trace-id",
            "/otlp/v1/logs",
            "application/json",
            None,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz1"}]}]}]}"#.to_vec(),
            400,
            "traceId must be hex",
        ),
        decode_failure(
            "otlp-wrong-content-type",
            "/v1/logs",
            "text/plain",
            None,
            b"hello".to_vec(),
            415,
            "content type \"text/plain\" is not supported",
        ),
        good_and_bad(
            "too-long-line",
            base,
            PushStream {
                labels: pairs(&[("app", "long")]),
                entries: vec![(base, "x".repeat(2000), vec![])],
            },
            &[
                "max entry size '1024' bytes exceeded for stream '{app=\"long\"}' while adding an entry with length '2000' bytes",
                "1 entries rejected, 2 entries written",
            ],
        ),
        good_and_bad(
            "too-many-labels",
            base,
            PushStream {
                labels: labels16,
                entries: vec![(base, "sixteen labels".into(), vec![])],
            },
            &["has 16 label names; limit 15"],
        ),
        good_and_bad(
            "bad-label-name",
            base,
            PushStream {
                labels: pairs(&[("app", "x"), ("bad-name", "v")]),
                entries: vec![(base, "bad label name".into(), vec![])],
            },
            &["invalid label name \"bad-name\""],
        ),
        good_and_bad(
            "too-old",
            base,
            PushStream {
                labels: pairs(&[("app", "old")]),
                entries: vec![(now - 8 * 24 * HOUR_NS, "eight days old".into(), vec![])],
            },
            &["entry for stream '{app=\"old\"}' has timestamp too old"],
        ),
        good_and_bad(
            "too-new",
            base,
            PushStream {
                labels: pairs(&[("app", "future")]),
                entries: vec![(now + HOUR_NS, "an hour ahead".into(), vec![])],
            },
            &["entry for stream '{app=\"future\"}' has timestamp too new"],
        ),
        good_and_bad(
            "bad-metadata",
            base,
            PushStream {
                labels: pairs(&[("app", "meta")]),
                entries: vec![(base, "empty metadata name".into(), pairs(&[("", "v")]))],
            },
            &["structured metadata name must not be empty"],
        ),
    ];
    for case in cases {
        let tenant = format!("case-{}", case.name);
        let reply = post_push(
            &vigil,
            case.path,
            case.content_type,
            case.encoding,
            Some(&tenant),
            case.body,
        );
        assert_eq!(reply.status, case.status, "{}: {}", case.name, reply.body);
        for part in &case.message_parts {
            assert!(
                reply.body.contains(part.as_str()),
                "{}: {:?} not in {:?}",
                case.name,
                part,
                reply.body
            );
        }
        let mut expected = case.stored.clone();
        expected.sort();
        assert_eq!(stored_lines(&vigil, &tenant), expected, "{}", case.name);
    }

    // A bad label string in protobuf; the good stream of the same request stays.
    let body = loki_proto(&[
        PushStream {
            labels: pairs(&[("app", "good")]),
            entries: vec![(base, "proto good".into(), vec![])],
        },
        PushStream {
            labels: vec![],
            entries: vec![],
        },
    ]);
    let mut request = loki_pb::PushRequest::decode(body.as_slice()).unwrap();
    request.streams[1] = loki_pb::StreamAdapter {
        labels: "{app=}".into(),
        entries: request.streams[0].entries.clone(),
        hash: 0,
    };
    request.streams[1].entries[0].line = "unparsable labels".into();
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/x-protobuf",
        None,
        Some("case-proto-labels"),
        snappy(&request.encode_to_vec()),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("error parsing labels '{app=}'"),
        "{}",
        reply.body
    );
    assert_eq!(stored_lines(&vigil, "case-proto-labels"), ["proto good"]);

    // A mixed request: every bad entry named in the 400 body, every good one stored.
    let mixed = loki_json(&[
        PushStream {
            labels: pairs(&[("app", "mixed"), ("part", "a")]),
            entries: vec![
                (base, "mixed good 1".into(), vec![]),
                (now - 30 * 24 * HOUR_NS, "mixed too old".into(), vec![]),
                (base + 1, "mixed good 2".into(), pairs(&[("k", "v")])),
                (base + 2, "y".repeat(1500), vec![]),
            ],
        },
        PushStream {
            labels: pairs(&[("app", "mixed"), ("0bad", "v")]),
            entries: vec![(base, "mixed bad label".into(), vec![])],
        },
        PushStream {
            labels: pairs(&[("app", "mixed"), ("part", "b")]),
            entries: vec![
                (now + 2 * HOUR_NS, "mixed from the future".into(), vec![]),
                (base + 3, "mixed good 3".into(), vec![]),
            ],
        },
    ]);
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("mixed"),
        mixed,
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    for part in [
        "entry for stream '{app=\"mixed\", part=\"a\"}' has timestamp too old",
        "max entry size '1024' bytes exceeded for stream '{app=\"mixed\", part=\"a\"}' while adding an entry with length '1500' bytes",
        "invalid label name \"0bad\"",
        "entry for stream '{app=\"mixed\", part=\"b\"}' has timestamp too new",
        "4 entries rejected, 3 entries written",
    ] {
        assert!(reply.body.contains(part), "{part:?} not in {}", reply.body);
    }
    assert_eq!(
        stored_lines(&vigil, "mixed"),
        ["mixed good 1", "mixed good 2", "mixed good 3"]
    );

    // OTLP reports refused records as a partial success (200), the rest is stored.
    let (_, json_body, _, _) = otlp_case("otlp-partial", base);
    let mut request: serde_json::Value = serde_json::from_slice(&json_body).unwrap();
    request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]["timeUnixNano"] =
        json!((now - 30 * 24 * HOUR_NS).to_string());
    let reply = post_push(
        &vigil,
        "/v1/logs",
        "application/json",
        None,
        Some("otlp-partial"),
        serde_json::to_vec(&request).unwrap(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"],
        json!("1"),
        "{answer}"
    );
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("timestamp too old"), "{message}");
    let (start, end) = (now_ns() - 2 * HOUR_NS, now_ns() + HOUR_NS);
    let lines: Vec<String> = query_all(
        &vigil,
        r#"{service_name="otlp-partial"}"#,
        start,
        end,
        Some("otlp-partial"),
    )
    .into_iter()
    .map(|(_, e)| e.line)
    .collect();
    assert_eq!(
        lines,
        ["disk almost full on otlp-partial", "retrying otlp-partial"]
    );

    // Stream limit (3 per tenant): the first three streams are stored, the rest is a 429
    // naming the limit; existing streams keep taking entries.
    let streams: Vec<PushStream> = (0..5)
        .map(|i| PushStream {
            labels: pairs(&[("app", "crowd"), ("n", i.to_string().as_str())]),
            entries: vec![(base + i, format!("crowd {i}"), vec![])],
        })
        .collect();
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("crowded"),
        loki_json(&streams),
    );
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("maximum active stream limit exceeded: the tenant already has 3 streams"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("2 entries rejected, 3 entries written"),
        "{}",
        reply.body
    );
    assert_eq!(
        stored_lines(&vigil, "crowded"),
        ["crowd 0", "crowd 1", "crowd 2"]
    );
    let more = [PushStream {
        labels: pairs(&[("app", "crowd"), ("n", "1")]),
        entries: vec![(base + 10, "crowd 1 again".into(), vec![])],
    }];
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("crowded"),
        loki_json(&more),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);

    // Ingestion rate (50 kB/s, 100 kB burst): a 150 kB push is refused whole with 429.
    let greedy = [PushStream {
        labels: pairs(&[("app", "greedy")]),
        entries: (0..150)
            .map(|i| (base + i, format!("{i:04} {}", "z".repeat(995)), vec![]))
            .collect(),
    }];
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("greedy"),
        loki_json(&greedy),
    );
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("ingestion rate limit exceeded for user greedy (limit: 50000 bytes/sec)"),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(stored_lines(&vigil, "greedy").is_empty(), "nothing stored");
    let small = [PushStream {
        labels: pairs(&[("app", "greedy")]),
        entries: vec![(base, "a small push fits".into(), vec![])],
    }];
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("greedy"),
        loki_json(&small),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    // Another tenant has its own bucket.
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("modest"),
        loki_json(&small),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);

    // A bad tenant id.
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("../etc"),
        loki_json(&small),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);

    // Restart with lines truncated instead of refused: the long line is cut at the limit,
    // and everything stored before is still there.
    vigil.stop();
    drop(vigil);
    let vigil = start_on(
        backend,
        &data,
        "",
        &format!("{LIMITS_YAML}  max_line_size_truncate: true\n"),
    );
    let long = [PushStream {
        labels: pairs(&[("app", "long")]),
        entries: vec![(base + 5, format!("é{}", "x".repeat(3000)), vec![])],
    }];
    let reply = post_push(
        &vigil,
        LOKI_PUSH,
        "application/json",
        None,
        Some("truncated"),
        loki_json(&long),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    let lines = stored_lines(&vigil, "truncated");
    assert_eq!(lines, [format!("é{}", "x".repeat(1022))]);
    assert_eq!(lines[0].len(), 1024);
    assert_eq!(
        stored_lines(&vigil, "mixed"),
        ["mixed good 1", "mixed good 2", "mixed good 3"]
    );
    assert_eq!(
        stored_lines(&vigil, "crowded"),
        ["crowd 0", "crowd 1", "crowd 1 again", "crowd 2"]
    );
    assert_eq!(
        stored_lines(&vigil, "case-too-long-line"),
        ["too-long-line: good line 1", "too-long-line: good line 2"]
    );
}

fn flushed_segments_are_read_back_from_the_object_store(backend: &Backend, root: &std::path::Path) {
    let data = root.join("data");
    let mut vigil = start_on(backend, &data, "", "");
    let base = now_ns() - 5 * 60 * 1_000_000_000;
    let mut expected: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut ts = base;
    let mut push = |vigil: &Vigil,
                    expected: &mut BTreeMap<&'static str, Vec<String>>,
                    tenant: &'static str,
                    what: &str,
                    count: usize| {
        let entries: Vec<(i64, String, Pairs)> = (0..count)
            .map(|i| {
                ts += 1_000_003;
                (ts, format!("{tenant} {what} {i:03}"), vec![])
            })
            .collect();
        expected
            .entry(tenant)
            .or_default()
            .extend(entries.iter().map(|e| e.1.clone()));
        let body = snappy(&loki_proto(&[PushStream {
            labels: pairs(&[("app", "flush"), ("tenant", tenant)]),
            entries,
        }]));
        let reply = post_push(
            vigil,
            LOKI_PUSH,
            "application/x-protobuf",
            None,
            Some(tenant),
            body,
        );
        assert_eq!(reply.status, 204, "{}", reply.body);
    };
    push(&vigil, &mut expected, "alpha", "flushed", 300);
    push(&vigil, &mut expected, "beta", "flushed", 200);
    assert!(
        backend.log_segments("alpha").is_empty(),
        "nothing on the object store before a flush"
    );
    flush(&vigil);
    for tenant in ["alpha", "beta"] {
        let segments = backend.log_segments(tenant);
        assert_eq!(segments.len(), 1, "{tenant}: {segments:?}");
        for (id, files) in &segments {
            assert!(
                files.contains(&"meta.json".to_string()),
                "{tenant}/{id}: {files:?}"
            );
            let meta: serde_json::Value = serde_json::from_slice(
                &backend.get(&format!("logs/{tenant}/segments/{id}/meta.json")),
            )
            .unwrap();
            assert_eq!(
                meta["entries"].as_u64(),
                Some(expected[tenant].len() as u64),
                "{meta}"
            );
        }
    }
    // A second flush with nothing new writes nothing.
    flush(&vigil);
    assert_eq!(backend.log_segments("alpha").len(), 1);
    // More entries stay in the head (and the WAL) only.
    push(&vigil, &mut expected, "alpha", "unflushed", 50);
    let read = |vigil: &Vigil, tenant: &str| -> Vec<String> {
        let (start, end) = (base - HOUR_NS, now_ns() + HOUR_NS);
        query_all(vigil, r#"{app="flush"}"#, start, end, Some(tenant))
            .into_iter()
            .map(|(_, e)| e.line)
            .collect()
    };
    assert_eq!(read(&vigil, "alpha"), expected["alpha"]);

    // The same node after kill -9: segments from the object store, the rest from the WAL.
    vigil.kill9();
    let vigil = Vigil::start_with_config(&data, &vigil.config_path);
    assert_eq!(read(&vigil, "alpha"), expected["alpha"], "after restart");
    assert_eq!(read(&vigil, "beta"), expected["beta"], "after restart");
    drop(vigil);

    // A fresh node on the same object store, with an empty data directory (no WAL, no
    // segment cache): only the flushed entries, downloaded from the object store.
    let fresh = start_on(backend, &root.join("fresh-data"), "", "");
    let flushed: Vec<String> = expected["alpha"]
        .iter()
        .filter(|l| l.contains(" flushed "))
        .cloned()
        .collect();
    assert_eq!(flushed.len(), 300);
    assert_eq!(read(&fresh, "alpha"), flushed, "fresh node");
    assert_eq!(read(&fresh, "beta"), expected["beta"], "fresh node");
    let needle = query_streams(
        &fresh,
        r#"{app="flush"} |= "flushed 042""#,
        base - HOUR_NS,
        now_ns() + HOUR_NS,
        "forward",
        100,
        Some("beta"),
    );
    assert_eq!(needle.len(), 1);
    assert_eq!(needle[0].entries.len(), 1);
    assert_eq!(needle[0].entries[0].line, "beta flushed 042");
}
